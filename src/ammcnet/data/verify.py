"""``ammcnet verify``: count, check and summarise a dataset without preparing it.

Frame folders are listed, not decoded; each frame's header is read (size, JPEG end marker),
which is cheap. ``deep=True`` decodes every frame and video. Known datasets are also checked
against their published totals.

>>> import tempfile, pathlib, numpy as np, cv2
>>> r = pathlib.Path(tempfile.mkdtemp())
>>> for s in ("train", "test"):
...     (r / s / "a").mkdir(parents=True)
...     for i in range(3): _ = cv2.imwrite(str(r / s / "a" / f"{i}.png"), np.zeros((4, 6), np.uint8))
>>> rep = verify_dataset(r); rep.ok, rep.rows[0].frames, rep.rows[0].resolutions
(True, 3, ['6x4'])
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

from ammcnet.data.layouts import PUBLISHED_TOTALS, DatasetLayout, VideoRef, discover_dataset
from ammcnet.data.video import decode_image, list_frames
from ammcnet.errors import AmmcError, DataError

_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def image_header_size(path: Path) -> tuple[int, int] | None:
    """(H, W) read from a JPEG/PNG/BMP header without decoding; None for other formats.

    Raises:
        DataError: empty, truncated or malformed file.
    """
    ext = path.suffix.lower()
    with path.open("rb") as fh:
        head = fh.read(65536)
        if not head:
            raise DataError(f"{path} is empty; delete or replace the frame")
        if ext in (".jpg", ".jpeg"):
            fh.seek(0, os.SEEK_END)
            end = fh.tell()
            fh.seek(max(0, end - 64))
            if b"\xff\xd9" not in fh.read():
                raise DataError(f"{path} is a truncated JPEG (no end marker); re-extract or delete the frame")
            return _jpeg_size(head, path)
    if ext == ".png":
        if head[:8] != b"\x89PNG\r\n\x1a\n" or len(head) < 24:
            raise DataError(f"{path} is not a valid PNG; replace or delete it")
        w, h = struct.unpack(">II", head[16:24])
        return h, w
    if ext == ".bmp":
        if head[:2] != b"BM" or len(head) < 26:
            raise DataError(f"{path} is not a valid BMP; replace or delete it")
        w, h = struct.unpack("<ii", head[18:26])
        return abs(h), w
    return None


def _jpeg_size(data: bytes, path: Path) -> tuple[int, int]:
    if data[:2] != b"\xff\xd8":
        raise DataError(f"{path} is not a JPEG (bad start marker); replace or delete it")
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in _SOF:
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return h, w
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 2 if marker != 0xFF else 1
            continue
        (seg,) = struct.unpack(">H", data[i + 2 : i + 4])
        i += 2 + seg
    raise DataError(f"{path}: no frame header found in the JPEG; the file is corrupt, replace or delete it")


@dataclass
class SplitRow:
    """One line of the verify table."""

    split: str
    videos: int = 0
    frames: int = 0
    resolutions: list[str] = field(default_factory=list)
    label_frames: int | None = None
    anomalous_frames: int | None = None
    mask_frames: int | None = None


@dataclass
class VerifyReport:
    """Everything ``verify`` found; ``ok`` is False when any problem was recorded."""

    layout: DatasetLayout
    rows: list[SplitRow]
    problems: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def format(self) -> str:
        """The report as a plain-text table plus one line per problem."""
        lay = self.layout
        lines = [f"dataset {lay.name!r} ({lay.kind} layout) at {lay.root}"]
        head = f"{'split':<6} {'videos':>6} {'frames':>7} {'resolution':<18} {'label frames':>12} {'anomalous':>9} {'pixel masks':>11}"
        lines.append(head)
        for r in self.rows:
            def num(x: int | None) -> str:
                return "-" if x is None else str(x)

            cover = "-" if r.mask_frames is None else f"{r.mask_frames}/{r.frames}"
            lines.append(
                f"{r.split:<6} {r.videos:>6} {r.frames:>7} {','.join(r.resolutions) or '-':<18} "
                f"{num(r.label_frames):>12} {num(r.anomalous_frames):>9} {cover:>11}"
            )
        lines += [f"note: {n}" for n in self.notes]
        if self.problems:
            lines.append(f"{len(self.problems)} problem(s):")
            lines += [f"  - {p}" for p in self.problems]
        else:
            lines.append("no problems found")
        return "\n".join(lines)


def _check_video(v: VideoRef, deep: bool, problems: list[str]) -> tuple[int, set[str]]:
    sizes: set[tuple[int, int]] = set()
    if v.path.is_dir():
        files = list_frames(v.path)
        if not files:
            problems.append(f"{v.path}: no frame images; add frames or remove the folder")
            return 0, set()
        first_size = None
        for f in files:
            try:
                hw = decode_image(f).shape[:2] if deep else image_header_size(f)
                if hw is None:  # tif etc.: decode the first one only unless deep
                    hw = decode_image(f).shape[:2] if first_size is None else first_size
            except AmmcError as exc:
                problems.append(str(exc))
                continue
            if first_size is None:
                first_size = hw
            elif hw != first_size:
                problems.append(f"{f} is {hw[1]}x{hw[0]} but {v.path} starts at {first_size[1]}x{first_size[0]}; resize it")
            sizes.add(hw)
        n = len(files)
    else:
        try:
            src = v.open()
            n = 0
            for frame in src:
                if n == 0 or deep:
                    sizes.add(frame.shape[:2])
                n += 1
                if not deep and n == 1:
                    n = len(src)
                    break
        except AmmcError as exc:
            problems.append(str(exc))
            return 0, set()
        if n == 0:
            problems.append(f"{v.path}: no decodable frames; re-encode the video or remove it")
        if len(sizes) > 1:
            problems.append(f"{v.path}: frames of different sizes {sorted(sizes)}; re-encode the video")
    return n, {f"{w}x{h}" for h, w in sizes}


def verify_dataset(root: str | os.PathLike[str], layout: str = "auto", deep: bool = False) -> VerifyReport:
    """Check a dataset and summarise it per split.

    Args:
        root: dataset root folder.
        layout: layout name or ``auto``.
        deep: decode every frame (slow) instead of reading headers.

    Returns:
        A :class:`VerifyReport`; ``report.ok`` is False when a problem was found.
    """
    lay = discover_dataset(root, layout)
    problems: list[str] = []
    notes: list[str] = []
    rows = []
    counts: dict[str, list[int]] = {}
    for split in ("train", "test"):
        refs = lay.split(split)
        row = SplitRow(split, videos=len(refs))
        if not refs:
            problems.append(f"{lay.root}: no {split} videos found for the {lay.kind!r} layout")
        res: set[str] = set()
        counts[split] = []
        for v in refs:
            n, r = _check_video(v, deep, problems)
            counts[split].append(n)
            res |= r
        row.frames = sum(counts[split])
        row.resolutions = sorted(res)
        rows.append(row)
    test_row = rows[1]
    if lay.has_labels and lay.test:
        try:
            lay.test_num_frames = counts["test"]  # counted above; reuse
            labels = lay.test_labels or []
            test_row.label_frames = int(sum(len(x) for x in labels))
            test_row.anomalous_frames = int(sum(int(x.sum()) for x in labels))
        except AmmcError as exc:
            problems.append(str(exc))
    elif lay.test:
        notes.append(f"{lay.root}: no frame labels for the test split; evaluation needs them (see docs/data.md, Dataset layouts)")
    if lay.pixel_masks is not None:
        covered = 0
        for v, n, ref in zip(lay.test, counts["test"], lay.pixel_mask_refs, strict=True):
            if ref is None:
                continue
            try:
                m = ref.count()
            except AmmcError as exc:
                problems.append(str(exc))
                continue
            if m != n:
                problems.append(f"{ref.path} has {m} pixel masks but video {v.path} has {n} frames; fix the masks")
            covered += min(m, n)
        test_row.mask_frames = covered
    expected = PUBLISHED_TOTALS.get(lay.name)
    if expected:
        for row, exp in zip(rows, expected, strict=True):
            if exp is not None and row.frames != exp:
                problems.append(f"{lay.name} {row.split} split has {row.frames} frames, the published total is {exp}; "
                                "some frames are missing or extra")
    return VerifyReport(lay, rows, problems, notes)


__all__ = ["SplitRow", "VerifyReport", "image_header_size", "verify_dataset", "DataError"]
