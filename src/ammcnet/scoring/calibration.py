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

>>> import numpy as np
>>> cal = calibration_from_records([{"rgb_psnr": np.linspace(20, 40, 101)}])
>>> round(cal["records"]["rgb_psnr"]["mean"], 6), abs(round(threshold_for_fpr(cal, 0.5), 6))
(30.0, 0.0)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ammcnet.errors import ConfigError, DataError
from ammcnet.scoring.fusion import FusionWeights, Smoothing, fuse_records, settings_fingerprint, smooth
from ammcnet.scoring.inference import score_clips
from ammcnet.scoring.region_head import RECORD as REGION_RECORD
from ammcnet.scoring.region_head import RegionHeadComponent
from ammcnet.scoring.scorer import Scorer

FORMAT = "ammcnet-calibration/1"
#: Quantiles stored per record.
RECORD_QUANTILES: tuple[float, ...] = (0.5, 0.9, 0.99, 0.999)
#: False-alarm rates whose alarm thresholds are stored ready to use.
STORED_FPRS: tuple[float, ...] = (0.05, 0.01, 0.001)
#: Levels of the fused-score quantile table (dense, plus a geometric tail for small rates).
FUSED_LEVELS: np.ndarray = np.unique(np.concatenate([np.linspace(0.0, 1.0, 201), 1.0 - np.geomspace(1e-2, 1e-5, 16)]))


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
        causal = Smoothing(sigma=smoothing.sigma, causal=True, truncate=smoothing.truncate)
        cal["fused_causal"] = _fused_table(raw, weights, causal)
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


def fused_table(calibration: Mapping[str, Any] | None, causal: bool | None = None) -> dict[str, Any] | None:
    """The calibration's fused-score table with causal (online) or centred (offline) smoothing, if any
    (``causal=None``: the main table, whichever smoothing it was built with)."""
    for key in (("fused_causal", "fused") if causal else ("fused",)):
        table = (calibration or {}).get(key)
        if isinstance(table, Mapping) and "levels" in table and causal in (None, table_is_causal(table)):
            return dict(table)
    return None


def threshold_for_fpr(
    calibration: Mapping[str, Any],
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
    records.update(_held_out_component_records(scorer, clip_dataset, index))
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


def _held_out_component_records(scorer: Scorer | None, clip_dataset: Any, index: np.ndarray) -> dict[str, np.ndarray]:
    """Records of scorer components that score the source footage rather than the clips (the region
    head), at the calibration clips' frames, from the component's own held-out normal scores."""
    name = RegionHeadComponent.component
    component = scorer.components[name] if scorer is not None and name in scorer.components else None
    num_frames = getattr(clip_dataset, "num_frames", None)
    if component is None or num_frames is None or getattr(clip_dataset, "split", "train") != "train":
        return {}
    values = component.held_out_record(index, num_frames)
    return {} if values is None else {REGION_RECORD: values}
