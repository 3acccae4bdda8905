"""Weight initialisation of the authors (``utils/utils.py:weights_init_normal``, spec 2.9).

>>> from torch import nn
>>> conv = nn.Conv2d(3, 8, 3)
>>> init_weights_normal(conv); abs(float(conv.weight.detach().std()) - 0.02) < 0.01
True
"""

from __future__ import annotations

from torch import nn


def init_weights_normal(module: nn.Module) -> None:
    """The authors' initialisation (``weights_init_normal``), applied to every submodule.

    Conv and transposed-conv weights ~ N(0, 0.02) (their biases keep PyTorch's defaults);
    BatchNorm weights ~ N(1, 0.02), biases 0. Codebook buffers are not touched.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
