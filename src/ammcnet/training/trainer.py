"""The two-stage training loop: stage 1 (each stream with its memory), stage 2 (joint, with AMFT).

:func:`run_stage` owns one stage: it builds the optimisers, resumes from the stage's newest
checkpoint when asked, steps the sampler, logs, validates on held-out normal clips at every
checkpoint and leaves the trained model in memory. File layout of a run folder::

    RUN/config.yaml                 resolved TrainConfig
    RUN/metrics.csv                 one row per logged step (both stages)
    RUN/checkpoints/stageS-NNNNNNN.pt   resumable state, every run.checkpoint_every steps and at the end
    RUN/checkpoints/stageS-best.pt  lowest validation loss (model weights only)
    RUN/stage1.pt                   stage-1 model file (streams without AMFT)
    RUN/model.pt                    final model file (with calibration)

>>> from ammcnet.training.presets import load_preset
>>> stage_settings(load_preset("tiny"), 2).batch_size
4
"""

from __future__ import annotations

import contextlib
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from ammcnet.data.clips import ClipBatches, unpack_batch
from ammcnet.errors import CheckpointError
from ammcnet.models import AMMCNet, PatchDiscriminator, init_weights_normal
from ammcnet.training.config import StageSettings, TrainConfig
from ammcnet.training.distributed import (
    ShardedStepBatchSampler,
    broadcast_buffers,
    init_distributed,
    mean_over_ranks,
    replicate_stage,
)
from ammcnet.training.metrics_log import MetricsLog
from ammcnet.training.sampling import StepBatchSampler
from ammcnet.training.state import (
    checkpoint_dir,
    checkpoint_path,
    load_latest_train_state,
    prune_checkpoints,
    read_sealed,
    save_train_state,
    set_rng_state,
)
from ammcnet.training.steps import GanPart, stage1_step, stage2_step, to_device, validation_loss
from ammcnet.utils.digest import seal
from ammcnet.utils.io import torch_save_atomic

#: Called after every step with (stage, step, logs); tests use it to interrupt a run.
StepHook = Callable[[int, int, dict[str, float]], None]


def seed_worker(worker_id: int) -> None:
    """Give each DataLoader worker its own python/numpy seed (derived from torch's per-worker seed)."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def stage_settings(config: TrainConfig, stage: int) -> StageSettings:
    return config.stage1 if stage == 1 else config.stage2


@dataclass
class StageContext:
    """What a stage needs besides the config: data, device, run folder, logging."""

    run: Path
    train_set: Any
    val_set: Any
    device: torch.device
    log: MetricsLog
    progress: bool = True
    hook: StepHook | None = None


def _adam(params: Any, lr: float, config: TrainConfig) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=lr, betas=tuple(config.optim.betas))


def _sched(opt: torch.optim.Optimizer, config: TrainConfig) -> torch.optim.lr_scheduler.MultiStepLR:
    return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(config.optim.milestones), gamma=config.optim.gamma)


def _disc(in_channels: int, config: TrainConfig, device: torch.device) -> nn.Module:
    d = PatchDiscriminator(in_channels, tuple(config.disc.widths))
    init_weights_normal(d)
    return d.to(device)


def _load_strict(module: nn.Module, state: dict[str, Any], what: str, path: Path) -> None:
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0][:200]
        raise CheckpointError(
            f"{path}: {what} does not fit this config ({first}); resume with the run's own config.yaml "
            "settings or choose another --out"
        ) from None


def _autocast_factory(config: TrainConfig, device: torch.device) -> Callable[[], contextlib.AbstractContextManager]:
    if config.run.bf16 and device.type == "cuda":
        return lambda: torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext


@dataclass
class _Stage:
    """Everything one stage's loop needs, and its running bests."""

    stage: int
    model: AMMCNet
    config: TrainConfig
    ctx: StageContext
    parts: dict[str, GanPart]
    scheds: dict[str, torch.optim.lr_scheduler.LRScheduler]
    generators: dict[str, Any]
    dctx: Any
    start: int = 0
    best_val: float = float("inf")
    best_step: int = -1
    sampler: Any = None

    def save(self, step: int, val: float | None) -> None:
        """The step's checkpoint (and ``stageS-best.pt`` when the validation loss improved)."""
        run, stage, model = self.ctx.run, self.stage, self.model
        if val is not None and val < self.best_val:
            self.best_val, self.best_step = val, step
            torch_save_atomic(
                checkpoint_dir(run) / f"stage{stage}-best.pt",
                seal({"format": "ammcnet-best/1", "stage": stage, "step": step, "val_loss": val,
                      "model": model.state_dict()}),
            )
        save_train_state(checkpoint_path(run, stage, step), {
            "stage": stage,
            "step": step,
            "model": model.state_dict(),
            "parts": {name: {"disc": p.disc.state_dict(), "opt_g": p.opt_g.state_dict(), "opt_d": p.opt_d.state_dict()}
                      for name, p in self.parts.items()},
            "schedulers": {k: s.state_dict() for k, s in self.scheds.items()},
            "sampler": self.sampler.position(step),
            "best_val": self.best_val,
            "best_step": self.best_step,
        })
        prune_checkpoints(run, stage, self.config.run.keep_checkpoints)


