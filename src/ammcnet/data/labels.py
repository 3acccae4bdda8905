"""Frame-level ground-truth readers: every common label format to one 0/1 array per video.

All readers are plain functions that take the per-video frame counts (sorted video order) and
return ``list[np.ndarray]`` of uint8 0/1 masks, one per video, validated against those counts:
a mismatch names the video, both counts and the file. Supported formats:

* ``.mat`` with ``gt`` (UCSD Ped1/Ped2, Avenue): per video a 2xK array of **1-based inclusive**
  ``[start; end]`` intervals (cell array, squeezed 2-vector, or struct variants scipy produces);
* the original UCSD ``.m`` list: ``TestVideoFile{end+1}.gt_frame = [61:180];`` or
  ``[1:146, 150:160]`` (1-based inclusive);
* a ShanghaiTech ``test_frame_mask`` folder of ``<video>.npy`` 0/1 arrays;
* one concatenated ``.npy`` over all test frames, shape ``(N,)`` or ``(1, N)``;
* CSV ``video,start,end`` and JSON ``{"video": [[start, end], ...]}``, 1-based inclusive frame
  numbers (the ``.mat`` convention); in JSON a flat 0/1 list of length N is a per-frame mask.

>>> intervals_to_mask([(2, 3)], 5).tolist()
[0, 1, 1, 0, 0]
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ammcnet.errors import DataError

#: Formats :func:`load_labels` recognises, for error messages.
FORMATS = ".mat (gt intervals), .m (UCSD gt_frame lists), a folder of <video>.npy masks, " \
          "one concatenated .npy, .csv (video,start,end) or .json"


def intervals_to_mask(intervals: Sequence[Sequence[int]] | np.ndarray, n: int, *, one_based: bool = True,
                      source: str = "labels", video: str = "?") -> np.ndarray:
    """Turn inclusive ``[start, end]`` frame intervals into a 0/1 mask.

    Args:
        intervals: (K, 2) start and end frame numbers, both inclusive.
        n: frames in the video.
        one_based: True when frame numbers start at 1 (the ``.mat``/``.m``/CSV convention).
        source, video: named in the error when an interval falls outside the video.

    Returns:
        (n,) uint8, 1 = anomalous.
    """
    mask = np.zeros(int(n), dtype=np.uint8)
    offset = 1 if one_based else 0
    for row in np.asarray(intervals, dtype=np.int64).reshape(-1, 2):
        start, end = int(row[0]) - offset, int(row[1]) - offset
        if start < 0 or end >= n or end < start:
            lo = offset
            raise DataError(f"{source}: video {video} interval [{row[0]}, {row[1]}] is outside its {n} frames "
                            f"(frame numbers {lo}..{n - 1 + lo}, inclusive); fix the interval or the frame count")
        mask[start:end + 1] = 1
    return mask


def _names(num_frames: Sequence[int], videos: Sequence[str] | None) -> list[str]:
    return list(videos) if videos is not None else [f"#{i:03d}" for i in range(len(num_frames))]


def _check_count(n_found: int, num_frames: Sequence[int], path: Path, what: str) -> None:
    if n_found != len(num_frames):
        raise DataError(f"labels {path}: {n_found} {what} but the scores have {len(num_frames)} videos; "
                        "use the label file of the same test split")


def _check_mask(mask: np.ndarray, n: int, path: Path, video: str) -> np.ndarray:
    mask = np.asarray(mask).reshape(-1)
    if len(mask) != n:
        raise DataError(f"labels {path}: video {video} has {len(mask)} labelled frames but the scores have "
                        f"{n} frames; use labels for the same videos and frame rate")
    if mask.size and not np.isin(mask, (0, 1)).all():
        raise DataError(f"labels {path}: video {video} holds values other than 0 and 1")
    return mask.astype(np.uint8)


# ---------------------------------------------------------------- .mat


def _entry_intervals(entry: object) -> np.ndarray:
    """One video's entry of a ``gt`` variable -> (K, 2) int64 intervals."""
    while isinstance(entry, np.ndarray) and entry.dtype == object and entry.size == 1:
        entry = entry.reshape(-1)[0]
    if isinstance(entry, np.ndarray) and entry.dtype.names:  # struct read as a record array
        entry = entry[entry.dtype.names[0]]
        return _entry_intervals(entry)
    if hasattr(entry, "_fieldnames"):  # scipy mat_struct (struct_as_record=False)
        return _entry_intervals(getattr(entry, entry._fieldnames[0]))
    arr = np.asarray(entry)
    if arr.dtype == object:
        raise DataError("unsupported nested cell in gt")
    if arr.dtype.kind == "f" and arr.size and not (np.isfinite(arr).all() and (arr == np.round(arr)).all()
                                                   and (np.abs(arr) < 2**53).all()):
        raise DataError("a gt entry holds NaN, inf or fractional frame numbers; give whole 1-based frame numbers")
    if arr.dtype.kind not in "iufb":
        raise DataError(f"a gt entry of type {arr.dtype} is not numbers; give whole 1-based frame numbers")
    arr = arr.astype(np.int64)
    if arr.size == 0:
        return np.zeros((0, 2), np.int64)
    if arr.ndim == 1:
        if arr.size != 2:
            raise DataError(f"a gt entry of shape {arr.shape} is not a [start; end] pair")
        return arr.reshape(1, 2)
    if arr.ndim == 2 and arr.shape[0] == 2:
        return arr.T.copy()
    if arr.ndim == 2 and arr.shape[1] == 2:
        return arr
    raise DataError(f"a gt entry of shape {arr.shape} is not a 2xK array of [start; end] intervals")


