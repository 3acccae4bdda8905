"""Clips for training and scoring: windows of past frames and flows named by their target frame.

A clip with target frame ``t`` (0-based) in a video holds, with ``F`` past frames and
``P = F - 1`` past flows (flow j = frame j -> j + 1):

* ``frames``: frames ``t-F .. t-1`` stacked on channels, oldest first, (3F, H, W) in [-1, 1];
* ``target``: frame ``t``, (3, H, W);
* ``flows``: flows ``t-F .. t-2``, (2P, H, W); ``flow_target``: flow ``t-1`` (the motion into t).

Both streams always come from the same video and target frame.

This module is the one place that turns frames into clips: :class:`ClipDataset` reads them from
the prepared cache, :class:`ClipBuilder` builds them from a stream of frames (the online detector
and ``ammcnet bench``) with the cache's resize, flow normalisation and float16 rounding, and both
hand the model the tensors of :func:`clip_tensors`. Inputs a score record needs beyond the clip
(*clip inputs*, declared by the scorer and handed to the dataset or the builder as ``inputs``)
are computed here too, so every path provides them alike: per clip from the clip and where it
comes from (:data:`ClipInputFn`), or, online, per frame in stream order by an input's
``stream()`` (:class:`StreamInput`) on a worker thread, beside the model.

>>> ClipDataset.count_clips([10, 15], frames_in=4)
17
"""

from __future__ import annotations

import copy
import os
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import cv2
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ammcnet.data.cache import PreparedDataset, open_prepared
from ammcnet.data.tensors import (
    flows_to_tensor,
    frames_to_tensor,
    keep_freed_memory,
    split_channels,
    unit_range,
)
from ammcnet.data.video import resize_frame
from ammcnet.errors import ConfigError, DataError
from ammcnet.flow import FlowBackend, normalise_flow


@dataclass(frozen=True)
class ClipSource:
    """Where a clip comes from, for clip inputs that need more than its frames.

    Attributes:
        video: the video's name in a prepared dataset, or None for a live stream.
        split: the dataset split, or None for a live stream.
        t: the target frame (0-based; in a stream, counted since the detector's last reset).
        source_frames: the frames t-F .. t as read, before resizing to the model grid, when the
            caller has them (the online builder); None for clips read from the prepared cache.
        dataset: the prepared dataset's folder, for clips read from one (an input can read the
            video's source or a cache of its own there).
        streamed: online, the values of the inputs computed per frame (:class:`StreamInput`) for
            frame t, as futures of the builder's worker.
    """

    video: str | None = None
    split: str | None = None
    t: int | None = None
    source_frames: list[np.ndarray] | None = None
    dataset: str | None = None
    streamed: Mapping[str, Future] | None = None


#: A clip input: (F+1, H, W, 3) uint8 frames t-F .. t and (F, H, W, 2) float16 flows t-F .. t-1
#: at the model grid, and where the clip comes from -> one array for the clip (batched on a new
#: leading axis). A flow at another resolution can be computed from ``source.source_frames``
#: online and read from the video's source (``source.dataset``, ``source.video``) offline. An input
#: that is cheaper per frame in stream order than per clip also has a ``stream()`` method giving a
#: :class:`StreamInput`, which the online builder uses instead.
ClipInputFn = Callable[[np.ndarray, np.ndarray, ClipSource], np.ndarray]
#: Clip inputs by name, as a scorer declares them (:meth:`ammcnet.scoring.scorer.Scorer.clip_inputs`).
ClipInputs = Mapping[str, ClipInputFn]


class StreamInput(Protocol):
    """A clip input computed once per frame of a stream, in order (e.g. a flow from the previous frame)."""

    def reset(self) -> None:
        """Start over: the next frame follows a cut."""

    def update(self, rgb: np.ndarray) -> np.ndarray:
        """The input's value for frame ``rgb`` (H, W, 3) uint8 as read, given every frame before it."""


def clip_inputs(frames: np.ndarray, flows: np.ndarray, source: ClipSource, inputs: ClipInputs) -> dict[str, Tensor]:
    """The inputs of one clip (uint8 frames t-F..t, float16 flows t-F..t-1), as tensors; streamed
    inputs (online) are read from ``source.streamed``."""
    streamed = source.streamed or {}
    return {name: torch.as_tensor(np.asarray(streamed[name].result() if name in streamed else fn(frames, flows, source)))
            for name, fn in inputs.items()}


