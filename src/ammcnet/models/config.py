"""The sizes of an AMMC-Net model, as one small dataclass saved beside its weights.

The model file stores ``asdict(config)``, so a model file alone rebuilds its network.
The defaults are the paper's (and the released pickles'): 4 RGB frames and 3 flows in,
UNet widths 64-128-256-512, a 256 x 64 codebook read with top-2 retrieval.

>>> cfg = ModelConfig(features_root=8)
>>> cfg.widths, cfg.appearance_in_channels, cfg.motion_in_channels
((8, 16, 32, 64), 12, 6)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from ammcnet.errors import ConfigError

STREAMS: tuple[str, ...] = ("both", "appearance")


@dataclass
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

    frames_in: int = 4
    flows_in: int = 3
    features_root: int = 64
    embed_dim: int = 64
    n_embed: int = 256
    top_k: int = 2
    ema_decay: float = 0.99
    ema_eps: float = 1e-5
    streams: str = "both"
    use_amft: bool = True

    def __post_init__(self) -> None:
        for name in ("frames_in", "flows_in", "features_root", "embed_dim", "n_embed", "top_k"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"model config: {name} must be a positive integer, got {value!r}")
        if self.top_k > self.n_embed:
            raise ConfigError(f"model config: top_k ({self.top_k}) must not exceed n_embed ({self.n_embed})")
        if not 0.0 <= float(self.ema_decay) < 1.0:
            raise ConfigError(f"model config: ema_decay must be in [0, 1), got {self.ema_decay!r}")
        if float(self.ema_eps) <= 0.0:
            raise ConfigError(f"model config: ema_eps must be > 0, got {self.ema_eps!r}")
        if self.streams not in STREAMS:
            raise ConfigError(
                f"model config: streams must be one of {', '.join(STREAMS)}, got {self.streams!r}"
            )
        self.ema_decay = float(self.ema_decay)
        self.ema_eps = float(self.ema_eps)
        self.use_amft = bool(self.use_amft)

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
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Build from a stored dict, refusing unknown keys (a file of a newer or other format)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"model config: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}"
            )
        return cls(**data)


def paper_config() -> ModelConfig:
    """The released model's sizes (``unet_vq_twostream``: in (12, 6), out (3, 2), D 64, N 256, k 2)."""
    return ModelConfig()


def lite_config(**overrides: Any) -> ModelConfig:
    """A quarter-width model (C = 16) for CPU experiments; keyword overrides win."""
    return ModelConfig(**{"features_root": 16, **overrides})