def run_stage(
    stage: int,
    model: AMMCNet,
    config: TrainConfig,
    ctx: StageContext,
    *,
    resume: bool,
    init_disc: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train ``model`` in place for one stage: build the optimisers, resume, loop, checkpoint.

    Args:
        stage: 1 or 2.
        model: an ``AMMCNet`` on ``ctx.device`` (stage 1: without AMFT; stage 2: stream weights
            already loaded from stage 1).
        config: the run's config.
        ctx: data, device, folder and logging.
        resume: continue from the stage's newest checkpoint if there is one.
        init_disc: stage 2 only: appearance discriminator state to start from.

    Returns:
        Summary: ``steps``, ``best_val``, ``best_step``, ``val_loss`` (last), ``seconds``,
        ``appearance_disc`` (state dict, for stage 2).
    """
    torch.manual_seed(config.run.seed + 1000 * stage)  # fresh discriminators are reproducible
    parts = _gan_parts(stage, model, config, ctx.device, init_disc)
    dctx = init_distributed(ctx.device.type)  # single process unless started by torchrun
    # DDP replicas (the plain modules in a single process); checkpoints keep the plain modules
    generators, parts = replicate_stage(model, parts, stage, dctx, sync_bn=config.run.sync_bn)
    scheds = {f"{name}.{k}": _sched(opt, config) for name, part in parts.items()
              for k, opt in (("g", part.opt_g), ("d", part.opt_d))}
    st = _Stage(stage, model, config, ctx, parts, scheds, generators, dctx)
    found = load_latest_train_state(ctx.run, stage) if resume else None  # skips damaged newer ones
    ckpt = None
    if found is not None:
        ckpt, state = found
        _resume(st, ckpt, state)
    t_start = time.perf_counter()
    step, last_val = _loop(st, t_start)
    broadcast_buffers([model, *(p.disc for p in parts.values())])  # every rank ends with rank 0's
    if step == st.start and ckpt is None and dctx.is_main:
        # nothing trained (0 iterations): still leave a checkpoint so resumes see the stage as done
        st.save(step, None)
    return {
        "steps": step,
        "best_val": st.best_val if st.best_step >= 0 else None,
        "best_step": st.best_step,
        "val_loss": last_val,
        "seconds": time.perf_counter() - t_start,
        "appearance_disc": parts["appearance"].disc.state_dict(),
    }


def _gan_parts(stage: int, model: AMMCNet, config: TrainConfig, device: torch.device,
               init_disc: dict[str, Any] | None) -> dict[str, GanPart]:
    """Generator optimiser, discriminator and its optimiser per stream (stage 1) or for the whole model (stage 2)."""
    d_app = _disc(3, config, device)
    if init_disc is not None:
        d_app.load_state_dict(init_disc)
    if stage != 1:
        return {"appearance": GanPart(_adam(model.parameters(), config.optim.lr_g, config), d_app,
                                      _adam(d_app.parameters(), config.optim.lr_d, config))}
    parts = {"appearance": GanPart(_adam(model.appearance.parameters(), config.optim.lr_g, config), d_app,
                                   _adam(d_app.parameters(), config.optim.lr_d, config))}
    if model.motion is not None:
        d_mot = _disc(2, config, device)
        parts["motion"] = GanPart(_adam(model.motion.parameters(), config.optim.lr_g, config), d_mot,
                                  _adam(d_mot.parameters(), config.optim.lr_d, config))
    return parts


def _resume(st: _Stage, ckpt: Path, state: dict[str, Any]) -> None:
    """Load the model, discriminators, optimisers, schedulers, bests and RNG state of checkpoint ``ckpt``."""
    if state.get("stage") != st.stage:
        raise CheckpointError(f"{ckpt} holds stage {state.get('stage')}, not {st.stage}; delete it to restart")
    _load_strict(st.model, state["model"], "model weights", ckpt)
    for name, part in st.parts.items():
        if name not in state["parts"]:
            raise CheckpointError(f"{ckpt}: no state for the {name} stream; resume with the run's model.streams")
        p = state["parts"][name]
        _load_strict(part.disc, p["disc"], f"{name} discriminator", ckpt)
        _load_strict(part.opt_g, p["opt_g"], f"{name} generator optimiser", ckpt)
        _load_strict(part.opt_d, p["opt_d"], f"{name} discriminator optimiser", ckpt)
    for key, sched in st.scheds.items():
        sched.load_state_dict(state["schedulers"][key])
    st.start = int(state["step"])
    st.best_val = float(state.get("best_val", float("inf")))
    st.best_step = int(state.get("best_step", -1))
    set_rng_state(state["rng"])


def _loaders(st: _Stage) -> tuple[DataLoader, DataLoader]:
    """The training loader (whole batches from a step sampler, sharded over ranks) and the validation loader."""
    config, ctx, dctx = st.config, st.ctx, st.dctx
    settings = stage_settings(config, st.stage)
    n_train, total = len(ctx.train_set), settings.iterations
    common = dict(seed=config.run.seed, stage=st.stage, start=st.start, stop=max(st.start, total))
    if dctx.enabled:  # each rank takes its share of every global batch
        st.sampler = ShardedStepBatchSampler(n_train, settings.batch_size, **common, rank=dctx.rank,
                                             world_size=dctx.world_size)
    else:
        st.sampler = StepBatchSampler(n_train, settings.batch_size, **common)
    # the dataset is read by whole batches, packed (uint8/float16) and unpacked on the device: see
    # ClipDataset.get_batch for why that is 2-3x faster than per-clip reads and default collation
    loader = DataLoader(ClipBatches(ctx.train_set), sampler=st.sampler, batch_size=None, num_workers=config.data.workers,
                        pin_memory=ctx.device.type == "cuda", persistent_workers=False, worker_init_fn=seed_worker)
    val_loader = DataLoader(ctx.val_set, batch_size=settings.batch_size, shuffle=False, num_workers=0)
    return loader, val_loader


def _loop(st: _Stage, t_start: float) -> tuple[int, float | None]:
    """The training steps from ``st.start``: step, schedulers, logging, validation, checkpoints; (last step, last val)."""
    config, ctx, dctx, device = st.config, st.ctx, st.dctx, st.ctx.device
    total = stage_settings(config, st.stage).iterations
    loader, val_loader = _loaders(st)
    autocast = _autocast_factory(config, device)
    forward = st.generators.get("model")
    if forward is not None and config.run.compile and device.type == "cuda":
        forward = torch.compile(forward)
    log = _StepLog(st, t_start)
    bar = tqdm(total=total, initial=st.start, desc=f"stage {st.stage}", unit="step", file=sys.stderr,
               dynamic_ncols=True, disable=not (ctx.progress and dctx.is_main and sys.stderr.isatty()))
    st.model.train()
    step, last_val = st.start, None
    try:
        for indices_batch in loader:
            batch = to_device(unpack_batch(indices_batch, device), device)
            if st.stage == 1:
                logs = stage1_step(st.model, batch, st.parts, config.loss, autocast, streams=st.generators)
            else:
                logs = stage2_step(st.model, batch, st.parts["appearance"], config.loss, autocast, forward)
            for sched in st.scheds.values():
                sched.step()
            step += 1
            bar.update(1)
            at_ckpt = step % config.run.checkpoint_every == 0 or step == total
            log_now = step % config.run.log_every == 0 or at_ckpt
            if log_now:  # every rank: one all-reduce, so rank 0 logs the global batch's losses
                logs = mean_over_ranks(logs, dctx)
            val = None
            if at_ckpt and len(ctx.val_set) > 0 and dctx.is_main:
                val = last_val = validation_loss(st.model, val_loader, config.loss, st.stage, device,
                                                 config.run.val_max_batches)
            if log_now and dctx.is_main:
                log.write(step, logs, val, bar)
            if at_ckpt and dctx.is_main:
                st.save(step, val)
            if ctx.hook is not None:
                ctx.hook(st.stage, step, logs)
    finally:
        bar.close()
    return step, last_val


class _StepLog:
    """Rows of ``metrics.csv`` (rank 0): losses, steps per second since the last row, learning rates."""

    def __init__(self, st: _Stage, t_start: float) -> None:
        self.st, self.t_start = st, t_start
        self.t_log, self.last_step = time.perf_counter(), st.start

    def write(self, step: int, logs: dict[str, float], val: float | None, bar: Any) -> None:
        st = self.st
        now = time.perf_counter()
        it_s = (step - self.last_step) / max(now - self.t_log, 1e-9)
        self.t_log, self.last_step = now, step
        app = st.parts["appearance"]
        st.ctx.log.write({"stage": st.stage, "step": step, **logs, "it_s": round(it_s, 4), "val_loss": val,
                          "lr_g": app.opt_g.param_groups[0]["lr"], "lr_d": app.opt_d.param_groups[0]["lr"],
                          "time_s": round(now - self.t_start, 3)})
        bar.set_postfix({k: f"{logs[k]:.4f}" for k in ("g_loss", "d_loss", "int") if k in logs}, refresh=False)


def load_best(run: Path, stage: int, model: nn.Module) -> int | None:
    """Load ``stageS-best.pt`` into ``model``; returns its step, or None if there is none."""
    path = checkpoint_dir(run) / f"stage{stage}-best.pt"
    if not path.is_file():
        return None
    try:
        state = read_sealed(path, "best checkpoint")
    except CheckpointError as exc:
        raise CheckpointError(f"{exc}; delete it or use run.select=last") from None
    _load_strict(model, state["model"], "best model weights", path)
    return int(state["step"])


