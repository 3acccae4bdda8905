"""The sizes of an AMMC-Net model, as one small dataclass saved beside its weights.

The model file stores ``asdict(config)``, so a model file alone rebuilds its network. It is a
pydantic dataclass: building one checks every field (types, ranges, unknown keys).
The defaults are the paper's (and the released pickles'): 4 RGB frames and 3 flows in,
UNet widths 64-128-256-512, a 256 x 64 codebook read with top-2 retrieval.

>>> cfg = ModelConfig(features_root=8)
>>> cfg.widths, cfg.appearance_in_channels, cfg.motion_in_channels
((8, 16, 32, 64), 12, 6)
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from pydantic import Field, Strict, model_validator

from ammcnet.settings import Bool, settings

STREAMS: tuple[str, ...] = ("both", "appearance")

#: A positive integer size (a bool is not one).
PositiveInt = Annotated[int, Strict(), Field(ge=1)]


@settings
class ModelConfig:
    """Sizes and switches of :class:`ammcnet.models.AMMCNet`.

    Args:
        frames_in: past RGB frames stacked on channels (appearance input has ``3 * frames_in``).
        flows_in: past flows stacked on channels (motion input has ``2 * flows_in``).
        features_root: width C of the first UNet level; the levels are C, 2C, 4C, 8C (C, not F: F is frames_in).
        embed_dim: size D of a memory code (the 1x1 projection of the bottleneck).
        n_embed: number N of codes in each stream's codebook.
        top_k: codes retrieved per position, concatenated nearest first.
        ema_decay: decay of the codebook's moving averages (no codebook loss is used).
        ema_eps: Laplace smoothing constant of the cluster sizes.
        streams: ``"both"`` (the paper) or ``"appearance"`` (ablation: no motion stream, no AMFT).
        use_amft: ``False`` keeps both streams but drops the feature transfer (ablation).
    """

    frames_in: PositiveInt = 4
    flows_in: PositiveInt = 3
    features_root: PositiveInt = 64
    embed_dim: PositiveInt = 64
    n_embed: PositiveInt = 256
    top_k: PositiveInt = 2
    ema_decay: float = Field(0.99, ge=0.0, lt=1.0)
    ema_eps: float = Field(1e-5, gt=0.0)
    streams: Literal["both", "appearance"] = "both"
    use_amft: Bool = True

    @model_validator(mode="after")
    def _top_k_fits(self) -> ModelConfig:
        if self.top_k > self.n_embed:
            raise ValueError(f"model.top_k ({self.top_k}) must not exceed model.n_embed ({self.n_embed})")
        return self

    @property
    def widths(self) -> tuple[int, int, int, int]:
        """UNet widths per level, C-2C-4C-8C."""
        f = self.features_root
        return (f, 2 * f, 4 * f, 8 * f)

    @property
    def appearance_in_channels(self) -> int:
        return 3 * self.frames_in

    @property
    def motion_in_channels(self) -> int:
        return 2 * self.flows_in

    @property
    def has_motion(self) -> bool:
        return self.streams == "both"

    @property
    def has_amft(self) -> bool:
        return self.streams == "both" and self.use_amft

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, as stored in model files (``ammcnet.settings.load_settings`` reads it back)."""
        return asdict(self)
