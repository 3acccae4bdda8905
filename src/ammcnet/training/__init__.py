"""ammcnet.training: losses, presets and the two-stage trainer.

>>> from ammcnet.training import list_presets, load_preset
>>> cfg = load_preset("tiny", ["loss.lam_adv=0.1"])
>>> cfg.loss.lam_adv, "paper-ped2" in list_presets()
(0.1, True)
"""

from ammcnet.training.api import train
from ammcnet.training.config import (
    DataSettings,
    DiscSettings,
    LossWeights,
    ModelSettings,
    OptimSettings,
    RunSettings,
    ScoringSettings,
    StageSettings,
    TrainConfig,
    apply_overrides,
    config_from_dict,
)
from ammcnet.training.losses import adversarial_loss, discriminator_loss, gradient_loss, intensity_loss
from ammcnet.training.presets import list_presets, load_config_file, load_preset

__all__ = [
    "DataSettings",
    "DiscSettings",
    "LossWeights",
    "ModelSettings",
    "OptimSettings",
    "RunSettings",
    "ScoringSettings",
    "StageSettings",
    "TrainConfig",
    "adversarial_loss",
    "apply_overrides",
    "config_from_dict",
    "discriminator_loss",
    "gradient_loss",
    "intensity_loss",
    "list_presets",
    "load_config_file",
    "load_preset",
    "train",
]
