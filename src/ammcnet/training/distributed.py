"""Data-parallel training helpers (torchrun, one process per GPU or per CPU slot).

What keeps N processes training one model as one process with an N-times larger batch:

* :class:`ShardedStepBatchSampler`: every step draws one global batch of ``batch_size * world``
  clips from the trainer's ``(seed, stage, epoch)`` permutation (as
  :class:`~ammcnet.training.sampling.StepBatchSampler`) and rank ``r`` takes items ``r::world``
  (``DistributedSampler`` semantics); resuming at a step gives the same shards.
* :func:`replicate_stage`: the generator streams and the discriminators are trained through
  PyTorch's ``DistributedDataParallel`` (same start, gradients averaged in backward hooks,
  rank 0's BatchNorm buffers broadcast before each forward; or SyncBatchNorm on CUDA).
* the EMA codebooks sum their assignment counts and feature sums over the process group inside
  their own update (:class:`~ammcnet.models.memory.EMACodebook`), so every rank keeps the
  codebook a single process would learn from the whole global batch.
* :func:`mean_over_ranks`: logged losses are those of the global batch; rank 0 alone logs and
  writes checkpoints (:attr:`DistContext.is_main`); :func:`verify_replicas` checks at the end of
  each stage that every rank holds the same weights and buffers.

No training code is patched at run time: the step functions call the replicas they are given.

Run with ``torchrun --nproc-per-node 2 -m ammcnet train ...`` (CUDA: NCCL, CPU: gloo); several
machines: ``torchrun --nnodes N --node-rank R --rdzv-backend c10d --rdzv-endpoint HOST:PORT ...``
(docs/distributed.md).

>>> ctx = DistContext()          # a plain single process
>>> ctx.world_size, ctx.is_main
(1, True)
>>> s = [list(ShardedStepBatchSampler(8, 2, seed=0, stage=1, start=0, stop=2, rank=r, world_size=2)) for r in (0, 1)]
>>> sorted(s[0][0] + s[1][0]) == sorted(list(__import__("ammcnet.training.sampling", fromlist=["x"]).StepBatchSampler(8, 4, seed=0, stage=1, start=0, stop=1))[0])
True
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ammcnet.errors import ConfigError
from ammcnet.training.sampling import StepBatchSampler
from ammcnet.training.steps import GanPart


@dataclass
class DistContext:
    """Where this process sits in a data-parallel job.

    Attributes:
        rank: global rank (0 in a single process).
        world_size: number of processes.
        local_rank: rank on this machine (picks the GPU).
        device: the device this rank trains on.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Only the main rank logs, shows progress and writes files."""
        return self.rank == 0


def init_distributed(device: str = "auto", backend: str | None = None) -> DistContext:
    """Join the process group described by torchrun's environment (``RANK``, ``WORLD_SIZE``, ...).

    Without those variables (a plain ``ammcnet train``) nothing is initialised and a
    single-process context is returned.

    Args:
        device: ``auto`` (CUDA if available), ``cuda`` or ``cpu``.
        backend: process-group backend; default NCCL on CUDA, gloo on CPU.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    use_cuda = torch.cuda.is_available() if device == "auto" else device.startswith("cuda")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if world <= 1:
        return DistContext(device=torch.device("cuda" if use_cuda else "cpu"))
    if "MASTER_ADDR" not in os.environ:
        raise ConfigError("WORLD_SIZE > 1 but MASTER_ADDR is not set: start multi-process training with torchrun")
    if use_cuda:
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group(backend or ("nccl" if use_cuda else "gloo"))
    return DistContext(dist.get_rank(), dist.get_world_size(), local, torch.device(f"cuda:{local}" if use_cuda else "cpu"))


class ShardedStepBatchSampler(StepBatchSampler):
    """This rank's share of every global batch of steps ``start .. stop-1``.

    The global batches are exactly those of :class:`StepBatchSampler` with ``batch_size *
    world_size`` items; rank ``r`` takes items ``r::world_size`` of each.

    Args:
        n: number of training items.
        batch_size: items per rank and step (global batch = ``batch_size * world_size``).
        seed: run seed; stage: training stage; start/stop: global steps to produce.
        rank: this process's rank; world_size: number of processes.
    """

    def __init__(self, n: int, batch_size: int, *, seed: int, stage: int, start: int, stop: int,
                 rank: int = 0, world_size: int = 1) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world of {world_size}")
        super().__init__(n, batch_size * world_size, seed=seed, stage=stage, start=start, stop=stop)
        self.rank, self.world_size = rank, world_size
        self.global_batch = self.batch_size

    def __iter__(self) -> Iterator[list[int]]:
        for batch in super().__iter__():
            yield batch[self.rank :: self.world_size]


