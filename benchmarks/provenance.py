"""What every stored benchmark result carries, so anyone can check and rerun it.

:func:`provenance` records the command line, the code (git commit, and whether the working tree
had uncommitted changes: a dirty tree means the commit alone does not reproduce the number), the
machine and the library versions. The leaderboard generator refuses a result file that lacks any
of :data:`REQUIRED` (:func:`check_provenance`), so no table can quote an unrecorded number.

>>> sorted(k for k in provenance() if k in REQUIRED or k == "command")
['command', 'commit', 'dirty', 'machine', 'versions']
>>> check_provenance("x.json", {"command": "c"})
Traceback (most recent call last):
...
ValueError: x.json: no commit, dirty, machine, seed, settings, versions recorded; rerun the command that made it (provenance.save_result adds them)
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from ammcnet.utils.io import write_json_atomic

REPO = Path(__file__).resolve().parents[1]
#: Keys a result file must hold before a table may quote it: what ran (``command`` or
#: ``commands``, every step that made the number, a refit included), on which code, where, with
#: which seed and every chosen setting.
REQUIRED: tuple[str, ...] = ("commands", "commit", "dirty", "machine", "seed", "settings", "versions")
#: Libraries whose versions change numbers.
LIBRARIES: tuple[str, ...] = ("ammcnet", "torch", "numpy", "scipy", "scikit-learn", "opencv-python-headless", "onnxruntime")


#: The files that compute a number: a change to any of them (committed or not, new files included)
#: makes a result dirty. Prose (README, docs) and stored results cannot change a number.
CODE_PATHS: tuple[str, ...] = ("src", "benchmarks/*.py", "benchmarks/probes", "benchmarks/gpu", "pyproject.toml")


def git_state(repo: Path = REPO) -> dict[str, Any]:
    """The commit checked out and whether the code differs from it (``dirty``: a file of
    :data:`CODE_PATHS` changed or added and not committed)."""
    try:
        commit = subprocess.check_output(["git", "rev-parse", "HEAD"], cwd=repo, text=True).strip()
        changes = subprocess.check_output(["git", "status", "--porcelain", "--", *CODE_PATHS], cwd=repo, text=True)
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown", "dirty": None}
    return {"commit": commit, "dirty": bool(changes.strip()), "dirty_means": "code (" + ", ".join(CODE_PATHS) +
            ") differs from the commit"}


def machine() -> str:
    """CPU model, cores and platform, e.g. ``AMD EPYC 7B13, 2 cores, Linux-6.1-x86_64``."""
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.platform()}"


def versions() -> dict[str, str]:
    """Python and every library of :data:`LIBRARIES` that is installed."""
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def provenance() -> dict[str, Any]:
    """The command line, the code, the machine, the library versions and the date."""
    return {"command": " ".join([Path(sys.executable).name, *sys.argv]), **git_state(), "machine": machine(),
            "versions": versions(), "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}


def missing_provenance(result: dict[str, Any]) -> list[str]:
    """The keys of :data:`REQUIRED` that ``result`` lacks (``command`` counts as ``commands``, an
    older file's ``git_commit`` as ``commit``)."""
    present = set(result) | ({"commands"} if "command" in result else set()) | ({"commit"} if "git_commit" in result else set())
    return [k for k in REQUIRED if k not in present]


def archive_note(results: list[dict[str, Any]]) -> str:
    """One line for an archived section: how many of its result files lack each provenance key."""
    counts: dict[str, int] = {}
    for r in results:
        for k in missing_provenance(r):
            counts[k] = counts.get(k, 0) + 1
    if not counts:
        return f"Provenance: all {len(results)} result files record every key the leaderboards require."
    gaps = ", ".join(f"{k} ({n} of {len(results)})" for k, n in counts.items())
    return (f"Archived: these {len(results)} result files predate full provenance; missing: {gaps}. The numbers are "
            "kept for the record and are not claims.")


def check_provenance(name: str, result: dict[str, Any]) -> dict[str, Any]:
    """``result`` when it holds every key of :data:`REQUIRED` (see :func:`missing_provenance`), else
    a one-line error naming the missing ones."""
    missing = missing_provenance(result)
    if missing:
        raise ValueError(f"{name}: no {', '.join(missing)} recorded; rerun the command that made it "
                         "(provenance.save_result adds them)")
    return result


def save_result(path: str | Path | None, payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` after :func:`provenance`, written atomically to ``path`` when one is given."""
    out = {**provenance(), **payload}
    if path:
        write_json_atomic(path, out)
    return out
