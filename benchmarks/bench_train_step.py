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

import torch

from ammcnet.training import load_preset
from ammcnet.training.api import resolve_device
from ammcnet.training.budget import time_steps


def bench(preset: str, stage: int, steps: int, warmup: int, device: torch.device, overrides: list[str]) -> list[float]:
    """Seconds of each timed step (``ammcnet.training.budget.time_steps`` on the preset)."""
    return time_steps(load_preset(preset, overrides), stage, steps, warmup, device)


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
