"""A validation dataset on disk: a dataset's normal training footage and synthetic anomalies made
from it, as a dataset every command reads, so settings can be measured without a test label.

``ammcnet synthesize DATA --out DIR`` writes it in the ``custom`` layout::

    DIR/train/<video>/000000.png ...     the fitting videos (or stretches of them), RGB frames
    DIR/test/normal-<video>/ ...         each held-out normal video, unchanged (false alarms)
    DIR/test/<kind>-<video>-<n>/ ...     synthetic anomalies made from it, one stretch each
    DIR/labels.json                      {"video": [0, 1, ...]}: one 0/1 label per test frame
    DIR/validation-set.json              what was made: source, seed, split, motion, each video

The split and the generator are those ``ammcnet train`` chooses the region head's settings with
(:func:`ammcnet.regions.selection.validate.split_footage`, :mod:`ammcnet.regions.selection.synthetic`): every 4th
training video held out whole, eight kinds of anomaly (four of motion, four of appearance) sized
by the footage's moving objects. Here
they are made at the source resolution and in colour, so AMMC-Net itself can be trained on
``DIR/train`` and tested on ``DIR/test``: fusion weights, smoothing or a new record compared
on anomalies no test label describes. Frames are PNG (lossless) unless asked otherwise.

The folder is written under a temporary sibling name and renamed at the end: an interrupted run
leaves no half-written dataset (running it again starts over).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from ammcnet.data.layouts import VideoRef, discover_dataset
from ammcnet.errors import ConfigError, DataError, OutputError
from ammcnet.regions.footage import split_flows
from ammcnet.regions.selection.synthetic import KINDS
from ammcnet.regions.selection.validate import (
    MIN_VIDEOS,
    SYNTHETIC_PER_KIND,
    Footage,
    ValidationFootage,
    split_footage,
)
from ammcnet.utils.io import write_json_atomic

FORMAT = "ammcnet-validation-set/1"
#: Image formats the frames may be written in.
IMAGE_FORMATS: tuple[str, ...] = ("png", "jpg")


@dataclass
class ValidationDataset:
    """What :func:`write_validation_dataset` wrote.

    Attributes:
        root: the dataset folder.
        train: names of the training (fitting) videos.
        test: names of the test videos (held-out normal ones and synthetic ones).
        frames: test frames in all.
        anomalous: anomalous test frames.
    """

    root: Path
    train: list[str]
    test: list[str]
    frames: int
    anomalous: int


def safe_name(name: str) -> str:
    """``name`` with every character but letters, digits, ``-`` and ``_`` replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "video"


def write_frames(folder: Path, frames: np.ndarray, image_format: str = "png") -> None:
    """(T, H, W, 3) uint8 RGB frames as ``folder/000000.<format>`` ... (JPEG at quality 95).

    A grey video (three equal channels, as Ped2's) is written with one channel, a third of the
    size; readers give it back with three equal channels, so the frames read are the same.
    """
    folder.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if image_format == "jpg" else []
    grey = bool((frames[..., 0] == frames[..., 1]).all() and (frames[..., 1] == frames[..., 2]).all())
    for j, rgb in enumerate(frames):
        path = folder / f"{j:06d}.{image_format}"
        image = rgb[..., 0] if grey else cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
        if not cv2.imwrite(str(path), np.ascontiguousarray(image), params):
            raise OutputError(f"could not write {path}; check the disk space and permissions of --out")


