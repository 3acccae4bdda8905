"""Analysis-grid frames and flows of whole videos (a dataset split, a file, a frame range).

Flows are kept as float16 (N, H, W, 3) arrays: the pixel flow (u, v) and the grey level of the
frame it ends on (:data:`ammcnet.flow.analysis.GREY_CHANNEL`, which the appearance part reads). A
Ped2 training split at 240x360 is about 1.3 GB in that form, half of float32, and the features
need no more precision.
Fitting the head on long footage keeps them on disk instead (:func:`flow_file`: 11 GB for an
hour of 320x240 at 10 fps), read a stretch at a time (:class:`FlowFile`), and decodes frames
only where it needs them (:class:`AnalysisFrames`). The cache entries themselves (key, writer)
are :mod:`ammcnet.data.analysis_flows`, which ``prepare_dataset`` fills too.

>>> import numpy as np
>>> frames = np.zeros((3, 48, 64, 3), np.uint8); frames[1:, 10:20, 12:22] = 255
>>> flows_of_frames(frames, (48, 64), "ultrafast").shape
(3, 48, 64, 3)
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

# source_fingerprint: named here too for ammcnet.apps (teacher, fitter), which key their flow caches by it
from ammcnet.data.analysis_flows import cache_entry, source_fingerprint  # noqa: F401
from ammcnet.data.layouts import VideoRef
from ammcnet.data.video import open_video
from ammcnet.errors import DataError, OutputError
from ammcnet.flow.analysis import ANALYSIS_CHANNELS, AnalysisFlow, analysis_size
from ammcnet.utils.float16 import to_float16
from ammcnet.utils.io import output_error

log = logging.getLogger(__name__)
#: Frames of flows read at a time (39 MB as float32 at 240x320).
FLOW_CHUNK = 64


def flows_of_frames(frames: Iterable[np.ndarray], size: tuple[int, int], preset: str = "medium") -> np.ndarray:
    """(N, H, W, 3) float16 flows and grey levels of RGB frames on the analysis grid (entry 0 repeats entry 1)."""
    flows = list(AnalysisFlow(size, preset).video(frames))
    if not flows:
        raise DataError("a video needs at least two frames for its flow; remove one-frame videos")
    return to_float16(np.stack(flows))


def resized_frames(frames: Iterable[np.ndarray], size: tuple[int, int], count: int | None = None) -> np.ndarray:
    """(N, H, W, 3) uint8 frames on the analysis grid, grey in all three channels: the frames the
    analysis flow sees, so synthetic anomalies pasted into them keep the footage's own flow.
    ``count``: N when known (an empty stretch is then (0, H, W, 3), not an error)."""
    flow = AnalysisFlow(size)
    out = [cv2.cvtColor(flow.grey(f), cv2.COLOR_GRAY2RGB) for f in frames]
    return np.stack(out) if out or count is None else np.zeros((0, *size, 3), np.uint8)


def video_size(video: VideoRef) -> tuple[int, int]:
    """(H, W) of a video's first frame."""
    src = video.open()
    return tuple(src[0].shape[:2])  # type: ignore[return-value]


def split_flows(videos: Sequence[VideoRef], height: int, preset: str = "medium", *,
                progress: bool | None = None, desc: str = "analysis flow") -> tuple[list[np.ndarray], tuple[int, int]]:
    """Analysis flows of every video of a split, and the analysis grid (from the first video)."""
    if not videos:
        raise DataError("no videos to compute analysis flows for")
    size = analysis_size(video_size(videos[0]), height)
    out = []
    for v in tqdm(videos, desc=desc, unit="video", disable=None if progress is None else not progress, leave=False):
        out.append(flows_of_frames(v.open(), size, preset))
    return out, size


def cached_flows(folder: str | Path, source: str | Path, size: tuple[int, int], preset: str,
                 compute: Callable[[], np.ndarray]) -> np.ndarray:
    """The analysis flows of ``source`` from ``folder`` when stored there for the same footage, grid
    and preset (:func:`ammcnet.data.analysis_flows.cache_entry`); otherwise ``compute()``, stored
    for next time (atomically; a folder that cannot be written is only logged: the cache saves
    time, it is never needed).

    ``ammcnet test`` scores the region head on the source frames of every test video; without
    this, each run recomputed every video's DIS flow (Ped2's test split: about 2,000 frames). When
    ``ammcnet test`` prepares the split itself, the entries are filled then, from the same decode.
    """
    entry = cache_entry(folder, source, size, preset)
    try:
        if entry.ready():
            return np.load(entry.data)
    except (OSError, ValueError) as exc:  # a damaged cache entry is recomputed
        log.info("analysis flow cache %s unreadable (%s); recomputing", entry.data, exc)
    flows = compute()
    try:
        entry.save(flows)
    except (OutputError, DataError, OSError) as exc:
        log.info("analysis flow cache not written: %s", exc)
    return flows


def flow_file(folder: str | Path, source: str | Path, size: tuple[int, int], preset: str) -> FlowFile:
    """The analysis flows of ``source`` as a :class:`FlowFile` in ``folder`` (the cache entry
    :func:`cached_flows` reads and writes), computed and written a frame at a time when missing.

    Fitting the head reads a training split's flows several times; held in memory they are 307 KB
    a frame at 240x320 (11 GB for an hour at 10 fps), on disk they cost one stretch at a time.

    Raises:
        OutputError: ``folder`` cannot be written (the caller picks a scratch folder instead).
    """
    entry = cache_entry(folder, source, size, preset)
    if not entry.ready():
        try:
            entry.write(open_video(source))
        except OSError as exc:
            raise output_error(entry.data, exc) from None
    return FlowFile(entry.data)


