"""Seconds per training step of a preset, stage 1 and stage 2, on random clips at the preset's size.

Usage::

    python benchmarks/bench_train_step.py --preset cpu-lite --steps 5
    python benchmarks/bench_train_step.py --preset paper-ped2 --steps 2 --warmup 1 --device cuda

Prints one line per stage: preset, stage, device, batch, size, mean and min seconds per step.
The step is the real one (generator step, then discriminator step, both stages' losses); only the
data loading is left out, so the numbers are what the model costs.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from ammcnet.models import AMMCNet
from ammcnet.training import load_preset
from ammcnet.training.api import model_config, resolve_device
from ammcnet.training.steps import GanPart, stage1_step, stage2_step
from ammcnet.training.trainer import _adam, _autocast_factory, _disc


def _batch(cfg, batch_size: int, device: torch.device) -> dict[str, torch.Tensor]:
    h, w = cfg.data.size
    f, p = cfg.model.frames_in, cfg.model.flows_in
    g = torch.Generator().manual_seed(0)
    rand = lambda c: (torch.rand(batch_size, c, h, w, generator=g) * 2 - 1).to(device)  # noqa: E731
    return {"frames": rand(3 * f), "target": rand(3), "flows": rand(2 * p) * 0.1, "flow_target": rand(2) * 0.1}


def bench(preset: str, stage: int, steps: int, warmup: int, device: torch.device, overrides: list[str]) -> list[float]:
    cfg = load_preset(preset, overrides)
    torch.manual_seed(0)
    model = AMMCNet(model_config(cfg, use_amft=stage == 2)).to(device).train()
    autocast = _autocast_factory(cfg, device)
    settings = cfg.stage1 if stage == 1 else cfg.stage2
    batch = _batch(cfg, settings.batch_size, device)
    d_app = _disc(3, cfg, device)
    if stage == 1:
        parts = {"appearance": GanPart(_adam(model.appearance.parameters(), 1e-4, cfg), d_app,
                                       _adam(d_app.parameters(), 1e-5, cfg))}
        if model.motion is not None:
            d_mot = _disc(2, cfg, device)
            parts["motion"] = GanPart(_adam(model.motion.parameters(), 1e-4, cfg), d_mot,
                                      _adam(d_mot.parameters(), 1e-5, cfg))
    else:
        part = GanPart(_adam(model.parameters(), 1e-4, cfg), d_app, _adam(d_app.parameters(), 1e-5, cfg))
    times = []
    for i in range(warmup + steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        if stage == 1:
            stage1_step(model, batch, parts, cfg.loss, autocast)
        else:
            stage2_step(model, batch, part, cfg.loss, autocast)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", action="append", default=None, help="preset(s) to time [cpu-lite]")
    ap.add_argument("--stage", choices=("1", "2", "both"), default="both")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads, 0 = all cores")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    device = resolve_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(args.threads or os.cpu_count() or 1)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads, torch {torch.__version__}"
    if device.type == "cuda":
        machine += f", {torch.cuda.get_device_name()}"
    print(f"# {machine}")
    stages = (1, 2) if args.stage == "both" else (int(args.stage),)
    for preset in args.preset or ["cpu-lite"]:
        for stage in stages:
            cfg = load_preset(preset, args.overrides)
            bs = (cfg.stage1 if stage == 1 else cfg.stage2).batch_size
            t = bench(preset, stage, args.steps, args.warmup, device, args.overrides)
            print(
                f"{preset} stage {stage} device={device.type} batch={bs} size={cfg.data.size[0]}x{cfg.data.size[1]} "
                f"F={cfg.model.features_root}: mean {sum(t) / len(t):.3f} s/step, min {min(t):.3f} s/step "
                f"({len(t)} steps)",
                flush=True,
            )


if __name__ == "__main__":
    main()
