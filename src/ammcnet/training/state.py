"""Resumable training checkpoints: everything needed to continue a run bit for bit.

A checkpoint holds the model (codebook buffers and BN statistics included), every optimiser and
scheduler, the discriminators, the step, the sampler position and the python / numpy / torch RNG
states. Files are written atomically and contain only tensors and plain containers, so they load
with ``torch.load(weights_only=True)``. Each carries a SHA-256 digest of its content
(:mod:`ammcnet.utils.digest`), checked on every load.

Resume heals: :func:`load_latest_train_state` skips a newest checkpoint that is unreadable or
fails its digest (the machine died while writing it, the disk damaged it), warns in one line and
continues from the newest intact one.

>>> import tempfile, pathlib
>>> run = pathlib.Path(tempfile.mkdtemp())
>>> checkpoint_path(run, 1, 42).name
'stage1-0000042.pt'
>>> latest_checkpoint(run, 1) is None
True
"""

from __future__ import annotations

import logging
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ammcnet.errors import CheckpointError
from ammcnet.utils.digest import check_digest, seal
from ammcnet.utils.io import torch_save_atomic

log = logging.getLogger("ammcnet")
_NOTED: set[str] = set()  # files already reported as having no digest

STATE_FORMAT = "ammcnet-train-state/1"
_NAME = re.compile(r"^stage([12])-(\d{7})\.pt$")


def checkpoint_dir(run: Path) -> Path:
    return Path(run) / "checkpoints"


def checkpoint_path(run: Path, stage: int, step: int) -> Path:
    return checkpoint_dir(run) / f"stage{stage}-{step:07d}.pt"


def list_checkpoints(run: Path, stage: int) -> list[tuple[int, Path]]:
    """(step, path) of a stage's checkpoints, oldest first."""
    folder = checkpoint_dir(run)
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = _NAME.match(p.name)
        if m and int(m.group(1)) == stage:
            found.append((int(m.group(2)), p))
    return sorted(found)


def latest_checkpoint(run: Path, stage: int) -> Path | None:
    found = list_checkpoints(run, stage)
    return found[-1][1] if found else None


def prune_checkpoints(run: Path, stage: int, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints of a stage."""
    for _, path in list_checkpoints(run, stage)[: -keep if keep > 0 else None]:
        path.unlink(missing_ok=True)


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch RNG states as weights-only-loadable values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": _to_plain(random.getstate()),
        "numpy": [kind, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_plain(obj: Any) -> Any:
    if isinstance(obj, tuple):
        return [_to_plain(v) for v in obj]
    return obj


def save_train_state(path: Path, state: dict[str, Any]) -> None:
    """Write a training checkpoint atomically (adds the format tag, RNG states and content digest)."""
    torch_save_atomic(path, seal({"format": STATE_FORMAT, "rng": rng_state(), **state}))


def read_sealed(path: Path, what: str = "checkpoint") -> Any:
    """``torch.load`` a file ammcnet wrote and check its digest; one-line CheckpointError otherwise.

    Files without a digest (written by an older ammcnet) are accepted with a one-line notice.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} {path} not found; start without --resume or pick the right --out")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{what} {path} is corrupt or truncated ({exc.__class__.__name__})") from None
    if isinstance(obj, dict):
        ok = check_digest(obj)
        if ok is False:
            raise CheckpointError(
                f"{path}: damaged or changed outside ammcnet (its content does not match the SHA-256 digest stored "
                f"in the {what})"
            )
        if ok is None and str(path) not in _NOTED:  # once per file, though a resume reads it more than once
            _NOTED.add(str(path))
            log.warning("%s: %s has no content digest (written by an older ammcnet); damage cannot be detected",
                        path, what)
    return obj


def load_train_state(path: Path) -> dict[str, Any]:
    """Read a training checkpoint, with one-line errors for missing, corrupt, damaged or foreign files."""
    state = read_sealed(path)
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{path} is not an ammcnet training checkpoint; delete it or choose another --out")
    return state


def heal_checkpoints(run: Path, stages: tuple[int, ...] = (1, 2)) -> list[Path]:
    """Set aside each stage's newest checkpoints that are unreadable or fail their digest.

    Each damaged file is renamed to ``<name>.damaged`` (kept for inspection, no longer taken for
    a checkpoint) with a one-line warning when an older intact one exists; a resume then
    continues from that one. Run before a resume decides where to continue.

    Returns:
        The renamed files.

    Raises:
        CheckpointError: a stage has checkpoints but none of them is intact.
    """
    moved: list[Path] = []
    for stage in stages:
        found = list_checkpoints(run, stage)
        damaged: list[tuple[Path, str]] = []
        for _, path in reversed(found):
            try:
                load_train_state(path)
                break
            except CheckpointError as exc:
                damaged.append((path, str(exc)))
        else:
            if damaged:  # nothing to continue from: leave the files as they are for the user to judge
                raise CheckpointError(
                    f"{checkpoint_dir(run)}: none of the {len(found)} stage-{stage} checkpoints is intact "
                    f"({damaged[0][1]}): delete them to restart stage {stage}"
                )
        for path, why in damaged:
            aside = path.with_name(path.name + ".damaged")
            path.replace(aside)
            moved.append(aside)
            log.warning("resume: %s; set aside as %s, continuing from the previous checkpoint", why, aside.name)
    return moved


def load_latest_train_state(run: Path, stage: int) -> tuple[Path, dict[str, Any]] | None:
    """The newest intact checkpoint of ``stage`` and its state, or None when the stage has none.

    Damaged newer checkpoints are set aside first (:func:`heal_checkpoints`).
    """
    heal_checkpoints(run, (stage,))
    path = latest_checkpoint(run, stage)
    return (path, load_train_state(path)) if path is not None else None