def clip_tensors(frames: np.ndarray, flows: np.ndarray | None) -> dict[str, Tensor]:
    """Model inputs of clips: (..., F+1, H, W, 3) uint8 and (..., F, H, W, 2) float16 arrays in.

    Returns ``frames`` (..., 3F, H, W) and ``target`` (..., 3, H, W) in [-1, 1], ``flows``
    (..., 2(F-1), H, W) and ``flow_target`` (..., 2, H, W) (None without flows), float32.
    """
    clip = frames_to_tensor(frames)  # (..., F+1, 3, H, W) in [-1, 1]
    *lead, f1, _, h, w = clip.shape
    f = f1 - 1
    out: dict[str, Any] = {"frames": clip[..., :f, :, :, :].reshape(*lead, 3 * f, h, w),
                           "target": clip[..., f, :, :, :].contiguous(), "flows": None, "flow_target": None}
    if flows is not None:
        fl = flows_to_tensor(flows)  # (..., F, 2, H, W)
        out["flows"] = fl[..., : f - 1, :, :, :].reshape(*lead, 2 * (f - 1), h, w)
        out["flow_target"] = fl[..., f - 1, :, :, :].contiguous()
    return out


@dataclass
class ClipBatch:
    """A batch of clips as the model and the score records see it.

    Attributes:
        frames: (B, 3F, H, W) past frames in [-1, 1].
        target: (B, 3, H, W) frame t.
        flows: (B, 2(F-1), H, W) past normalised flows, or None (appearance-only models).
        flow_target: (B, 2, H, W) flow t-1 -> t, or None.
        extras: the clip inputs the scorer declared (:data:`ClipInputs`), each (B, ...).
        video: (B,) video index, when the clips come from a dataset.
        t: (B,) target frame of each clip, when known.
    """

    frames: Tensor
    target: Tensor
    flows: Tensor | None = None
    flow_target: Tensor | None = None
    extras: dict[str, Tensor] = field(default_factory=dict)
    video: Tensor | None = None
    t: Tensor | None = None

    @classmethod
    def from_dict(cls, batch: dict[str, Any], device: torch.device | str = "cpu", motion: bool = True) -> ClipBatch:
        """A collated :class:`ClipDataset` batch on ``device`` (flows dropped when ``motion`` is False)."""
        def dev(x: Any) -> Any:
            return None if x is None else x.to(device)

        extras = {k[len(EXTRA_PREFIX):]: dev(v) for k, v in batch.items() if k.startswith(EXTRA_PREFIX)}
        return cls(frames=dev(batch["frames"]), target=dev(batch["target"]),
                   flows=dev(batch.get("flows")) if motion else None,
                   flow_target=dev(batch.get("flow_target")) if motion else None,
                   extras=extras, video=batch.get("video"), t=batch.get("t"))


#: Key prefix of clip inputs in a :class:`ClipDataset` item (DataLoader collation keeps them).
EXTRA_PREFIX = "extra:"


