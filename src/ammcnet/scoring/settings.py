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
from ammcnet.scoring.region_head import BASELINE_PARTS, HEAD_MODE, RegionHeadComponent

#: The scoring modes, any of which can be the honest score (``scoring.honest``, or ``ammcnet
#: test --score``): the region head (``region``, when the model file has one); the calibrated
#: fusion of the weighted records (``fusion``, which may weigh the head's record); AMMC-Net's
#: records alone (``records``: the fusion with the head's weight at 0); and the training-free
#: baselines fitted beside the head (``max-speed``, ``per-position``). ``ammcnet test`` reports
#: every mode the model file can give.
SCORING_MODES: tuple[str, ...] = (HEAD_MODE, "fusion", "records", *BASELINE_PARTS)
#: Older names still read from model files: ``frame_mean`` is ``fusion``, from when every fused
#: record was a frame mean.
MODE_ALIASES: dict[str, str] = {"frame_mean": "fusion"}
#: Every accepted value of ``scoring.honest``.
HONEST_SCORES: tuple[str, ...] = (*SCORING_MODES, *MODE_ALIASES)
#: The modes whose score is one of the region component's heads.
REGION_MODES: tuple[str, ...] = (HEAD_MODE, *BASELINE_PARTS)
REGION_HEAD = RegionHeadComponent.component


def scoring_mode(name: str) -> str:
    """The canonical scoring mode of ``name`` (an alias resolved), or a one-line error naming the modes.

    >>> scoring_mode("frame_mean"), scoring_mode("max-speed")
    ('fusion', 'max-speed')
    """
    mode = MODE_ALIASES.get(name, name)
    if mode not in SCORING_MODES:
        raise ConfigError(f"scoring mode {name!r}: choose one of {', '.join(SCORING_MODES)}")
    return mode


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

    @property
    def mode(self) -> str:
        """The canonical scoring mode of :attr:`honest`."""
        return scoring_mode(self.honest)

    def uses_region_head(self, scorer_components: Any) -> bool:
        """Whether one of the region component's heads (the head or a baseline) gives the honest
        score: asked for, and present in the model file."""
        return self.mode in REGION_MODES and REGION_HEAD in scorer_components

    def needs_region_head(self, scorer_components: Any) -> bool:
        """Whether the region component must score: it gives the honest score, or the fusion weighs its record."""
        return REGION_HEAD in scorer_components and (self.mode in REGION_MODES or self.weights.region != 0.0)


def scoring_settings(train_config: Mapping[str, Any] | None, calibration: Mapping[str, Any] | None) -> ScoringSettings:
    """The scoring settings of a model file (see the module docstring)."""
    sc = (train_config or {}).get("scoring") or {}
    honest = str(sc.get("honest", "region"))
    if honest not in HONEST_SCORES:
        raise ConfigError(f"scoring.honest={honest!r}: choose one of {', '.join(SCORING_MODES)}")
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