class LazyStretch:
    """Frames ``start`` to ``stop`` of something read on demand (a flow file, a video): ``len``,
    ``shape``, ``x[a:b]`` (another stretch: nothing read yet), ``x[t]`` (one frame) and
    ``np.asarray(x)`` (everything) work as on an array. Subclasses give ``read(a, b)`` and the
    per-frame shape (``frame_shape``)."""

    start: int
    stop: int
    frame_shape: tuple[int, ...]

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.stop - self.start, *self.frame_shape)

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, key: int | slice) -> Any:
        if isinstance(key, slice):
            a, b, step = key.indices(len(self))
            if step != 1:
                raise IndexError(f"a {type(self).__name__} is sliced in steps of 1")
            view = copy.copy(self)
            view.start, view.stop = self.start + a, self.start + max(a, b)
            return view
        t = int(key) + (len(self) if int(key) < 0 else 0)
        if not 0 <= t < len(self):
            raise IndexError(key)
        return self.read(t, t + 1)[0]

    def read(self, a: int = 0, b: int | None = None) -> np.ndarray:
        raise NotImplementedError

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        data = self.read()
        return data if dtype is None else data.astype(dtype, copy=False)


class FlowFile(LazyStretch):
    """(T, H, W, 3) float16 analysis flows (and grey levels) in an ``.npy`` file, read a stretch at a time.

    ``len``, ``shape``, ``flows[a:b]`` (another FlowFile: nothing read yet), ``flows[t]`` (one frame)
    and ``np.asarray(flows)`` (everything) work as on an array. Reads are plain file reads, not a
    memory map: pages of a mapped file that were touched count in the process's resident memory
    until the kernel takes them back, so one pass over an hour of mapped flows reads as 11 GB.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with open(self.path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read(fh)
            self._offset = fh.tell()
        if fortran or len(shape) != 4 or shape[-1] != ANALYSIS_CHANNELS:
            raise DataError(f"{self.path}: not a (T, H, W, {ANALYSIS_CHANNELS}) analysis flow array (shape {shape}); "
                            "delete it to recompute")
        self.dtype = np.dtype(dtype)
        self._frame = (int(shape[1]), int(shape[2]), ANALYSIS_CHANNELS)
        self.start, self.stop = 0, int(shape[0])
        if self.path.stat().st_size < self._offset + self.stop * self._frame_bytes:
            raise DataError(f"{self.path} is truncated; delete it to recompute the flows")

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        return self._frame

    @property
    def _frame_bytes(self) -> int:
        return int(np.prod(self._frame)) * self.dtype.itemsize

    def read(self, a: int = 0, b: int | None = None) -> np.ndarray:
        """Frames ``a`` to ``b`` (exclusive; default: to the end) of this stretch, as an array."""
        b = len(self) if b is None else min(int(b), len(self))
        a = min(max(int(a), 0), b)
        count = (b - a) * int(np.prod(self._frame))
        data = np.fromfile(self.path, self.dtype, count=count, offset=self._offset + (self.start + a) * self._frame_bytes)
        return data.reshape(b - a, *self._frame)


def flow_chunks(flows: Any, size: int = FLOW_CHUNK) -> Iterator[np.ndarray]:
    """(t, H, W, C) float32 stretches of ``size`` frames of flows (an array or a :class:`FlowFile`)."""
    for a in range(0, len(flows), size):
        yield np.asarray(flows[a:a + size], np.float32)


class FlowSpeeds:
    """The per-pixel speed ``|flow|`` of flows (an array or a :class:`FlowFile`) for the frames asked
    for: where synthetic anomalies look for motion, without a (T, H, W) array of a whole video."""

    def __init__(self, flows: Any) -> None:
        self.flows = flows

    def __len__(self) -> int:
        return len(self.flows)

    def __getitem__(self, key: slice) -> np.ndarray:
        f = np.asarray(self.flows[key], np.float32)
        return np.hypot(f[..., 0], f[..., 1])


class AnalysisFrames(LazyStretch):
    """The analysis-grid frames of a video file or frame folder (grey in all three channels, as
    :func:`resized_frames` gives them), decoded when asked for: synthetic anomalies copy a short
    stretch of a held-out video, never the whole of it.

    ``len``, ``shape``, ``frames[a:b]`` (another AnalysisFrames), ``frames[t]`` and ``np.asarray``.
    """

    def __init__(self, source: str | Path, size: tuple[int, int]) -> None:
        self.source, self.size = Path(source), (int(size[0]), int(size[1]))
        self.start, self.stop = 0, len(open_video(self.source))

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        return (*self.size, 3)

    def read(self, a: int = 0, b: int | None = None) -> np.ndarray:
        """(b - a, H, W, 3) uint8: frames ``a`` to ``b`` (exclusive) of this stretch."""
        b = len(self) if b is None else min(int(b), len(self))
        video = open_video(self.source)
        return resized_frames((video[self.start + t] for t in range(a, b)), self.size, count=b - a)
