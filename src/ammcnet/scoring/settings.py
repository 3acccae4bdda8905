"""The scoring settings of a model file: one object that test, detect, calibrate and export read.

A model file holds the fusion weights, the smoothing and the choice of honest score once: in its
training settings (``train_config.scoring``), which ``ammcnet calibrate`` rewrites together with the
calibration. The calibration's fused-score tables (whose quantiles give the alarm thresholds) keep
only a fingerprint of the settings they were built with; :func:`scoring_settings` is the one
reader and refuses a file whose two disagree (edited by hand), since its thresholds would be wrong.
Files written before this kept a copy of the weights in the calibration; for them that copy wins,
as it did then.

>>> s = scoring_settings({"scoring": {"weights": {"rgb_commit": 0.0}}}, None)
>>> s.weights.rgb_commit, s.smoothing.sigma
(0.0, 3.0)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ammcnet.errors import ConfigError
from ammcnet.scoring.calibration import table_fingerprint
from ammcnet.scoring.fusion import FusionWeights, Smoothing, settings_fingerprint
from ammcnet.scoring.region_head import RegionHeadComponent

#: Which honest score is the default: the region head (when the model file has one) or the
#: calibrated fusion of the weighted records (``fusion``; ``frame_mean`` is its older name, from
#: when every fused record was a frame mean). Both are always reported by ``ammcnet test``.
HONEST_SCORES: tuple[str, ...] = ("region", "fusion", "frame_mean")
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

    def needs_region_head(self, scorer_components: Any) -> bool:
        """Whether the region head must score: it gives the honest score, or the fusion weighs its record."""
        return REGION_HEAD in scorer_components and (self.honest == "region" or self.weights.region != 0.0)


def scoring_settings(train_config: Mapping[str, Any] | None, calibration: Mapping[str, Any] | None) -> ScoringSettings:
    """The scoring settings of a model file (see the module docstring)."""
    sc = (train_config or {}).get("scoring") or {}
    honest = str(sc.get("honest", "region"))
    if honest not in HONEST_SCORES:
        raise ConfigError(f"scoring.honest={honest!r}: choose one of {', '.join(HONEST_SCORES)}")
    table = (calibration or {}).get("fused") or {}
    if table.get("weights") is not None:  # a file written before the settings were stored once
        return ScoringSettings(FusionWeights.from_dict(table["weights"]), Smoothing.from_dict(table.get("smoothing")), honest)
    settings = ScoringSettings(FusionWeights.from_dict(sc.get("weights")), Smoothing.from_dict(sc.get("smoothing")), honest)
    if table and table_fingerprint(table) != settings_fingerprint(settings.weights, settings.smoothing):
        raise ConfigError(
            f"the scoring settings {settings.weights.to_dict()} / {settings.smoothing.to_dict()} are not those the model "
            "file's calibration was built with (edited by hand?): recalibrate with ammcnet calibrate RUN TRAINING_DATA"
        )
    return settings
