"""One AMMC-Net stream: a 4-level UNet with a memory at its bottleneck (``UNetMem_v7``).

Usable alone (stage-1 pretraining of each stream) or split into ``encode`` / ``memory`` /
``decode`` by :class:`ammcnet.models.AMMCNet`, which exchanges features between two streams
between the memory and the decoder.

>>> import torch
>>> net = StreamUNet(12, 3, features_root=4, embed_dim=8, n_embed=16).eval()
>>> net(torch.zeros(1, 12, 32, 32)).pred.shape
torch.Size([1, 3, 32, 32])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ammcnet.models.blocks import DoubleConv, Down, Up
from ammcnet.models.memory import MemoryOutput, TopKMemory


@dataclass
class StreamOutput:
    """What a stream returns, every time.

    Attributes:
        pred: (B, C_out, H, W) prediction after tanh, in (-1, 1).
        commit: scalar batch-mean commitment error (the loss).
        commit_per_sample: (B,) per-sample commitment error (the score).
        commit_map: (B, H/8, W/8) per-position commitment error.
        indices: (B, H/8, W/8, k) code indices, nearest first.
    """

    pred: Tensor
    commit: Tensor
    commit_per_sample: Tensor
    commit_map: Tensor | None = None
    indices: Tensor | None = None


class StreamUNet(nn.Module):
    """UNet (3 poolings, widths C-2C-4C-8C) with an EMA top-k memory on the bottleneck.

    Args:
        in_channels: input channels (12 for 4 RGB frames, 6 for 3 flows).
        out_channels: predicted channels (3 for a frame, 2 for a flow).
        features_root: width C of the first level.
        embed_dim: memory code size D.
        n_embed: number of memory codes N.
        top_k: codes retrieved per position.
        ema_decay: codebook moving-average decay.
        ema_eps: Laplace smoothing constant.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        features_root: int = 64,
        embed_dim: int = 64,
        n_embed: int = 256,
        top_k: int = 2,
        ema_decay: float = 0.99,
        ema_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        f = features_root
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.inc = DoubleConv(in_channels, f)
        self.down1 = Down(f, 2 * f)
        self.down2 = Down(2 * f, 4 * f)
        self.down3 = Down(4 * f, 8 * f)
        self.memory = TopKMemory(8 * f, embed_dim, n_embed, top_k, ema_decay, ema_eps)
        self.up1 = Up(8 * f, 4 * f)
        self.up2 = Up(4 * f, 2 * f)
        self.up3 = Up(2 * f, f)
        self.outc = nn.Conv2d(f, out_channels, 3, padding=1)

    def encode(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """(B, C_in, H, W) -> bottleneck (B, 8F, H/8, W/8) and the three skips, shallow first."""
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        return x4, [x1, x2, x3]

    def decode(self, bottleneck: Tensor, skips: list[Tensor]) -> Tensor:
        """Bottleneck and skips -> (B, C_out, H, W) prediction after tanh."""
        x1, x2, x3 = skips
        y = self.up1(bottleneck, x3)
        y = self.up2(y, x2)
        y = self.up3(y, x1)
        return torch.tanh(self.outc(y))

    def forward(self, x: Tensor) -> StreamOutput:
        """Predict the next frame (or flow) from the stacked past ones.

        Args:
            x: (B, C_in, H, W), H and W divisible by 8.

        Returns:
            :class:`StreamOutput`.
        """
        bottleneck, skips = self.encode(x)
        mem: MemoryOutput = self.memory(bottleneck)
        pred = self.decode(mem.features, skips)
        return StreamOutput(pred, mem.commit, mem.commit_per_sample, mem.commit_map, mem.indices)
