"""Training configuration: typed settings (pydantic dataclasses) built from YAML plus ``key=value`` overrides.

Every number the trainer uses (loss weights, learning rates, milestones, batch sizes, iterations,
the scoring settings stored with the model) lives here, so a run folder's ``config.yaml`` alone
says how a model was trained. Each section is a settings class: its fields' types and ranges, and
the keys it accepts, are checked whenever a config is built (from a preset, a run's
``config.yaml``, a model file or ``--set``), with a one-line :class:`ConfigError` naming the key.
The sections a model file is scored with are defined below this package, so that reading a model
file does not need it: ``data`` (:class:`ammcnet.data.settings.DataSettings`), ``model``
(:class:`ammcnet.models.ModelConfig`) and ``scoring``
(:class:`ammcnet.scoring.settings.ScoringSettings`).

>>> cfg = TrainConfig()
>>> cfg = apply_overrides(cfg, ["loss.lam_adv=0.1", "stage1.iterations=5"])
>>> cfg.loss.lam_adv, cfg.stage1.iterations
(0.1, 5)
>>> apply_overrides(cfg, ["stage1.iteration=5"])
Traceback (most recent call last):
...
ammcnet.errors.ConfigError: --set: unknown config key 'stage1.iteration'; allowed under stage1: batch_size, iterations, load_discriminator
"""

from __future__ import annotations

import typing
from dataclasses import field
from typing import Any, Literal

import yaml
from pydantic import Field, model_validator

from ammcnet.data.settings import DataSettings
from ammcnet.errors import ConfigError
from ammcnet.models.config import ModelConfig
from ammcnet.scoring.model_file import check_model_fits_the_clips, settings_source
from ammcnet.scoring.settings import ScoringSettings
from ammcnet.settings import Bool, Int, Str, dump_settings, load_settings, settings

#: A count that may be zero (``stage1.iterations=0`` skips a stage's steps).
Count = typing.Annotated[Int, Field(ge=0)]
#: A count of at least one.
AtLeastOne = typing.Annotated[Int, Field(ge=1)]

#: The ``model`` section of a training config is the model's own config, validated by it.
ModelSettings = ModelConfig


@settings
class DiscSettings:
    """PatchGAN discriminator widths (the authors use (128, 256, 512, 512))."""

    widths: tuple[AtLeastOne, ...] = (128, 256, 512, 512)


@settings
class LossWeights:
    """Loss weights. The authors' values were never published; defaults follow ano_pred (ped2).

    Args:
        lam_int: appearance intensity loss (per-pixel L2 norm over channels).
        lam_gd: appearance gradient loss (read from its own key, unlike the authors' code).
        lam_adv: appearance adversarial (LSGAN) loss.
        lam_flow: flow loss through a differentiable flow network; only valid when one is
            configured (the authors' term had no gradient), so 0 by default.
        lam_latent: commitment loss weight (stage 2: applied to the sum of both commitments).
        lam_int_flow: motion-stream intensity loss.
        lam_adv_flow: motion-stream adversarial loss (stage 1 only, as the authors).
    """

    lam_int: float = 1.0
    lam_gd: float = 1.0
    lam_adv: float = 0.05
    lam_flow: float = 0.0
    lam_latent: float = 0.1
    lam_int_flow: float = 2.0
    lam_adv_flow: float = 0.05

    @model_validator(mode="after")
    def _no_flow_network(self) -> LossWeights:
        if self.lam_flow != 0.0:
            raise ValueError(
                f"loss.lam_flow={self.lam_flow}: no differentiable flow network is configured; set loss.lam_flow=0"
            )
        return self


@settings
class OptimSettings:
    """Adam for generator and discriminators, MultiStepLR stepped every iteration."""

    lr_g: float = 1e-4
    lr_d: float = 1e-5
    betas: tuple[float, float] = (0.9, 0.999)
    gamma: float = Field(0.5, gt=0.0)
    milestones: tuple[Count, ...] = ()


@settings
class StageSettings:
    """One training stage.

    Args:
        iterations: optimiser steps in this stage.
        batch_size: clips per step.
        load_discriminator: stage 2 only: start the appearance discriminator from stage 1
            (the authors re-initialise it).
    """

    iterations: Count = 80000
    batch_size: AtLeastOne = 16
    load_discriminator: Bool = False


