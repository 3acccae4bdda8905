"""End-to-end scoring of one video stream: decode -> resize -> flow -> model -> records.

Decoding, resizing and optical flow run in a background thread (OpenCV releases the GIL), the
model runs in the caller's thread, so on a multi-core CPU the two overlap. With
``threaded=False`` everything runs in sequence (the baseline ``ammcnet bench`` compares against).
Records follow ``ammcnet test``: frame ``t`` is scored from frames ``t-F .. t-1`` and flows
``t-F .. t-2``; the first ``F`` frames have no score.

>>> import numpy as np, torch
>>> from ammcnet.models import AMMCNet, ModelConfig
>>> from ammcnet.export import TorchBackend
>>> frames = [np.full((40, 40, 3), i * 10, np.uint8) for i in range(7)]
>>> rec, stats = score_stream(frames, TorchBackend(AMMCNet(ModelConfig(features_root=4, embed_dim=8, n_embed=16))),
...                          size=(32, 32), flow_preset="ultrafast")
>>> rec["t"].tolist(), sorted(k for k in rec if k != "t")
([4, 5, 6], ['flow_commit', 'flow_error', 'rgb_commit', 'rgb_psnr'])
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import cv2
import numpy as np
import torch

from ammcnet.flow import get_flow_backend, normalise_flow

_DONE = object()


def _frames_and_flows(frames: Iterable[np.ndarray], size: tuple[int, int], flow: Any, timings: dict[str, float],
                      with_flow: bool) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Yield (resized RGB uint8 frame, normalised flow from the previous frame or None)."""
    prev: np.ndarray | None = None
    for frame in _resized(frames, size, timings):
        t1 = time.perf_counter()
        fl = normalise_flow(flow.compute(prev, frame)) if (with_flow and prev is not None) else None
        timings["flow"] += time.perf_counter() - t1
        prev = frame
        yield frame, fl


def _resized(frames: Iterable[np.ndarray], size: tuple[int, int], timings: dict[str, float]) -> Iterator[np.ndarray]:
    """Decode (pull from the source) and resize to the model grid, timing both."""
    h, w = size
    it = iter(frames)
    while True:
        t0 = time.perf_counter()
        try:
            frame = next(it)
        except StopIteration:
            return
        if frame.shape[:2] != (h, w):
            frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_LINEAR)
        timings["decode_resize"] += time.perf_counter() - t0
        yield frame