def read_mat_intervals(path: str | os.PathLike[str], key: str = "gt") -> list[np.ndarray]:
    """Read a ``.mat`` label file into per-video (K, 2) 1-based inclusive intervals.

    Accepts the cell layout (``gt`` 1xV object array of 2xK arrays), 2-vectors squeezed from
    2x1 arrays, a 2xK numeric array for a single video, and struct arrays (first field).
    """
    from scipy.io import loadmat

    p = Path(path)
    try:
        mat = loadmat(p, squeeze_me=False)
    except Exception as exc:  # scipy raises several unrelated types for bad files
        raise DataError(f"labels {p}: not a readable .mat file ({exc})") from None
    names = [k for k in mat if not k.startswith("__")]
    if key not in mat:
        if len(names) != 1:
            raise DataError(f"labels {p}: no variable {key!r} (variables: {', '.join(names) or 'none'}); "
                            "expected UCSD/Avenue-style gt intervals")
        key = names[0]
    gt = mat[key]
    try:
        if gt.dtype.names:  # struct array: one element per video
            entries = list(gt[gt.dtype.names[0]].reshape(-1))
        elif gt.dtype == object:
            entries = list(gt.reshape(-1))
        else:
            entries = [gt]
        return [_entry_intervals(e) for e in entries]
    except DataError as exc:
        raise DataError(f"labels {p}: {exc}") from None


def read_mat_labels(path: str | os.PathLike[str], num_frames: Sequence[int],
                    videos: Sequence[str] | None = None) -> list[np.ndarray]:
    """``.mat`` ``gt`` intervals (1-based inclusive), one entry per video in sorted order, as masks."""
    p = Path(path)
    intervals = read_mat_intervals(p)
    _check_count(len(intervals), num_frames, p, "videos in gt")
    names = _names(num_frames, videos)
    return [intervals_to_mask(iv, n, source=f"labels {p}", video=nm) for iv, n, nm in zip(intervals, num_frames, names, strict=True)]


# ---------------------------------------------------------------- UCSD .m

_GT_FRAME = re.compile(r"gt_frame\s*=\s*\[([^\]]*)\]")


def parse_ucsd_m(text: str) -> list[np.ndarray]:
    """Parse the UCSD ``.m`` list into per-video (K, 2) 1-based inclusive intervals.

    Each ``gt_frame = [...]`` statement is one video in file order; items are ``a:b``,
    ``a:step:b`` (read as the range a..b) or single frames ``a``, separated by commas or spaces.
    """
    text = re.sub(r"%[^\n]*", "", text)  # MATLAB comments
    videos = []
    for match in _GT_FRAME.finditer(text):
        rows = []
        for item in re.split(r"[,\s;]+", match.group(1).strip()):
            if not item:
                continue
            parts = item.split(":")
            if not all(x.strip().isdigit() for x in parts) or len(parts) > 3:
                raise DataError(f"cannot read gt_frame item {item!r}")
            rows.append((int(parts[0]), int(parts[-1])))
        videos.append(np.asarray(rows, np.int64).reshape(-1, 2))
    return videos


