"""The cache of analysis-grid flows per source video, and its one writer.

The region head scores a video from its flows on the analysis grid (:mod:`ammcnet.flow.analysis`).
Computing them means decoding the whole source, so they are kept in a folder per video (a
prepared dataset's ``region-flows/<split>/<video>/``) as one cache entry::

    analysis-flow-<H>x<W>-<preset>.npy    (N, H, W, 3) float16: pixel flows (u, v) and the frame's grey
                                          level (:data:`~ammcnet.flow.analysis.GREY_CHANNEL`); entry 0 repeats entry 1
    analysis-flow-<H>x<W>-<preset>.json   the key: version, source, its fingerprint, grid, preset

The key file is written after the flows, both atomically, so an entry whose key matches is
whole. Two places fill entries through :class:`FlowWriter`, a frame at a time: the region head
(:mod:`ammcnet.regions.footage`) from the source, and :func:`ammcnet.data.cache.prepare_dataset`
from the frames it decodes for the model grid anyway (:class:`AnalysisFlowSpec`), so that
``ammcnet test`` decodes each test video once.

>>> import tempfile, pathlib, numpy as np, cv2
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> for i in range(3): _ = cv2.imwrite(str(d / f"{i}.png"), np.full((16, 24), 40 * i, np.uint8))
>>> entry = cache_entry(tempfile.mkdtemp(), d, (8, 12), "ultrafast")
>>> with entry.writer() as w:
...     for i in range(3): w.add(np.full((16, 24, 3), 40 * i, np.uint8))
>>> entry.ready(), np.load(entry.data).shape
(True, (3, 8, 12, 3))
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import numpy as np

from ammcnet.errors import ConfigError, DataError, OutputError
from ammcnet.flow.analysis import ANALYSIS_CHANNELS, AnalysisFlow
from ammcnet.flow.backends import DIS_PRESETS
from ammcnet.utils.float16 import to_float16
from ammcnet.utils.io import atomic_path, output_error, write_json_atomic

log = logging.getLogger(__name__)

#: Bump when the analysis flow of a source changes (resize, flow backend), to retire old caches
#: (3: the frame's grey level joined the flow as a third channel).
FLOW_CACHE_VERSION = 3
#: How the flows are stored: float16, a quarter of float32 (0.9 GB for Ped2's training split at
#: 240x360); the window features need no more precision.
FLOW_DTYPE = np.dtype(np.float16)
#: A video needs two frames for one flow.
MIN_FRAMES = 2
#: Bytes of an ``.npy`` header as :class:`FlowWriter` writes it, whatever the frame count (the
#: shape takes about 30 of its 118 characters).
HEADER_BYTES = 128
#: The ``.npy`` magic string and format version 1.0 (what ``FlowFile`` and ``np.load`` read).
NPY_MAGIC = b"\x93NUMPY\x01\x00"


def source_fingerprint(source: str | Path) -> str:
    """A digest of a video file's or frame folder's size and modification times (names too, for a
    folder): it changes when the footage is replaced or edited, without reading a frame."""
    path = Path(source)
    entries = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file())
    text = json.dumps([[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in entries])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class FlowCacheEntry:
    """The files of one cached analysis flow and the key that says whose flows they are.

    Attributes:
        data: the ``.npy`` flows.
        meta: the ``.json`` key file.
        key: version, source, fingerprint, grid size and preset.
    """

    data: Path
    meta: Path
    key: dict[str, Any]

    @property
    def size(self) -> tuple[int, int]:
        return int(self.key["size"][0]), int(self.key["size"][1])

    @property
    def preset(self) -> str:
        return str(self.key["preset"])

    def ready(self) -> bool:
        """Whether the entry holds the flows of this key (a damaged key file is logged and counts as missing)."""
        try:
            return self.meta.is_file() and self.data.is_file() and json.loads(self.meta.read_text()) == self.key
        except (OSError, ValueError) as exc:
            log.info("analysis flow cache %s unreadable (%s); recomputing", self.meta, exc)
            return False

    def writer(self) -> FlowWriter:
        """A :class:`FlowWriter` that fills this entry (flows, then the key)."""
        return FlowWriter(self.data, self.size, self.preset, key=(self.meta, self.key))

    def write(self, frames: Sequence[np.ndarray]) -> None:
        """Compute and store the flows of a whole video (:func:`write_flows`), then the key."""
        write_flows(self.data, frames, self.size, self.preset, key=(self.meta, self.key))

    def save(self, flows: np.ndarray) -> None:
        """Store records computed elsewhere ((N, H, W, 3): flow and grey level, stored as float16) under this key."""
        with self.writer() as w:
            for flow in flows:
                w.add_flow(flow)


def cache_entry(folder: str | Path, source: str | Path, size: tuple[int, int], preset: str) -> FlowCacheEntry:
    """The cache entry of the analysis flows of ``source`` on grid ``size`` with DIS ``preset`` in ``folder``."""
    folder = Path(folder)
    name = f"analysis-flow-{size[0]}x{size[1]}-{preset}"
    key = {"version": FLOW_CACHE_VERSION, "source": str(source), "fingerprint": source_fingerprint(source),
           "size": [int(size[0]), int(size[1])], "preset": preset}
    return FlowCacheEntry(folder / f"{name}.npy", folder / f"{name}.json", key)


def _npy_header(count: int, size: tuple[int, int]) -> bytes:
    """The ``.npy`` (format 1.0) header of ``count`` float16 flows on grid ``size``, always
    :data:`HEADER_BYTES` long, so that the count can be written last, over the first one."""
    text = repr({"descr": np.lib.format.dtype_to_descr(FLOW_DTYPE), "fortran_order": False,
                 "shape": (int(count), int(size[0]), int(size[1]), ANALYSIS_CHANNELS)})
    room = HEADER_BYTES - len(NPY_MAGIC) - 2
    return NPY_MAGIC + struct.pack("<H", room) + (text.ljust(room - 1) + "\n").encode("latin1")


class _Aborted(Exception):
    """Thrown into the temporary file's context so that it is removed, not moved into place."""


