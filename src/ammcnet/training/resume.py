"""Resume means resume: a resumed run keeps its ``config.yaml``, and changes to it are written down.

``ammcnet train --resume`` continues with the run's own settings, schedule included (also the one
``--minutes`` fitted). A config that differs from them is refused in one line naming every
conflicting key, except for the settings that change only how fast a run goes
(:data:`RUNTIME_KEYS`) and, when the user asks for it (``--change-schedule``), the schedule
(:data:`SCHEDULE_KEYS`). Every start, resume and change is one line of the run's ``history.log``.

>>> from ammcnet.training.presets import load_preset
>>> changed_settings(load_preset("tiny"), load_preset("tiny", ["stage1.iterations=9"]))
{'stage1.iterations': (6, 9)}
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ammcnet.errors import CheckpointError
from ammcnet.training.config import TrainConfig, apply_overrides
from ammcnet.training.presets import load_config_file, load_preset
from ammcnet.utils.io import write_text_atomic

#: Settings a resumed run may change freely: they change how fast it runs, not what it learns.
RUNTIME_KEYS: frozenset[str] = frozenset({"name", "data.workers", "run.threads", "run.tensorboard"})
#: The schedule: changed on resume only when asked for (``change_schedule``), and then written down.
SCHEDULE_KEYS: frozenset[str] = frozenset({"stage1.iterations", "stage2.iterations", "optim.milestones"})
#: The run folder's log of starts, resumes and setting changes (one line each).
HISTORY_NAME = "history.log"
#: The preset of a new run when none is named.
DEFAULT_PRESET = "cpu-lite"


def run_config(preset: str | None, overrides: Iterable[str], out: str | os.PathLike[str] | None, *,
               resume: bool) -> tuple[TrainConfig, Path]:
    """The config a run trains with, and its folder (default ``runs/<preset name>``).

    A resumed run without a named ``preset`` starts from its own ``config.yaml`` (``overrides`` on
    top, to be checked by :func:`check_resume`); otherwise ``preset`` (default
    :data:`DEFAULT_PRESET`) with ``overrides``.
    """
    overrides = list(overrides)
    if resume and preset is None:
        folder = Path(out) if out is not None else Path("runs") / DEFAULT_PRESET
        saved = folder / "config.yaml"
        if saved.is_file():
            return apply_overrides(load_config_file(saved), overrides), folder
    config = load_preset(preset or DEFAULT_PRESET, overrides)
    return config, Path(out) if out is not None else Path("runs") / config.name


def flat_settings(config: TrainConfig) -> dict[str, Any]:
    """``{"stage1.iterations": 60, ...}``: every setting of a config under its dotted key."""

    def walk(node: dict[str, Any], prefix: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(walk(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
        return out

    return walk(config.to_dict(), "")


def changed_settings(old: TrainConfig, new: TrainConfig) -> dict[str, tuple[Any, Any]]:
    """Dotted keys whose values differ between two configs, with (old, new) values."""
    a, b = flat_settings(old), flat_settings(new)
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def check_resume(out: Path, config: TrainConfig, *, change_schedule: bool = False) -> dict[str, tuple[Any, Any]]:
    """Check that ``config`` continues the run in ``out``; returns the settings it changes.

    A resumed run keeps its ``config.yaml``: the model and data always, the schedule
    (:data:`SCHEDULE_KEYS`) unless ``change_schedule``; only :data:`RUNTIME_KEYS` change freely.

    Raises:
        CheckpointError: one line naming the conflicting keys with the saved and the given values.
    """
    path = out / "config.yaml"
    if not path.is_file():
        return {}
    changed = changed_settings(load_config_file(path), config)
    allowed = RUNTIME_KEYS | (SCHEDULE_KEYS if change_schedule else frozenset())
    conflicts = {k: v for k, v in changed.items() if k not in allowed}
    if not conflicts:
        return changed
    listed = ", ".join(f"{k} ({a} -> {b})" for k, (a, b) in conflicts.items())
    if all(k in SCHEDULE_KEYS for k in conflicts):
        fix = "pass --change-schedule (change_schedule=True) to change the schedule, or drop those values"
    else:
        fix = ("only the schedule may change on resume (other model, data or loss settings would not fit its "
               "checkpoints): drop those --preset/--set values (--resume alone continues with config.yaml) "
               "or train into another --out")
    raise CheckpointError(
        f"{path}: --resume continues with the run's own settings, but the given ones change {listed}; {fix}"
    )


def record_history(out: Path, line: str) -> None:
    """Append one time-stamped line to the run's :data:`HISTORY_NAME` (rewritten atomically)."""
    path = out / HISTORY_NAME
    old = path.read_text() if path.is_file() else ""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    write_text_atomic(path, f"{old}{stamp} {line}\n")


def history_line(config: TrainConfig, stages: tuple[int, ...], resume: bool,
                 changed: dict[str, tuple[Any, Any]]) -> str:
    """The ``history.log`` line of a start or resume, with the settings it changes."""
    what = "resume" if resume else "start"
    line = f"{what} stage(s) {'+'.join(map(str, stages))} with {config.name} settings"
    if changed:
        line += "; changed " + ", ".join(f"{k}: {a} -> {b}" for k, (a, b) in changed.items())
    return line
