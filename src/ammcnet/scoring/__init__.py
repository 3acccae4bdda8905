"""Scoring: per-frame records of test videos, calibration on normal clips, honest fusion, plots.

>>> from ammcnet.scoring import FusionWeights, fuse_frame
>>> cal = {"records": {"rgb_psnr": {"mean": 30.0, "std": 2.0}}}
>>> fuse_frame({"rgb_psnr": 34.0}, cal, FusionWeights())
-2.0
"""

from ammcnet.scoring.calibration import Calibration, calibrate, calibration_from_records, threshold_for_fpr
from ammcnet.scoring.fusion import (
    RECORDS,
    CausalSmoother,
    FusionWeights,
    Smoothing,
    fuse_frame,
    fuse_records,
    fused_scores,
    smooth,
)
from ammcnet.scoring.inference import ScoreResult, score_clips, score_prepared

__all__ = [
    "RECORDS",
    "Calibration",
    "CausalSmoother",
    "FusionWeights",
    "ScoreResult",
    "Smoothing",
    "calibrate",
    "calibration_from_records",
    "fuse_frame",
    "fuse_records",
    "fused_scores",
    "score_clips",
    "score_prepared",
    "smooth",
    "threshold_for_fpr",
]
