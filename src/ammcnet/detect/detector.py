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
>>> det = Detector(net, cal, DetectorOptions(size=(32, 32), flow="dis", flow_preset="ultrafast", threshold=1e9))
>>> out = [det.update(np.full((40, 50, 3), 10 * i, np.uint8)) for i in range(5)]
>>> [o is None for o in out], out[-1].index, out[-1].alarm
([True, True, True, True, False], 4, False)
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ammcnet.alarms.budget import BudgetResult, alarm_budget_threshold
from ammcnet.alarms.zones import ZoneConfig, ZoneSet
from ammcnet.data.clips import Clip, ClipBuilder, PreparedFrame, batch_of_clips, resize_frame
from ammcnet.errors import ConfigError
from ammcnet.export.backend import make_backend
from ammcnet.flow import FlowBackend, get_flow_backend
from ammcnet.scoring.calibration import Calibration, CalibrationLike, table_threshold
from ammcnet.scoring.fusion import CausalSmoother, FusionWeights, Smoothing, fuse_records, smooth
from ammcnet.scoring.head_model import HeadModel, open_model
from ammcnet.scoring.region_head import RegionHeadComponent
from ammcnet.scoring.region_input import RegionInput
from ammcnet.scoring.scorer import Scorer
from ammcnet.scoring.settings import HonestScoring, scoring_settings

__all__ = ["Detector", "DetectorOptions", "FrameResult", "resize_frame", "resolve_threshold",
           "settings_from_train_config"]

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