class FlowWriter:
    """Analysis flows written to an ``.npy`` file as they come, float16, atomically: the one writer of
    the flow cache. ``add(frame)`` takes a video's RGB frames in order (any size; the analysis flow
    resizes them), ``add_flow(flow)`` flows computed elsewhere. Used as a context manager, the file
    appears when the block ends without an error (then the key file, when given), never half-written.

    The frame count is not known up front (counting a video file's frames means decoding it), so
    the header is written for no frames and written again with the count at the end.

    Raises:
        OutputError: the file cannot be written.
        DataError: (at the end) fewer than two frames.
    """

    def __init__(self, path: str | Path, size: tuple[int, int], preset: str,
                 key: tuple[Path, dict[str, Any]] | None = None) -> None:
        self.path, self.size, self.key = Path(path), (int(size[0]), int(size[1])), key
        self.flow = AnalysisFlow(self.size, preset)
        self.count = 0  # flows written
        self._stack = contextlib.ExitStack()
        try:
            tmp = self._stack.enter_context(atomic_path(self.path))
            self._fh: BinaryIO = self._stack.enter_context(open(tmp, "wb"))
            self._fh.write(_npy_header(0, self.size))
        except OSError as exc:
            self.abort()
            raise output_error(self.path, exc) from None
        except BaseException:
            self.abort()
            raise

    def __enter__(self) -> FlowWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()

    def add(self, rgb: np.ndarray) -> None:
        """The next frame of the video: its flow from the previous frame is written (the first flow twice)."""
        flow = self.flow.update(rgb)
        if flow is None:
            return
        if not self.count:
            self._write(flow)  # entry 0 repeats entry 1: one flow per frame
        self._write(flow)

    def add_flow(self, flow: np.ndarray) -> None:
        """Write one (H, W, 3) record of this grid (flow and grey level) as it is (rounded to float16)."""
        if tuple(flow.shape) != (*self.size, ANALYSIS_CHANNELS):
            self.abort()
            raise DataError(f"{self.path.name}: a flow of shape {tuple(flow.shape)} on a {self.size[0]}x{self.size[1]} "
                            "grid; compute the flows on the cache entry's grid")
        self._write(flow)

    def _write(self, flow: np.ndarray) -> None:
        try:
            self._fh.write(to_float16(flow).tobytes())
        except OSError as exc:
            self.abort()
            raise output_error(self.path, exc) from None
        self.count += 1

    def commit(self) -> None:
        """Finish the file (the header gets the count), move it into place, then write the key.

        Raises:
            DataError: fewer than two frames (nothing is written).
            OutputError: the file or its key cannot be written.
        """
        if self.count < MIN_FRAMES:
            self.abort()
            raise DataError(f"{self.path.name}: a video needs at least two frames for its flow; remove one-frame videos")
        try:
            self._fh.seek(0)
            self._fh.write(_npy_header(self.count, self.size))
        except OSError as exc:
            self.abort()
            raise output_error(self.path, exc) from None
        try:
            self._stack.close()  # closes the file, then renames it onto the final path
            if self.key is not None:
                write_json_atomic(*self.key)
        except OSError as exc:
            raise output_error(self.path, exc) from None

    def abort(self) -> None:
        """Drop what was written: the temporary file is removed and nothing appears (idempotent)."""
        self._stack.__exit__(_Aborted, _Aborted(), None)


