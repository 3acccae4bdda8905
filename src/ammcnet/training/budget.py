"""Fit a two-stage schedule into a wall-clock budget, from training steps timed on this machine.

A lent GPU comes with minutes, a laptop with an evening: ``ammcnet train --minutes M`` times a few
real training steps of each stage (generator step then discriminator step, random clips at the
preset's size and batch, on the training device), then sets ``stage1.iterations``,
``stage2.iterations`` and the learning-rate milestone so that the run fills about ``M`` minutes.
Only speed decides the schedule (no data, no labels); it is written to the run's ``config.yaml``
like any other setting, so the run resumes and is reproduced with that schedule, not with the clock.

>>> plan_iterations(0.5, 0.25, seconds=100, stage1_share=0.6, overhead=0.2)
{'stage1': 96, 'stage2': 128, 'milestone': 75}
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, replace

import torch

from ammcnet.errors import ConfigError
from ammcnet.models import AMMCNet
from ammcnet.training.api import model_config
from ammcnet.training.config import TrainConfig
from ammcnet.training.steps import GanPart, stage1_step, stage2_step
from ammcnet.training.trainer import _adam, _autocast_factory, _disc

#: Where the learning-rate halving falls within stage 1 (as in ``cpu-ped2-256``: 1400 of 1800 steps).
MILESTONE_FRACTION = 1400 / 1800


@dataclass(frozen=True)
class BudgetPlan:
    """The outcome: step times measured, iterations chosen, and the settings that carry them."""

    minutes: float
    seconds_per_step: tuple[float, float]
    stage1: int
    stage2: int
    milestone: int
    device: str

    def overrides(self) -> list[str]:
        return [f"stage1.iterations={self.stage1}", f"stage2.iterations={self.stage2}",
                f"optim.milestones=[{self.milestone}]"]


def plan_iterations(step1: float, step2: float, *, seconds: float, stage1_share: float = 0.6,
                    overhead: float = 0.25) -> dict[str, int]:
    """Iterations per stage filling ``seconds`` (``overhead``: share kept for data, validation, checkpoints)."""
    usable = seconds * (1.0 - overhead)
    it1 = max(1, int(usable * stage1_share / step1))
    it2 = max(1, int(usable * (1.0 - stage1_share) / step2))
    return {"stage1": it1, "stage2": it2, "milestone": max(1, round(it1 * MILESTONE_FRACTION))}


def time_steps(config: TrainConfig, stage: int, steps: int, warmup: int, device: torch.device) -> list[float]:
    """Seconds of each of ``steps`` real training steps of ``stage`` (after ``warmup`` untimed ones)."""
    h, w = config.data.size
    f, p = config.model.frames_in, config.model.flows_in
    settings = config.stage1 if stage == 1 else config.stage2
    b = settings.batch_size
    g = torch.Generator().manual_seed(0)
    rand = lambda c: (torch.rand(b, c, h, w, generator=g) * 2 - 1).to(device)  # noqa: E731
    batch = {"frames": rand(3 * f), "target": rand(3), "flows": rand(2 * p) * 0.1, "flow_target": rand(2) * 0.1}
    torch.manual_seed(0)
    model = AMMCNet(model_config(config, use_amft=stage == 2)).to(device).train()
    autocast = _autocast_factory(config, device)
    d_app = _disc(3, config, device)
    if stage == 1:
        parts = {"appearance": GanPart(_adam(model.appearance.parameters(), 1e-4, config), d_app,
                                       _adam(d_app.parameters(), 1e-5, config))}
        if model.motion is not None:
            d_mot = _disc(2, config, device)
            parts["motion"] = GanPart(_adam(model.motion.parameters(), 1e-4, config), d_mot,
                                      _adam(d_mot.parameters(), 1e-5, config))
    else:
        part = GanPart(_adam(model.parameters(), 1e-4, config), d_app, _adam(d_app.parameters(), 1e-5, config))
    times = []
    for i in range(warmup + steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        if stage == 1:
            stage1_step(model, batch, parts, config.loss, autocast)
        else:
            stage2_step(model, batch, part, config.loss, autocast)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def fit_to_minutes(config: TrainConfig, minutes: float, device: torch.device, *, stage1_share: float = 0.6,
                   overhead: float = 0.25, steps: int = 5, warmup: int = 2) -> tuple[TrainConfig, BudgetPlan]:
    """Time both stages on ``device`` and return the config with its schedule fitted to ``minutes``."""
    if minutes <= 0:
        raise ConfigError(f"--minutes {minutes}: give a positive training budget")
    if not 0.0 < stage1_share < 1.0 or not 0.0 <= overhead < 1.0:
        raise ConfigError("stage1_share must be in (0, 1) and overhead in [0, 1)")
    threads = torch.get_num_threads()
    if device.type == "cpu" and config.run.threads:
        torch.set_num_threads(config.run.threads)  # time the steps with the threads training will use
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as in training
    try:
        t1 = statistics.median(time_steps(config, 1, steps, warmup, device))
        t2 = statistics.median(time_steps(config, 2, steps, warmup, device))
    finally:
        torch.set_num_threads(threads)
    it = plan_iterations(t1, t2, seconds=minutes * 60.0, stage1_share=stage1_share, overhead=overhead)
    plan = BudgetPlan(minutes, (t1, t2), it["stage1"], it["stage2"], it["milestone"], str(device))
    fitted = replace(config, stage1=replace(config.stage1, iterations=plan.stage1),
                     stage2=replace(config.stage2, iterations=plan.stage2),
                     optim=replace(config.optim, milestones=(plan.milestone,)))
    return fitted.validate(), plan
