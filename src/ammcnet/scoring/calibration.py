"""Calibration: statistics of every score record on held-out normal clips.

The honest protocol normalises each record with these statistics instead of the test video's own
min and max (which needs the whole test video, and the paper's weights need the test labels).
A calibration is a plain JSON-able dict stored in the model file::

    {"format": "ammcnet-calibration/1", "num_frames": 480, "num_videos": 2,
     "records": {"rgb_psnr": {"mean": .., "std": .., "min": .., "max": ..,
                              "quantiles": {"0.5": .., "0.9": .., "0.99": .., "0.999": ..}}, ...},
     "fused": {"settings": "3f0c..", "causal": false, "mean": .., "std": ..,
               "levels": [...], "values": [...]},       # quantile table of the fused score
     "fused_causal": {...},                              # the same, smoothed causally (online alarms)
     "thresholds": {"0.05": .., "0.01": .., "0.001": ..}} # alarm threshold per false-alarm rate

The fusion weights and smoothing are not stored here: the model file holds them once, in its
training settings (``train_config.scoring``, read by :func:`ammcnet.scoring.settings.scoring_settings`).
A table keeps only their fingerprint (:func:`~ammcnet.scoring.fusion.settings_fingerprint`), so
thresholds asked for with other settings are refused instead of being wrong. (Files written before
kept a copy of the weights and smoothing in each table; they still load.)

Readers take the stored dict or :class:`Calibration`, its typed view (what
:func:`ammcnet.scoring.model_file.read_model_file` gives); both are the same data.

>>> import numpy as np
>>> cal = calibration_from_records([{"rgb_psnr": np.linspace(20, 40, 101)}])
>>> round(cal["records"]["rgb_psnr"]["mean"], 6), abs(round(threshold_for_fpr(cal, 0.5), 6))
(30.0, 0.0)
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np

from ammcnet.errors import ConfigError, DataError
from ammcnet.scoring.fusion import (
    FusionWeights,
    Smoothing,
    fuse_records,
    record_stats,
    settings_fingerprint,
    smooth,
)
from ammcnet.scoring.inference import score_clips
from ammcnet.scoring.region_head import RECORD as REGION_RECORD
from ammcnet.scoring.scorer import Scorer

FORMAT = "ammcnet-calibration/1"
#: Quantiles stored per record.
RECORD_QUANTILES: tuple[float, ...] = (0.5, 0.9, 0.99, 0.999)
#: False-alarm rates whose alarm thresholds are stored ready to use.
STORED_FPRS: tuple[float, ...] = (0.05, 0.01, 0.001)
#: Levels of the fused-score quantile table (dense, plus a geometric tail for small rates).
FUSED_LEVELS: np.ndarray = np.unique(np.concatenate([np.linspace(0.0, 1.0, 201), 1.0 - np.geomspace(1e-2, 1e-5, 16)]))


@dataclass(frozen=True, eq=False)
class Calibration(Mapping[str, Any]):
    """A model file's calibration, typed: the stored dict (written back unchanged by
    :meth:`to_dict`) with accessors for what its readers ask of it (a record's statistics, the
    fused-score tables, the alarm thresholds), so no caller digs through nested keys by hand.

    It is a read-only mapping of the stored dict too, so every function that takes a calibration
    (:data:`CalibrationLike`) accepts it or a plain dict alike.

    >>> cal = Calibration.from_dict(calibration_from_records([{"rgb_psnr": np.linspace(20, 40, 101)}]))
    >>> cal.record_names, cal.num_frames, round(cal.record_stats("rgb_psnr")[0], 6)
    (('rgb_psnr',), 101, 30.0)
    >>> Calibration.from_dict(cal.to_dict()) == cal, cal.threshold(0.01) == cal.stored_thresholds[0.01]
    (True, True)
    """

    data: Mapping[str, Any]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        """Wrap a calibration as stored in a model file (a copy; the dict itself is not changed)."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"a calibration is a mapping of statistics, got {type(data).__name__}")
        return cls(copy.deepcopy(dict(data)))

    @classmethod
    def of(cls, data: CalibrationLike | None) -> Calibration | None:
        """``data`` typed: a :class:`Calibration` as is, a stored dict wrapped, None (no calibration) kept."""
        return data if data is None or isinstance(data, Calibration) else cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """The plain JSON-able dict, in the stored format (the module docstring)."""
        return copy.deepcopy(dict(self.data))

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    @property
    def has_records(self) -> bool:
        """Whether it holds record statistics (the honest protocol z-scores the records with them)."""
        return bool(self.data.get("records"))

    @property
    def record_names(self) -> tuple[str, ...]:
        """The records it holds statistics of."""
        return tuple(self.data.get("records") or ())

    @property
    def num_frames(self) -> int | None:
        """How many normal frames it was measured on (None in hand-made calibrations)."""
        n = self.data.get("num_frames")
        return None if n is None else int(n)

    def record_stats(self, name: str) -> tuple[float, float]:
        """(mean, std) that z-score the record ``name`` (:func:`ammcnet.scoring.fusion.record_stats`)."""
        return record_stats(self, name)

    def fused_table(self, causal: bool | None = None) -> dict[str, Any] | None:
        """The fused-score table smoothed causally (online) or centred (offline), if any (:func:`fused_table`)."""
        return fused_table(self, causal)

    def threshold(self, fpr: float = 0.01, weights: FusionWeights | None = None,
                  smoothing: Smoothing | None = None) -> float:
        """The alarm threshold for false-alarm rate ``fpr`` (:func:`threshold_for_fpr`)."""
        return threshold_for_fpr(self, fpr, weights, smoothing)

    @property
    def stored_thresholds(self) -> dict[float, float]:
        """The thresholds stored ready to use, by false-alarm rate (:data:`STORED_FPRS`)."""
        return {float(k): float(v) for k, v in (self.data.get("thresholds") or {}).items()}


