"""Dataset layouts: find the training and test videos, frame labels and pixel masks under a root.

Each layout is one small function from a root folder to a :class:`DatasetLayout`:

* ``frames``: ``ROOT/{training,testing}/frames/<video>/<frame>`` + a label file in ROOT
  (``<name>.mat``) or ``testing/test_frame_mask/*.npy``; pixel masks in
  ``testing/pixel_masks/<video>/`` or ``testing/test_pixel_mask/<video>.npy``;
* ``ucsd``: ``UCSDpedN/{Train,Test}/TrainNNN|TestNNN/*.tif``, ``TestNNN_gt/*.bmp``, ``UCSDpedN.m``;
* ``avenue``: ``training_videos/*.avi``, ``testing_videos/*.avi``,
  ``ground_truth_demo/testing_label_mask/<n>_label.mat`` (pixel masks; frame labels derived);
* ``shanghaitech``: ``training/videos/*.avi`` with ``testing/frames/<video>/``;
* ``custom``: ``ROOT/train/*``, ``ROOT/test/*`` (videos or frame folders), optional
  ``labels.csv``/``labels.json`` and ``pixel_masks/<video>/`` (or ``<video>.npy``).

>>> import tempfile, pathlib, numpy as np, cv2
>>> r = pathlib.Path(tempfile.mkdtemp())
>>> for s in ("train", "test"):
...     (r / s / "a").mkdir(parents=True); _ = cv2.imwrite(str(r / s / "a" / "0.png"), np.zeros((4, 4), np.uint8))
>>> lay = discover_dataset(r); lay.kind, [v.name for v in lay.train]
('custom', ['a'])
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from ammcnet.choices import LAYOUTS
from ammcnet.data.labels import load_labels
from ammcnet.data.masks import MaskRef
from ammcnet.data.video import IMAGE_EXTS, VIDEO_EXTS, VideoSource, list_frames, natural_key, open_video
from ammcnet.errors import ConfigError, DataError

#: Layout names accepted by ``discover_dataset(layout=...)``.
#: Published frame totals (train, test); None where a split is not checked.
PUBLISHED_TOTALS: dict[str, tuple[int | None, int | None]] = {
    "ped2": (2550, 2010),
    "ped1": (6800, 7200),
    "avenue": (15328, 15324),
    "shanghaitech": (None, 40791),
}


@dataclass(frozen=True)
class VideoRef:
    """One video of a split: its name and its frame folder or file."""

    name: str
    path: Path

    def open(self) -> VideoSource:
        return open_video(self.path)

    def count_frames(self) -> int:
        """Frame count; a folder is listed, not decoded."""
        if self.path.is_dir():
            return len(list_frames(self.path))
        return len(self.open())


@dataclass
class DatasetLayout:
    """What :func:`discover_dataset` found.

    Attributes:
        name: dataset name (``ped2``, ``avenue``, ... or the root folder's name).
        root: the root folder.
        kind: the layout (one of ``LAYOUTS`` except ``auto``).
        train, test: videos in sorted (natural) order.
        label_file: the frame-label file or folder, if any.
        pixel_mask_refs: per test video, where its pixel masks are (None where absent).
        labels_from_masks: frame labels are derived from the pixel masks (Avenue).
    """

    name: str
    root: Path
    kind: str
    train: list[VideoRef]
    test: list[VideoRef]
    label_file: Path | None = None
    pixel_mask_refs: list[MaskRef | None] = field(default_factory=list)
    labels_from_masks: bool = False

    @cached_property
    def test_num_frames(self) -> list[int]:
        return [v.count_frames() for v in self.test]

    @property
    def has_labels(self) -> bool:
        return self.label_file is not None or self.labels_from_masks

    @cached_property
    def test_labels(self) -> list[np.ndarray] | None:
        """Per test video (N,) uint8 0/1 frame labels, validated against frame counts; None if unlabelled."""
        if self.label_file is not None:
            return load_labels(self.label_file, self.test_num_frames, [v.name for v in self.test])
        if self.labels_from_masks:
            out = []
            for v, n, ref in zip(self.test, self.test_num_frames, self.pixel_mask_refs, strict=True):
                if ref is None:
                    raise DataError(f"no label mask for test video {v.name} in {self.root}; add its mask file")
                masks = ref.load()
                if len(masks) != n:
                    raise DataError(f"{ref.path} has {len(masks)} masks but video {v.path} has {n} frames; fix the labels")
                out.append(masks.reshape(n, -1).any(axis=1).astype(np.uint8))
            return out
        return None

    @property
    def pixel_masks(self) -> list[MaskRef | None] | None:
        """Per test video pixel-mask reference, or None when the dataset has none."""
        return self.pixel_mask_refs if any(r is not None for r in self.pixel_mask_refs) else None

    def split(self, name: str) -> list[VideoRef]:
        if name not in ("train", "test"):
            raise ConfigError(f"unknown split {name!r}; choose 'train' or 'test'")
        return self.train if name == "train" else self.test


def _is_video_entry(p: Path) -> bool:
    if p.name.startswith("."):
        return False
    if p.is_dir():
        return True
    return p.is_file() and p.suffix.lower() in VIDEO_EXTS


def _entries(folder: Path, *, exclude_suffix: str | None = None) -> list[VideoRef]:
    if not folder.is_dir():
        return []
    refs = []
    for p in sorted(folder.iterdir(), key=natural_key):
        if not _is_video_entry(p) or (exclude_suffix and p.name.endswith(exclude_suffix)):
            continue
        refs.append(VideoRef(p.stem if p.is_file() else p.name, p))
    return refs


def _mask_refs(test: list[VideoRef], *candidates: Path) -> list[MaskRef | None]:
    out: list[MaskRef | None] = []
    for v in test:
        ref = None
        for c in candidates:
            if (c / v.name).is_dir():
                ref = MaskRef("folder", c / v.name)
            elif (c / f"{v.name}.npy").is_file():
                ref = MaskRef("npy", c / f"{v.name}.npy")
            if ref:
                break
        out.append(ref)
    return out


def _dataset_name(root: Path) -> str:
    n = root.name.lower()
    for key, alias in (("ped1", "ped1"), ("ped2", "ped2"), ("avenue", "avenue"), ("shanghai", "shanghaitech")):
        if key in n:
            return alias
    return root.name


def _frames_label_file(root: Path) -> Path | None:
    preferred = root / f"{root.name}.mat"
    if preferred.is_file():
        return preferred
    mats = sorted(root.glob("*.mat"))
    if mats:
        return mats[0]
    fm = root / "testing" / "test_frame_mask"
    return fm if fm.is_dir() else None


def _layout_frames(root: Path) -> DatasetLayout:
    train = _entries(root / "training" / "frames")
    test = _entries(root / "testing" / "frames")
    masks = _mask_refs(test, root / "testing" / "pixel_masks", root / "testing" / "test_pixel_mask")
    return DatasetLayout(_dataset_name(root), root, "frames", train, test, _frames_label_file(root), masks)


def _layout_shanghaitech(root: Path) -> DatasetLayout:
    lay = _layout_frames(root)
    lay.kind = "shanghaitech"
    lay.train = _entries(root / "training" / "videos")
    return lay


def _layout_ucsd(root: Path) -> DatasetLayout:
    train = _entries(root / "Train", exclude_suffix="_gt")
    test = _entries(root / "Test", exclude_suffix="_gt")
    masks = [MaskRef("folder", root / "Test" / f"{v.name}_gt") if (root / "Test" / f"{v.name}_gt").is_dir() else None
             for v in test]
    mfiles = sorted(root.glob("*.m")) + sorted((root / "Test").glob("*.m"))
    return DatasetLayout(_dataset_name(root), root, "ucsd", train, test, mfiles[0] if mfiles else None, masks)


def _layout_avenue(root: Path) -> DatasetLayout:
    train = _entries(root / "training_videos")
    test = _entries(root / "testing_videos")
    mdir = root / "ground_truth_demo" / "testing_label_mask"
    masks: list[MaskRef | None] = []
    for v in test:
        stem = str(int(v.name)) if v.name.isdigit() else v.name
        f = mdir / f"{stem}_label.mat"
        masks.append(MaskRef("mat", f) if f.is_file() else None)
    mat = root / "avenue.mat"
    lay = DatasetLayout("avenue", root, "avenue", train, test, mat if mat.is_file() else None, masks)
    lay.labels_from_masks = lay.label_file is None and any(m is not None for m in masks)
    return lay


def _layout_custom(root: Path) -> DatasetLayout:
    train = _entries(root / "train")
    test = _entries(root / "test")
    label = next((root / n for n in ("labels.csv", "labels.json") if (root / n).is_file()), None)
    masks = _mask_refs(test, root / "pixel_masks", root / "test_masks")
    return DatasetLayout(root.name, root, "custom", train, test, label, masks)


_READERS = {
    "frames": _layout_frames,
    "ucsd": _layout_ucsd,
    "avenue": _layout_avenue,
    "shanghaitech": _layout_shanghaitech,
    "custom": _layout_custom,
}


def detect_layout(root: Path) -> str:
    """Name of the layout ``root`` looks like; DataError if none fits."""
    if (root / "training" / "videos").is_dir() and (root / "testing" / "frames").is_dir():
        return "shanghaitech"
    if (root / "training" / "frames").is_dir() or (root / "testing" / "frames").is_dir():
        return "frames"
    if (root / "Train").is_dir() or (root / "Test").is_dir():
        return "ucsd"
    if (root / "training_videos").is_dir() or (root / "testing_videos").is_dir():
        return "avenue"
    if (root / "train").is_dir() or (root / "test").is_dir():
        return "custom"
    raise DataError(
        f"{root} matches no known layout: expected training/frames + testing/frames, Train/Test (UCSD), "
        "training_videos/testing_videos (Avenue) or train/test (custom); see docs/data.md, Dataset layouts"
    )


def discover_dataset(root: str | os.PathLike[str], layout: str = "auto") -> DatasetLayout:
    """Find the videos, labels and pixel masks of a dataset.

    Args:
        root: the dataset's root folder.
        layout: one of ``LAYOUTS``; ``auto`` detects it.

    Returns:
        A :class:`DatasetLayout`. Frame labels are read on first access of ``test_labels``.

    Raises:
        DataError: a missing root, no layout match, or no videos at all.
        ConfigError: an unknown ``layout`` name.
    """
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    r = Path(root).expanduser().resolve()
    if not r.is_dir():
        raise DataError(f"dataset folder {r} does not exist; check the path")
    kind = detect_layout(r) if layout == "auto" else layout
    lay = _READERS[kind](r)
    if not lay.train and not lay.test:
        raise DataError(f"no videos found in {r} for the {kind!r} layout; check the folder or pass --layout")
    return lay


__all__ = ["DatasetLayout", "IMAGE_EXTS", "LAYOUTS", "PUBLISHED_TOTALS", "VideoRef", "detect_layout", "discover_dataset"]