def _frames_and_flows_parallel(frames: Iterable[np.ndarray], size: tuple[int, int], make_flow: Callable[[], Any],
                               timings: dict[str, float], workers: int) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """As :func:`_frames_and_flows`, with the flows of consecutive pairs computed by ``workers`` threads.

    A GPU scores a few hundred frames per second, one DIS flow on one core takes a few
    milliseconds, so on a many-core host the flow must run in parallel to keep the model fed.
    Pairs are independent; each worker thread owns its flow object (OpenCV's DIS keeps per-call
    buffers and is not safe to share) and results come back in frame order.
    """
    local = threading.local()
    lock = threading.Lock()

    def one(prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
        backend = getattr(local, "flow", None)
        if backend is None:
            backend = local.flow = make_flow()
        t0 = time.perf_counter()
        fl = normalise_flow(backend.compute(prev, cur))
        with lock:
            timings["flow"] += time.perf_counter() - t0  # summed over workers: CPU seconds, not wall
        return fl

    # OpenCV spreads each DIS call over every core by default: with several calls in flight that
    # is workers x cores threads. Measured on a 16-core H200 host: with 8 calls in flight each took
    # 31 ms instead of 4.3 ms alone, so 8 workers were slower than one. One OpenCV thread per call
    # while the workers run; the setting is restored afterwards.
    cv_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield from _ordered_flows(_resized(frames, size, timings), one, workers)
    finally:
        cv2.setNumThreads(cv_threads)


def _ordered_flows(frames: Iterator[np.ndarray], one: Callable[[np.ndarray, np.ndarray], np.ndarray],
                   workers: int) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Submit ``one(prev, frame)`` for each consecutive pair to a pool; yield in frame order."""
    pending: deque[tuple[np.ndarray, Future | None]] = deque()
    prev: np.ndarray | None = None
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ammcnet-flow") as pool:
        for frame in frames:
            pending.append((frame, pool.submit(one, prev, frame) if prev is not None else None))
            prev = frame
            while len(pending) > 2 * workers:  # bounded look-ahead: memory stays flat on long streams
                fr, fut = pending.popleft()
                yield fr, (fut.result() if fut is not None else None)
        while pending:
            fr, fut = pending.popleft()
            yield fr, (fut.result() if fut is not None else None)


def _threaded(gen: Iterator[Any], maxsize: int = 32) -> Iterator[Any]:
    """Run a generator in a daemon thread, handing items over through a bounded queue."""
    q: queue.Queue = queue.Queue(maxsize)
    error: list[BaseException] = []

    def work() -> None:
        try:
            for item in gen:
                q.put(item)
        except BaseException as exc:  # re-raised in the consumer
            error.append(exc)
        finally:
            q.put(_DONE)

    threading.Thread(target=work, daemon=True, name="ammcnet-decode-flow").start()
    while True:
        item = q.get()
        if item is _DONE:
            if error:
                raise error[0]
            return
        yield item


def _to_unit(frame: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frame.astype(np.float32) * (2.0 / 255.0) - 1.0).permute(2, 0, 1)


def score_stream(
    frames: Iterable[np.ndarray],
    backend: Any,
    *,
    size: tuple[int, int],
    flow: str = "dis",
    flow_preset: str = "medium",
    batch_size: int = 1,
    threaded: bool = True,
    max_frames: int | None = None,
    flow_workers: int = 1,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Score every frame of a stream with a backend (``score(frames, target, flows, flow_target)``).

    Args:
        frames: RGB uint8 frames of any size (a ``VideoSource`` or a list).
        backend: :class:`ammcnet.export.TorchBackend` or :class:`ammcnet.export.OnnxBackend`.
        size: (H, W) of the model.
        flow: flow backend name; flow_preset: its preset.
        batch_size: clips per model call (1 = lowest latency).
        threaded: decode and flow in a background thread.
        flow_workers: threads computing the flows of consecutive frame pairs (> 1 for a GPU fed by
            a many-core host; the records do not change).
        max_frames: stop after this many frames.

    Returns:
        (records, stats): ``records`` has ``t`` (scored frame indices) and one float32 array per
        record; ``stats`` has ``frames`` (read), ``scored``, ``seconds`` (wall), ``fps`` (the
        steady-state rate: scored frames per second from the moment the first clip's history was
        complete, so the F warm-up frames that need no model call do not inflate short runs),
        ``fps_with_warmup`` (all frames over all seconds) and the seconds spent in ``decode_resize``,
        ``flow`` and ``model`` (the first two in the producer thread when threaded).
    """
    cfg = backend.config
    f_in, p_in = int(cfg.frames_in), int(cfg.flows_in)
    motion = backend.motion is not None
    timings = {"decode_resize": 0.0, "flow": 0.0, "model": 0.0}
    if max_frames is not None:
        frames = (fr for i, fr in zip(range(max_frames), frames, strict=False))
    if flow_workers < 1:
        raise ValueError(f"flow_workers must be >= 1, got {flow_workers}")
    if motion and flow_workers > 1:
        gen = _frames_and_flows_parallel(frames, size, lambda: get_flow_backend(flow, preset=flow_preset),
                                         timings, flow_workers)
    else:
        flow_backend = get_flow_backend(flow, preset=flow_preset) if motion else None
        gen = _frames_and_flows(frames, size, flow_backend, timings, motion)
    items = _threaded(gen) if threaded else gen
    past: deque[torch.Tensor] = deque(maxlen=f_in + 1)
    past_flows: deque[torch.Tensor] = deque(maxlen=p_in + 1)
    pending: list[tuple[int, torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]] = []
    out: dict[str, list[np.ndarray]] = {}
    ts: list[int] = []

    def flush() -> None:
        if not pending:
            return
        t0 = time.perf_counter()
        cols = list(zip(*pending, strict=True))
        fr, tg = torch.stack(cols[1]), torch.stack(cols[2])
        fl, ft = (torch.stack(cols[3]), torch.stack(cols[4])) if motion else (None, None)
        res = backend.score(fr, tg, fl, ft)
        timings["model"] += time.perf_counter() - t0
        for k, v in res.items():
            if v.ndim == 1:
                out.setdefault(k, []).append(v)
        ts.extend(cols[0])
        pending.clear()

    start = time.perf_counter()
    steady_start: float | None = None
    n = 0
    for t, (frame, fl) in enumerate(items):
        n += 1
        past.append(_to_unit(frame))
        if fl is not None:
            past_flows.append(torch.from_numpy(fl).permute(2, 0, 1))
        if t < f_in:
            continue
        if steady_start is None:  # the first scorable frame has arrived: the steady state starts here
            steady_start = time.perf_counter()
        clip = torch.cat(list(past)[:f_in])
        flows = torch.cat(list(past_flows)[:p_in]) if motion else None
        pending.append((t, clip, past[-1], flows, past_flows[-1] if motion else None))
        if len(pending) >= batch_size:
            flush()
    flush()
    end = time.perf_counter()
    seconds = end - start
    records = {"t": np.asarray(ts, np.int64), **{k: np.concatenate(v) for k, v in out.items()}}
    scored = len(ts)
    steady = (end - steady_start) if steady_start is not None else 0.0
    stats = {"frames": n, "scored": scored, "seconds": seconds, "fps": scored / steady if steady > 0 else 0.0,
             "fps_with_warmup": n / max(seconds, 1e-9), **timings}
    return records, stats
