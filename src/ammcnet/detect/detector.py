"""The online detector: one anomaly score per frame from a ring buffer of frames and flows.

Clips come from :class:`ammcnet.data.clips.ClipBuilder` (the cache's resize, flow normalisation
and float16 rounding), so frame ``t``'s clip is bit-for-bit the clip ``ammcnet test`` builds, and
its records from the same :class:`ammcnet.scoring.scorer.Scorer`. Once ``t >= F`` the records are
fused with the calibration statistics stored at training
(:func:`ammcnet.scoring.fusion.fuse_records`) and smoothed with the causal half of the offline
Gaussian. ``ammcnet bench`` times this class.

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
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ammcnet.data.clips import Clip, ClipBuilder, PreparedFrame, batch_of_clips, resize_frame
from ammcnet.errors import ConfigError
from ammcnet.export.backend import make_backend
from ammcnet.flow import FlowBackend, get_flow_backend
from ammcnet.models import load_model_file
from ammcnet.scoring.calibration import fused_table, table_threshold, threshold_for_fpr
from ammcnet.scoring.fusion import CausalSmoother, FusionWeights, Smoothing, fuse_records, smooth
from ammcnet.scoring.region_head import HEAD_MODE, RegionHeadComponent
from ammcnet.scoring.region_head import RECORD as REGION_RECORD
from ammcnet.scoring.scorer import Scorer, load_scorer
from ammcnet.scoring.settings import REGION_MODES, ScoringSettings, scoring_mode, scoring_settings

__all__ = ["Detector", "FrameResult", "resize_frame", "resolve_threshold", "settings_from_train_config"]

#: The region head's name among the scorer's components.
REGION_HEAD = RegionHeadComponent.component
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
    box: tuple[int, int, int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON Lines row: index, timestamp, score, fused, alarm, valid and the records (NaN -> null)."""
        return {
            "index": self.index,
            "timestamp": None if self.timestamp is None else round(float(self.timestamp), 6),
            "score": _finite_or_none(self.score),
            "fused": _finite_or_none(self.fused),
            "alarm": self.alarm,
            "valid": self.valid,
            "records": {k: _finite_or_none(v) for k, v in self.records.items()},
            "box": None if self.box is None else [int(v) for v in self.box],
        }


def _finite_or_none(value: float) -> float | None:
    """JSON has no NaN or inf: a non-finite number is written as null."""
    return float(value) if np.isfinite(value) else None


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
    return fused_table(calibration, causal=True)


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
        table = online_table(calibration)
        return threshold_for_fpr(calibration, fpr) if table is None else table_threshold(table, fpr)
    return float(threshold)


