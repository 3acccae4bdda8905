"""Keeping the demo's report scenes blind: which scene a folder holds, and the guard every
selection script passes its folders or seeds through.

A number is evidence about unseen footage only if nothing was chosen on it. Every script that
chooses or probes something on generated scenes (weights, thresholds, candidate parts) calls
:func:`design_folders` or :func:`ammcnet.demo.config.refuse_report_seeds`, so none can look at a
report scene (:data:`ammcnet.demo.config.REPORT_SEEDS`); ``tests/test_blind_scenes.py`` checks
that each such script does.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "scene").mkdir(), (d / "scene" / "scene.json").write_text('{"seed": 103}')
>>> scene_seed(d)
103
>>> design_folders([d], "a probe")
Traceback (most recent call last):
...
SystemExit: error: a probe looked at report scene(s) [103]: report scenes (100-109) must stay unseen by every decision; choose on design scenes (0-8)
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from ammcnet.demo.config import refuse_report_seeds
from ammcnet.errors import ConfigError


def scene_seed(folder: str | Path) -> int | None:
    """The scene seed of an ``ammcnet demo --out`` folder (or a folder inside one), if it says."""
    folder = Path(folder)
    for candidate in (folder / "scene" / "scene.json", folder.parent / "scene" / "scene.json", folder / "scene.json"):
        if candidate.is_file():
            return int(json.loads(candidate.read_text())["seed"])
    return None


def design_folders(folders: Iterable[str | Path], what: str) -> list[Path]:
    """``folders``, after refusing (a one-line ``SystemExit``) any that holds a report scene."""
    folders = [Path(f) for f in folders]
    try:
        refuse_report_seeds([s for s in map(scene_seed, folders) if s is not None], what)
    except ConfigError as exc:
        raise SystemExit(f"error: {exc}") from None
    return folders