@settings
class RunSettings:
    """Seeding, logging, checkpointing and device options.

    Args:
        seed: seeds model init, discriminators and the batch order.
        log_every: steps between ``metrics.csv`` rows.
        checkpoint_every: steps between resumable checkpoints (and validation).
        keep_checkpoints: newest checkpoints kept per stage.
        val_max_batches: held-out batches per validation.
        select: ``last`` (final step) or ``val`` (lowest validation loss) as the final model.
        bf16: bf16 autocast on CUDA.
        compile: ``torch.compile`` the stage-2 model on CUDA.
        tensorboard: also write TensorBoard scalars (if installed).
        threads: CPU threads for torch; 0 = all cores.
        sync_bn: under torchrun, SyncBatchNorm across ranks (CUDA only); otherwise rank 0's
            BatchNorm running statistics are broadcast after every step.
    """

    seed: Int = 2017
    log_every: AtLeastOne = 10
    checkpoint_every: AtLeastOne = 1000
    keep_checkpoints: AtLeastOne = 2
    val_max_batches: AtLeastOne = 50
    select: Literal["last", "val"] = "last"
    bf16: Bool = False
    compile: Bool = False
    tensorboard: Bool = False
    threads: Count = 0
    sync_bn: Bool = False


@settings
class TrainConfig:
    """Everything a training run needs besides the data location."""

    name: Str = "custom"
    data: DataSettings = field(default_factory=DataSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    disc: DiscSettings = field(default_factory=DiscSettings)
    loss: LossWeights = field(default_factory=LossWeights)
    optim: OptimSettings = field(default_factory=OptimSettings)
    stage1: StageSettings = field(default_factory=lambda: StageSettings(batch_size=16))
    stage2: StageSettings = field(default_factory=lambda: StageSettings(batch_size=8))
    run: RunSettings = field(default_factory=RunSettings)
    scoring: ScoringSettings = field(default_factory=ScoringSettings)

    @model_validator(mode="after")
    def _model_fits_the_clips(self) -> TrainConfig:
        check_model_fits_the_clips(self.model)
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (tuples as lists, every field written) for YAML and model files."""
        return dump_settings(self)

    def validate(self) -> TrainConfig:
        """Check the whole config again (fields changed by assignment are not checked); returns ``self``."""
        config_from_dict(self.to_dict())
        return self


def config_from_dict(data: dict[str, Any], *, where: str = "config") -> TrainConfig:
    """Build a :class:`TrainConfig` from a (partial) nested dict; missing keys keep defaults.

    Args:
        data: the mapping (a preset, a run's ``config.yaml``, a model file's ``train_config``).
        where: named in the error (a file path, ``--set``).

    Raises:
        ConfigError: an unknown key, a value of the wrong type or out of range; one line.
    """
    return load_settings(TrainConfig, data, where=where)


def stored_config(train_config: dict[str, Any], model_file: Any) -> TrainConfig:
    """The whole training config stored in a model file, every section validated (files of older
    versions load: keys they lack keep their defaults), for what works on its training data again
    (``ammcnet calibrate``, int8 ranges). Reading a model file to score with it needs only the
    sections :func:`ammcnet.scoring.model_file.read_model_file` checks, without this package.

    Raises:
        ConfigError: names the model file and the bad key; re-save it with ``ammcnet calibrate``.
    """
    return config_from_dict(train_config, where=settings_source(model_file))


def _set_nested(data: dict[str, Any], key: str, value: Any) -> None:
    """Put ``value`` at the dotted ``key``; unknown names are refused when the result is validated."""
    parts = key.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        if not isinstance(node.get(part), dict):
            where = ".".join(parts[: i + 1])
            raise ConfigError(f"--set {key}: {where!r} is not a section; see a run's config.yaml for the key names")
        node = node[part]
    node[parts[-1]] = value


def parse_override(item: str) -> tuple[str, Any]:
    """``"key=value"`` -> (dotted key, YAML-parsed value)."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set stage1.iterations=1000")
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {item!r}: value is not valid YAML ({exc.__class__.__name__})") from None
    return key.strip(), value


def apply_overrides(config: TrainConfig, overrides: typing.Iterable[str]) -> TrainConfig:
    """Apply ``key=value`` strings (dotted keys, YAML values) to a config; returns a new config.

    Raises:
        ConfigError: a malformed override, an unknown key or a value of the wrong type.
    """
    data = config.to_dict()
    for item in overrides:
        _set_nested(data, *parse_override(item))
    return config_from_dict(data, where="--set")