class Detector:
    """Score frames one at a time (``update``) or a few at once (``process``).

    Args:
        model: an ``AMMCNet`` or an inference backend (put in eval mode and moved to ``device`` here).
        calibration: the calibration dict stored at training (statistics of every record).
        size: (H, W) model grid the frames are resized to.
        flow: flow backend name (``dis``, ``farneback``) or a ready :class:`FlowBackend`.
        flow_preset: DIS preset (ignored by other backends).
        threshold: alarm threshold on the smoothed score; None = never alarm.
        weights: fusion weights (default: :func:`ammcnet.scoring.settings.scoring_settings`).
        smoothing: temporal smoothing; made causal (default: the model file's sigma, causal).
        device: torch device string.
        error_maps: also return per-pixel error maps (for the overlay video).
        map_flow_weight: weight of the motion error in the maps.
        scorer: the model file's scorer (its fitted components, e.g. the motion prior).
        honest: ``region`` (alarm on the region head when the scorer has one) or ``fusion`` (alias
            ``frame_mean``: alarm on the calibrated fusion).
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
        scorer: Scorer | None = None,
        honest: str = "region",
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
        self.scorer = (scorer if scorer is not None else Scorer()).to(device)
        self.flow_backend = _flow_backend(flow, flow_preset) if self.uses_motion else None
        if weights is None or smoothing is None:  # the calibration's own (files that kept a copy), else the defaults
            defaults = scoring_settings(None, calibration)
            weights, smoothing = weights or defaults.weights, smoothing or defaults.smoothing
        settings = ScoringSettings(weights, smoothing, honest)
        _check_live_mode(settings)
        self.weights = weights
        base = smoothing
        self.smoothing = Smoothing(sigma=base.sigma, causal=True, truncate=base.truncate)
        self.threshold = threshold
        self.error_maps = error_maps
        self.map_flow_weight = float(map_flow_weight)
        self.model_path: Path | None = None
        self.last_latency_s: float | None = None
        self.builder = ClipBuilder(self.size, self.frames_in, self.flow_backend)
        # the region head (when the model file has one and its settings ask for it) gives the alarm
        # score, or a record of the fusion; it reads the frames as delivered
        comps = self.scorer.components
        mode = settings.mode if settings.mode in REGION_MODES else HEAD_MODE
        self.region = comps[REGION_HEAD].stream(mode) if settings.needs_region_head(comps) else None
        self.alarm_on_region = settings.uses_region_head(comps)
        # one worker, so frames reach the region head in order; its flow runs while the model runs
        self._region_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="region-head") if self.region else None
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
        """Build a detector from a run folder or model file (grid, flow, calibration and scorer included).

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
        loaded = load_model_file(run, map_location=device)
        size, flow, preset = settings_from_train_config(loaded.train_config)
        kwargs.setdefault("size", size)
        kwargs.setdefault("flow", flow)
        kwargs.setdefault("flow_preset", preset)
        scorer = kwargs.setdefault("scorer", load_scorer(loaded))
        settings = scoring_settings(loaded.train_config, loaded.calibration)
        kwargs.setdefault("weights", settings.weights)
        kwargs.setdefault("smoothing", settings.smoothing)
        kwargs.setdefault("honest", settings.honest)
        thr = resolve_threshold(loaded.calibration, threshold, fpr)
        auto = isinstance(threshold, str) and threshold.strip().lower() == "auto"
        mode = scoring_mode(kwargs["honest"])
        if auto and mode in REGION_MODES and REGION_HEAD in scorer.components:
            base = kwargs["smoothing"]  # the head's (or baseline's) threshold for its causally smoothed score
            causal = Smoothing(sigma=base.sigma, causal=True, truncate=base.truncate)
            thr = scorer.components[REGION_HEAD].threshold(fpr, lambda x: smooth(x, causal), mode)
        model: Any = loaded.model
        if backend != "eager":
            model = make_backend(backend, loaded.model, onnx_path=onnx, device=device)
        det = cls(model, loaded.calibration, device=device, threshold=thr, **kwargs)
        det.model_path = Path(loaded.path)
        return det

    def reset(self) -> None:
        """Forget the history (a new video, or a cut in the stream)."""
        self.builder.reset()
        self._smoother = CausalSmoother(self.smoothing)
        if self._region_pool is not None:
            self._region_pool.submit(self.region.reset)

    @property
    def frames_seen(self) -> int:
        """Frames given to the detector since the last :meth:`reset`."""
        return self.builder.frames_seen

    def _records(self, clips: list[Clip]) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        """Run the model and the scorer on a batch of clips: records (float64) and optional error maps."""
        batch = batch_of_clips(clips, self.device)
        out, rec = self.scorer.score(self.model, batch)
        maps = None
        if self.error_maps:
            maps = self.scorer.error_maps(batch, out, self.map_flow_weight).float().cpu().numpy()
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
        return self.process_prepared((self.builder.prepare(f) for f in frames), timestamps, len(frames))

    def process_prepared(
        self, items: Iterable[PreparedFrame], timestamps: Sequence[float | None] | None = None,
        count: int | None = None,
    ) -> list[FrameResult | None]:
        """:meth:`process` for frames already resized and with their flows (``ClipBuilder.prepare``
        or :func:`ammcnet.data.clips.prepared_frames` in a producer thread)."""
        clips, slots, regions = [], [], []
        n = 0
        for i, item in enumerate(items):
            n = i + 1
            region = self._region_pool.submit(self.region.update, item[2]) if self._region_pool is not None else None
            clip = self.builder.push(*item)
            if clip is not None:
                clips.append(clip)
                slots.append((i, self.frames_seen - 1))
                regions.append(region)
        n = count if count is not None else n
        timestamps = list(timestamps) if timestamps is not None else [None] * n
        out: list[FrameResult | None] = [None] * n
        if clips:
            self._results(clips, slots, timestamps, out, regions)
        return out

    def _results(self, clips: list, slots: list[tuple[int, int]], timestamps: list, out: list,
                 regions: list) -> None:
        """Score, fuse and smooth the clips; fill ``out`` at their slots.

        With ``honest: region`` the alarm score is the region head's smoothed score (the calibrated
        fusion is still reported as ``fused``; it may weigh the head's record too); ``regions`` holds
        the head's view of each clip's frame (futures of the region worker).
        """
        records, maps = self._records(clips)
        regions = [r.result() if r is not None else None for r in regions]  # computed beside the model
        if self.region is not None:  # before the fusion, which may weigh it
            records[REGION_RECORD] = np.array([r.score if r is not None else np.nan for r in regions])
        fused = fuse_records(records, self.calibration, self.weights)
        alarm_input = records[REGION_RECORD] if self.alarm_on_region else fused
        for j, (i, t) in enumerate(slots):
            valid = bool(np.isfinite(fused[j])) and all(bool(np.isfinite(v[j])) for v in records.values())
            # a NaN/inf output must neither alarm nor poison the smoother's memory of later frames
            score = self._smoother.update(float(alarm_input[j])) if valid else float("nan")
            out[i] = FrameResult(
                index=t,
                score=score,
                fused=float(fused[j]),
                alarm=valid and self.threshold is not None and score > self.threshold,
                records={k: float(v[j]) for k, v in records.items()},
                timestamp=timestamps[i],
                error_map=None if maps is None or not valid else maps[j],
                valid=valid,
                box=regions[j].box if self.region is not None and regions[j] is not None else None,
            )

    def update(self, frame: np.ndarray, timestamp: float | None = None) -> FrameResult | None:
        """Score one frame; None while the history is shorter than F frames."""
        t0 = time.perf_counter()
        result = self.process([frame], [timestamp])[0]
        self.last_latency_s = time.perf_counter() - t0
        return result


def _check_live_mode(settings: ScoringSettings) -> None:
    """Refuse the scoring modes a live detector cannot alarm on honestly, in one line each.

    ``records`` has no calibrated threshold of its own (the model file's fused-score table is of
    its full weights); a baseline mode replaces the head's record, which the fusion would then
    weigh in the head's place.
    """
    if settings.mode == "records":
        raise ConfigError("scoring mode 'records' has no calibrated live threshold: calibrate the model with "
                          "--set scoring.weights.region=0 --set scoring.honest=fusion instead")
    if settings.mode in REGION_MODES and settings.mode != HEAD_MODE and settings.weights.region != 0.0:
        raise ConfigError(f"scoring mode {settings.mode!r} alarms on a baseline, but the fusion weighs the region head's "
                          "record (scoring.weights.region); set scoring.weights.region=0 or use scoring mode region")


def _flow_backend(flow: str | FlowBackend, preset: str) -> FlowBackend:
    """A ready flow backend, or one built by name (the DIS preset applies to ``dis`` only)."""
    if isinstance(flow, FlowBackend):
        return flow
    return get_flow_backend(flow, **({"preset": preset} if flow == "dis" else {}))
