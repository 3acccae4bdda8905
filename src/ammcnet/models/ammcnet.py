"""AMMC-Net (Cai et al., AAAI 2021, "Appearance-Motion Memory Consistency Network for Video
Anomaly Detection"): two memory-augmented UNet streams tied by AMFT.

The appearance stream predicts frame t from frames t-F..t-1; the motion stream predicts flow
t-1 from flows t-F..t-2. Each stream reads its own codebook at the bottleneck; AMFT then adds
each stream's memory output (through a DoubleConv) to the other's before the decoders. The
ablations of :class:`ModelConfig` drop the motion stream (``streams="appearance"``) or only the
exchange (``use_amft=False``). Differences from the authors' module: docs/deviations/model.md.

>>> import torch
>>> from ammcnet.models import AMMCNet, ModelConfig
>>> net = AMMCNet(ModelConfig(features_root=4, embed_dim=8, n_embed=16)).eval()
>>> out = net(torch.zeros(2, 12, 32, 32), torch.zeros(2, 6, 32, 32))
>>> out.frame_pred.shape, out.flow_pred.shape, out.frame_commit_per_sample.shape
(torch.Size([2, 3, 32, 32]), torch.Size([2, 2, 32, 32]), torch.Size([2]))
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from ammcnet.errors import DataError
from ammcnet.models.amft import AMFT
from ammcnet.models.config import ModelConfig
from ammcnet.models.init import init_weights_normal
from ammcnet.models.stream import StreamUNet

#: Total downsampling of a stream: input height and width must be multiples of it.
SIZE_MULTIPLE = 8


@dataclass
class AMMCOutput:
    """What :class:`AMMCNet` returns, every time (motion fields are None without a motion stream).

    Attributes:
        frame_pred: (B, 3, H, W) predicted frame t after tanh, in (-1, 1).
        flow_pred: (B, 2, H, W) predicted flow t-1 after tanh, or None.
        frame_commit: scalar appearance commitment error, batch mean (the loss).
        flow_commit: scalar motion commitment error, or None.
        frame_commit_per_sample: (B,) mean over (h, w, D) of each sample (the score).
        flow_commit_per_sample: (B,) or None.
        frame_commit_map: (B, H/8, W/8) mean over D at each bottleneck position.
        flow_commit_map: (B, H/8, W/8) or None.
        frame_codes: (B, H/8, W/8, k) appearance code indices, nearest first.
        flow_codes: (B, H/8, W/8, k) or None.
    """

    frame_pred: Tensor
    flow_pred: Tensor | None
    frame_commit: Tensor
    flow_commit: Tensor | None
    frame_commit_per_sample: Tensor
    flow_commit_per_sample: Tensor | None
    frame_commit_map: Tensor | None = None
    flow_commit_map: Tensor | None = None
    frame_codes: Tensor | None = None
    flow_codes: Tensor | None = None


def _stream(config: ModelConfig, in_channels: int, out_channels: int) -> StreamUNet:
    stream = StreamUNet(
        in_channels,
        out_channels,
        features_root=config.features_root,
        embed_dim=config.embed_dim,
        n_embed=config.n_embed,
        top_k=config.top_k,
        ema_decay=config.ema_decay,
        ema_eps=config.ema_eps,
    )
    init_weights_normal(stream)
    return stream


def appearance_stream(config: ModelConfig) -> StreamUNet:
    """A stand-alone appearance stream of ``config``'s sizes (stage-1 pretraining), authors' init."""
    return _stream(config, config.appearance_in_channels, 3)


def motion_stream(config: ModelConfig) -> StreamUNet:
    """A stand-alone motion stream of ``config``'s sizes (stage-1 pretraining), authors' init."""
    return _stream(config, config.motion_in_channels, 2)


class AMMCNet(nn.Module):
    """Two memory-augmented UNet streams with appearance-motion feature transfer.

    A freshly built model carries the authors' initialisation (:func:`init_weights_normal`,
    codebooks ~ N(0, 1)).

    Args:
        config: sizes and ablation switches.
    """

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config = config if config is not None else ModelConfig()
        self.appearance = appearance_stream(config)
        self.motion: StreamUNet | None = motion_stream(config) if config.has_motion else None
        self.amft: AMFT | None = AMFT(config.widths[3]) if config.has_amft else None
        if self.amft is not None:
            init_weights_normal(self.amft)

    def forward(self, frames: Tensor, flows: Tensor | None = None) -> AMMCOutput:
        """Predict frame t and flow t-1.

        Args:
            frames: (B, 3 * frames_in, H, W) past RGB frames stacked on channels, oldest first,
                in [-1, 1]; H and W divisible by 8.
            flows: (B, 2 * flows_in, H, W) past normalised flows, oldest first; required when
                the model has a motion stream, ignored otherwise.

        Returns:
            :class:`AMMCOutput`. In training mode both codebooks take one EMA step.
        """
        self._check_input("frames", frames, self.config.appearance_in_channels)
        a_bottleneck, a_skips = self.appearance.encode(frames)
        a_mem = self.appearance.memory(a_bottleneck)
        if self.motion is None:
            return AMMCOutput(
                frame_pred=self.appearance.decode(a_mem.features, a_skips),
                flow_pred=None,
                frame_commit=a_mem.commit,
                flow_commit=None,
                frame_commit_per_sample=a_mem.commit_per_sample,
                flow_commit_per_sample=None,
                frame_commit_map=a_mem.commit_map,
                frame_codes=a_mem.indices,
            )
        if flows is None:
            raise DataError(
                "this model has a motion stream: pass flows (B, 2*flows_in, H, W) as well as frames"
            )
        self._check_input("flows", flows, self.config.motion_in_channels)
        if flows.shape[0] != frames.shape[0] or flows.shape[2:] != frames.shape[2:]:
            raise DataError(
                f"frames {tuple(frames.shape)} and flows {tuple(flows.shape)} differ in batch or size: "
                "pass the same clips at the same resolution"
            )
        m_bottleneck, m_skips = self.motion.encode(flows)
        m_mem = self.motion.memory(m_bottleneck)
        a_feat, m_feat = a_mem.features, m_mem.features
        if self.amft is not None:
            a_feat, m_feat = self.amft(a_feat, m_feat)
        return AMMCOutput(
            frame_pred=self.appearance.decode(a_feat, a_skips),
            flow_pred=self.motion.decode(m_feat, m_skips),
            frame_commit=a_mem.commit,
            flow_commit=m_mem.commit,
            frame_commit_per_sample=a_mem.commit_per_sample,
            flow_commit_per_sample=m_mem.commit_per_sample,
            frame_commit_map=a_mem.commit_map,
            flow_commit_map=m_mem.commit_map,
            frame_codes=a_mem.indices,
            flow_codes=m_mem.indices,
        )

    @staticmethod
    def _check_input(name: str, x: Tensor, channels: int) -> None:
        if x.dim() != 4 or x.shape[1] != channels:
            raise DataError(f"{name} must be (B, {channels}, H, W) for this model, got {tuple(x.shape)}")
        h, w = x.shape[2:]
        if h % SIZE_MULTIPLE or w % SIZE_MULTIPLE:
            raise DataError(
                f"{name} size {h}x{w} is not divisible by {SIZE_MULTIPLE}: prepare the data at a size "
                f"such as {max(SIZE_MULTIPLE, h // SIZE_MULTIPLE * SIZE_MULTIPLE)}x"
                f"{max(SIZE_MULTIPLE, w // SIZE_MULTIPLE * SIZE_MULTIPLE)}"
            )


def count_parameters(module: nn.Module | None) -> int:
    """Number of trainable parameters (0 for None)."""
    if module is None:
        return 0
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


__all__ = [
    "AMMCNet",
    "AMMCOutput",
    "SIZE_MULTIPLE",
    "appearance_stream",
    "count_parameters",
    "init_weights_normal",
    "motion_stream",
]
