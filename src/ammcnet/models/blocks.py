"""UNet building blocks of one AMMC-Net stream (the authors' ``double_conv``/``down``/``up``).

Convolutions before a BatchNorm carry no bias, as in the authors' code, so that the
parameter count (25,049,029 for the paper model) matches exactly.

>>> import torch
>>> DoubleConv(3, 8)(torch.zeros(1, 3, 16, 16)).shape
torch.Size([1, 8, 16, 16])
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class DoubleConv(nn.Sequential):
    """(3x3 conv without bias -> BatchNorm -> ReLU) twice.

    A ``Sequential`` so that its state keys are ``0`` (conv), ``1`` (BN), ``3`` (conv), ``4`` (BN),
    the same indices as the authors' module, which keeps the checkpoint mapping a plain rename.

    Args:
        in_channels: input channels.
        out_channels: output channels of both convolutions.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class Down(nn.Module):
    """2x2 max-pool, then :class:`DoubleConv`: halves the resolution."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(2)
        self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(self.pool(x))


class Up(nn.Module):
    """Transposed-conv upsampling (x2, halving channels), skip concat (skip first), DoubleConv.

    The input size must be divisible by 8, so the upsampled map always matches its skip and the
    authors' padding step is never needed.

    Args:
        in_channels: channels of the deeper feature; the skip has ``in_channels // 2``.
        out_channels: output channels.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
        self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        return self.conv(torch.cat([skip, self.up(x)], dim=1))
