"""The package's layers point down only, and no import hides inside a function to dodge a cycle.

``pyproject.toml`` ([tool.importlinter]) lists the layers, applications on top: cli, commands,
api, bench, demo, fleet, apps, detect, export, training, scoring, regions, models, metrics,
data, flow, utils, settings, errors. The metrics read frame labels from ``ammcnet.data``; a
forbidden contract keeps ``ammcnet.data`` from importing ``ammcnet.metrics``, as another keeps
``ammcnet.models`` free of data, flow, metrics, scoring and training. A change that makes a
library import an application fails here.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "ammcnet"


def test_import_linter_contracts_are_kept() -> None:
    pytest.importorskip("importlinter", reason="pip install -e '.[dev]' installs import-linter")
    code = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True))"
    env_path = str(REPO / "src")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "broken" in proc.stdout and "0 broken" in proc.stdout


def _function_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for sub in ast.walk(node):
                if isinstance(sub, ast.ImportFrom) and (sub.module or "").startswith("ammcnet"):
                    found.append(f"{path.relative_to(SRC)}:{sub.lineno} from {sub.module} (in {node.name})")
                elif isinstance(sub, ast.Import) and any(a.name.startswith("ammcnet") for a in sub.names):
                    found.append(f"{path.relative_to(SRC)}:{sub.lineno} import (in {node.name})")
    return found


def test_no_ammcnet_import_hides_inside_a_function() -> None:
    hidden = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith("commands/") or rel in ("cli.py", "__init__.py", "data/__init__.py"):
            continue
        hidden += _function_imports(path)
    assert not hidden, "imports inside functions (move them to the top of the module):\n" + "\n".join(hidden)


def test_no_function_is_longer_than_80_lines() -> None:
    """The house rule: long functions become a few named steps (docstring and signature included)."""
    long = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > 80:
                    long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({n} lines)")
    assert not long, "split into named steps:\n" + "\n".join(long)