#: What the functions that read a calibration take: the stored dict or its typed view.
CalibrationLike: TypeAlias = Calibration | Mapping[str, Any]


def summarise(values: np.ndarray) -> dict[str, Any]:
    """Mean, std, min, max and :data:`RECORD_QUANTILES` of a 1-D array, as plain floats."""
    v = np.asarray(values, np.float64).ravel()
    if v.size == 0:
        raise DataError("no normal frames to calibrate on: give calibrate() at least one clip")
    if not np.isfinite(v).all():
        raise DataError("non-finite scores on the calibration clips: the model's predictions are not finite")
    return {
        "mean": float(v.mean()),
        "std": float(v.std()),
        "min": float(v.min()),
        "max": float(v.max()),
        "quantiles": {str(q): float(np.quantile(v, q)) for q in RECORD_QUANTILES},
    }


def calibration_from_records(
    videos: Sequence[Mapping[str, np.ndarray]],
    weights: FusionWeights | None = None,
    smoothing: Smoothing | None = None,
) -> dict[str, Any]:
    """Build a calibration from per-frame records of normal clips.

    Args:
        videos: one mapping record -> (n,) values per normal video, in frame order (only scored
            frames; no warm-up copies).
        weights: fusion weights whose fused-score distribution and thresholds are stored.
        smoothing: smoothing applied (within each video) before the fused quantiles are taken.

    Returns:
        The JSON-able calibration dict described in the module docstring.
    """
    weights = weights or FusionWeights()
    smoothing = smoothing or Smoothing()
    videos = [v for v in videos if len(next(iter(v.values()), []))]
    if not videos:
        raise DataError("no normal frames to calibrate on: give calibrate() at least one clip")
    names = [n for n in videos[0] if all(n in v for v in videos)]
    pooled = {n: np.concatenate([np.asarray(v[n], np.float64) for v in videos]) for n in names}
    cal: dict[str, Any] = {
        "format": FORMAT,
        "num_frames": int(len(next(iter(pooled.values())))),
        "num_videos": len(videos),
        "records": {n: summarise(pooled[n]) for n in names},
    }
    raw = [fuse_records(v, cal, weights) for v in videos]
    cal["fused"] = _fused_table(raw, weights, smoothing)
    if not smoothing.causal:
        # the online detector smooths causally: its alarm threshold needs the causal table
        cal["fused_causal"] = _fused_table(raw, weights, smoothing.causal_copy())
    cal["thresholds"] = {str(f): threshold_for_fpr(cal, f) for f in STORED_FPRS}
    return cal


def _fused_table(raw: Sequence[np.ndarray], weights: FusionWeights, smoothing: Smoothing) -> dict[str, Any]:
    """Quantile table of the smoothed fused score over normal videos (smoothed within each)."""
    fused = np.concatenate([smooth(r, smoothing) for r in raw])
    return {
        "settings": settings_fingerprint(weights, smoothing),
        "causal": bool(smoothing.causal),
        "mean": float(fused.mean()),
        "std": float(fused.std()),
        "levels": [float(x) for x in FUSED_LEVELS],
        "values": [float(x) for x in np.quantile(fused, FUSED_LEVELS)],
    }


def table_fingerprint(table: Mapping[str, Any]) -> str:
    """The settings fingerprint of a fused-score table (computed from the copy older files kept)."""
    if "settings" in table:
        return str(table["settings"])
    return settings_fingerprint(FusionWeights.from_dict(table.get("weights")), Smoothing.from_dict(table.get("smoothing")))


