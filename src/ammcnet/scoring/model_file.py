"""Reading a model file to score with it: the network, its checked settings, its scorer and its calibration.

``ammcnet test``, ``detect``, ``export``, ``calibrate`` and :func:`ammcnet.load` all read a model
file. They read it here, below the training package, so none of them needs training to do so, and
each checks the stored settings the same way before any scoring: a setting edited by hand or
written by another version is a one-line :class:`~ammcnet.errors.ConfigError` naming the file,
not a wrong score later.

The stored training settings (``train_config``) are checked with the types that data preparation
and scoring use (:class:`StoredSettings`): ``data`` (:class:`~ammcnet.data.settings.DataSettings`),
``model`` (:class:`~ammcnet.models.ModelConfig`) and ``scoring``
(:class:`~ammcnet.scoring.settings.ScoringSettings`). The training-only sections (``disc``,
``loss``, ``optim``, ``stage1``, ``stage2``, ``run``) must be mappings; their keys are checked by
the training package when it builds its config from them
(:func:`ammcnet.training.config.stored_config`: ``ammcnet calibrate``, the int8 export's ranges).

>>> import tempfile, pathlib
>>> from ammcnet.models import AMMCNet, ModelConfig, save_model_file
>>> path = pathlib.Path(tempfile.mkdtemp()) / "model.pt"
>>> net = AMMCNet(ModelConfig(features_root=4, embed_dim=8, n_embed=16))
>>> save_model_file(path, net, train_config={"data": {"size": [32, 48]}})
>>> mf = read_model_file(path)
>>> mf.settings.data.size, mf.training_size, mf.calibration, mf.scoring.mode
((32, 48), (32, 48), None, 'region')
>>> save_model_file(path, net, train_config={"data": {"size": [30, 30]}})
>>> read_model_file(path)
Traceback (most recent call last):
...
ammcnet.errors.ConfigError: ... (stored training settings): data.size=[30, 30]: height and width must be positive multiples of 8
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import model_validator

from ammcnet.data.settings import DataSettings
from ammcnet.models import AMMCNet, LoadedModel, ModelConfig, load_model_file
from ammcnet.scoring.calibration import Calibration
from ammcnet.scoring.scorer import Scorer, load_scorer
from ammcnet.scoring.settings import HonestScoring, ScoringSettings, scoring_settings
from ammcnet.settings import Str, load_settings, settings

__all__ = ["ModelFile", "StoredSettings", "check_model_fits_the_clips", "read_model_file", "settings_source"]


def settings_source(model_file: Any) -> str:
    """How an error names a model file's stored training settings (one wording for every reader)."""
    return f"{model_file} (stored training settings)"


def check_model_fits_the_clips(model: ModelConfig) -> None:
    """Refuse a ``model`` section whose flows do not follow its frames (F frames give F - 1 flows), as
    training and a stored config alike must.

    Raises:
        ValueError: in a settings validator, which turns it into a one-line ``ConfigError``.
    """
    if model.flows_in != model.frames_in - 1:
        raise ValueError(f"model.flows_in={model.flows_in} must equal model.frames_in - 1 = {model.frames_in - 1}")


@settings
class StoredSettings:
    """A model file's stored training settings, as far as preparing data and scoring read them.

    The sections are those of :class:`ammcnet.training.TrainConfig`, so a stored config has the
    same allowed keys here; ``data``, ``model`` and ``scoring`` are checked in full, the
    training-only sections are kept as the mappings they are (training checks them).
    """

    name: Str = "custom"
    data: DataSettings = field(default_factory=DataSettings)
    model: ModelConfig = field(default_factory=ModelConfig)
    disc: dict[str, Any] = field(default_factory=dict)
    loss: dict[str, Any] = field(default_factory=dict)
    optim: dict[str, Any] = field(default_factory=dict)
    stage1: dict[str, Any] = field(default_factory=dict)
    stage2: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    scoring: ScoringSettings = field(default_factory=ScoringSettings)

    @model_validator(mode="after")
    def _model_fits_the_clips(self) -> StoredSettings:
        check_model_fits_the_clips(self.model)
        return self


@dataclass
class ModelFile:
    """A model file, read and checked by :func:`read_model_file`.

    The scorer and the scoring settings are built on first use: ``ammcnet calibrate`` reads a file
    whose stored components are unreadable, or whose calibration no longer matches its settings,
    precisely to replace them.

    Attributes:
        loaded: the file as read (network, sizes, provenance, digest).
        settings: its stored training settings, checked; None when it holds none (imported weights).
        calibration: statistics of the records on held-out normal clips; None when not calibrated.
    """

    loaded: LoadedModel
    settings: StoredSettings | None
    calibration: Calibration | None

    @property
    def model(self) -> AMMCNet:
        """The network, in eval mode."""
        return self.loaded.model

    @property
    def config(self) -> ModelConfig:
        """The network's sizes (from the weights' own record, which decides the architecture)."""
        return self.loaded.config

    @property
    def path(self) -> Path:
        """The file that was read."""
        return self.loaded.path

    @property
    def train_config(self) -> dict[str, Any] | None:
        """The stored training settings as written (what is saved again on a rewrite)."""
        return self.loaded.train_config or None

    @property
    def meta(self) -> dict[str, Any]:
        """Free-form provenance (version, source file, ...)."""
        return self.loaded.meta

    @property
    def training_size(self) -> tuple[int, int] | None:
        """The (H, W) grid the model was trained at; None when the file holds no training settings."""
        return None if self.settings is None else (int(self.settings.data.size[0]), int(self.settings.data.size[1]))

    @cached_property
    def scorer(self) -> Scorer:
        """The scorer with the file's fitted components, on the model's device."""
        return load_scorer(self.loaded)

    @cached_property
    def scoring(self) -> HonestScoring:
        """How the records become the honest score, checked against the calibration."""
        return scoring_settings(self.train_config, self.calibration)


def read_model_file(path_or_run_dir: str | os.PathLike[str], map_location: Any = "cpu") -> ModelFile:
    """Read a run folder's ``model.pt`` (or a model file) and check its stored settings.

    Raises:
        CheckpointError: the file is damaged, changed, or not a model file
            (:func:`ammcnet.models.load_model_file`).
        ConfigError: a stored setting is unknown or out of range; names the file and the key.
    """
    loaded = load_model_file(path_or_run_dir, map_location=map_location)
    stored = None
    if loaded.train_config:
        stored = load_settings(StoredSettings, loaded.train_config, where=settings_source(loaded.path))
    return ModelFile(loaded, stored, Calibration.of(loaded.calibration))
