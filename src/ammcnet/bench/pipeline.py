"""End-to-end scoring of one video stream, exactly as ``ammcnet detect`` runs it.

Frames go through :func:`ammcnet.data.clips.prepared_frames` (the cache's resize, flow
normalisation and float16 rounding; flows of consecutive pairs optionally on several threads),
read ahead by :func:`ammcnet.data.video.prefetch` in a background thread (OpenCV releases the
GIL), and are scored by :class:`ammcnet.detect.Detector` (clip builder, model, scorer, fusion,
causal smoothing) in the caller's thread. With ``threaded=False`` everything runs in sequence
(the baseline ``ammcnet bench`` compares against). Frame ``t`` is scored from frames
``t-F .. t-1`` and flows ``t-F .. t-2``; the first ``F`` frames have no score.

>>> import numpy as np, torch
>>> from ammcnet.models import AMMCNet, ModelConfig
>>> from ammcnet.export import TorchBackend
>>> frames = [np.full((40, 40, 3), i * 10, np.uint8) for i in range(7)]
>>> rec, stats = score_stream(frames, TorchBackend(AMMCNet(ModelConfig(features_root=4, embed_dim=8, n_embed=16))),
...                          size=(32, 32), flow_preset="ultrafast")
>>> rec["t"].tolist(), sorted(k for k in rec if k != "t" and not k.endswith("_local"))
([4, 5, 6], ['flow_commit', 'flow_error', 'rgb_commit', 'rgb_psnr'])
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch

from ammcnet.data.clips import prepared_frames
from ammcnet.data.video import prefetch
from ammcnet.detect.detector import Detector, DetectorOptions
from ammcnet.errors import ConfigError
from ammcnet.flow import get_flow_backend
from ammcnet.scoring.scorer import Scorer


def _device_of(backend: Any) -> str:
    """Where ``backend`` runs: its ``device``, else its first parameter's (an ``nn.Module``), else the CPU."""
    device = getattr(backend, "device", None)
    if device is None and isinstance(backend, torch.nn.Module):
        device = next(iter(backend.parameters()), torch.empty(0)).device
    return str(device or "cpu")


def unit_calibration(names: Iterable[str]) -> dict[str, Any]:
    """Mean 0, std 1 for every record: fusion runs (and is timed) for a model without a calibration."""
    return {"records": {n: {"mean": 0.0, "std": 1.0} for n in names}}


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
    calibration: Mapping[str, Any] | None = None,
    scorer: Scorer | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Score every frame of a stream with the online detector over ``backend``.

    Args:
        frames: RGB uint8 frames of any size (a ``VideoSource`` or a list).
        backend: an ``AMMCNet``, :class:`ammcnet.export.TorchBackend` or :class:`ammcnet.export.OnnxBackend`.
        size: (H, W) of the model.
        flow: flow backend name; flow_preset: its preset.
        batch_size: clips per model call (1 = lowest latency).
        threaded: decode and flow in a background thread.
        max_frames: stop after this many frames.
        flow_workers: threads computing the flows of consecutive frame pairs (> 1 for a GPU fed by
            a many-core host; the records do not change).
        calibration: the model's calibration (default: unit statistics, which time the same work).
        scorer: the model file's scorer (default: the plain records).

    Returns:
        (records, stats): ``records`` has ``t`` (scored frame indices) and one float64 array per
        record; ``stats`` has ``frames`` (read), ``scored``, ``seconds`` (wall), ``fps`` (the
        steady-state rate: scored frames per second from the moment the first clip's history was
        complete, so the F warm-up frames that need no model call do not inflate short runs),
        ``fps_with_warmup`` (all frames over all seconds) and the seconds spent in ``decode_resize``,
        ``flow`` and ``model`` (model, records and fusion; the first two in the producer thread when threaded).
    """
    if flow_workers < 1:
        raise ConfigError(f"flow_workers must be >= 1, got {flow_workers}")
    scorer = scorer or Scorer()
    motion = getattr(backend, "motion", None) is not None
    names = [s.name for s in scorer.specs(motion)]
    options = DetectorOptions(size=size, flow=flow, flow_preset=flow_preset, threshold=None, device=_device_of(backend))
    detector = Detector(backend, calibration or unit_calibration(names), options, scorer=scorer)
    timings = {"decode_resize": 0.0, "flow": 0.0, "model": 0.0}
    if max_frames is not None:
        frames = (fr for _, fr in zip(range(max_frames), frames, strict=False))
    make_flow = (lambda: get_flow_backend(flow, **({"preset": flow_preset} if flow == "dis" else {}))) if motion else None
    items = prepared_frames(frames, detector.size, make_flow, workers=flow_workers, timings=timings)
    if threaded:
        items = prefetch(items)
    return _run(detector, items, batch_size, timings)


def _run(detector: Detector, items: Iterable, batch_size: int, timings: dict[str, float]
         ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Feed prepared frames to the detector in batches, timing its calls."""
    results: list = []
    pending: list = []
    start = time.perf_counter()
    steady_start: float | None = None
    n = 0

    def flush() -> None:
        t0 = time.perf_counter()
        results.extend(r for r in detector.process_prepared(pending) if r is not None)
        timings["model"] += time.perf_counter() - t0
        pending.clear()

    for item in items:
        n += 1
        pending.append(item)
        if steady_start is None and n > detector.frames_in:  # the first scorable frame: the steady state starts
            steady_start = time.perf_counter()
        if len(pending) >= batch_size:
            flush()
    if pending:
        flush()
    end = time.perf_counter()
    seconds = end - start
    names = list(results[0].records) if results else []
    records = {"t": np.asarray([r.index for r in results], np.int64),
               **{k: np.asarray([r.records[k] for r in results], np.float64) for k in names}}
    steady = (end - steady_start) if steady_start is not None else 0.0
    stats = {"frames": n, "scored": len(results), "seconds": seconds,
             "fps": len(results) / steady if steady > 0 else 0.0, "fps_with_warmup": n / max(seconds, 1e-9), **timings}
    return records, stats