def resolve_threshold(
    calibration: CalibrationLike | None, threshold: str | float | None, fpr: float = 0.01
) -> float | None:
    """``"auto"`` -> the calibrated threshold for false-alarm rate ``fpr``; a number -> itself.

    A quantile table built with causal smoothing (``fused_causal``, :func:`ammcnet.scoring.calibration.fused_table`) is preferred; else the
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
        cal = Calibration.of(calibration)
        table = cal.fused_table(causal=True)  # the online score's own table, when stored
        return cal.threshold(fpr) if table is None else table_threshold(table, fpr)
    return float(threshold)


@dataclass(frozen=True)
class DetectorOptions:
    """How a :class:`Detector` reads a stream, scores and alarms.

    A field left None takes the model file's own value in :meth:`Detector.from_run`, and the
    fallback named below in ``Detector(model, calibration, options)``.

    Attributes:
        size: (H, W) model grid the frames are resized to, multiples of 8 (default None: the
            training grid of the model file; a detector built from a bare model needs it).
        flow: flow backend name (``dis``, ``farneback``) or a ready :class:`FlowBackend` (default
            None: the model file's, else ``dis``).
        flow_preset: DIS preset, ignored by other backends (default None: the model file's, else ``medium``).
        threshold: alarm threshold on the smoothed score: ``"auto"`` (default: calibrated for
            ``fpr``, from the alarm record's own table in a region mode), a number, or None (never alarm).
        fpr: target false-alarm rate per normal frame for ``"auto"`` (default 0.01).
        weights: fusion weights (default None: the model file's, else the calibration's copy, else
            :func:`ammcnet.scoring.settings.scoring_settings`' defaults).
        smoothing: temporal smoothing, made causal (default None: as for ``weights``).
        honest: the scoring mode the alarm follows (:data:`ammcnet.scoring.settings.SCORING_MODES`): a
            region mode (the head's or a baseline's record, when the scorer gives it) or ``fusion``
            (alias ``frame_mean``: the calibrated fusion) (default None: the model file's, else ``region``).
        device: torch device string (default ``cpu``).
        error_maps: also return per-pixel error maps, for the overlay video (default False).
        map_flow_weight: weight of the motion error in the maps (default 0: appearance error only).
    """

    size: tuple[int, int] | None = None
    flow: str | FlowBackend | None = None
    flow_preset: str | None = None
    threshold: str | float | None = "auto"
    fpr: float = 0.01
    weights: FusionWeights | None = None
    smoothing: Smoothing | None = None
    honest: str | None = None
    device: str = "cpu"
    error_maps: bool = False
    map_flow_weight: float = 0.0


class Detector:
    """Score frames one at a time (``update``) or a few at once (``process``).

    Args:
        model: an ``AMMCNet`` or an inference backend (put in eval mode and moved to ``options.device``
            here), or None for a head-only model (``ammcnet fit``): the scorer's region head alone
            scores each frame from the frame before it, with no clip and no network.
        calibration: the calibration stored at training (statistics of every record; the stored dict
            or :class:`~ammcnet.scoring.calibration.Calibration`); None for a head-only model.
        options: grid, flow, threshold, fusion and smoothing (:class:`DetectorOptions`; ``size`` is needed).
        scorer: the model file's scorer (its fitted components, e.g. the motion prior); default a
            plain :class:`~ammcnet.scoring.scorer.Scorer`.
    """

    def __init__(
        self,
        model: Any,
        calibration: CalibrationLike | None,
        options: DetectorOptions = DetectorOptions(),  # noqa: B008 - frozen, never mutated
        *,
        scorer: Scorer | None = None,
    ) -> None:
        if model is not None and (not calibration or "records" not in calibration):
            raise ConfigError(
                "the model has no calibration statistics, so its scores cannot be normalised online; "
                "use a model trained by `ammcnet train` (it calibrates at the end) or calibrate it with ammcnet calibrate RUN TRAINING_DATA"
            )
        self.size = _grid(options.size) if model is not None else None
        self.device = device = options.device
        self.model = model.eval().to(device) if model is not None else None
        self.config = model.config if model is not None else None
        self.calibration = Calibration.of(calibration) if calibration else None
        self.frames_in = int(self.config.frames_in) if model is not None else 1
        self.uses_motion = getattr(model, "motion", None) is not None
        self.scorer = (scorer if scorer is not None else Scorer()).to(device)
        self.flow_backend = (_flow_backend(options.flow or FALLBACK_FLOW[0], options.flow_preset or FALLBACK_FLOW[1])
                             if self.uses_motion else None)
        weights, smoothing = options.weights, options.smoothing
        if weights is None or smoothing is None:  # the calibration's own (files that kept a copy), else the defaults
            defaults = scoring_settings(None, calibration)
            weights, smoothing = weights or defaults.weights, smoothing or defaults.smoothing
        settings = HonestScoring(weights, smoothing, options.honest or "region")
        _check_live_mode(settings, head_only=model is None)
        self.weights = weights
        self.smoothing = smoothing.causal_copy()
        self.threshold = _alarm_threshold(self.calibration, self.scorer, settings, options)
        self.error_maps = options.error_maps
        self.map_flow_weight = float(options.map_flow_weight)
        self.model_path: Path | None = None
        self.last_latency_s: float | None = None
        # only the components whose records the honest score or the fusion reads run live; the
        # clip inputs their records need are computed by the builder (streamed ones beside the model)
        self.scorer = self.scorer.keeping(settings.used_records())
        self.builder: ClipBuilder | None = None
        self.head_stream: Any = None
        if model is not None:
            self.builder = ClipBuilder(self.size, self.frames_in, self.flow_backend, inputs=self.scorer.clip_inputs())
        else:
            self.head_stream = RegionInput(self.scorer.components[RegionHeadComponent.component]).stream()
        #: the record the alarm score smooths (a region mode's), or None for the calibrated fusion
        self.alarm_record = settings.alarm_record if settings.alarm_record in self.scorer.specs_names() else None
        self.reset()

    @classmethod
    def from_run(
        cls,
        run: str | os.PathLike[str],
        options: DetectorOptions | None = None,
        *,
        backend: str = "eager",
        onnx: str | os.PathLike[str] | None = None,
        scorer: Scorer | None = None,
        **overrides: Any,
    ) -> Detector:
        """Build a detector from a run folder or model file (grid, flow, calibration and scorer included).

        Args:
            run: ``RUN`` (holding ``model.pt``) or a model file.
            options: the detector's settings (default ``DetectorOptions()``: threshold ``"auto"``);
                the fields left None take the model file's grid, flow, weights, smoothing and mode.
            backend: ``eager`` (the model as trained), ``torch`` (BatchNorm folded, same scores to
                1e-5) or ``onnx`` (ONNX Runtime on ``onnx``, a graph written by ``ammcnet export``).
            onnx: the ``.onnx`` file for ``backend="onnx"``.
            scorer: instead of the model file's scorer.
            **overrides: fields of :class:`DetectorOptions` that replace those of ``options``
                (``device``, ``threshold``, ``fpr``, ``size``, ``error_maps``, ``honest``...).
        """
        options = replace(options if options is not None else DetectorOptions(), **overrides)
        loaded = open_model(run, map_location=options.device)
        if isinstance(loaded, HeadModel):
            return cls._head_only(loaded, options, backend, scorer)
        size, flow, preset = settings_from_train_config(loaded.train_config)
        stored = loaded.scoring
        own = {"size": size, "flow": flow, "flow_preset": preset, "weights": stored.weights,
               "smoothing": stored.smoothing, "honest": stored.honest}
        options = replace(options, **{k: v for k, v in own.items() if getattr(options, k) is None})
        model: Any = loaded.model
        if backend != "eager":
            model = make_backend(backend, loaded.model, onnx_path=onnx, device=options.device)
        det = cls(model, loaded.calibration, options, scorer=scorer if scorer is not None else loaded.scorer)
        det.model_path = Path(loaded.path)
        return det

    @classmethod
    def _head_only(cls, loaded: HeadModel, options: DetectorOptions, backend: str, scorer: Scorer | None) -> Detector:
        """A detector over a head-only model file (no network: ``backend`` must be the default)."""
        if backend != "eager":
            raise ConfigError(f"--backend {backend}: {loaded.path} is a head-only model (ammcnet fit), with no network "
                              "to run on another backend; leave --backend out")
        stored = loaded.scoring
        own = {"weights": stored.weights, "smoothing": stored.smoothing, "honest": stored.honest}
        options = replace(options, **{k: v for k, v in own.items() if getattr(options, k) is None})
        det = cls(None, None, options, scorer=scorer if scorer is not None else loaded.scorer)
        det.model_path = Path(loaded.path)
        return det

    def reset(self) -> None:
        """Forget the history (a new video, or a cut in the stream)."""
        if self.builder is not None:
            self.builder.reset()
        else:
            self.head_stream.reset()
        self._seen = 0
        self._smoother = CausalSmoother(self.smoothing)
        self._recent: deque[tuple[float, Any]] = deque(maxlen=len(self._smoother.taps))

    @property
    def frames_seen(self) -> int:
        """Frames given to the detector since the last :meth:`reset`."""
        return self.builder.frames_seen if self.builder is not None else self._seen

    def set_zones(self, zones: ZoneConfig | None) -> None:
        """Never score the windows of the region head inside ``zones``' mask polygons.

        Raises:
            ConfigError: a mask without a region mode (the calibrated fusion has no windows).
        """
        if zones is None or not zones.mask:
            return
        if self.alarm_record is None:
            raise ConfigError("mask polygons hide windows of the region head: score in a region mode (the default, "
                              "--set scoring.honest=region) with a model that has a head")
        streams = [self.head_stream] if self.builder is None else list(self.builder.streams.values())
        for stream in streams:
            if hasattr(stream, "set_mask"):
                stream.set_mask(lambda hw, centres: ZoneSet(zones, hw).window_mask(centres))

    def use_alarm_budget(self, per_hour: float, fps: float, min_gap: int, min_frames: int) -> BudgetResult:
        """Set the threshold so that the held-out normal footage opens at most ``per_hour`` events an
        hour at ``fps`` (:func:`ammcnet.alarms.budget.alarm_budget_threshold`); returns what it gives.

        Raises:
            ConfigError: the alarm record keeps no held-out normal scores (the calibrated fusion).
        """
        normal = self.scorer.record_normal_scores(self.alarm_record) if self.alarm_record is not None else None
        if not normal:
            raise ConfigError("--alarms-per-hour reads the region head's held-out normal scores: score in a region mode "
                              "with a model that has a head (ammcnet fit, or train), or use --fpr")
        result = alarm_budget_threshold([smooth(np.asarray(s, np.float64), self.smoothing) for s in normal], fps,
                                        per_hour, min_gap=min_gap, min_frames=min_frames)
        self.threshold = result.threshold
        return result

    def _records(self, clips: list[Clip]) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        """Run the model and the scorer on a batch of clips: records (float64) and optional error maps."""
        batch = batch_of_clips(clips, self.device, self.builder.inputs)
        out, rec = self.scorer.score(self.model, batch)
        maps = None
        if self.error_maps:
            maps = self.scorer.error_maps(batch, out, self.map_flow_weight).float().cpu().numpy()
        boxes = self.scorer.boxes(batch)
        records = {k: v.cpu().numpy() for k, v in rec.items()}
        return records, maps, (None if boxes is None else boxes.cpu().numpy())

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
        if self.builder is None:
            return self._process_head_only(frames, timestamps)
        return self.process_prepared((self.builder.prepare(f) for f in frames), timestamps, len(frames))

    def _process_head_only(self, frames: Sequence[np.ndarray], timestamps: Sequence[float | None] | None
                           ) -> list[FrameResult | None]:
        """:meth:`process` of a head-only model: the head's row of each frame (None for the first
        frame after a reset: it has no flow yet)."""
        timestamps = list(timestamps) if timestamps is not None else [None] * len(frames)
        out: list[FrameResult | None] = []
        for rgb, ts in zip(frames, timestamps, strict=True):
            row = self.head_stream.update(rgb)
            index, self._seen = self._seen, self._seen + 1
            if index < 1:
                out.append(None)
                continue
            records = self.head_stream.records(row)
            box = _box(np.asarray(row[1:5], np.float64)[None], 0)
            out.append(self._verdict(index, records, records[self.alarm_record], box, ts, None))
        return out

    def process_prepared(
        self, items: Iterable[PreparedFrame], timestamps: Sequence[float | None] | None = None,
        count: int | None = None,
    ) -> list[FrameResult | None]:
        """:meth:`process` for frames already resized and with their flows (``ClipBuilder.prepare``
        or :func:`ammcnet.data.clips.prepared_frames` in a producer thread)."""
        clips, slots = [], []
        n = 0
        for i, item in enumerate(items):
            n = i + 1
            clip = self.builder.push(*item)
            if clip is not None:
                clips.append(clip)
                slots.append((i, self.frames_seen - 1))
        n = count if count is not None else n
        timestamps = list(timestamps) if timestamps is not None else [None] * n
        out: list[FrameResult | None] = [None] * n
        if clips:
            self._results(clips, slots, timestamps, out)
        return out

    def _results(self, clips: list, slots: list[tuple[int, int]], timestamps: list, out: list) -> None:
        """Score, fuse and smooth the clips; fill ``out`` at their slots.

        In a region mode the alarm score is that record smoothed (the calibrated fusion is still
        reported as ``fused``; it may weigh the head's record too); the box is where the scorer
        locates each frame's score.
        """
        records, maps, boxes = self._records(clips)
        fused = fuse_records(records, self.calibration, self.weights)
        for j, (i, t) in enumerate(slots):
            out[i] = self._verdict(t, {k: float(v[j]) for k, v in records.items()}, float(fused[j]), _box(boxes, j),
                                   timestamps[i], None if maps is None else maps[j])

    def _verdict(self, index: int, records: dict[str, float], fused: float, box: Any, timestamp: float | None,
                 error_map: np.ndarray | None) -> FrameResult:
        """One frame's result: the alarm record (a region mode's) or the fusion, smoothed causally."""
        valid = bool(np.isfinite(fused)) and all(bool(np.isfinite(v)) for v in records.values())
        alarm_input = records[self.alarm_record] if self.alarm_record is not None else fused
        # a NaN/inf output must neither alarm nor poison the smoother's memory of later frames
        score = self._smoother.update(float(alarm_input)) if valid else float("nan")
        if valid:
            self._recent.append((float(alarm_input), box))
            box = self._dominant_box()
        return FrameResult(index=index, score=score, fused=float(fused),
                           alarm=valid and self.threshold is not None and score > self.threshold,
                           records=records, timestamp=timestamp, error_map=error_map if valid else None,
                           valid=valid, box=box)

    def _dominant_box(self) -> Any:
        """Where the smoothed score comes from: the box of the recent frame that adds most to it,
        so a score still high from a burst a few frames ago points at the burst, not at whatever
        wins the quiet frame now (zones and ``required_zones`` are read from this box)."""
        return _dominant(self._recent, self._smoother.taps)

    def update(self, frame: np.ndarray, timestamp: float | None = None) -> FrameResult | None:
        """Score one frame; None while the history is shorter than F frames."""
        t0 = time.perf_counter()
        result = self.process([frame], [timestamp])[0]
        self.last_latency_s = time.perf_counter() - t0
        return result


def _dominant(recent: Sequence[tuple[float, Any]], taps: np.ndarray) -> Any:
    """The box of the recent frame that adds most to the smoothed score (its tap times its score)."""
    weights = taps[len(taps) - len(recent):]
    best = int(np.argmax([w * r for w, (r, _) in zip(weights, recent, strict=True)]))
    return recent[best][1]


def _box(boxes: np.ndarray | None, j: int) -> tuple[int, int, int, int] | None:
    """Row ``j`` of the scorer's boxes as whole pixels, or None where it has none."""
    if boxes is None or not np.isfinite(boxes[j]).all():
        return None
    x0, y0, x1, y1 = (int(v) for v in boxes[j])
    return x0, y0, x1, y1


def _check_live_mode(settings: HonestScoring, head_only: bool = False) -> None:
    """Refuse the scoring modes a live detector cannot alarm on honestly, in one line each.

    ``records`` has no calibrated threshold of its own (the model file's fused-score table is of
    its full weights); a head-only model has nothing but the head's records.
    """
    if head_only and settings.alarm_record is None:
        raise ConfigError(f"scoring mode {settings.mode!r} needs the network: a head-only model (ammcnet fit) scores in "
                          "the region modes only (region, max-speed, per-position, motion-head); ammcnet train adds the network")
    if settings.mode == "records":
        raise ConfigError("scoring mode 'records' has no calibrated live threshold: calibrate the model with "
                          "--set scoring.weights.region=0 --set scoring.honest=fusion instead")


def _grid(size: Sequence[int] | None) -> tuple[int, int]:
    """``options.size`` as (H, W), checked: positive multiples of 8."""
    if size is None:
        raise ConfigError("DetectorOptions.size is needed to build a Detector from a model "
                          "(Detector.from_run reads the training grid from the model file)")
    h, w = (int(s) for s in size)
    if h % 8 or w % 8 or h <= 0 or w <= 0:
        raise ConfigError(f"detector size {tuple(size)}: height and width must be positive multiples of 8")
    return h, w


def _alarm_threshold(calibration: Calibration | None, scorer: Scorer, settings: HonestScoring,
                     options: DetectorOptions) -> float | None:
    """``options.threshold`` as a number: ``"auto"`` is the threshold for ``options.fpr`` of the alarm
    record's own causal score in a region mode (when the scorer stores one), else of the calibrated
    fusion (:func:`resolve_threshold`)."""
    auto = isinstance(options.threshold, str) and options.threshold.strip().lower() == "auto"
    record = settings.alarm_record
    if auto and record is not None:
        causal = settings.smoothing.causal_copy()
        own = scorer.record_threshold(record, options.fpr, lambda x: smooth(x, causal))
        if own is not None:
            return own
    return resolve_threshold(calibration, options.threshold, options.fpr)


def _flow_backend(flow: str | FlowBackend, preset: str) -> FlowBackend:
    """A ready flow backend, or one built by name (the DIS preset applies to ``dis`` only)."""
    if isinstance(flow, FlowBackend):
        return flow
    return get_flow_backend(flow, **({"preset": preset} if flow == "dis" else {}))
