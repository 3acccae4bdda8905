"""Loss terms exactly as the authors define them (spec section 3.1), batch-mean scalars.

These are deliberately *not* ano_pred's MSE / |grad| definitions: the intensity loss is the
per-pixel Euclidean norm over channels (not squared), and the gradient loss sums the channel
differences before taking the absolute value, as in the authors' ``losses_utils.py``.

>>> import torch
>>> y = torch.zeros(1, 3, 4, 4)
>>> round(float(intensity_loss(y + 1.0, y)), 4)  # sqrt(1 + 1 + 1) at every pixel
1.7321
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def intensity_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Mean over (B, H, W) of the L2 norm over channels of ``pred - target``.

    Args:
        pred: (B, C, H, W) prediction.
        target: (B, C, H, W) ground truth.

    Returns:
        Scalar tensor.
    """
    return torch.linalg.vector_norm(pred - target, ord=2, dim=1).mean()


def _channel_sum_gradients(img: Tensor) -> tuple[Tensor, Tensor]:
    """dx[i, j] = sum_c (I_c[i, j] - I_c[i, j-1]) with a zero column left of the image; dy likewise."""
    s = img.sum(dim=1, keepdim=True)
    dx = s - F.pad(s, (1, 0, 0, 0))[..., :, :-1]
    dy = s - F.pad(s, (0, 0, 1, 0))[..., :-1, :]
    return dx, dy


def gradient_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Authors' gradient-difference loss: ``mean(|dx(y) - dx(p)| + |dy(y) - dy(p)|)`` with channel-summed gradients.

    Args:
        pred: (B, C, H, W) prediction.
        target: (B, C, H, W) ground truth.
    """
    pdx, pdy = _channel_sum_gradients(pred)
    tdx, tdy = _channel_sum_gradients(target)
    return ((tdx - pdx).abs() + (tdy - pdy).abs()).mean()


def adversarial_loss(fake_logits: Tensor) -> Tensor:
    """LSGAN generator loss ``mean((D(p) - 1)^2 / 2)``."""
    return ((fake_logits - 1.0) ** 2 / 2).mean()


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """LSGAN discriminator loss ``mean((D(y) - 1)^2 / 2) + mean(D(sg p)^2 / 2)``."""
    return ((real_logits - 1.0) ** 2 / 2).mean() + (fake_logits**2 / 2).mean()
