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


def run_stage(
    stage: int,
    model: AMMCNet,
    config: TrainConfig,
    ctx: StageContext,
    *,
    resume: bool,
    init_disc: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train ``model`` in place for one stage.

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
    settings = stage_settings(config, stage)
    device = ctx.device
    w = config.loss
    torch.manual_seed(config.run.seed + 1000 * stage)  # fresh discriminators are reproducible

    parts: dict[str, GanPart] = {}
    scheds: dict[str, torch.optim.lr_scheduler.LRScheduler] = {}
    d_app = _disc(3, config, device)
    if init_disc is not None:
        d_app.load_state_dict(init_disc)
    if stage == 1:
        opt_g = _adam(model.appearance.parameters(), config.optim.lr_g, config)
        opt_d = _adam(d_app.parameters(), config.optim.lr_d, config)
        parts["appearance"] = GanPart(opt_g, d_app, opt_d)
        if model.motion is not None:
            d_mot = _disc(2, config, device)
            parts["motion"] = GanPart(
                _adam(model.motion.parameters(), config.optim.lr_g, config),
                d_mot,
                _adam(d_mot.parameters(), config.optim.lr_d, config),
            )
    else:
        parts["appearance"] = GanPart(
            _adam(model.parameters(), config.optim.lr_g, config), d_app, _adam(d_app.parameters(), config.optim.lr_d, config)
        )
    dctx = init_distributed(device.type)  # single process unless started by torchrun
    # DDP replicas (the plain modules in a single process); checkpoints keep the plain modules
    generators, parts = replicate_stage(model, parts, stage, dctx, sync_bn=config.run.sync_bn)
    for name, part in parts.items():
        scheds[f"{name}.g"] = _sched(part.opt_g, config)
        scheds[f"{name}.d"] = _sched(part.opt_d, config)

    start, best_val, best_step = 0, float("inf"), -1
    found = load_latest_train_state(ctx.run, stage) if resume else None  # skips damaged newer ones
    ckpt, state = found if found is not None else (None, {})
    if ckpt is not None:
        if state.get("stage") != stage:
            raise CheckpointError(f"{ckpt} holds stage {state.get('stage')}, not {stage}; delete it to restart")
        _load_strict(model, state["model"], "model weights", ckpt)
        for name, part in parts.items():
            if name not in state["parts"]:
                raise CheckpointError(f"{ckpt}: no state for the {name} stream; resume with the run's model.streams")
            p = state["parts"][name]
            _load_strict(part.disc, p["disc"], f"{name} discriminator", ckpt)
            _load_strict(part.opt_g, p["opt_g"], f"{name} generator optimiser", ckpt)
            _load_strict(part.opt_d, p["opt_d"], f"{name} discriminator optimiser", ckpt)
        for key, sched in scheds.items():
            sched.load_state_dict(state["schedulers"][key])
        start = int(state["step"])
        best_val = float(state.get("best_val", float("inf")))
        best_step = int(state.get("best_step", -1))
        set_rng_state(state["rng"])

    total = settings.iterations
    n_train = len(ctx.train_set)
    if dctx.enabled:  # each rank takes its share of every global batch
        sampler = ShardedStepBatchSampler(
            n_train, settings.batch_size, seed=config.run.seed, stage=stage, start=start, stop=max(start, total),
            rank=dctx.rank, world_size=dctx.world_size,
        )
    else:
        sampler = StepBatchSampler(
            n_train, settings.batch_size, seed=config.run.seed, stage=stage, start=start, stop=max(start, total)
        )
    workers = config.data.workers
    # the dataset is read by whole batches, packed (uint8/float16) and unpacked on the device: see
    # ClipDataset.get_batch for why that is 2-3x faster than per-clip reads and default collation
    loader = DataLoader(
        ClipBatches(ctx.train_set),
        sampler=sampler,
        batch_size=None,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
        worker_init_fn=seed_worker,
    )
    val_loader = DataLoader(ctx.val_set, batch_size=settings.batch_size, shuffle=False, num_workers=0)
    autocast = _autocast_factory(config, device)
    forward = generators.get("model")
    if forward is not None and config.run.compile and device.type == "cuda":
        forward = torch.compile(forward)

    def save(step: int, val: float | None) -> None:
        nonlocal best_val, best_step
        if val is not None and val < best_val:
            best_val, best_step = val, step
            torch_save_atomic(
                checkpoint_dir(ctx.run) / f"stage{stage}-best.pt",
                seal({"format": "ammcnet-best/1", "stage": stage, "step": step, "val_loss": val,
                      "model": model.state_dict()}),
            )
        save_train_state(
            checkpoint_path(ctx.run, stage, step),
            {
                "stage": stage,
                "step": step,
                "model": model.state_dict(),
                "parts": {
                    name: {"disc": p.disc.state_dict(), "opt_g": p.opt_g.state_dict(), "opt_d": p.opt_d.state_dict()}
                    for name, p in parts.items()
                },
                "schedulers": {k: s.state_dict() for k, s in scheds.items()},
                "sampler": sampler.position(step),
                "best_val": best_val,
                "best_step": best_step,
            },
        )
        prune_checkpoints(ctx.run, stage, config.run.keep_checkpoints)

    bar = _progress(stage, start, total, ctx.progress and dctx.is_main)
    model.train()
    step = start
    last_val: float | None = None
    t_start = time.perf_counter()
    t_log, steps_since_log = time.perf_counter(), 0
    try:
        for indices_batch in loader:
            batch = to_device(unpack_batch(indices_batch, device), device)
            if stage == 1:
                logs = stage1_step(model, batch, parts, w, autocast, streams=generators)
            else:
                logs = stage2_step(model, batch, parts["appearance"], w, autocast, forward)
            for sched in scheds.values():
                sched.step()
            step += 1
            steps_since_log += 1
            bar.update(1)
            at_ckpt = step % config.run.checkpoint_every == 0 or step == total
            val = None
            log_now = step % config.run.log_every == 0 or at_ckpt
            if log_now:  # every rank: one all-reduce, so rank 0 logs the global batch's losses
                logs = mean_over_ranks(logs, dctx)
            if at_ckpt and len(ctx.val_set) > 0 and dctx.is_main:
                val = validation_loss(model, val_loader, w, stage, device, config.run.val_max_batches)
                last_val = val
            if log_now and dctx.is_main:
                now = time.perf_counter()
                it_s = steps_since_log / max(now - t_log, 1e-9)
                t_log, steps_since_log = now, 0
                row = {"stage": stage, "step": step, **logs, "it_s": round(it_s, 4), "val_loss": val}
                row["lr_g"] = parts["appearance"].opt_g.param_groups[0]["lr"]
                row["lr_d"] = parts["appearance"].opt_d.param_groups[0]["lr"]
                row["time_s"] = round(now - t_start, 3)
                ctx.log.write(row)
                bar.set_postfix({k: f"{logs[k]:.4f}" for k in ("g_loss", "d_loss", "int") if k in logs}, refresh=False)
            if at_ckpt and dctx.is_main:
                save(step, val)
            if ctx.hook is not None:
                ctx.hook(stage, step, logs)
    finally:
        bar.close()
    broadcast_buffers([model, *(p.disc for p in parts.values())])  # every rank ends with rank 0's
    if step == start and ckpt is None and dctx.is_main:
        # nothing trained (0 iterations): still leave a checkpoint so resumes see the stage as done
        save(step, None)
    return {
        "steps": step,
        "best_val": best_val if best_step >= 0 else None,
        "best_step": best_step,
        "val_loss": last_val,
        "seconds": time.perf_counter() - t_start,
        "appearance_disc": parts["appearance"].disc.state_dict(),
    }


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


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(stage: int, start: int, total: int, enabled: bool) -> Any:
    if not enabled or not sys.stderr.isatty():
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, initial=start, desc=f"stage {stage}", unit="step", file=sys.stderr, dynamic_ncols=True)