def write_flows(path: str | Path, frames: Sequence[np.ndarray], size: tuple[int, int], preset: str,
                key: tuple[Path, dict[str, Any]] | None = None) -> None:
    """Write the analysis flows of ``frames`` (a video: ``len`` and iteration) to the ``.npy`` file
    ``path`` as they are computed (float16), atomically; then ``key`` (a key file and its content).

    Raises:
        DataError: fewer than two frames, or fewer read than ``len`` counted (a damaged video file).
        OutputError: the file cannot be written.
    """
    count = len(frames)
    if count < MIN_FRAMES:
        raise DataError("a video needs at least two frames for its flow; remove one-frame videos")
    with FlowWriter(path, size, preset, key=key) as writer:
        for rgb in frames:
            writer.add(rgb)
        if writer.count != count:
            raise DataError(f"{getattr(frames, 'path', 'a video')}: {count} frames counted but {writer.count} read; "
                            "re-encode the video (e.g. ffmpeg -i IN -c:v mjpeg OUT.avi) or extract its frames")


@dataclass(frozen=True)
class AnalysisFlowSpec:
    """The analysis flows :func:`ammcnet.data.cache.prepare_dataset` computes from the frames it decodes.

    Attributes:
        size: (H, W) of the analysis grid (a fitted region head's ``size``).
        preset: DIS preset name.
        folder: the folder of the prepared dataset that keeps them, as ``<folder>/<split>/<video>/``
            (``ammcnet.scoring.region_head.FLOW_CACHE``, where the head looks).
    """

    size: tuple[int, int]
    preset: str
    folder: str

    def __post_init__(self) -> None:
        if len(self.size) != 2 or min(int(s) for s in self.size) < 1:
            raise ConfigError(f"analysis grid size must be (H, W) with both >= 1, got {self.size}")
        if self.preset not in DIS_PRESETS:
            raise ConfigError(f"unknown DIS preset {self.preset!r}; choose one of {', '.join(DIS_PRESETS)}")
        object.__setattr__(self, "size", (int(self.size[0]), int(self.size[1])))

    def target(self, root: Path, split: str, video: str) -> FlowTarget:
        """Where the flows of ``video`` of ``split`` go in the prepared dataset at ``root``."""
        return FlowTarget(Path(root) / self.folder / split / video, self.size, self.preset)


@dataclass(frozen=True)
class FlowTarget:
    """One video's analysis flows to compute while it is prepared (picklable: preparation may run
    in worker processes)."""

    folder: Path
    size: tuple[int, int]
    preset: str

    def entry(self, source: str | Path) -> FlowCacheEntry:
        """The cache entry of ``source``'s flows in :attr:`folder`."""
        return cache_entry(self.folder, source, self.size, self.preset)


class CachingSink:
    """Feeds each decoded frame to the analysis flows of a cache entry on the side: the cache saves
    the region head a second read of the video but is never needed, so an entry that cannot be
    written (a read-only folder, a full disk, a one-frame video) is logged and dropped, and the
    caller's work goes on."""

    def __init__(self, entry: FlowCacheEntry) -> None:
        self.entry = entry
        self.writer: FlowWriter | None = None
        try:
            self.writer = entry.writer()
        except OutputError as exc:
            self._drop(exc)

    def __call__(self, rgb: np.ndarray) -> None:
        if self.writer is not None:
            try:
                self.writer.add(rgb)
            except OutputError as exc:
                self._drop(exc)

    def commit(self) -> bool:
        """Finish the entry; False when it was dropped."""
        if self.writer is not None:
            try:
                self.writer.commit()
            except (DataError, OutputError) as exc:
                self._drop(exc)
        return self.writer is not None

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()
            self.writer = None

    def _drop(self, exc: Exception) -> None:
        log.info("analysis flows not cached in %s (%s); the region head computes them when it needs them",
                 self.entry.data.parent, exc)
        self.abort()
