"""Data-parallel training helpers (torchrun, one process per GPU or per CPU slot).

What keeps N processes training one model exactly as one process with an N-times larger batch:

* :class:`ShardedStepBatchSampler`: every step draws one global batch of ``batch_size * world``
  clips from the trainer's ``(seed, stage, epoch)`` permutation (as
  :class:`~ammcnet.training.sampling.StepBatchSampler`) and rank ``r`` takes items ``r::world``
  (``DistributedSampler`` semantics); resuming at a step gives the same shards.
* :func:`sync_optimizer`: gradients are averaged over all ranks right before every optimiser
  step (what ``DistributedDataParallel`` does in its backward hooks; done at the step because the
  stage-1 loop calls each stream directly and the GAN steps use four separate optimisers).
* :func:`sync_codebooks`: every memory's EMA statistics (assignment counts and feature sums) are
  all-reduced (summed) before the EMA update, so every rank keeps the same codebook and that
  codebook equals the one a single process would learn from the whole global batch.
* :func:`broadcast_state`: identical starting weights and buffers on every rank; BatchNorm
  running statistics are re-broadcast from rank 0 after each step (DDP's ``broadcast_buffers``),
  or :func:`convert_sync_batchnorm` computes batch statistics over all ranks.
* rank 0 alone logs and writes checkpoints (:attr:`DistContext.is_main`).

Run with ``torchrun --nproc-per-node 2 -m ammcnet train ...`` (CUDA: NCCL, CPU: gloo).

>>> ctx = DistContext()          # a plain single process
>>> ctx.world_size, ctx.is_main
(1, True)
>>> s = [list(ShardedStepBatchSampler(8, 2, seed=0, stage=1, start=0, stop=2, rank=r, world_size=2)) for r in (0, 1)]
>>> sorted(s[0][0] + s[1][0]) == sorted(list(__import__("ammcnet.training.sampling", fromlist=["x"]).StepBatchSampler(8, 4, seed=0, stage=1, start=0, stop=1))[0])
True
"""

from __future__ import annotations

import functools
import os
import types
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from ammcnet.errors import ConfigError
from ammcnet.models.memory import EMACodebook
from ammcnet.training.sampling import StepBatchSampler


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


def current_context() -> DistContext:
    """The context of an already initialised process group (single process otherwise)."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistContext()
    return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


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


def allreduce_gradients(params: Iterable[torch.Tensor]) -> None:
    """Average the gradients of ``params`` over all ranks (one flat all-reduce per dtype/device)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads or not dist.is_initialized() or dist.get_world_size() == 1:
        return
    world = dist.get_world_size()
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat.div_(world)
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def sync_optimizer(optimizer: torch.optim.Optimizer, after_step: nn.Module | None = None) -> torch.optim.Optimizer:
    """Make ``optimizer.step()`` average gradients over ranks first (in place; returns it).

    Args:
        optimizer: any optimiser; its ``state_dict`` is unchanged, so checkpoints stay portable.
        after_step: optional module whose BatchNorm running statistics are broadcast from rank 0
            after each step (skip it when using SyncBatchNorm).
    """
    if getattr(optimizer, "_ammcnet_synced", False):
        return optimizer
    step = optimizer.step

    @functools.wraps(step)
    def synced_step(self: torch.optim.Optimizer, *args, **kwargs):
        for group in self.param_groups:
            allreduce_gradients(group["params"])
        out = step(*args, **kwargs)
        if after_step is not None:
            broadcast_batchnorm_stats(after_step)
        return out

    # a bound method, as LR schedulers expect when they wrap ``optimizer.step``
    optimizer.step = types.MethodType(synced_step, optimizer)  # type: ignore[method-assign]
    optimizer._ammcnet_synced = True  # type: ignore[attr-defined]
    return optimizer


def _allreduced_ema_update(codebook: EMACodebook, original, counts: torch.Tensor, sums: torch.Tensor) -> None:
    if dist.is_initialized() and dist.get_world_size() > 1:
        stats = torch.cat([counts.reshape(-1), sums.reshape(-1)])
        dist.all_reduce(stats)  # sums: the codebook sees the whole global batch
        counts = stats[: counts.numel()].view_as(counts)
        sums = stats[counts.numel() :].view_as(sums)
    original(counts, sums)


def sync_codebooks(model: nn.Module) -> int:
    """All-reduce every EMA codebook's statistics before its update (in place).

    Returns:
        The number of codebooks hooked.
    """
    n = 0
    for m in model.modules():
        if isinstance(m, EMACodebook) and not getattr(m, "_ammcnet_synced", False):
            original = m._ema_update
            m._ema_update = functools.partial(_allreduced_ema_update, m, original)  # type: ignore[method-assign]
            m._ammcnet_synced = True
            n += 1
    return n


def broadcast_state(module: nn.Module, src: int = 0) -> None:
    """Copy every parameter and buffer of ``module`` from rank ``src`` to all ranks."""
    if not dist.is_initialized():
        return
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src)


def broadcast_batchnorm_stats(module: nn.Module, src: int = 0) -> None:
    """Broadcast BatchNorm running statistics from ``src`` (DDP's ``broadcast_buffers``)."""
    if not dist.is_initialized():
        return
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
                for t in (m.running_mean, m.running_var, m.num_batches_tracked):
                    dist.broadcast(t.data, src)


def convert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Replace BatchNorm layers by SyncBatchNorm (batch statistics over all ranks); state keys are unchanged."""
    return nn.SyncBatchNorm.convert_sync_batchnorm(module)


def prepare_model(model: nn.Module, ctx: DistContext, *, sync_bn: bool = False) -> nn.Module:
    """Everything a model needs before data-parallel training: same start, synced codebooks, optional SyncBN."""
    if not ctx.enabled:
        return model
    if sync_bn:
        model = convert_sync_batchnorm(model)
    broadcast_state(model)
    sync_codebooks(model)
    return model


def prepare_data_parallel(model: nn.Module, parts: Iterable, ctx: DistContext, *, sync_bn: bool = False) -> None:
    """Hook a training stage up for data parallelism (no-op in a single process).

    Args:
        model: the generator (``AMMCNet``): broadcast from rank 0, codebooks synced.
        parts: the stage's ``GanPart``s (``opt_g``, ``disc``, ``opt_d``): discriminators broadcast,
            every optimiser averages gradients before stepping and re-broadcasts BN statistics after.
        ctx: this process's place in the job.
        sync_bn: compute BatchNorm statistics over all ranks (SyncBatchNorm, CUDA only) instead of
            re-broadcasting rank 0's running statistics after each step.
    """
    if not ctx.enabled:
        return
    if sync_bn and ctx.device.type != "cuda":
        raise ConfigError("run.sync_bn needs CUDA devices (SyncBatchNorm); leave it false on CPU")
    prepare_model(model, ctx, sync_bn=sync_bn)
    for part in parts:
        broadcast_state(part.disc)
        sync_optimizer(part.opt_g, after_step=None if sync_bn else model)
        sync_optimizer(part.opt_d, after_step=part.disc)


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


def cleanup() -> None:
    """Leave the process group (no-op in a single process)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
