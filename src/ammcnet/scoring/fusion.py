"""Honest fusion: per-frame records -> one anomaly score, without looking at test labels.

Each record is z-scored with statistics measured on held-out *normal* clips (the calibration),
signed so that high means anomalous, and summed with weights fixed before testing:

    anomaly = w_psnr * -(psnr - mu) / sd + w_commit * (commit - mu) / sd
              + w_flow * (flow_error - mu) / sd + w_flow_commit * (flow_commit - mu) / sd

then smoothed in time within each video by a fixed Gaussian (sigma 3 frames), or its causal
half for online use. The default weights were fixed a priori: the two prediction errors count
equally (appearance PSNR and motion error, the two signals the method is built on), the two
commitment errors get 0.1 each because the authors' own numbers show commitment alone is a weak
detector (Ped2 64 % AUC, Avenue below chance) that only helps as a correction.

The per-frame rule :func:`fuse_frame` and the offline :func:`fused_scores` share one
implementation (:func:`fuse_records`), so an online detector and ``ammcnet test`` agree exactly.
The fused score is one scoring mode among several (``scoring.honest``); when the model file has a
region head, the default honest score is the head's, not this fusion
(:mod:`ammcnet.scoring.settings`).

>>> import numpy as np
>>> cal = {"records": {"rgb_psnr": {"mean": 30.0, "std": 2.0}}}
>>> fuse_frame({"rgb_psnr": 26.0}, cal, FusionWeights())
2.0
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.ndimage import correlate1d

from ammcnet.errors import ConfigError
from ammcnet.metrics.scorefile import load_score_file
from ammcnet.scoring.scorer import record_spec, registered_records

if TYPE_CHECKING:  # the calibration module builds on this one
    from ammcnet.scoring.calibration import CalibrationLike

#: The built-in records written by ``ammcnet test``, in file order (the scorer's registry holds
#: them and any record registered later: :func:`ammcnet.scoring.scorer.registered_records`).
RECORDS: tuple[str, ...] = registered_records()
#: Smallest standard deviation used to z-score a record (guards constant calibration records).
MIN_STD = 1e-6
#: Smallest standard deviation relative to the record's mean magnitude. A calibration from a few
#: near-identical frames (a short clip of a still scene) can have a tiny spread, which would blow
#: every later deviation up into a huge z-score and an alarm on every frame; a floor of 5 % of the
#: mean keeps such a calibration usable and does not touch a calibration with a normal spread.
REL_STD_FLOOR = 0.05


def _check_names(cls: type, data: Mapping[str, Any] | None, what: str) -> None:
    """Refuse keys of ``data`` that are not fields of the dataclass ``cls``, naming the allowed ones."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data or {}) - known)
    if unknown:
        raise ConfigError(f"unknown {what} {unknown}; allowed: {sorted(known)}")


#: Weights added after the first model files were written: absent from their fingerprints.
OPTIONAL_WEIGHTS: tuple[str, ...] = ("region", "rgb_error_local")


@dataclass(frozen=True)
class FusionWeights:
    """Weights of the z-scored records in the honest anomaly score (fixed before testing).

    Args:
        rgb_psnr: appearance prediction quality (negated: low PSNR = anomalous).
        rgb_commit: appearance memory commitment error.
        flow_error: motion prediction error against the true target flow.
        flow_commit: motion memory commitment error.
        motion_prior: how unusual the true flow is for where it is (``ammcnet.scoring.motion_prior``;
            not part of AMMC-Net, so 0 unless a preset turns it on).
        region: the region head's score (``ammcnet.scoring.region_head``), z-scored with its
            held-out normal scores at the calibration frames; 0 unless a preset turns it on.
        rgb_error_local: the appearance error map's mean over the window where it is largest.

    The weights after ``motion_prior`` (:data:`OPTIONAL_WEIGHTS`) are left out of :meth:`to_dict`
    while they are 0, so the fingerprint of a fusion that does not use them is the one files
    written before they existed carry.
    """

    rgb_psnr: float = 1.0
    rgb_commit: float = 0.1
    flow_error: float = 1.0
    flow_commit: float = 0.1
    motion_prior: float = 0.0
    region: float = 0.0
    rgb_error_local: float = 0.0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> FusionWeights:
        """Build from a preset's ``scoring.weights`` mapping, rejecting unknown names."""
        _check_names(cls, data, "fusion weight(s)")
        return cls(**{k: float(v) for k, v in (data or {}).items()})

    def to_dict(self) -> dict[str, float]:
        """The weights by record name; an optional weight only when it is not 0."""
        return {k: v for k, v in asdict(self).items() if k not in OPTIONAL_WEIGHTS or v != 0.0}


