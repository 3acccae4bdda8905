"""Fit a preset's two-stage schedule into a wall-clock budget, from measured step times.

A lent GPU comes with minutes, not days: this times a few real training steps of each stage (the
same code as ``bench_train_step.py``, random clips at the preset's size) and prints the
``--set`` overrides that fill ``--minutes`` of training, split between the stages by
``--stage1-share``, with the learning-rate milestone at the same fraction of stage 1 as in
``cpu-ped2-256`` (1400 of 1800 steps). Only speed decides the schedule: no data, no labels.

Usage::

    python benchmarks/plan_schedule.py --preset paper-ped2 --device cuda --minutes 5 --json plan.json
    # prints e.g.: --set stage1.iterations=4100 --set stage2.iterations=2900 --set optim.milestones=[3190]

``ammcnet train --minutes M`` does the same inside the training command (``ammcnet.training.budget``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train_step import bench  # noqa: E402

from ammcnet.training.api import resolve_device  # noqa: E402
from ammcnet.training.budget import plan_iterations  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="paper-ped2")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--minutes", type=float, required=True, help="training wall-clock budget")
    ap.add_argument("--stage1-share", type=float, default=0.6)
    ap.add_argument("--overhead", type=float, default=0.25, help="fraction of the budget kept for data loading, validation, checkpoints")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    device = resolve_device(args.device)
    t1 = statistics.median(bench(args.preset, 1, args.steps, 3, device, args.overrides))
    t2 = statistics.median(bench(args.preset, 2, args.steps, 3, device, args.overrides))
    p = plan_iterations(t1, t2, seconds=args.minutes * 60.0, stage1_share=args.stage1_share, overhead=args.overhead)
    info = {"preset": args.preset, "device": str(device), "minutes": args.minutes, "seconds_per_step": [t1, t2],
            "overrides": args.overrides, "plan": p,
            "gpu": torch.cuda.get_device_name() if device.type == "cuda" else None}
    if args.json:
        Path(args.json).write_text(json.dumps(info, indent=1))
    print(f"stage 1 {t1:.4f} s/step, stage 2 {t2:.4f} s/step -> {p}", file=sys.stderr)
    print(f"--set stage1.iterations={p['stage1']} --set stage2.iterations={p['stage2']} "
          f"--set optim.milestones=[{p['milestone']}]")


if __name__ == "__main__":
    main()