def replicate(module: nn.Module, ctx: DistContext) -> nn.Module:
    """``module`` wrapped in :class:`~torch.nn.parallel.DistributedDataParallel` (itself in a single process).

    DDP copies rank 0's parameters and buffers to every rank when it is built, averages the
    gradients in bucketed backward hooks (overlapped with the backward pass), and broadcasts rank
    0's buffers (BatchNorm running statistics) before every forward. The codebook buffers are
    kept equal by the codebook itself (:class:`~ammcnet.models.memory.EMACodebook` sums its
    statistics over the group), so rank 0's copy is the one every rank holds anyway.
    """
    if not ctx.enabled:
        return module
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids)  # buffers: synced before each forward (default)


def replicate_stage(
    model: nn.Module, parts: dict[str, GanPart], stage: int, ctx: DistContext, *, sync_bn: bool = False
) -> tuple[dict[str, nn.Module], dict[str, GanPart]]:
    """The modules one training step calls, wrapped for data parallelism (plain in a single process).

    Stage 1 trains each stream with its own optimiser, so each stream is its own DDP module; stage
    2 trains the whole model. Each discriminator is replicated for its own step; the generator's
    adversarial term calls the plain discriminator (frozen there, nothing to average).
    Checkpoints keep using the plain modules, so their keys do not depend on the world size.

    Args:
        model: the ``AMMCNet`` being trained.
        parts: the stage's ``GanPart``s by stream name.
        stage: 1 or 2.
        ctx: this process's place in the job.
        sync_bn: compute BatchNorm statistics over all ranks (SyncBatchNorm, CUDA only) instead of
            using rank 0's running statistics.

    Returns:
        ``(generators, parts)``: ``{"appearance", "motion"}`` (stage 1, motion only if the model
        has it) or ``{"model"}`` (stage 2), and the parts with ``disc_replica`` set.
    """
    if sync_bn and ctx.enabled and ctx.device.type != "cuda":
        raise ConfigError("run.sync_bn needs CUDA devices (SyncBatchNorm); leave it false on CPU")
    if sync_bn and ctx.enabled:
        convert_sync_batchnorm(model)
    if stage == 1:
        streams = {"appearance": model.appearance, "motion": getattr(model, "motion", None)}
        generators = {k: replicate(m, ctx) for k, m in streams.items() if m is not None}
    else:
        generators = {"model": replicate(model, ctx)}
    if not ctx.enabled:
        return generators, parts
    return generators, {k: replace(p, disc_replica=replicate(p.disc, ctx)) for k, p in parts.items()}


def broadcast_buffers(modules: Iterable[nn.Module], src: int = 0) -> None:
    """Copy every buffer of ``modules`` from rank ``src`` to all ranks (no-op in a single process).

    DDP broadcasts rank 0's buffers at the start of each forward, so after the last step of a
    stage the other ranks still hold the BatchNorm statistics of their own last shard; this
    makes every rank end the stage with rank 0's (the ones its checkpoint holds).
    """
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return
    with torch.no_grad():
        for module in modules:
            for t in module.buffers():
                dist.broadcast(t.data, src)


def mean_over_ranks(logs: dict[str, float], ctx: DistContext) -> dict[str, float]:
    """Each logged loss averaged over all ranks: the loss of the global batch, not of rank 0's shard.

    Every rank must call it at the same steps (it is one all-reduce).
    """
    if not ctx.enabled or not logs:
        return logs
    keys = sorted(logs)
    values = torch.tensor([float(logs[k]) for k in keys], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(values)
    values /= ctx.world_size
    return {k: float(v) for k, v in zip(keys, values.tolist(), strict=True)}


def convert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Replace BatchNorm layers by SyncBatchNorm (batch statistics over all ranks); state keys are unchanged."""
    return nn.SyncBatchNorm.convert_sync_batchnorm(module)


def world_size() -> int:
    """Number of processes training together (1 without torchrun)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def verify_replicas(module: nn.Module) -> None:
    """Check that every rank holds the same weights and buffers (codebooks, BN statistics).

    Each rank sums each floating tensor of its ``state_dict`` (and its absolute values) in
    float64; the vectors are gathered and must be equal. Cheap, and it turns a silent
    divergence between ranks into a clear error at the end of a stage.

    Raises:
        RuntimeError: ranks hold different values.
    """
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return
    tensors = [t.detach() for t in module.state_dict().values() if t.is_floating_point()]
    local = torch.stack([torch.stack([t.double().sum(), t.double().abs().sum()]) for t in tensors]).flatten()
    gathered = [torch.zeros_like(local) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, local)
    differ = [r for r, g in enumerate(gathered) if not torch.equal(g, gathered[0])]
    if differ:
        raise RuntimeError(f"ranks {differ} hold other weights than rank 0 after synchronised training")
