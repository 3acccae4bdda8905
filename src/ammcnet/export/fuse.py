"""Inference-only rewrites of a trained model: BatchNorm folded into convolutions, channels-last.

In eval mode a BatchNorm is an affine map per channel, so ``BN(conv(x))`` equals one convolution
with rescaled weights and a bias. Folding removes one full pass over every feature map (the UNet
has 14 BNs per stream, 4 more in AMFT). The memory block (1x1 ``enc``, codebook, top-k, ``dec``)
is left untouched: its codebook buffers are copied as they are, so code assignments and
commitment scores stay exact.

>>> import torch
>>> from ammcnet.models import AMMCNet, ModelConfig
>>> net = AMMCNet(ModelConfig(features_root=4, embed_dim=8, n_embed=16)).eval()
>>> fast = optimize_for_inference(net)
>>> x, f = torch.randn(1, 12, 32, 32), torch.randn(1, 6, 32, 32)
>>> bool((net(x, f).frame_pred - fast(x, f).frame_pred).abs().max() < 1e-5)
True
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def fuse_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A new convolution equal to ``bn(conv(x))`` with ``bn`` in eval mode.

    Args:
        conv: a 2-D convolution (with or without bias).
        bn: the BatchNorm that follows it (its running statistics are used).

    Returns:
        A fresh ``nn.Conv2d`` with a bias; the inputs are not modified.
    """
    fused = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=True,
        padding_mode=conv.padding_mode,
    ).to(conv.weight.device)
    with torch.no_grad():
        # folded in float64, so the fused model differs from the original by rounding only
        w = conv.weight.double()
        b = conv.bias.double() if conv.bias is not None else torch.zeros(conv.out_channels, dtype=torch.float64, device=conv.weight.device)
        scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
        fused.weight.copy_((w * scale.view(-1, 1, 1, 1)).to(conv.weight.dtype))
        fused.bias.copy_(((b - bn.running_mean.double()) * scale + bn.bias.double()).to(conv.weight.dtype))
    return fused


def _fuse_sequential(seq: nn.Sequential) -> int:
    """Fold every (Conv2d, BatchNorm2d) pair of a Sequential in place; returns how many."""
    n = 0
    names = list(seq._modules.keys())
    for a, b in zip(names, names[1:], strict=False):
        conv, bn = seq._modules[a], seq._modules[b]
        if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats:
            seq._modules[a] = fuse_conv_bn(conv, bn)
            seq._modules[b] = nn.Identity()
            n += 1
    return n


def fuse_batchnorm(model: nn.Module) -> int:
    """Fold every Conv2d -> BatchNorm2d pair inside Sequentials of ``model``, in place.

    Returns:
        The number of BatchNorms folded.
    """
    return sum(_fuse_sequential(m) for m in model.modules() if isinstance(m, nn.Sequential))


def optimize_for_inference(model: nn.Module, *, channels_last: bool = False) -> nn.Module:
    """A fused, eval-mode copy of ``model`` for scoring (the original is not changed).

    Args:
        model: an ``AMMCNet`` (or a stream).
        channels_last: also store the weights in channels-last layout. Only worth it where a
            measurement says so (``ammcnet bench`` compares both); on the 2-core CPU used for
            BENCHMARKS.md (Speed) it did not pay at small widths.

    Returns:
        A deep copy in eval mode whose outputs match ``model.eval()`` to about 1e-5.
    """
    fast = copy.deepcopy(model).eval()
    fuse_batchnorm(fast)
    if channels_last:
        fast = fast.to(memory_format=torch.channels_last)
    for p in fast.parameters():
        p.requires_grad_(False)
    fast.fused_for_inference = True
    return fast
