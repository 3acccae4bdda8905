"""Per-frame score files: one ``.npz`` holding every record of every test video.

Layout (``docs/design.md``): ``num_frames`` int64 ``(V,)`` in sorted video order, optional
``videos`` (names), and one float array per record and video named ``<record>__<iii>``
(``iii`` = 0-based video index, three digits), of length ``num_frames[iii]``. The authors'
converted score pickles (``official_scores/*.npz``) use exactly this form, plus a 0-d
``dataset`` name that is kept in :attr:`ScoreFile.meta`.

>>> import tempfile, pathlib, numpy as np
>>> p = pathlib.Path(tempfile.mkdtemp()) / "s.npz"
>>> save_score_file(p, {"rgb_psnr": [np.arange(5.0), np.arange(3.0)]}, [5, 3], videos=["a", "b"])
>>> sf = load_score_file(p); sf.record_names, sf.num_frames.tolist(), sf.videos
(['rgb_psnr'], [5, 3], ['a', 'b'])
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ammcnet.errors import DataError
from ammcnet.utils.io import save_npz_atomic

#: ``<record>__<iii>``: record name, two underscores, 0-based video index.
RECORD_KEY = re.compile(r"^(?P<record>.+)__(?P<index>\d+)$")


@dataclass
class ScoreFile:
    """Every record of every video of one test run.

    Attributes:
        num_frames: (V,) int64 frames per video, sorted video order.
        videos: video names in the same order, or None when the file stores none.
        records: record name -> list of V float arrays, array ``i`` of length ``num_frames[i]``.
        meta: other 0-d keys of the file (``dataset`` and ``num_videos`` in the authors' files).
        path: the file it was read from, if any.
    """

    num_frames: np.ndarray
    videos: list[str] | None
    records: dict[str, list[np.ndarray]]
    meta: dict[str, object] = field(default_factory=dict)
    path: Path | None = None

    @property
    def record_names(self) -> list[str]:
        return sorted(self.records)

    def video_name(self, index: int) -> str:
        """The video's stored name, or ``#iii`` (0-based) when the file has no names."""
        return self.videos[index] if self.videos else f"#{index:03d}"

    @classmethod
    def from_records(
        cls, records: dict[str, Sequence[np.ndarray]], num_frames: Sequence[int] | None = None,
        videos: Sequence[str] | None = None,
    ) -> ScoreFile:
        """Build (and validate) a score file from in-memory records."""
        if not records:
            raise DataError("no score records given: pass at least one record, e.g. {'rgb_psnr': [...]}")
        first = next(iter(records.values()))
        counts = np.asarray([len(a) for a in first] if num_frames is None else num_frames, dtype=np.int64)
        sf = cls(counts, list(videos) if videos is not None else None,
                 {k: [np.asarray(a, dtype=np.float64).reshape(-1) for a in v] for k, v in records.items()})
        _validate(sf, "in-memory records")
        return sf


def _validate(sf: ScoreFile, where: str) -> None:
    n_videos = len(sf.num_frames)
    if sf.num_frames.ndim != 1 or n_videos == 0:
        raise DataError(f"{where}: num_frames must be a non-empty 1-D array of per-video frame counts")
    if sf.videos is not None and len(sf.videos) != n_videos:
        raise DataError(f"{where}: {len(sf.videos)} video names but {n_videos} entries in num_frames; "
                        "store one name per video")
    for name, arrays in sf.records.items():
        if len(arrays) != n_videos:
            raise DataError(f"{where}: record {name!r} has {len(arrays)} videos but num_frames lists {n_videos}; "
                            f"write one array {name}__iii per video")
        for i, arr in enumerate(arrays):
            if arr is None:
                raise DataError(f"{where}: record {name!r} lacks video {sf.video_name(i)} "
                                f"(key {name}__{i:03d}); write one array per video")
            if len(arr) != sf.num_frames[i]:
                raise DataError(f"{where}: record {name!r}, video {sf.video_name(i)} has {len(arr)} scores but "
                                f"num_frames says {sf.num_frames[i]}; write one score per frame")


def load_score_file(path: str | os.PathLike[str]) -> ScoreFile:
    """Read and validate a score ``.npz`` (ours or the authors' converted records).

    Args:
        path: the ``.npz`` file.

    Returns:
        The :class:`ScoreFile`; records are float64 copies.

    Raises:
        DataError: missing or unreadable file, no ``num_frames``, no records, a missing video,
            or an array whose length differs from ``num_frames``.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"score file {p} not found: pass the .npz written by `ammcnet test`")
    try:
        with np.load(p, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"score file {p} is not a readable .npz ({exc}); re-run `ammcnet test` to rewrite it") from None
    if "num_frames" not in data:
        raise DataError(f"score file {p} has no 'num_frames' array (keys: {', '.join(sorted(data)) or 'none'}); "
                        "it must hold num_frames and <record>__<iii> arrays")
    num_frames = np.asarray(data.pop("num_frames"), dtype=np.int64).reshape(-1)
    videos = [str(v) for v in data.pop("videos").reshape(-1)] if "videos" in data else None
    meta = {k: data.pop(k).item() for k in list(data) if data[k].ndim == 0 and not RECORD_KEY.match(k)}
    records: dict[str, list[np.ndarray | None]] = {}
    for key, arr in data.items():
        m = RECORD_KEY.match(key)
        if not m:
            raise DataError(f"score file {p}: unexpected key {key!r}; record arrays must be named <record>__<iii>")
        idx = int(m["index"])
        if idx >= len(num_frames):
            raise DataError(f"score file {p}: key {key!r} names video {idx} but num_frames lists only "
                            f"{len(num_frames)} videos")
        if not np.issubdtype(arr.dtype, np.number):
            raise DataError(f"score file {p}: key {key!r} is not numeric ({arr.dtype})")
        records.setdefault(m["record"], [None] * len(num_frames))[idx] = np.asarray(arr, np.float64).reshape(-1)
    if not records:
        raise DataError(f"score file {p} holds no <record>__<iii> arrays; it must hold at least one record")
    sf = ScoreFile(num_frames, videos, records, meta, p)  # type: ignore[arg-type]
    _validate(sf, f"score file {p}")
    return sf


def save_score_file(
    path: str | os.PathLike[str],
    records: dict[str, Sequence[np.ndarray]],
    num_frames: Sequence[int],
    videos: Sequence[str] | None = None,
    *,
    meta: dict[str, str | int | float] | None = None,
) -> None:
    """Write a score ``.npz`` atomically (temporary name, then rename).

    Args:
        path: destination ``.npz``.
        records: record name -> one float array per video (sorted video order).
        num_frames: frames per video; every array must have that length.
        videos: optional video names, stored as ``videos``.
        meta: optional scalar extras (for example ``{"dataset": "ped2"}``).

    Raises:
        DataError: inconsistent lengths or a record name that is not a plain identifier.
    """
    sf = ScoreFile.from_records(records, num_frames, videos)
    arrays: dict[str, np.ndarray] = {"num_frames": sf.num_frames}
    if sf.videos is not None:
        arrays["videos"] = np.asarray(sf.videos, dtype=str)
    for name, arrs in sf.records.items():
        if RECORD_KEY.match(name) or not re.fullmatch(r"[A-Za-z0-9_]+", name):
            raise DataError(f"record name {name!r} is not allowed: use letters, digits and single underscores")
        for i, a in enumerate(arrs):
            arrays[f"{name}__{i:03d}"] = np.asarray(a, dtype=np.float32)
    for k, v in (meta or {}).items():
        arrays[k] = np.asarray(v)
    save_npz_atomic(path, arrays)