def frame_flow(backend: FlowBackend, prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Flow prev -> cur of two resized frames, normalised and rounded to float16 as the cache stores it."""
    return normalise_flow(backend.compute(prev, cur), prev.shape[:2]).astype(np.float16)


class ClipDataset(Dataset):
    """Every clip of a prepared split, by index: deterministic, no hidden random state.

    Counting by hand: videos of 10 and 15 frames with ``frames_in = F = 4`` give target frames
    ``t = 4 .. 9`` (6 clips) and ``t = 4 .. 14`` (11 clips), so 6 + 11 = 17 clips; clip 6 is
    (video 1, t = 4). A video needs at least F + 1 frames; shorter ones are skipped with a warning.

    Memory maps are opened lazily in each process (DataLoader workers included), so the dataset
    pickles small and never shares file handles across a fork.

    Args:
        prepared: a :class:`PreparedDataset` or the path of a cache entry.
        split: ``train`` or ``test``.
        frames_in: F, past RGB frames per clip (the model config supplies it).
        flows_in: P, past flows per clip; must be ``frames_in - 1`` (flows between the input frames).
        videos: names or indices of the videos to use (default: all of the split).
        inputs: clip inputs to compute for every clip (the scorer's, :meth:`with_inputs`).

    Attributes:
        index: (M, 2) int64 rows ``(video_idx, t)``; ``video_idx`` indexes ``video_names``.
    """

    def __init__(
        self,
        prepared: PreparedDataset | str | os.PathLike[str],
        split: str,
        frames_in: int = 4,
        flows_in: int = 3,
        videos: Sequence[str | int] | None = None,
        inputs: ClipInputs | None = None,
    ) -> None:
        self.prepared = prepared if isinstance(prepared, PreparedDataset) else open_prepared(prepared)
        self.inputs: dict[str, ClipInputFn] = dict(inputs or {})
        if frames_in < 2:
            raise ConfigError(f"frames_in must be >= 2, got {frames_in}")
        if flows_in != frames_in - 1:
            raise ConfigError(f"flows_in must be frames_in - 1 = {frames_in - 1} (flows between input frames), got {flows_in}")
        self.split = split
        self.frames_in = frames_in
        self.flows_in = flows_in
        all_names = self.prepared.videos(split)
        counts = dict(zip(all_names, self.prepared.num_frames(split), strict=True))
        if videos is None:
            names = all_names
        else:
            names = [all_names[v] if isinstance(v, int) else v for v in videos]
            missing = [n for n in names if n not in counts]
            if missing:
                raise DataError(f"video(s) {missing} not in the {split} split of {self.prepared.root}")
        self.video_names: list[str] = list(names)
        self.num_frames: list[int] = [counts[n] for n in names]
        rows = []
        for vi, (name, n) in enumerate(zip(self.video_names, self.num_frames, strict=True)):
            if n < frames_in + 1:
                warnings.warn(f"video {name} has {n} frames, fewer than frames_in + 1 = {frames_in + 1}; skipped",
                              stacklevel=2)
                continue
            t = np.arange(frames_in, n, dtype=np.int64)
            rows.append(np.stack([np.full_like(t, vi), t], axis=1))
        self.index: np.ndarray = np.concatenate(rows) if rows else np.zeros((0, 2), np.int64)
        self._pid: int | None = None
        self._maps: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def with_inputs(self, inputs: ClipInputs) -> ClipDataset:
        """The same clips, computing ``inputs`` beside each (a shallow copy; this one is unchanged)."""
        other = copy.copy(self)
        other.inputs = dict(inputs)
        other._maps, other._pid = {}, None
        return other

    @staticmethod
    def count_clips(num_frames: Sequence[int], frames_in: int = 4) -> int:
        """Clips that videos of ``num_frames`` give: sum of ``N - F`` over videos with N > F."""
        return int(sum(n - frames_in for n in num_frames if n >= frames_in + 1))

    def __len__(self) -> int:
        return len(self.index)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_maps"], state["_pid"] = {}, None  # reopen in the worker
        return state

    def _arrays(self, vi: int) -> tuple[np.ndarray, np.ndarray]:
        pid = os.getpid()
        if self._pid != pid:
            self._maps, self._pid = {}, pid
            keep_freed_memory()  # each clip allocates ~6 MB at 256x256: reuse it, no page faults
        if vi not in self._maps:
            name = self.video_names[vi]
            self._maps[vi] = (self.prepared.frames(self.split, name), self.prepared.flows(self.split, name))
        return self._maps[vi]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor | int]:
        vi, t = (int(x) for x in self.index[i])
        frames, flows = self._arrays(vi)
        f = self.frames_in
        rgb, flo = frames[t - f : t + 1], flows[t - f : t]
        item: dict[str, Any] = {**clip_tensors(rgb, flo), "video": vi, "t": t}
        if self.inputs:
            where = ClipSource(self.video_names[vi], self.split, t, dataset=str(self.prepared.root))
            item.update({EXTRA_PREFIX + k: v for k, v in clip_inputs(rgb, flo, where, self.inputs).items()})
        return item

    def get_batch(self, indices: Sequence[int], packed: bool = False) -> dict[str, torch.Tensor]:
        """Clips ``indices`` already batched: equal to collating ``[self[i] for i in indices]``, faster.

        Every clip is written straight into one batch array: no per-clip tensors, no stacking copy.
        With ``packed=True`` the batch stays in the cache's compact types, ``rgb`` (B, F+1, 3, H, W)
        uint8 and ``flow`` (B, F, 2, H, W) float16, about 3x fewer bytes than float32: that is what
        DataLoader workers should hand over (shared-memory tensors are slow to allocate), and
        :func:`unpack_batch` then converts in the consuming process, on its device.
        ``video`` and ``t`` are int64 tensors.
        """
        rows = self.index[np.asarray(indices, dtype=np.int64).reshape(-1)]
        f = self.frames_in
        if len(rows):
            h, w = self._arrays(int(rows[0, 0]))[0].shape[1:3]
        else:
            h = w = 0
        rgb = np.empty((len(rows), f + 1, 3, h, w), np.uint8)
        flo = np.empty((len(rows), f, 2, h, w), np.float16)
        for k, (vi, t) in enumerate(rows.tolist()):
            frames, flows = self._arrays(vi)
            split_channels(frames[t - f : t + 1], rgb[k])
            split_channels(flows[t - f : t], flo[k])
        batch = {
            "rgb": torch.from_numpy(rgb),
            "flow": torch.from_numpy(flo),
            "video": torch.from_numpy(rows[:, 0].copy()),
            "t": torch.from_numpy(rows[:, 1].copy()),
        }
        return batch if packed else unpack_batch(batch)


def unpack_batch(batch: dict[str, torch.Tensor], device: torch.device | str | None = None) -> dict[str, torch.Tensor]:
    """A packed batch (see :meth:`ClipDataset.get_batch`) as model inputs on ``device``.

    Moves the compact uint8/float16 data first and converts there (on a GPU the conversion is free
    and the transfer 3x smaller). Batches that are not packed are returned unchanged.
    """
    if "rgb" not in batch:
        return batch
    keep_freed_memory()  # the float32 batch is ~3x the packed one: reuse freed blocks
    rgb, flo = batch["rgb"].to(device), batch["flow"].to(device)
    b, f1, _, h, w = rgb.shape
    f = f1 - 1
    return {
        "frames": unit_range(rgb[:, :f].reshape(b, 3 * f, h, w)),
        "target": unit_range(rgb[:, f]),
        "flows": flo[:, : f - 1].reshape(b, 2 * (f - 1), h, w).float(),
        "flow_target": flo[:, f - 1].float(),
        "video": batch["video"],
        "t": batch["t"],
    }


class ClipBatches(Dataset):
    """A clip dataset indexed by whole batches, for ``DataLoader(..., batch_size=None)``.

    Give it a batch sampler as the DataLoader's ``sampler``: each item is then a list of clip
    indices and comes back from ``get_batch`` (works for any dataset with that method, e.g. a
    training subset). ``packed=True`` (the default) hands over compact batches: call
    :func:`unpack_batch` on each in the consuming loop.

    >>> # loader = DataLoader(ClipBatches(clips), sampler=BatchSampler(range(len(clips)), 16, False),
    >>> #                     batch_size=None, num_workers=2)
    >>> # for batch in loader: batch = unpack_batch(batch, device)
    """

    def __init__(self, clips: Dataset, packed: bool = True) -> None:
        self.clips = clips
        self.packed = packed

    def __len__(self) -> int:
        return len(self.clips)  # type: ignore[arg-type]

    def __getitem__(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        return self.clips.get_batch(indices, packed=self.packed)  # type: ignore[attr-defined]


#: A clip built online: (F+1, H, W, 3) uint8 frames t-F .. t, (F, H, W, 2) float16 flows t-F .. t-1
#: (None without a motion stream) and its :class:`ClipSource`.
Clip = tuple[np.ndarray, np.ndarray | None, ClipSource]
#: One frame's work before the clip: (resized frame, float16 flow from the previous one or None, the frame as read).
PreparedFrame = tuple[np.ndarray, np.ndarray | None, np.ndarray | None]


class ClipBuilder:
    """Clips from a stream of frames: a ring buffer of F + 1 resized frames and F flows.

    Each frame is resized as the prepared cache is (:func:`resize_frame`), its flow from the
    previous frame comes from ``flow`` (:func:`frame_flow`: normalised, float16), so frame ``t``'s
    clip equals the one :class:`ClipDataset` reads from a cache of the same video. Clip inputs with
    a ``stream()`` are fed every frame as read, in order, on one worker thread, so their work
    (e.g. the region head's own flow) runs beside the model; the others are computed per clip from
    the frames as read.

    Args:
        size: (H, W) model grid.
        frames_in: F, past frames per clip.
        flow: the flow backend, or None for an appearance-only model (no flows computed).
        inputs: the scorer's clip inputs (:data:`ClipInputs`).
    """

    def __init__(self, size: tuple[int, int], frames_in: int, flow: FlowBackend | None,
                 inputs: ClipInputs | None = None) -> None:
        self.size = (int(size[0]), int(size[1]))
        self.frames_in = int(frames_in)
        self.flow = flow
        self.inputs: dict[str, ClipInputFn] = dict(inputs or {})
        self._streams: dict[str, StreamInput] = {k: fn.stream() for k, fn in self.inputs.items() if hasattr(fn, "stream")}
        self._keep_sources = any(k not in self._streams for k in self.inputs)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clip-inputs") if self._streams else None
        self.reset()

    @property
    def streams(self) -> dict[str, StreamInput]:
        """The streamed clip inputs by name (fed every frame in order)."""
        return dict(self._streams)

    def reset(self) -> None:
        """Forget the history (a new video, or a cut in the stream)."""
        self._frames: deque[np.ndarray] = deque(maxlen=self.frames_in + 1)
        self._flows: deque[np.ndarray] = deque(maxlen=self.frames_in)
        self._sources: deque[np.ndarray | None] = deque(maxlen=self.frames_in + 1)
        self.frames_seen = 0
        for stream in self._streams.values():  # in order with the updates already queued
            self._worker.submit(stream.reset)

    def prepare(self, rgb: np.ndarray) -> PreparedFrame:
        """(resized frame, float16 flow from the previous frame or None, the frame as read): the per-frame work."""
        img = resize_frame(rgb, self.size)
        prev = self._frames[-1] if self._frames else None
        flow = frame_flow(self.flow, prev, img) if (self.flow is not None and prev is not None) else None
        return img, flow, rgb

    def push(self, img: np.ndarray, flow: np.ndarray | None, source: np.ndarray | None = None) -> Clip | None:
        """Add a prepared frame; its clip once the history is full (see :data:`Clip`)."""
        if self._frames and self.flow is not None:
            self._flows.append(flow)
        self._frames.append(img)
        self._sources.append(source if self._keep_sources else None)  # kept only for per-clip inputs
        streamed = {k: self._worker.submit(s.update, source) for k, s in self._streams.items()} if self._streams else None
        self.frames_seen += 1
        if len(self._frames) <= self.frames_in:
            return None
        originals = list(self._sources) if all(x is not None for x in self._sources) else None
        where = ClipSource(t=self.frames_seen - 1, source_frames=originals, streamed=streamed)
        return np.stack(self._frames), (np.stack(self._flows) if self.flow is not None else None), where

    def add(self, rgb: np.ndarray) -> Clip | None:
        """:meth:`prepare` then :meth:`push`."""
        return self.push(*self.prepare(rgb))


def batch_of_clips(clips: Sequence[Clip], device: torch.device | str = "cpu",
                   inputs: ClipInputs | None = None) -> ClipBatch:
    """A :class:`ClipBatch` of clips from :class:`ClipBuilder` (the tensors ``ClipDataset`` gives),
    with the builder's clip ``inputs`` as extras."""
    frames = np.stack([c[0] for c in clips])
    flows = np.stack([c[1] for c in clips]) if clips[0][1] is not None else None
    t = clip_tensors(frames, flows)
    extras: dict[str, Tensor] = {}
    if inputs:
        per_clip = [clip_inputs(*c, inputs) for c in clips]
        extras = {k: torch.stack([p[k] for p in per_clip]).to(device) for k in per_clip[0]}

    def dev(x: Tensor | None) -> Tensor | None:
        return None if x is None else x.to(device)

    return ClipBatch(frames=dev(t["frames"]), target=dev(t["target"]), flows=dev(t["flows"]),
                     flow_target=dev(t["flow_target"]), extras=extras)


def prepared_frames(frames: Iterable[np.ndarray], size: tuple[int, int], make_flow: Callable[[], FlowBackend] | None,
                    *, workers: int = 1, timings: dict[str, float] | None = None
                    ) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """:data:`PreparedFrame` (resized frame, float16 flow from the previous one, frame as read) for every frame, in order.

    The same per-frame work as :meth:`ClipBuilder.prepare`, for a producer thread: with
    ``workers > 1`` the flows of consecutive pairs are computed by a pool of threads, each owning
    its flow object (OpenCV's DIS keeps per-call buffers and is not safe to share). ``timings``
    accumulates ``decode_resize`` and ``flow`` seconds (flow summed over workers: CPU seconds).
    """
    timings = timings if timings is not None else {}
    timings.setdefault("decode_resize", 0.0)
    timings.setdefault("flow", 0.0)
    resized = _resized(frames, size, timings)
    if make_flow is None:
        yield from ((img, None, original) for img, original in resized)
        return
    yield from ordered_pairs(resized, make_flow, frame_flow, workers, timings)


def _resized(frames: Iterable[np.ndarray], size: tuple[int, int],
             timings: dict[str, float]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Pull frames from the source and resize them to the model grid, timing both; (resized, as read)."""
    it = iter(frames)
    while True:
        t0 = time.perf_counter()
        try:
            frame = next(it)
        except StopIteration:
            return
        small = resize_frame(frame, size)
        timings["decode_resize"] += time.perf_counter() - t0
        yield small, frame


def ordered_pairs(frames: Iterator[tuple[np.ndarray, Any]], make_flow: Callable[[], FlowBackend],
                  flow_fn: Callable[[FlowBackend, np.ndarray, np.ndarray], np.ndarray], workers: int,
                  timings: dict[str, float]) -> Iterator[tuple[np.ndarray, np.ndarray | None, Any]]:
    """(frame, ``flow_fn(flow, previous frame, frame)``, tag) in frame order, pairs computed by ``workers`` threads.

    ``frames`` yields (frame, tag); the tag (e.g. the frame as read) is passed through.
    """
    if workers < 1:
        raise ConfigError(f"flow_workers must be >= 1, got {workers}")
    if workers == 1:
        backend, prev = make_flow(), None
        for frame, tag in frames:
            t0 = time.perf_counter()
            fl = flow_fn(backend, prev, frame) if prev is not None else None
            timings["flow"] += time.perf_counter() - t0
            prev = frame
            yield frame, fl, tag
        return
    local, lock = threading.local(), threading.Lock()

    def one(prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
        backend = getattr(local, "flow", None)
        if backend is None:
            backend = local.flow = make_flow()
        t0 = time.perf_counter()
        fl = flow_fn(backend, prev, cur)
        with lock:
            timings["flow"] += time.perf_counter() - t0
        return fl

    # OpenCV spreads each DIS call over every core by default: with several calls in flight that
    # is workers x cores threads. Measured on a 16-core H200 host: with 8 calls in flight each took
    # 31 ms instead of 4.3 ms alone, so 8 workers were slower than one. One OpenCV thread per call
    # while the workers run; the setting is restored afterwards.
    cv_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    pending: deque[tuple[np.ndarray, Future | None, Any]] = deque()
    prev: np.ndarray | None = None
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ammcnet-flow") as pool:
            for frame, tag in frames:
                pending.append((frame, pool.submit(one, prev, frame) if prev is not None else None, tag))
                prev = frame
                while len(pending) > 2 * workers:  # bounded look-ahead: memory stays flat on long streams
                    fr, fut, tg = pending.popleft()
                    yield fr, (fut.result() if fut is not None else None), tg
            while pending:
                fr, fut, tg = pending.popleft()
                yield fr, (fut.result() if fut is not None else None), tg
    finally:
        cv2.setNumThreads(cv_threads)
