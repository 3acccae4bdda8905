"""Training configuration: nested dataclasses, built from YAML presets plus ``key=value`` overrides.

Every number the trainer uses (loss weights, learning rates, milestones, batch sizes, iterations)
lives here, so a run folder's ``config.yaml`` alone says how a model was trained.

>>> cfg = TrainConfig()
>>> cfg = apply_overrides(cfg, ["loss.lam_adv=0.1", "stage1.iterations=5"])
>>> cfg.loss.lam_adv, cfg.stage1.iterations
(0.1, 5)
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import yaml

from ammcnet.errors import ConfigError
from ammcnet.models.config import ModelConfig
from ammcnet.regions import RegionHeadConfig
from ammcnet.scoring.fusion import FusionWeights, Smoothing
from ammcnet.scoring.motion_prior import MotionPriorConfig


@dataclass
class DataSettings:
    """How the dataset is prepared (cached) and split.

    Args:
        size: (H, W) frames and flows are resized to; divisible by 8.
        flow: optical-flow backend name for ``prepare_dataset``.
        flow_preset: backend preset (e.g. DIS "medium").
        workers: DataLoader worker processes (0 = load in the main process).
        val_fraction: last fraction of every training video's clips (by target frame) held out as
            normal validation clips; never trained on.
    """

    size: tuple[int, int] = (256, 256)
    flow: str = "dis"
    flow_preset: str = "medium"
    workers: int = 0
    val_fraction: float = 0.1


#: The ``model`` section of a training config is the model's own config, validated by it.
ModelSettings = ModelConfig


@dataclass
class DiscSettings:
    """PatchGAN discriminator widths (the authors use (128, 256, 512, 512))."""

    widths: tuple[int, ...] = (128, 256, 512, 512)


@dataclass
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


@dataclass
class OptimSettings:
    """Adam for generator and discriminators, MultiStepLR stepped every iteration."""

    lr_g: float = 1e-4
    lr_d: float = 1e-5
    betas: tuple[float, float] = (0.9, 0.999)
    gamma: float = 0.5
    milestones: tuple[int, ...] = ()


@dataclass
class StageSettings:
    """One training stage.

    Args:
        iterations: optimiser steps in this stage.
        batch_size: clips per step.
        load_discriminator: stage 2 only: start the appearance discriminator from stage 1
            (the authors re-initialise it).
    """

    iterations: int = 80000
    batch_size: int = 16
    load_discriminator: bool = False


@dataclass
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

    seed: int = 2017
    log_every: int = 10
    checkpoint_every: int = 1000
    keep_checkpoints: int = 2
    val_max_batches: int = 50
    select: str = "last"
    bf16: bool = False
    compile: bool = False
    tensorboard: bool = False
    threads: int = 0
    sync_bn: bool = False


@dataclass
class ScoringSettings:
    """Scoring defaults stored with the model: fixed a priori, never tuned on test labels.

    Args:
        weights: weights of the z-scored records in the honest anomaly score
            (``rgb_psnr``, ``rgb_commit``, ``flow_error``, ``flow_commit``; see
            :class:`ammcnet.scoring.FusionWeights`). Empty = the documented defaults.
        smoothing: temporal smoothing within each video (``sigma`` frames, ``causal``,
            ``truncate``; see :class:`ammcnet.scoring.Smoothing`). Empty = the defaults.
        batch_size: inference batch size for calibration (changes no score).
        prior: settings of the per-place motion prior fitted at the end of training (``rows``,
            ``static``, ``speed_edges``, ``alpha``, ``share``; see
            :class:`ammcnet.scoring.motion_prior.MotionPriorConfig`). Empty = the defaults.
        region_head: fit the region head (the default honest score, :mod:`ammcnet.regions`) at the
            end of training and in ``ammcnet calibrate``.
        regions: its settings (:class:`ammcnet.regions.RegionHeadConfig`; ``window`` and ``weights``
            are chosen on the training split unless ``choose_regions`` is false). Empty = defaults.
        choose_regions: choose the region head's window and parts on the training split alone
            (held-out training videos and synthetic anomalies) before fitting it.
        honest: the default honest score: ``region`` (the region head) or ``frame_mean`` (the
            calibrated fusion of AMMC-Net's frame-mean records); both are reported by ``ammcnet test``.
    """

    weights: dict = field(default_factory=dict)
    smoothing: dict = field(default_factory=dict)
    batch_size: int = 16
    prior: dict = field(default_factory=dict)
    region_head: bool = True
    regions: dict = field(default_factory=dict)
    choose_regions: bool = True
    honest: str = "region"

    def region_config(self) -> RegionHeadConfig | None:
        """The region head's settings, or None when it is switched off."""
        return RegionHeadConfig.from_dict(self.regions) if self.region_head else None


@dataclass
class TrainConfig:
    """Everything a training run needs besides the data location."""

    name: str = "custom"
    data: DataSettings = field(default_factory=DataSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    disc: DiscSettings = field(default_factory=DiscSettings)
    loss: LossWeights = field(default_factory=LossWeights)
    optim: OptimSettings = field(default_factory=OptimSettings)
    stage1: StageSettings = field(default_factory=lambda: StageSettings(batch_size=16))
    stage2: StageSettings = field(default_factory=lambda: StageSettings(batch_size=8))
    run: RunSettings = field(default_factory=RunSettings)
    scoring: ScoringSettings = field(default_factory=ScoringSettings)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (tuples as lists) for YAML and model files."""
        return _plain(asdict(self))

    def validate(self) -> TrainConfig:
        """Check values that would otherwise fail deep inside training; returns ``self``."""
        h, w = self.data.size
        if h % 8 or w % 8 or h <= 0 or w <= 0:
            raise ConfigError(f"data.size={list(self.data.size)}: height and width must be positive multiples of 8")
        if self.model.streams not in ("both", "appearance"):
            raise ConfigError(f"model.streams={self.model.streams!r}: use 'both' or 'appearance'")
        if self.model.flows_in != self.model.frames_in - 1:
            raise ConfigError(
                f"model.flows_in={self.model.flows_in} must equal model.frames_in - 1 = {self.model.frames_in - 1}"
            )
        if not 0.0 < self.data.val_fraction < 1.0:
            raise ConfigError(f"data.val_fraction={self.data.val_fraction}: use a value in (0, 1), e.g. 0.1")
        if self.run.select not in ("last", "val"):
            raise ConfigError(f"run.select={self.run.select!r}: use 'last' or 'val'")
        if self.loss.lam_flow != 0.0:
            raise ConfigError(
                f"loss.lam_flow={self.loss.lam_flow}: no differentiable flow network is configured; set loss.lam_flow=0"
            )
        for name in ("stage1", "stage2"):
            st: StageSettings = getattr(self, name)
            if st.iterations < 0 or st.batch_size < 1:
                raise ConfigError(f"{name}: iterations must be >= 0 and batch_size >= 1 (got {st})")
        if self.run.log_every < 1 or self.run.checkpoint_every < 1:
            raise ConfigError("run.log_every and run.checkpoint_every must be >= 1")
        # names checked now, not after training
        FusionWeights.from_dict(self.scoring.weights)
        Smoothing.from_dict(self.scoring.smoothing)
        MotionPriorConfig.from_dict(self.scoring.prior)
        self.scoring.region_config()
        if self.scoring.honest not in ("region", "frame_mean"):
            raise ConfigError(f"scoring.honest={self.scoring.honest!r}: choose region or frame_mean")
        return self


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Convert a YAML value to the dataclass field's type, with a one-line error on mismatch."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}={value!r}: expected a list, e.g. {key}=[1,2]")
        args = typing.get_args(annotation)
        item_type = args[0] if args else Any
        if (len(args) == 2 and args[1] is Ellipsis) or len(args) == 1:
            return tuple(_coerce(v, item_type, key) for v in value)
        if len(args) != len(value):
            raise ConfigError(f"{key}={value!r}: expected {len(args)} values")
        return tuple(_coerce(v, a, key) for v, a in zip(value, args, strict=True))
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}={value!r}: expected true or false")
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{key}={value!r}: expected an integer")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}={value!r}: expected a number")
        return float(value)
    if annotation is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}={value!r}: expected a mapping, e.g. {key}={{name: 1.0}}")
        return dict(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}={value!r}: expected a string")
        return value
    return value


def _build(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"unknown config key {prefix}{unknown[0]!r}; known keys under "
            f"{prefix.rstrip('.') or 'the top level'}: {', '.join(sorted(known))}"
        )
    kwargs = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            kwargs[f.name] = _build(hint, data[f.name], f"{prefix}{f.name}.")
        else:
            kwargs[f.name] = _coerce(data[f.name], hint, f"{prefix}{f.name}")
    return cls(**kwargs)


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Build a :class:`TrainConfig` from a (partial) nested dict; missing keys keep defaults."""
    return _build(TrainConfig, data)


def _set_nested(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        if part not in node or not isinstance(node[part], dict):
            raise ConfigError(f"unknown config key {key!r} in --set; see config.yaml of a run for the key names")
        node = node[part]
    if parts[-1] not in node and tuple(parts[:-1]) not in _OPEN_MAPPINGS:
        raise ConfigError(f"unknown config key {key!r} in --set; see config.yaml of a run for the key names")
    node[parts[-1]] = value


#: Mappings whose keys are checked where they are used (FusionWeights, Smoothing), not here: a preset
#: may leave them empty (= the defaults), and ``--set scoring.weights.flow_error=0.5`` must still work.
_OPEN_MAPPINGS: frozenset[tuple[str, ...]] = frozenset(
    {("scoring", "weights"), ("scoring", "smoothing"), ("scoring", "prior"), ("scoring", "regions")})


def apply_overrides(config: TrainConfig, overrides: typing.Iterable[str]) -> TrainConfig:
    """Apply ``key=value`` strings (dotted keys, YAML values) to a config; returns a new config.

    Raises:
        ConfigError: a malformed override, an unknown key or a value of the wrong type.
    """
    data = config.to_dict()
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set stage1.iterations=1000")
        key, raw = item.split("=", 1)
        key = key.strip()
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {item!r}: value is not valid YAML ({exc.__class__.__name__})") from None
        _set_nested(data, key, value)
    return config_from_dict(data)
