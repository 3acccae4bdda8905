"""Every ``>>>`` example in the package runs, as ``pytest --doctest-modules src/ammcnet`` would.

The examples use tiny inputs (a few pixels, a 16x16 model), so the whole set takes seconds. Each
module's examples run in an empty temporary folder, so an example that writes a file leaves nothing
behind. A module that needs an optional extra which is not installed (``onnx``) is skipped with
the extra's name.
"""

from __future__ import annotations

import doctest
import importlib
import io
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "ammcnet"
OPTIONAL = {"onnx": "onnx", "onnxruntime": "onnx", "ray": "ray"}
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _modules_with_examples() -> list[str]:
    """Dotted names of the package's modules whose source holds at least one ``>>>`` example."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if ">>>" not in path.read_text(encoding="utf-8"):
            continue
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


MODULES = _modules_with_examples()


def test_examples_are_found() -> None:
    assert len(MODULES) >= 40, MODULES


@pytest.mark.parametrize("name", MODULES)
def test_module_examples(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name in OPTIONAL:
            pytest.skip(f"{name} needs {exc.name}: pip install -e '.[{OPTIONAL[exc.name]}]'")
        raise
    tests = [t for t in doctest.DocTestFinder(exclude_empty=True).find(module, name) if t.examples]
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = io.StringIO()
    for test in tests:
        runner.run(test, out=report.write)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0 or not tests, f"{name}: no example ran"
    assert result.failed == 0, f"{result.failed} failing example(s) in {name}:\n{report.getvalue()}"
