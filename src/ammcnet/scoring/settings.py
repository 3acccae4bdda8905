"""The scoring settings of a model file: the ``scoring`` section as stored, and what scoring reads of it.

A model file holds the fusion weights, the smoothing and the choice of honest score once: in its
training settings (``train_config.scoring``, validated by :class:`ScoringSettings`), which
``ammcnet calibrate`` rewrites together with the calibration. The calibration's fused-score tables
(whose quantiles give the alarm thresholds) keep only a fingerprint of the settings they were
built with; :func:`scoring_settings` is the one reader of the part that turns records into the
honest score (:class:`HonestScoring`: weights, smoothing, scoring mode) and refuses a file whose
two disagree (edited by hand), since its thresholds would be wrong. Files written before this
kept a copy of the weights in the calibration; for them that copy wins, as it did then.

>>> s = scoring_settings({"scoring": {"weights": {"rgb_commit": 0.0}}}, None)
>>> s.weights.rgb_commit, s.smoothing.sigma
(0.0, 3.0)
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, model_validator

from ammcnet.errors import ConfigError
from ammcnet.regions import RegionHeadConfig
from ammcnet.scoring.calibration import CalibrationLike, table_fingerprint
from ammcnet.scoring.fusion import FusionWeights, Smoothing, settings_fingerprint
from ammcnet.scoring.motion_prior import MotionPriorConfig
from ammcnet.scoring.region_head import BASELINE_PARTS, HEAD_MODE, MODE_RECORDS, MOTION_MODE
from ammcnet.settings import Bool, Int, settings

#: A count of at least one.
AtLeastOne = typing.Annotated[Int, Field(ge=1)]

#: The scoring modes, any of which can be the honest score (``scoring.honest``, or ``ammcnet
#: test --score``): the region head (``region``, when the model file has one); the calibrated
#: fusion of the weighted records (``fusion``, which may weigh the head's record); AMMC-Net's
#: records alone (``records``: the fusion with the head's weight at 0); and the training-free
#: baselines fitted beside the head (``max-speed``, ``per-position``); the head without its
#: appearance part (``motion-head``). ``ammcnet test`` reports every mode the model file can give.
SCORING_MODES: tuple[str, ...] = (HEAD_MODE, "fusion", "records", *BASELINE_PARTS, MOTION_MODE)
#: Older names still read from model files: ``frame_mean`` is ``fusion``, from when every fused
#: record was a frame mean.
MODE_ALIASES: dict[str, str] = {"frame_mean": "fusion"}
#: Every accepted value of ``scoring.honest``.
HONEST_SCORES: tuple[str, ...] = (*SCORING_MODES, *MODE_ALIASES)
#: The modes whose score is one of the region component's heads.
REGION_MODES: tuple[str, ...] = (HEAD_MODE, *BASELINE_PARTS, MOTION_MODE)


def scoring_mode(name: str) -> str:
    """The canonical scoring mode of ``name`` (an alias resolved), or a one-line error naming the modes.

    >>> scoring_mode("frame_mean"), scoring_mode("max-speed")
    ('fusion', 'max-speed')
    """
    mode = MODE_ALIASES.get(name, name)
    if mode not in SCORING_MODES:
        raise ConfigError(f"scoring mode {name!r}: choose one of {', '.join(SCORING_MODES)}")
    return mode


@settings
class ScoringSettings:
    """Scoring defaults stored with the model (the ``scoring`` section of its training settings);
    none is fitted on test labels (those kept or chosen after looking at a test result are listed
    in docs/decisions.md).

    Args:
        weights: weights of the z-scored records in the honest anomaly score, by record name
            (``rgb_psnr``, ``rgb_commit``, ``flow_error``, ``flow_commit``, ``motion_prior``,
            ``region`` (the region head's record), ``rgb_error_local``; see
            :class:`ammcnet.scoring.FusionWeights`). Names left out keep their defaults.
        smoothing: temporal smoothing within each video (``sigma`` frames, ``causal``,
            ``truncate``; see :class:`ammcnet.scoring.Smoothing`).
        batch_size: inference batch size for calibration (changes no score).
        prior: settings of the per-place motion prior fitted at the end of training (``rows``,
            ``static``, ``speed_edges``, ``alpha``, ``share``; see
            :class:`ammcnet.scoring.motion_prior.MotionPriorConfig`).
        region_head: fit the region head (the default honest score, :mod:`ammcnet.regions`) at the
            end of training and in ``ammcnet calibrate``.
        regions: its settings (:class:`ammcnet.regions.RegionHeadConfig`; ``window`` (object-sized)
            and ``weights`` are set on the training split unless ``choose_regions`` is false).
        choose_regions: size the region head's window by the training footage's moving objects
            and choose its parts on the training split alone (held-out training videos and
            synthetic anomalies) before fitting it.
        head_from: a model file whose region head is used as it is instead of fitting one (a
            head-only model from ``ammcnet fit``, taught since: ``ammcnet train`` then adds the
            network to the same camera without losing what was taught); None fits a head.
        honest: the default honest score, one of the scoring modes (:data:`SCORING_MODES`):
            ``region`` (the region head), ``fusion`` (the calibrated fusion of the weighted
            records, which may include the head's; ``frame_mean`` is its older name), ``records``
            (AMMC-Net's records alone), ``max-speed`` or ``per-position`` (the training-free
            baselines fitted beside the head); ``ammcnet test`` reports every mode the model file
            can give.
    """

    weights: FusionWeights = field(default_factory=FusionWeights)
    smoothing: Smoothing = field(default_factory=Smoothing)
    batch_size: AtLeastOne = 16
    prior: MotionPriorConfig = field(default_factory=MotionPriorConfig)
    region_head: Bool = True
    regions: RegionHeadConfig = field(default_factory=RegionHeadConfig)
    choose_regions: Bool = True
    head_from: str | None = None
    honest: Literal["region", "fusion", "records", "max-speed", "per-position", "motion-head", "frame_mean"] = "region"

    @model_validator(mode="after")
    def _smoothing_is_a_filter(self) -> ScoringSettings:
        if self.smoothing.sigma < 0 or self.smoothing.truncate <= 0:
            raise ValueError(f"scoring.smoothing needs sigma >= 0 and truncate > 0, got {self.smoothing}")
        if self.weights.region != 0 and not self.region_head:  # caught before training, not at its end
            raise ValueError("scoring.weights.region weighs the region head, but scoring.region_head is false: "
                             "set scoring.region_head=true or scoring.weights.region=0")
        return self

    def region_config(self) -> RegionHeadConfig | None:
        """The region head's settings, or None when it is switched off."""
        return self.regions if self.region_head else None


@dataclass(frozen=True)
class HonestScoring:
    """How the records of a model become one honest score: the part of :class:`ScoringSettings`
    that scoring reads, checked against the calibration (:func:`scoring_settings`).

    Attributes:
        weights: fusion weights of the z-scored records.
        smoothing: temporal smoothing of the fused score (offline; the detector uses its causal half).
        honest: the scoring mode that gives the honest score (:data:`HONEST_SCORES`).
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

    @property
    def alarm_record(self) -> str | None:
        """The record the honest score is (a region mode's: the head's or a baseline's), or None
        when it is the calibrated fusion of the weighted records."""
        return MODE_RECORDS.get(self.mode)

    def used_records(self) -> set[str]:
        """The records the honest score and the fusion read: a live detector computes no other."""
        weighted = {k for k, v in self.weights.to_dict().items() if v != 0.0}
        return weighted | ({self.alarm_record} if self.alarm_record else set())


def scoring_settings(train_config: Mapping[str, Any] | None, calibration: CalibrationLike | None) -> HonestScoring:
    """How a model file's records become its honest score (see the module docstring)."""
    sc = (train_config or {}).get("scoring") or {}
    honest = str(sc.get("honest", "region"))
    if honest not in HONEST_SCORES:
        raise ConfigError(f"scoring.honest={honest!r}: choose one of {', '.join(SCORING_MODES)}")
    table = (calibration or {}).get("fused") or {}
    if table.get("weights") is not None:  # a file written before the settings were stored once
        return HonestScoring(FusionWeights.from_dict(table["weights"]), Smoothing.from_dict(table.get("smoothing")), honest)
    settings = HonestScoring(FusionWeights.from_dict(sc.get("weights")), Smoothing.from_dict(sc.get("smoothing")), honest)
    if table and table_fingerprint(table) != settings_fingerprint(settings.weights, settings.smoothing):
        raise ConfigError(
            f"the scoring settings {settings.weights.to_dict()} / {settings.smoothing.to_dict()} are not those the model "
            "file's calibration was built with (edited by hand?): recalibrate with ammcnet calibrate RUN TRAINING_DATA"
        )
    return settings
