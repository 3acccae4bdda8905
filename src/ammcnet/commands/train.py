"""``ammcnet train ROOT --preset NAME``: two-stage training into a run folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ammcnet.choices import preset_names


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train AMMC-Net (stage 1: each stream, stage 2: joint with AMFT)",
        description="Train AMMC-Net on the normal videos of a dataset root or a prepared cache folder.",
    )
    p.add_argument("root", help="dataset root (prepared and cached automatically) or a prepared cache folder")
    p.add_argument("--preset", default=None,
                   help=f"preset name ({', '.join(preset_names())}) or a YAML file [cpu-lite; "
                        "with --resume: the run's config.yaml]")
    p.add_argument("--out", default=None, help="run folder [runs/<preset>]")
    p.add_argument("--stage", choices=("1", "2", "all"), default="all", help="which stage(s) to run [all]")
    p.add_argument("--resume", action="store_true",
                   help="continue from the run folder's newest checkpoint, with its config.yaml")
    p.add_argument("--change-schedule", action="store_true",
                   help="with --resume: accept new stage1/stage2.iterations or optim.milestones from --set/--preset "
                        "(written to config.yaml and history.log)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set stage1.iterations=1000 (repeatable)")
    p.add_argument("--cache", default=None, help="cache folder for prepared data [$AMMCNET_CACHE or ~/.cache/ammcnet]")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda [auto]")
    p.add_argument("--workers", type=int, default=None, help="data loader / preparation worker processes")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--minutes", type=float, default=None, metavar="M",
                   help="fit stage1/stage2 iterations to about M minutes of training, from steps timed here first")
    p.set_defaults(func=run)


def _config(args: argparse.Namespace) -> tuple[Any, Path]:
    """The config to train with and the run folder: a resumed run starts from its own config.yaml."""
    from ammcnet.errors import ConfigError
    from ammcnet.training.resume import run_config

    if args.change_schedule and not args.resume:
        raise ConfigError("--change-schedule changes the schedule of a resumed run: add --resume, or drop it")
    if args.minutes is not None and args.resume:
        raise ConfigError("--minutes sets the schedule of a new run; resume without it (config.yaml keeps the "
                          "schedule; --set stage1.iterations=N --change-schedule changes it)")
    overrides = list(args.overrides)
    if args.workers is not None:
        overrides.append(f"data.workers={args.workers}")
    return run_config(args.preset, overrides, args.out, resume=args.resume)


def run(args: argparse.Namespace) -> int:
    from ammcnet.training import train

    config, out = _config(args)
    if args.minutes is not None:
        from ammcnet.training.api import resolve_device
        from ammcnet.training.budget import fit_to_minutes

        config, plan = fit_to_minutes(config, args.minutes, resolve_device(args.device))
        t1, t2 = plan.seconds_per_step
        print(f"schedule for {args.minutes:g} min on {plan.device}: stage 1 {plan.stage1} x {t1:.3f} s, "
              f"stage 2 {plan.stage2} x {t2:.3f} s (timed steps, 25 % kept for data and checkpoints), "
              f"milestone {plan.milestone}", flush=True)
    import os
    from contextlib import nullcontext

    from ammcnet.utils.lock import output_lock

    # a second command on this run folder is refused; the ranks of one torchrun job share it, and rank 0 holds it
    main_rank = int(os.environ.get("RANK", "0") or 0) == 0
    with output_lock(out, "ammcnet train") if main_rank else nullcontext():
        path = train(args.root, config, out, stage=args.stage, resume=args.resume,
                     change_schedule=args.change_schedule, cache_dir=args.cache, device=args.device,
                     progress=not args.no_progress)
    print(path)
    return 0
