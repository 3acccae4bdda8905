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

from ammcnet.errors import ConfigError
from ammcnet.scoring.fusion import FusionWeights, Smoothing
from ammcnet.scoring.region_head import RegionHeadComponent

#: Which honest score is the default: the region head (when the model file has one) or the
#: frame-mean fusion of the calibrated records. Both are always reported by ``ammcnet test``.
HONEST_SCORES: tuple[str, ...] = ("region", "frame_mean")
REGION_HEAD = RegionHeadComponent.component


@dataclass(frozen=True)
class ScoringSettings:
    """How the records of a model become one honest score.

    Attributes:
        weights: fusion weights of the z-scored records.
        smoothing: temporal smoothing of the fused score (offline; the detector uses its causal half).
    """

    weights: FusionWeights
    smoothing: Smoothing
    honest: str = "region"

    def to_dict(self) -> dict[str, Any]:
        return {"weights": self.weights.to_dict(), "smoothing": self.smoothing.to_dict(), "honest": self.honest}

    def uses_region_head(self, scorer_components: Any) -> bool:
        """Whether the region head gives the honest score: asked for, and present in the model file."""
        return self.honest == "region" and REGION_HEAD in scorer_components


def scoring_settings(train_config: Mapping[str, Any] | None, calibration: Mapping[str, Any] | None) -> ScoringSettings:
    """The scoring settings of a model file (see the module docstring for the order)."""
    sc = (train_config or {}).get("scoring") or {}
    honest = str(sc.get("honest", "region"))
    if honest not in HONEST_SCORES:
        raise ConfigError(f"scoring.honest={honest!r}: choose one of {', '.join(HONEST_SCORES)}")
    fused = (calibration or {}).get("fused") or {}
    if fused.get("weights") is not None:
        return ScoringSettings(FusionWeights.from_dict(fused.get("weights")), Smoothing.from_dict(fused.get("smoothing")), honest)
    return ScoringSettings(FusionWeights.from_dict(sc.get("weights")), Smoothing.from_dict(sc.get("smoothing")), honest)