def read_ucsd_m_labels(path: str | os.PathLike[str], num_frames: Sequence[int],
                       videos: Sequence[str] | None = None) -> list[np.ndarray]:
    """The original UCSD ``UCSDped{1,2}.m`` ground-truth list as masks."""
    p = Path(path)
    try:
        intervals = parse_ucsd_m(p.read_text(errors="replace"))
    except DataError as exc:
        raise DataError(f"labels {p}: {exc}") from None
    if not intervals:
        raise DataError(f"labels {p}: no 'gt_frame = [...]' statements found; expected the UCSD .m format")
    _check_count(len(intervals), num_frames, p, "gt_frame entries")
    names = _names(num_frames, videos)
    return [intervals_to_mask(iv, n, source=f"labels {p}", video=nm) for iv, n, nm in zip(intervals, num_frames, names, strict=True)]


# ---------------------------------------------------------------- .npy


def read_npy_folder_labels(path: str | os.PathLike[str], num_frames: Sequence[int],
                           videos: Sequence[str] | None = None) -> list[np.ndarray]:
    """A ShanghaiTech-style folder of ``<video>.npy`` per-frame 0/1 masks.

    With video names the files are matched by name (``<name>.npy``); without, the sorted files
    are taken in order. A folder holding ``test_frame_mask/`` is accepted too.
    """
    p = Path(path)
    if (p / "test_frame_mask").is_dir():
        p = p / "test_frame_mask"
    files = sorted(p.glob("*.npy"))
    if videos is not None:
        by_stem = {f.stem: f for f in files}
        missing = [v for v in videos if v not in by_stem]
        if missing:
            raise DataError(f"labels {p}: no mask file for video {missing[0]} ({missing[0]}.npy) "
                            f"and {len(missing) - 1} more; use the test_frame_mask folder of these videos")
        files = [by_stem[v] for v in videos]
    else:
        _check_count(len(files), num_frames, p, ".npy mask files")
    out = []
    for f, n in zip(files, num_frames, strict=True):
        try:
            arr = np.load(f, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataError(f"labels {f}: not a readable .npy ({exc})") from None
        out.append(_check_mask(arr, int(n), f, f.stem))
    return out


def read_concat_npy_labels(path: str | os.PathLike[str], num_frames: Sequence[int],
                           videos: Sequence[str] | None = None) -> list[np.ndarray]:
    """One ``.npy`` over all test frames, shape ``(N,)`` or ``(1, N)``, split by ``num_frames``."""
    p = Path(path)
    try:
        arr = np.load(p, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"labels {p}: not a readable .npy ({exc})") from None
    if arr.ndim > 2 or (arr.ndim == 2 and 1 not in arr.shape):
        raise DataError(f"labels {p}: shape {arr.shape}; expected (N,) or (1, N) frame labels")
    arr = arr.reshape(-1)
    total = int(np.sum(num_frames))
    if len(arr) != total:
        raise DataError(f"labels {p}: {len(arr)} frame labels but the scores' {len(num_frames)} videos have "
                        f"{total} frames; use the labels of the same test split")
    names = _names(num_frames, videos)
    bounds = np.cumsum([0, *num_frames])
    return [_check_mask(arr[a:b], int(b - a), p, nm) for a, b, nm in zip(bounds[:-1], bounds[1:], names, strict=True)]


# ---------------------------------------------------------------- CSV / JSON


def _masks_from_mapping(p: Path, table: dict[str, list], num_frames: Sequence[int],
                        videos: Sequence[str] | None) -> list[np.ndarray]:
    if videos is None:
        raise DataError(f"labels {p}: CSV/JSON labels are matched by video name, but the scores store no "
                        "'videos' names; write them with save_score_file(..., videos=...)")
    unknown = sorted(set(table) - set(videos))
    if unknown:
        raise DataError(f"labels {p}: video {unknown[0]!r} is not among the scored videos "
                        f"({', '.join(list(videos)[:5])}{', ...' if len(videos) > 5 else ''}); check the names")
    out = []
    for name, n in zip(videos, num_frames, strict=True):
        entry = table.get(name, [])
        if entry and all(isinstance(x, (int, bool)) and x in (0, 1) for x in entry) and len(entry) != 2:
            out.append(_check_mask(np.asarray(entry), int(n), p, name))
        else:
            out.append(intervals_to_mask(np.asarray(entry, np.int64).reshape(-1, 2), int(n),
                                         source=f"labels {p}", video=name))
    return out


def read_csv_labels(path: str | os.PathLike[str], num_frames: Sequence[int],
                    videos: Sequence[str] | None = None) -> list[np.ndarray]:
    """CSV rows ``video,start,end`` (1-based inclusive frame numbers; header optional).

    Videos with no row are all normal.
    """
    p = Path(path)
    table: dict[str, list] = {}
    with p.open(newline="") as fh:
        for lineno, row in enumerate(csv.reader(fh), start=1):
            row = [c.strip() for c in row]
            if not row or not any(row) or row[0].startswith("#"):
                continue
            if lineno == 1 and row[:3] == ["video", "start", "end"]:
                continue
            if len(row) != 3 or not (row[1].lstrip("-").isdigit() and row[2].lstrip("-").isdigit()):
                raise DataError(f"labels {p}: line {lineno} is {','.join(row)!r}; expected video,start,end "
                                "with 1-based inclusive frame numbers")
            table.setdefault(row[0], []).append([int(row[1]), int(row[2])])
    return _masks_from_mapping(p, table, num_frames, videos)


def read_json_labels(path: str | os.PathLike[str], num_frames: Sequence[int],
                     videos: Sequence[str] | None = None) -> list[np.ndarray]:
    """JSON ``{"video": [[start, end], ...]}`` (1-based inclusive) or ``{"video": [0, 1, ...]}`` masks."""
    p = Path(path)
    try:
        table = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"labels {p}: not readable JSON ({exc})") from None
    if not isinstance(table, dict) or not all(isinstance(v, list) for v in table.values()):
        raise DataError(f"labels {p}: expected an object {{\"video\": [[start, end], ...]}}")
    return _masks_from_mapping(p, {str(k): v for k, v in table.items()}, num_frames, videos)


