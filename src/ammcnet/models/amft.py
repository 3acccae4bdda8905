"""AMFT, the appearance-motion feature transfer at the bottleneck (the authors' ``bridge``).

Each stream receives the other's memory output through a DoubleConv and adds it:
``a' = a + O2F(m)`` and ``m' = m + F2O(a)``, both from the features before the exchange.

>>> import torch
>>> amft = AMFT(8).eval()
>>> a, m = amft(torch.zeros(1, 8, 4, 4), torch.zeros(1, 8, 4, 4))
>>> a.shape, m.shape
(torch.Size([1, 8, 4, 4]), torch.Size([1, 8, 4, 4]))
"""

from __future__ import annotations

from torch import Tensor, nn

from ammcnet.models.blocks import DoubleConv


class AMFT(nn.Module):
    """Symmetric additive feature exchange between the appearance and motion bottlenecks.

    Args:
        channels: bottleneck channels (8F; 512 in the paper).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.o2f = DoubleConv(channels, channels)  # motion ("optical flow") -> frame
        self.f2o = DoubleConv(channels, channels)  # frame -> motion

    def forward(self, appearance: Tensor, motion: Tensor) -> tuple[Tensor, Tensor]:
        """Exchange features.

        Args:
            appearance: (B, C, h, w) appearance memory output.
            motion: (B, C, h, w) motion memory output.

        Returns:
            ``(appearance + O2F(motion), motion + F2O(appearance))``.
        """
        return appearance + self.o2f(motion), motion + self.f2o(appearance)