def table_is_causal(table: Mapping[str, Any]) -> bool:
    """Whether a fused-score table was smoothed causally (the online detector's smoothing)."""
    return bool(table.get("causal", (table.get("smoothing") or {}).get("causal", False)))


def fused_table(calibration: CalibrationLike | None, causal: bool | None = None) -> dict[str, Any] | None:
    """The calibration's fused-score table with causal (online) or centred (offline) smoothing, if any
    (``causal=None``: the main table, whichever smoothing it was built with)."""
    for key in (("fused_causal", "fused") if causal else ("fused",)):
        table = (calibration or {}).get(key)
        if isinstance(table, Mapping) and "levels" in table and causal in (None, table_is_causal(table)):
            return dict(table)
    return None


def threshold_for_fpr(
    calibration: CalibrationLike,
    fpr: float = 0.01,
    weights: FusionWeights | None = None,
    smoothing: Smoothing | None = None,
) -> float:
    """Alarm threshold on the honest score that normal frames exceed with rate ``fpr``.

    It is the (1 - fpr) quantile of the fused score on the calibration's normal clips, read
    from the stored quantile table (linear interpolation). With few calibration frames, rates
    below 1 / num_frames are extrapolated only as far as the largest normal score.

    Args:
        calibration: a dict from :func:`calibration_from_records` / :func:`calibrate`.
        fpr: target false-alarm rate per frame, in (0, 1).
        weights, smoothing: the fusion the threshold is for (the defaults stand in for one not
            given). A causal ``smoothing`` reads the causal table. When either is given it must be
            the fusion the table was built with: the threshold of another would be meaningless.
    """
    if not 0.0 < fpr < 1.0:
        raise ConfigError(f"false-alarm rate must be in (0, 1), got {fpr}")
    causal = None if smoothing is None else smoothing.causal
    table = fused_table(calibration, causal) if calibration else None
    if table is None:
        what = "causally smoothed " if causal else ""
        raise ConfigError(
            f"the calibration has no {what}fused-score table: run ammcnet calibrate RUN DATA to get alarm thresholds"
        )
    if weights is not None or smoothing is not None:
        asked_w, asked_s = weights or FusionWeights(), smoothing or Smoothing()
        if settings_fingerprint(asked_w, asked_s) != table_fingerprint(table):
            raise ConfigError(
                f"fusion weights {asked_w.to_dict()} with smoothing {asked_s.to_dict()} differ from the settings the "
                "calibration was built with: recalibrate with them (ammcnet calibrate RUN DATA --set scoring.weights.NAME=VALUE)"
            )
    return table_threshold(table, fpr)


def table_threshold(table: Mapping[str, Any], fpr: float) -> float:
    """The (1 - ``fpr``) quantile read from a fused-score table (linear interpolation)."""
    if not 0.0 < fpr < 1.0:
        raise ConfigError(f"false-alarm rate must be in (0, 1), got {fpr}")
    return float(np.interp(1.0 - fpr, table["levels"], table["values"]))


def calibrate(
    model: Any,
    clip_dataset: Any,
    *,
    batch_size: int = 16,
    device: str = "cpu",
    weights: FusionWeights | None = None,
    smoothing: Smoothing | None = None,
    progress: bool = False,
    scorer: Scorer | None = None,
) -> dict[str, Any]:
    """Score held-out normal clips and summarise every record (see the module docstring).

    Args:
        model: an ``AMMCNet`` (put in eval mode here; BN and the memory are frozen).
        clip_dataset: a ``ClipDataset`` of normal clips (e.g. the training run's validation videos).
        batch_size: inference batch size (does not change any value).
        device: torch device string.
        weights, smoothing: the fusion used for the stored fused-score table and thresholds.
        progress: show a tqdm bar.
        scorer: the model's scorer (its fitted components); default: the plain records.

    Returns:
        The JSON-able calibration dict.
    """
    index, records = score_clips(model, clip_dataset, scorer=scorer, batch_size=batch_size, device=device,
                                 progress=progress)
    # a component record with no honest value on these clips (the region head fitted on other
    # videos than them gives NaN, never an in-sample score) is left out, as if absent
    records = {k: v for k, v in records.items() if not np.isnan(v).all()}
    if weights is not None and weights.region != 0.0 and REGION_RECORD not in records:
        raise DataError(
            "scoring.weights.region is set but the region head's record cannot be calibrated: the model has no "
            "region head fitted on these training videos (scoring.region_head: true fits one; ammcnet calibrate "
            "RUN TRAINING_DATA refits it), or set scoring.weights.region=0"
        )
    videos = []
    for v in np.unique(index[:, 0]):
        rows = np.flatnonzero(index[:, 0] == v)
        rows = rows[np.argsort(index[rows, 1], kind="stable")]
        videos.append({name: values[rows] for name, values in records.items()})
    return calibration_from_records(videos, weights, smoothing)