# ---------------------------------------------------------------- autodetect


def load_labels(path: str | os.PathLike[str], num_frames: Sequence[int],
                videos: Sequence[str] | None = None) -> list[np.ndarray]:
    """Read frame labels in any supported format, detected from the path.

    Args:
        path: label file or folder (see the module docstring for formats).
        num_frames: frames per video, sorted video order (as in the score file).
        videos: video names in the same order, when known (needed for CSV/JSON).

    Returns:
        One (num_frames[i],) uint8 0/1 array per video.

    Raises:
        DataError: missing file, unknown format, or a count that differs from ``num_frames``.
    """
    p = Path(path)
    counts = [int(n) for n in num_frames]
    if p.is_dir():
        return read_npy_folder_labels(p, counts, videos)
    if not p.is_file():
        raise DataError(f"labels {p} not found: pass a label file or folder ({FORMATS})")
    readers = {".mat": read_mat_labels, ".m": read_ucsd_m_labels, ".npy": read_concat_npy_labels,
               ".csv": read_csv_labels, ".json": read_json_labels}
    reader = readers.get(p.suffix.lower())
    if reader is None:
        raise DataError(f"labels {p}: unknown format {p.suffix!r}; use {FORMATS}")
    try:
        return reader(p, counts, videos)
    except (ValueError, TypeError, KeyError, IndexError, EOFError, OSError, UnicodeError, NotImplementedError) as exc:
        # whatever a malformed file makes a parser raise is the user's to fix, in one line
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise DataError(f"labels {p}: unreadable {p.suffix} file ({type(exc).__name__}: {reason}); "
                        f"check it against the formats: {FORMATS}") from None
