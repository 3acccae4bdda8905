"""The adversarial critic used in training: a strided PatchGAN without normalisation (spec 2.8).

Four 4x4 convolutions with padding 2 (the first three stride 2, LeakyReLU 0.1), one score per
patch, no sigmoid (least-squares GAN). A 256x256 input gives a (B, 1, 34, 34) map.

>>> import torch
>>> PatchDiscriminator(3)(torch.zeros(1, 3, 256, 256)).shape
torch.Size([1, 1, 34, 34])
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn


class PatchDiscriminator(nn.Module):
    """PatchGAN critic (the authors' ``PixelDiscriminator(C, [128, 256, 512, 512], use_norm=False)``).

    Args:
        in_channels: channels of the judged image (3 for frames, 2 for flows).
        widths: the authors' filter list: all but the last entry are the output channels of
            the stride-2 stages; the last entry is the channels the stride-1 score convolution
            reads, so it must equal the one before it (as in ``(128, 256, 512, 512)``).
    """

    def __init__(self, in_channels: int, widths: Sequence[int] = (128, 256, 512, 512)) -> None:
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if len(widths) < 2:
            raise ValueError(f"PatchDiscriminator needs at least two widths, got {widths}")
        if widths[-1] != widths[-2]:
            raise ValueError(
                f"PatchDiscriminator widths must end with a repeated entry, e.g. (64, 128, 128); got {widths}"
            )
        layers: list[nn.Module] = []
        prev = in_channels
        for width in widths[:-1]:
            layers += [nn.Conv2d(prev, width, 4, stride=2, padding=2), nn.LeakyReLU(0.1, inplace=True)]
            prev = width
        layers.append(nn.Conv2d(prev, 1, 4, stride=1, padding=2))
        self.net = nn.Sequential(*layers)
        self.widths = widths

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, 1, h, w) raw patch scores (real -> 1, fake -> 0 under LSGAN)."""
        return self.net(x)
