"""The scoring settings of a model file: one object that test, detect, calibrate and export read.

A model file holds the fusion weights and the smoothing twice over: as asked for in the training
settings (``train_config.scoring``) and as the calibration's fused-score table was built with
(``calibration.fused``), whose quantiles give the alarm thresholds. :func:`scoring_settings` is the
one reader: the calibration's settings when it has a fused table (the thresholds belong to them),
else the training settings, else the defaults. ``ammcnet calibrate`` rewrites both together.

>>> s = scoring_settings({"scoring": {"weights": {"rgb_commit": 0.0}}}, None)
>>> s.weights.rgb_commit, s.smoothing.sigma
(0.0, 3.0)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ammcnet.scoring.fusion import FusionWeights, Smoothing


@dataclass(frozen=True)
class ScoringSettings:
    """How the records of a model become one honest score.

    Attributes:
        weights: fusion weights of the z-scored records.
        smoothing: temporal smoothing of the fused score (offline; the detector uses its causal half).
    """

    weights: FusionWeights
    smoothing: Smoothing

    def to_dict(self) -> dict[str, Any]:
        return {"weights": self.weights.to_dict(), "smoothing": self.smoothing.to_dict()}


def scoring_settings(train_config: Mapping[str, Any] | None, calibration: Mapping[str, Any] | None) -> ScoringSettings:
    """The scoring settings of a model file (see the module docstring for the order)."""
    fused = (calibration or {}).get("fused") or {}
    if fused.get("weights") is not None:
        return ScoringSettings(FusionWeights.from_dict(fused.get("weights")), Smoothing.from_dict(fused.get("smoothing")))
    sc = (train_config or {}).get("scoring") or {}
    return ScoringSettings(FusionWeights.from_dict(sc.get("weights")), Smoothing.from_dict(sc.get("smoothing")))
