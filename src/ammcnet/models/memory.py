"""The memory of one stream: an EMA codebook read with top-k retrieval (spec 2.4).

``z = enc(x)`` (1x1 conv to D channels) is compared with the N codes of a codebook held in
buffers (``embed`` (D, N), ``cluster_size`` (N,), ``embed_avg`` (D, N)); the k nearest codes
of every position are concatenated nearest first, projected back by a 1x1 conv and added to
``x``. In training mode the codebook follows the top-1 assignments by exponential moving
averages (VQ-VAE-2 style, no codebook loss); under data-parallel training the assignment counts
and feature sums are summed over all processes first, so every replica keeps the codebook one
process would learn from the whole global batch. The commitment error ``mean((sg[e1] - z)^2)`` is
the loss that trains ``enc`` and, at test time, one of the anomaly scores.

>>> import torch
>>> mem = TopKMemory(16, embed_dim=4, n_embed=8, top_k=2).eval()
>>> out = mem(torch.randn(2, 16, 4, 4))
>>> out.features.shape, out.indices.shape, out.commit_per_sample.shape
(torch.Size([2, 16, 4, 4]), torch.Size([2, 4, 4, 2]), torch.Size([2]))
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class MemoryOutput:
    """What the memory returns, every time.

    Attributes:
        features: (B, C, h, w) ``x + dec(top-k codes)``.
        indices: (B, h, w, k) int64 code indices, nearest first.
        commit: scalar, mean of ``(sg[e1] - z)^2`` over the batch (the training loss).
        commit_per_sample: (B,) the same mean over (h, w, D) of each sample (the score).
        commit_map: (B, h, w) the same mean over D at each position (for localisation).
    """

    features: Tensor
    indices: Tensor
    commit: Tensor
    commit_per_sample: Tensor
    commit_map: Tensor


class EMACodebook(nn.Module):
    """N codes of size D in buffers, updated by moving averages of their top-1 assignments.

    Args:
        embed_dim: code size D.
        n_embed: number of codes N.
        decay: moving-average decay (0.99 in the paper).
        eps: Laplace smoothing constant of the cluster sizes (1e-5).
        sync: sum the EMA statistics over the default process group before each update.
            ``None`` (default): whenever a group of more than one process exists (what
            ``torchrun`` starts); ``False``: never (a replica trained alone inside a group).
            The buffers are not parameters, so DistributedDataParallel cannot average them:
            the codebook does it itself, as vector-quantize-pytorch's ``sync_codebook``.
    """

    def __init__(
        self, embed_dim: int, n_embed: int, decay: float = 0.99, eps: float = 1e-5, sync: bool | None = None
    ) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.n_embed = n_embed
        self.decay = decay
        self.eps = eps
        self.sync = sync
        embed = torch.randn(embed_dim, n_embed)
        self.register_buffer("embed", embed)
        self.register_buffer("cluster_size", torch.zeros(n_embed))
        self.register_buffer("embed_avg", embed.clone())

    def distances(self, flat: Tensor) -> Tensor:
        """Squared L2 distances (M, N) from ``flat`` (M, D) to every code, in float32."""
        flat = flat.float()
        embed = self.embed.float()
        return flat.pow(2).sum(1, keepdim=True) - 2 * flat @ embed + embed.pow(2).sum(0, keepdim=True)

    def lookup(self, indices: Tensor) -> Tensor:
        """Codes at ``indices`` (any shape) -> (..., D)."""
        return F.embedding(indices, self.embed.t())

    @torch.no_grad()
    def update(self, flat: Tensor, top1: Tensor) -> None:
        """One EMA step from the features ``flat`` (M, D) and their nearest codes ``top1`` (M,)."""
        onehot = F.one_hot(top1, self.n_embed).to(torch.float32)
        counts = onehot.sum(0)
        sums = flat.detach().float().t() @ onehot
        if self.syncs():
            counts, sums = _sum_over_processes(counts, sums)
        self._ema_update(counts, sums)

    def syncs(self) -> bool:
        """Whether :meth:`update` sums its statistics over the process group (see ``sync``)."""
        if self.sync is False or not (dist.is_available() and dist.is_initialized()):
            return False
        return dist.get_world_size() > 1

    @torch.no_grad()
    def _ema_update(self, counts: Tensor, sums: Tensor) -> None:
        """Apply assignment ``counts`` (N,) and feature ``sums`` (D, N) to the moving averages."""
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_avg.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (n + self.n_embed * self.eps) * n
        self.embed.copy_(self.embed_avg / smoothed.unsqueeze(0))


def _sum_over_processes(counts: Tensor, sums: Tensor) -> tuple[Tensor, Tensor]:
    """All-reduce (sum) ``counts`` and ``sums`` in one flat message; returns the global ones."""
    stats = torch.cat([counts.reshape(-1), sums.reshape(-1)])
    dist.all_reduce(stats)
    return stats[: counts.numel()].view_as(counts), stats[counts.numel() :].view_as(sums)


class TopKMemory(nn.Module):
    """1x1 conv to D, top-k codebook retrieval, 1x1 conv back, residual add.

    Args:
        channels: channels C of the bottleneck feature.
        embed_dim: code size D.
        n_embed: number of codes N.
        top_k: codes retrieved per position (concatenated nearest first, ``k * D`` channels).
        decay: codebook moving-average decay.
        eps: Laplace smoothing constant.
    """

    def __init__(
        self,
        channels: int,
        embed_dim: int = 64,
        n_embed: int = 256,
        top_k: int = 2,
        decay: float = 0.99,
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.top_k = top_k
        self.enc = nn.Conv2d(channels, embed_dim, 1)
        self.codebook = EMACodebook(embed_dim, n_embed, decay, eps)
        self.dec = nn.Conv2d(top_k * embed_dim, channels, 1)

    def forward(self, x: Tensor) -> MemoryOutput:
        """Read the memory.

        Args:
            x: (B, C, h, w) bottleneck feature.

        Returns:
            :class:`MemoryOutput`. In training mode the codebook takes one EMA step; the codes
            used in this call are gathered before that step.
        """
        z = self.enc(x).permute(0, 2, 3, 1)  # (B, h, w, D)
        b, h, w, d = z.shape
        flat = z.reshape(-1, d)
        dist = self.codebook.distances(flat)
        indices = (-dist).topk(self.top_k, dim=1).indices  # (M, k), nearest first
        codes = self.codebook.lookup(indices).to(z.dtype)  # (M, k, D), no gradient (buffer)
        nearest = codes[:, 0]
        if self.training:
            self.codebook.update(flat, indices[:, 0])
        sq = (nearest.detach() - flat).pow(2).reshape(b, h, w, d)
        commit_map = sq.mean(3)
        commit_per_sample = commit_map.mean((1, 2))
        retrieved = codes.reshape(b, h, w, self.top_k * d).permute(0, 3, 1, 2)
        features = x + self.dec(retrieved)
        return MemoryOutput(
            features=features,
            indices=indices.reshape(b, h, w, self.top_k),
            commit=commit_per_sample.mean(),
            commit_per_sample=commit_per_sample,
            commit_map=commit_map,
        )
