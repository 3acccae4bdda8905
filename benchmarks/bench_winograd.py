"""Winograd F(2x2, 3x3) against oneDNN's direct convolution, layer by layer (one thread).

Usage: ``.venv/bin/python benchmarks/bench_winograd.py``. Prints, for each 3x3 layer shape of
``paper-ped2``, the direct convolution time (NCHW and channels-last), the Winograd time and the
relative error. Results and the conclusion: BENCHMARKS.md (Speed, "Where paper-ped2's time goes").
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

# F(2x2, 3x3): Y = A^T [(G g G^T) * (B^T d B)] A over 4x4 input tiles with stride 2
G = torch.tensor([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=torch.float32)
LAYERS = [(512, 512, 32), (512, 256, 64), (256, 256, 64), (128, 128, 128), (64, 64, 256)]


def winograd_weight(w: torch.Tensor) -> torch.Tensor:
    """(K, C, 3, 3) -> (16, C, K): the transformed filters, one GEMM operand per tile position."""
    k, c = w.shape[:2]
    return (G @ w @ G.T).permute(2, 3, 1, 0).reshape(16, c, k).contiguous()


def _input_rows(t: list[torch.Tensor]) -> list[torch.Tensor]:
    """B^T applied along one axis to four strided slices d0..d3."""
    return [t[0] - t[2], t[1] + t[2], t[2] - t[1], t[1] - t[3]]


def winograd_conv(x: torch.Tensor, u: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """3x3 convolution, padding 1, stride 1, even H and W; returns a channels-last (B, K, H, W) view."""
    b, c, h, w = x.shape
    xp = F.pad(x, (1, 1, 1, 1))
    h2, w2 = h // 2, w // 2
    rows = _input_rows([xp[:, :, j : j + 2 * h2 : 2] for j in range(4)])
    v = torch.empty(4, 4, b, h2, w2, c)
    for a in range(4):
        ra = rows[a].permute(0, 2, 3, 1)  # (B, h2, W+2, C)
        cols = _input_rows([ra[:, :, j : j + 2 * w2 : 2] for j in range(4)])
        for beta in range(4):
            v[a, beta] = cols[beta]
    m = torch.bmm(v.view(16, b * h2 * w2, c), u).view(4, 4, b, h2, w2, -1)
    k = u.shape[2]
    out = torch.empty(b, h2, 2, w2, 2, k)
    for i, r in enumerate((m[0] + m[1] + m[2], m[1] - m[2] - m[3])):  # A^T along rows
        out[:, :, i, :, 0] = r[0] + r[1] + r[2]  # A^T along columns
        out[:, :, i, :, 1] = r[1] - r[2] - r[3]
    return out.view(b, h, w, k).permute(0, 3, 1, 2) + bias.view(1, -1, 1, 1)


def _ms(fn: Callable[[], object], n: int = 5) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e3


def main() -> None:
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, random weights")
    for c, k, size in LAYERS:
        x = torch.randn(1, c, size, size)
        w = torch.randn(k, c, 3, 3) * 0.02
        bias = torch.randn(k)
        u = winograd_weight(w)
        xc, wc = x.contiguous(memory_format=torch.channels_last), w.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            ref = F.conv2d(x, w, bias, padding=1)
            err = ((winograd_conv(x, u, bias) - ref).abs().max() / ref.abs().max()).item()
            direct = _ms(lambda x=x, w=w, bias=bias: F.conv2d(x, w, bias, padding=1))
            direct_cl = _ms(lambda xc=xc, wc=wc, bias=bias: F.conv2d(xc, wc, bias, padding=1))
            wino = _ms(lambda x=x, u=u, bias=bias: winograd_conv(x, u, bias))
        print(f"{c} -> {k} channels, {size}x{size}: direct {direct:.1f} ms, direct channels-last {direct_cl:.1f} ms, "
              f"Winograd {wino:.1f} ms ({direct_cl / wino:.2f}x), relative error {err:.1e}")


if __name__ == "__main__":
    main()