@dataclass(frozen=True)
class Smoothing:
    """Temporal smoothing of the fused score within each video.

    Args:
        sigma: Gaussian standard deviation in frames (0 turns smoothing off).
        causal: use only the current and past frames (a half Gaussian), for online alarms.
        truncate: kernel radius in standard deviations.
    """

    sigma: float = 3.0
    causal: bool = False
    truncate: float = 3.0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Smoothing:
        _check_names(cls, data, "smoothing option(s)")
        out = cls(**(data or {}))
        if out.sigma < 0 or out.truncate <= 0:
            raise ConfigError(f"smoothing needs sigma >= 0 and truncate > 0, got {out}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def causal_copy(self) -> Smoothing:
        """The same filter with its past half only: what an online score, which cannot wait for
        future frames, is smoothed with (and what its alarm threshold is read for).

        >>> Smoothing(sigma=2.0, truncate=4.0).causal_copy()
        Smoothing(sigma=2.0, causal=True, truncate=4.0)
        """
        return replace(self, causal=True)

    def kernel(self) -> np.ndarray:
        """Normalised filter taps, oldest first for the causal kernel (last tap = current frame)."""
        if self.sigma <= 0:
            return np.ones(1)
        radius = int(self.truncate * self.sigma + 0.5)
        k = np.arange(-radius, radius + 1, dtype=np.float64)
        if self.causal:
            k = k[k <= 0]
        taps = np.exp(-0.5 * (k / self.sigma) ** 2)
        return taps / taps.sum()


def settings_fingerprint(weights: FusionWeights, smoothing: Smoothing) -> str:
    """A short digest of a fusion: what a calibration's fused-score table records of the settings it
    was built with, so that the settings themselves are stored once (``train_config.scoring``) and a
    table built with other settings is caught instead of giving wrong thresholds.

    >>> settings_fingerprint(FusionWeights(), Smoothing()) == settings_fingerprint(FusionWeights(), Smoothing())
    True
    >>> settings_fingerprint(FusionWeights(), Smoothing(sigma=2.0)) == settings_fingerprint(FusionWeights(), Smoothing())
    False
    """
    text = json.dumps({"weights": weights.to_dict(), "smoothing": smoothing.to_dict()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def record_stats(calibration: CalibrationLike, name: str) -> tuple[float, float]:
    """(mean, std) of one record in a calibration, with a clear error when it is absent."""
    try:
        stats = calibration["records"][name]
        mean = float(stats["mean"])
        return mean, max(float(stats["std"]), REL_STD_FLOOR * abs(mean), MIN_STD)
    except (KeyError, TypeError):
        raise ConfigError(
            f"the calibration has no statistics for record {name!r}: re-run calibration "
            "(ammcnet calibrate RUN TRAINING_DATA) with a model that produces it, or set its weight to 0"
        ) from None


def fuse_records(
    records: Mapping[str, np.ndarray | float], calibration: CalibrationLike, weights: FusionWeights
) -> np.ndarray:
    """Fused anomaly score (high = anomalous) of aligned record arrays, before smoothing.

    Records missing from ``records`` (e.g. the motion records of an appearance-only model)
    contribute nothing; a weighted record missing from the calibration is an error.
    """
    total: np.ndarray | None = None
    for name, w in weights.to_dict().items():
        if w == 0.0 or name not in records:
            continue
        mean, std = record_stats(calibration, name)
        z = (np.asarray(records[name], np.float64) - mean) / std
        spec = record_spec(name)
        term = (-w if spec is not None and spec.high_is_normal else w) * z
        total = term if total is None else total + term
    if total is None:
        raise ConfigError(
            f"no weighted record present: records {sorted(records)}, weights {weights.to_dict()}; give a record a non-zero weight"
        )
    return total


def fuse_frame(
    records_of_one_frame: Mapping[str, float], calibration: CalibrationLike, weights: FusionWeights
) -> float:
    """Fused anomaly score of one frame (the online detector's per-frame rule)."""
    arrays = {k: np.asarray([v], np.float64) for k, v in records_of_one_frame.items()}
    return float(fuse_records(arrays, calibration, weights)[0])


def smooth(scores: np.ndarray, smoothing: Smoothing) -> np.ndarray:
    """Smooth one video's scores; edges repeat the first/last value ('nearest' padding)."""
    scores = np.asarray(scores, np.float64)
    taps = smoothing.kernel()
    if len(taps) == 1 or len(scores) == 0:
        return scores.copy()
    if smoothing.causal:
        # one dot product per frame, exactly what CausalSmoother.update computes online
        padded = np.concatenate([np.full(len(taps) - 1, scores[0]), scores])
        windows = np.lib.stride_tricks.sliding_window_view(padded, len(taps))
        return np.array([np.dot(w, taps) for w in windows])
    return correlate1d(scores, taps, mode="nearest")


class CausalSmoother:
    """Streaming form of ``smooth(..., Smoothing(causal=True))``: same numbers, one frame at a time.

    >>> s = CausalSmoother(Smoothing(sigma=1.0, causal=True))
    >>> [round(s.update(x), 3) for x in (0.0, 0.0, 1.0)]
    [0.0, 0.0, 0.57]
    """

    def __init__(self, smoothing: Smoothing) -> None:
        if not smoothing.causal and smoothing.sigma > 0:
            raise ConfigError("online smoothing must be causal: use Smoothing(causal=True)")
        self.taps = smoothing.kernel()
        self.buffer: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the history (call at a new video or after a cut)."""
        self.buffer = None

    def update(self, value: float) -> float:
        if self.buffer is None:
            self.buffer = np.full(len(self.taps), float(value))
        else:
            self.buffer = np.roll(self.buffer, -1)
            self.buffer[-1] = float(value)
        return float(np.dot(self.buffer, self.taps))


def fused_scores(
    score_file_or_records: Any,
    calibration: CalibrationLike | None,
    weights: FusionWeights | Mapping[str, float] | None = None,
    smoothing: Smoothing | Mapping[str, Any] | None = None,
) -> list[np.ndarray]:
    """Per-video calibrated fusion of the records, smoothed: the ``fusion`` scoring mode (no test
    label is used). It is the honest score only when the settings choose that mode (``honest:
    fusion``, or ``region`` without a region head); ``ammcnet test`` picks the mode.

    Args:
        score_file_or_records: a path to a score file, a loaded ``ScoreFile``, a
            :class:`~ammcnet.scoring.ScoreResult`, or a mapping record -> list of per-video arrays.
        calibration: the model's calibration (``ModelFile.calibration``, or the stored dict).
        weights: fusion weights (default :class:`FusionWeights`).
        smoothing: temporal smoothing (default :class:`Smoothing`).

    Returns:
        One float64 array per video, same lengths as the records, high = anomalous.
    """
    if not calibration or "records" not in calibration:
        raise ConfigError(
            "no calibration statistics: the honest protocol z-scores each record with statistics of normal "
            "clips stored in the model file; calibrate the model (ammcnet calibrate RUN TRAINING_DATA; training does it) "
            "or use the paper protocol"
        )
    records = _as_records(score_file_or_records)
    w = weights if isinstance(weights, FusionWeights) else FusionWeights.from_dict(weights)
    sm = smoothing if isinstance(smoothing, Smoothing) else Smoothing.from_dict(smoothing)
    n_videos = len(next(iter(records.values())))
    out = []
    for v in range(n_videos):
        fused = fuse_records({k: arrs[v] for k, arrs in records.items()}, calibration, w)
        out.append(smooth(fused, sm))
    return out


def _as_records(obj: Any) -> dict[str, Sequence[np.ndarray]]:
    """Accept a path, a ScoreFile/ScoreResult (``.records``) or a plain mapping."""
    if isinstance(obj, Mapping):
        records = dict(obj)
    elif hasattr(obj, "records"):
        records = dict(obj.records)
    else:
        records = dict(load_score_file(obj).records)
    known = {*registered_records(), *(f.name for f in fields(FusionWeights))}  # the region head's record too
    records = {k: v for k, v in records.items() if k in known}
    if not records:
        raise ConfigError(f"no known records in the scores (expected some of {sorted(known)})")
    return records
