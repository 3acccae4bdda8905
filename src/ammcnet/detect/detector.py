"""The online detector: one anomaly score per frame from a ring buffer of frames and flows.

Each frame is resized exactly as ``ammcnet prepare`` does (``cv2.resize``, bilinear, aspect
ratio not kept), its flow from the previous frame comes from the run's flow backend and preset,
is normalised by :func:`ammcnet.flow.normalise_flow` and rounded to float16 like the cache, so
frame ``t``'s clip is bit-for-bit the clip ``ammcnet test`` builds. Once ``t >= F`` the records
(``rgb_psnr``, ``rgb_commit``, ``flow_error``, ``flow_commit``) are fused with the calibration
statistics stored at training (:func:`ammcnet.scoring.fusion.fuse_records`) and smoothed with the
causal half of the offline Gaussian.

>>> import numpy as np
>>> from ammcnet.models import AMMCNet, ModelConfig
>>> net = AMMCNet(ModelConfig(features_root=4, embed_dim=8, n_embed=16))
>>> cal = {"records": {r: {"mean": 0.0, "std": 1.0} for r in ("rgb_psnr", "rgb_commit", "flow_error", "flow_commit")}}
>>> det = Detector(net, cal, size=(32, 32), flow="dis", flow_preset="ultrafast", threshold=1e9)
>>> out = [det.update(np.full((40, 50, 3), 10 * i, np.uint8)) for i in range(5)]
>>> [o is None for o in out], out[-1].index, out[-1].alarm
([True, True, True, True, False], 4, False)
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from ammcnet.data.tensors import flows_to_tensor, frames_to_tensor
from ammcnet.errors import ConfigError
from ammcnet.flow import FlowBackend, get_flow_backend, normalise_flow
from ammcnet.scoring.calibration import threshold_for_fpr
from ammcnet.scoring.fusion import CausalSmoother, FusionWeights, Smoothing, fuse_records
from ammcnet.scoring.inference import error_map, mse_per_sample, psnr_per_sample

#: Grid and flow used when a model file carries no training settings (the authors' defaults).
FALLBACK_SIZE = (256, 256)
FALLBACK_FLOW = ("dis", "medium")


@dataclass
class FrameResult:
    """The detector's verdict on one frame.

    Attributes:
        index: frame number in the stream (0-based, counting frames given to the detector).
        score: the alarm score: fused, then causally smoothed (high = anomalous).
        fused: the fused score before smoothing (equals ``ammcnet test``'s honest fused score).
        alarm: ``score > threshold`` (always False without a threshold).
        records: raw per-frame records, as in the score file.
        timestamp: seconds from the start of the stream, if given.
        error_map: (H, W) float32 per-pixel squared error at the model grid, when asked for.
        valid: False when the model's output for this frame was NaN or inf: such a frame is never
            an alarm, its score is NaN and it does not enter the smoothing.
    """

    index: int
    score: float
    fused: float
    alarm: bool
    records: dict[str, float]
    timestamp: float | None = None
    error_map: np.ndarray | None = field(default=None, repr=False)
    valid: bool = True

    def as_json(self) -> dict[str, Any]:
        """The JSON Lines row: index, timestamp, score, fused, alarm, valid and the records (NaN -> null)."""
        return {
            "index": self.index,
            "timestamp": None if self.timestamp is None else round(float(self.timestamp), 6),
            "score": _finite_or_none(self.score),
            "fused": _finite_or_none(self.fused),
            "alarm": self.alarm,
            "valid": self.valid,
            "records": {k: _finite_or_none(v) for k, v in self.records.items()},
        }


def _finite_or_none(value: float) -> float | None:
    """JSON has no NaN or inf: a non-finite number is written as null."""
    return float(value) if np.isfinite(value) else None


def resize_frame(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an RGB uint8 frame to ``size`` = (H, W) exactly as the prepared cache does."""
    if rgb.shape[:2] != tuple(size):
        rgb = cv2.resize(rgb, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(rgb)


def settings_from_train_config(train_config: Mapping[str, Any] | None) -> tuple[tuple[int, int], str, str]:
    """(size, flow backend, flow preset) a model was trained with, or the authors' defaults."""
    data = (train_config or {}).get("data") or {}
    size = tuple(int(s) for s in data.get("size", FALLBACK_SIZE))
    return (size[0], size[1]), str(data.get("flow", FALLBACK_FLOW[0])), str(data.get("flow_preset", FALLBACK_FLOW[1]))


def online_table(calibration: Mapping[str, Any]) -> dict[str, Any] | None:
    """The calibration's fused-score quantile table built with causal smoothing, if it has one.

    A table under ``fused_causal`` (or a ``fused`` table whose smoothing is already causal)
    matches the online score exactly; otherwise None and the offline table is used.
    """
    for key in ("fused_causal", "fused"):
        table = calibration.get(key)
        if isinstance(table, Mapping) and "levels" in table and (table.get("smoothing") or {}).get("causal"):
            return dict(table)
    return None


def resolve_threshold(
    calibration: Mapping[str, Any] | None, threshold: str | float | None, fpr: float = 0.01
) -> float | None:
    """``"auto"`` -> the calibrated threshold for false-alarm rate ``fpr``; a number -> itself.

    A quantile table built with causal smoothing (see :func:`online_table`) is preferred; else the
    offline table is used (see ``docs/deviations/detect.md`` for the causal-smoothing caveat).
    """
    if threshold is None:
        return None
    if isinstance(threshold, str):
        if threshold.strip().lower() != "auto":
            try:
                return float(threshold)
            except ValueError:
                raise ConfigError(f"--threshold {threshold!r}: give 'auto' or a number") from None
        if not calibration:
            raise ConfigError("--threshold auto needs a calibrated model (training stores it); give a number instead")
        online = online_table(calibration)
        if online is not None:
            return threshold_for_fpr({"fused": online}, fpr)
        return threshold_for_fpr(calibration, fpr)
    return float(threshold)


class Detector:
    """Score frames one at a time (``update``) or a few at once (``process``).

    Args:
        model: an ``AMMCNet`` (put in eval mode and moved to ``device`` here).
        calibration: the calibration dict stored at training (statistics of every record).
        size: (H, W) model grid the frames are resized to.
        flow: flow backend name (``dis``, ``farneback``) or a ready :class:`FlowBackend`.
        flow_preset: DIS preset (ignored by other backends).
        threshold: alarm threshold on the smoothed score; None = never alarm.
        weights: fusion weights (default: those the calibration's table was built with).
        smoothing: temporal smoothing; made causal (default: the calibration's sigma, causal).
        device: torch device string.
        error_maps: also return per-pixel error maps (for the overlay video).
        map_flow_weight: weight of the motion error in the maps.
    """

    def __init__(
        self,
        model: Any,
        calibration: Mapping[str, Any] | None,
        *,
        size: tuple[int, int],
        flow: str | FlowBackend = "dis",
        flow_preset: str = "medium",
        threshold: float | None = None,
        weights: FusionWeights | None = None,
        smoothing: Smoothing | None = None,
        device: str = "cpu",
        error_maps: bool = False,
        map_flow_weight: float = 0.0,
        motion_prior: Any = None,
    ) -> None:
        if not calibration or "records" not in calibration:
            raise ConfigError(
                "the model has no calibration statistics, so its scores cannot be normalised online; "
                "use a model trained by `ammcnet train` (it calibrates at the end) or calibrate it with ammcnet calibrate RUN TRAINING_DATA"
            )
        h, w = (int(s) for s in size)
        if h % 8 or w % 8 or h <= 0 or w <= 0:
            raise ConfigError(f"detector size {size}: height and width must be positive multiples of 8")
        self.model = model.eval().to(device)
        self.config = model.config
        self.calibration = calibration
        self.size = (h, w)
        self.device = device
        self.frames_in = int(self.config.frames_in)
        self.uses_motion = getattr(model, "motion", None) is not None
        # the per-place flow prior (``ammcnet.scoring.motion_prior``) of the model file, if any
        self.motion_prior = motion_prior if motion_prior is not None else getattr(model, "motion_prior", None)
        if isinstance(flow, FlowBackend):
            self.flow_backend = flow
        else:
            self.flow_backend = get_flow_backend(flow, **({"preset": flow_preset} if flow == "dis" else {}))
        fused = calibration.get("fused") or {}
        self.weights = weights or FusionWeights.from_dict(fused.get("weights"))
        base = smoothing or Smoothing.from_dict(fused.get("smoothing"))
        self.smoothing = Smoothing(sigma=base.sigma, causal=True, truncate=base.truncate)
        self.threshold = threshold
        self.error_maps = error_maps
        self.map_flow_weight = float(map_flow_weight)
        self.model_path: Path | None = None
        self.last_latency_s: float | None = None
        self.reset()

    @classmethod
    def from_run(
        cls,
        run: str | os.PathLike[str],
        *,
        device: str = "cpu",
        threshold: str | float | None = "auto",
        fpr: float = 0.01,
        backend: str = "eager",
        onnx: str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ) -> Detector:
        """Build a detector from a run folder or model file (grid, flow and calibration included).

        Args:
            run: ``RUN`` (holding ``model.pt``) or a model file.
            device: torch device string.
            threshold: ``"auto"`` (calibrated, for false-alarm rate ``fpr``), a number, or None.
            fpr: target false-alarm rate per frame for ``"auto"``.
            backend: ``eager`` (the model as trained), ``torch`` (BatchNorm folded, same scores to
                1e-5) or ``onnx`` (ONNX Runtime on ``onnx``, a graph written by ``ammcnet export``).
            onnx: the ``.onnx`` file for ``backend="onnx"``.
            **kwargs: overrides of :class:`Detector` arguments (``size``, ``flow``, ``error_maps``...).
        """
        from ammcnet.models import load_model_file

        loaded = load_model_file(run, map_location=device)
        size, flow, preset = settings_from_train_config(loaded.train_config)
        kwargs.setdefault("size", size)
        kwargs.setdefault("flow", flow)
        kwargs.setdefault("flow_preset", preset)
        thr = resolve_threshold(loaded.calibration, threshold, fpr)
        model: Any = loaded.model
        if backend != "eager":
            from ammcnet.export.backend import make_backend

            model = make_backend(backend, loaded.model, onnx_path=onnx, device=device)
        kwargs.setdefault("motion_prior", getattr(loaded.model, "motion_prior", None))
        det = cls(model, loaded.calibration, device=device, threshold=thr, **kwargs)
        det.model_path = Path(loaded.path)
        return det

    def reset(self) -> None:
        """Forget the history (a new video, or a cut in the stream)."""
        self._frames: deque[np.ndarray] = deque(maxlen=self.frames_in + 1)
        self._flows: deque[np.ndarray] = deque(maxlen=self.frames_in)
        self._smoother = CausalSmoother(self.smoothing)
        self.frames_seen = 0

    def _ingest(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Add one frame to the ring buffer; return its clip (frames, flows) once the history is full."""
        img = resize_frame(rgb, self.size)
        if self._frames and self.uses_motion:
            flow_px = self.flow_backend.compute(self._frames[-1], img)
            self._flows.append(normalise_flow(flow_px, self.size).astype(np.float16))
        self._frames.append(img)
        self.frames_seen += 1
        if len(self._frames) <= self.frames_in:
            return None
        frames = np.stack(self._frames)  # (F+1, H, W, 3) uint8: t-F .. t
        flows = np.stack(self._flows) if self.uses_motion else None  # (F, H, W, 2) float16: t-F .. t-1
        return frames, flows

    def _records(self, clips: list[tuple[np.ndarray, np.ndarray | None]]) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        """Run the model on a batch of clips, building tensors as ``ClipDataset`` does."""
        f = self.frames_in
        h, w = self.size
        clip_t = frames_to_tensor(np.stack([c[0] for c in clips]))  # (B, F+1, 3, H, W) in [-1, 1]
        frames = clip_t[:, :f].reshape(len(clips), 3 * f, h, w).to(self.device)
        target = clip_t[:, f].contiguous().to(self.device)
        flows = flow_target = None
        if self.uses_motion:
            fl = flows_to_tensor(np.stack([c[1] for c in clips]))  # (B, F, 2, H, W)
            flows = fl[:, : f - 1].reshape(len(clips), 2 * (f - 1), h, w).to(self.device)
            flow_target = fl[:, f - 1].contiguous().to(self.device)
        with torch.inference_mode():
            out = self.model(frames, flows)
            rec = {"rgb_psnr": psnr_per_sample(out.frame_pred, target), "rgb_commit": out.frame_commit_per_sample.double()}
            if out.flow_pred is not None:
                rec["flow_error"] = mse_per_sample(out.flow_pred, flow_target)
                rec["flow_commit"] = out.flow_commit_per_sample.double()
                if self.motion_prior is not None:
                    rec["motion_prior"] = self.motion_prior.score(flow_target).double()
            maps = None
            if self.error_maps:
                maps = error_map(out.frame_pred, target, out.flow_pred, flow_target, self.map_flow_weight)
                maps = maps.float().cpu().numpy()
        return {k: v.cpu().numpy() for k, v in rec.items()}, maps

    def process(
        self, frames: Sequence[np.ndarray], timestamps: Sequence[float | None] | None = None
    ) -> list[FrameResult | None]:
        """Score several consecutive frames with one batched model call.

        Args:
            frames: (H, W, 3) uint8 RGB frames in stream order, any resolution.
            timestamps: seconds per frame (optional).

        Returns:
            One entry per frame: None during warm-up (the first F frames), else a :class:`FrameResult`.
            Results equal calling :meth:`update` on each frame.
        """
        timestamps = list(timestamps) if timestamps is not None else [None] * len(frames)
        clips, slots = [], []
        out: list[FrameResult | None] = [None] * len(frames)
        for i, rgb in enumerate(frames):
            clip = self._ingest(rgb)
            if clip is not None:
                clips.append(clip)
                slots.append((i, self.frames_seen - 1))
        if not clips:
            return out
        records, maps = self._records(clips)
        fused = fuse_records(records, self.calibration, self.weights)
        for j, (i, t) in enumerate(slots):
            valid = bool(np.isfinite(fused[j])) and all(bool(np.isfinite(v[j])) for v in records.values())
            # a NaN/inf output must neither alarm nor poison the smoother's memory of later frames
            score = self._smoother.update(float(fused[j])) if valid else float("nan")
            out[i] = FrameResult(
                index=t,
                score=score,
                fused=float(fused[j]),
                alarm=valid and self.threshold is not None and score > self.threshold,
                records={k: float(v[j]) for k, v in records.items()},
                timestamp=timestamps[i],
                error_map=None if maps is None or not valid else maps[j],
                valid=valid,
            )
        return out

    def update(self, frame: np.ndarray, timestamp: float | None = None) -> FrameResult | None:
        """Score one frame; None while the history is shorter than F frames."""
        t0 = time.perf_counter()
        result = self.process([frame], [timestamp])[0]
        self.last_latency_s = time.perf_counter() - t0
        return result