def write_validation_dataset(root: str | os.PathLike[str], out: str | os.PathLike[str], *, layout: str = "auto",
                             seed: int = 0, per_kind: int = SYNTHETIC_PER_KIND, height: int = 240,
                             flow_preset: str = "medium", image_format: str = "png", overwrite: bool = False,
                             rotation: int = 0, progress: bool | None = None) -> ValidationDataset:
    """Write the validation dataset of the training split of ``root`` to ``out``.

    Args:
        root: a dataset in any layout ``ammcnet verify`` reads (only its training videos are used).
        out: the folder to create.
        seed: the generator's seed (the same seed gives the same dataset).
        per_kind: synthetic videos of each kind per held-out video.
        height: rows of the analysis grid the footage's motion is measured on.
        flow_preset: DIS preset of that analysis flow.
        image_format: ``png`` (lossless) or ``jpg``.
        overwrite: replace ``out`` if it exists.
        rotation: which quarter of the videos (or stretches) to hold out, 0-3: 0 holds out the last
            and every 4th before it, r the ones r places earlier. The head's choice measures one long
            recording on all four (:func:`ammcnet.regions.selection.validate.validation_splits`); write each to
            look at what it measured.
        progress: show progress bars (None: when stderr is a terminal).
    """
    if image_format not in IMAGE_FORMATS:
        raise ConfigError(f"image format {image_format!r}: choose one of {', '.join(IMAGE_FORMATS)}")
    if per_kind < 1:
        raise ConfigError(f"per_kind must be at least 1, got {per_kind}")
    if not 0 <= rotation < MIN_VIDEOS:
        raise ConfigError(f"rotation must be 0 to {MIN_VIDEOS - 1} (which quarter of the videos is held out), got {rotation}")
    out = Path(out).expanduser().resolve()
    _check_out(out, Path(root).expanduser().resolve(), overwrite)
    ds = discover_dataset(root, layout)
    if not ds.train:
        raise DataError(f"{ds.root}: no training videos to make a validation set from")
    flows, _ = split_flows(ds.train, height, flow_preset, progress=progress, desc="analysis flow")
    split = split_footage([Footage(v.name, f, partial(_frames, v)) for v, f in zip(ds.train, flows, strict=True)], rotation)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        info = _write(split, tmp, seed, per_kind, image_format, progress)
        info.update(source=str(ds.root), layout=ds.kind, seed=seed, per_kind=per_kind, analysis_height=height,
                    flow_preset=flow_preset, image_format=image_format, rotation=rotation)
        write_json_atomic(tmp / "validation-set.json", info)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return ValidationDataset(out, info["train"], [v["name"] for v in info["test"]], info["test_frames"],
                             info["anomalous_frames"])


def _check_out(out: Path, root: Path, overwrite: bool) -> None:
    """Refuse an ``out`` that holds or sits in the dataset, or that exists and is not a validation
    set this function wrote (``--overwrite`` deletes it: never anything else)."""
    if out == root or root in out.parents or out in root.parents:
        raise OutputError(f"{out} overlaps the dataset {root}; write the validation set to a folder outside it")
    if not out.exists():
        return
    if not overwrite:
        raise OutputError(f"{out} already exists; choose another --out or pass --overwrite to replace it")
    if any(out.iterdir()) and not (out / "validation-set.json").is_file():
        raise OutputError(f"{out} is not a validation set written by ammcnet synthesize (no validation-set.json); "
                          "--overwrite replaces only those: choose another --out")


def _unit(vector: tuple[float, float]) -> list[float]:
    norm = max(float(np.hypot(*vector)), 1e-12)
    return [round(float(vector[0]) / norm, 6), round(float(vector[1]) / norm, 6)]


def _frames(video: VideoRef) -> np.ndarray:
    return video.open().read_all()


def _write(split: ValidationFootage, tmp: Path, seed: int, per_kind: int, image_format: str, progress: bool | None) -> dict[str, Any]:
    """Write the frames and labels of ``split`` into ``tmp``; return the manifest's contents."""
    bar: Callable[..., Any] = partial(tqdm, unit="video", leave=False, disable=None if progress is None else not progress)
    train: list[str] = []
    for v in bar(split.fit, desc="training videos"):
        name = safe_name(v.name)
        train.append(name if name not in train else f"{name}-{len(train)}")  # names that differed only in odd characters
        write_frames(tmp / "train" / train[-1], v.frames(), image_format)
    held = [v.frames() for v in split.held_out]
    labels: dict[str, list[int]] = {}
    test: list[dict[str, Any]] = []
    for v, frames in zip(split.held_out, held, strict=True):
        name = f"normal-{safe_name(v.name)}"
        write_frames(tmp / "test" / name, frames, image_format)
        labels[name] = [0] * len(frames)
        test.append({"name": name, "kind": "normal", "source": v.name, "frames": len(frames)})
    made: Counter[str] = Counter()
    total = len(held) * len(KINDS) * per_kind
    for i, syn in bar(split.synthetic(held, seed=seed, per_kind=per_kind), total=total, desc="synthetic videos"):
        stem = f"{syn.kind}-{safe_name(split.held_out[i].name)}"
        made[stem] += 1
        name = f"{stem}-{made[stem]}"
        write_frames(tmp / "test" / name, syn.frames, image_format)
        labels[name] = syn.labels.astype(int).tolist()
        where = np.flatnonzero(syn.labels)
        test.append({"name": name, "kind": syn.kind, "source": split.held_out[i].name, "frames": len(syn.labels),
                     "anomalous": [int(where[0]), int(where[-1])] if where.size else None, "box": list(syn.box)})
    write_json_atomic(tmp / "labels.json", labels)
    return {"format": FORMAT, "train": train, "held_out": [v.name for v in split.held_out], "test": test,
            "test_frames": sum(len(x) for x in labels.values()),
            "anomalous_frames": int(sum(sum(x) for x in labels.values())),
            "normal_speed_px": split.speed_px, "direction": _unit(split.direction), "object_px": split.object_px,
            "object_side_px": split.side(int(held[0].shape[1]))}
