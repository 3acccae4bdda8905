"""``ammcnet train ROOT --preset NAME``: two-stage training into a run folder."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ammcnet.choices import preset_names
from ammcnet.commands.common import add_device, renamed

if TYPE_CHECKING:
    from ammcnet.api import TrainOptions


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train AMMC-Net (stage 1: each stream, stage 2: joint with AMFT)",
        description="Train AMMC-Net on the normal videos of a dataset root or a prepared cache folder.",
    )
    p.add_argument("root", help="dataset root (prepared and cached automatically) or a prepared cache folder")
    p.add_argument("--preset", default=None,
                   help=f"preset name ({', '.join(preset_names())}) or a YAML file (default cpu-lite; "
                        "with --resume: the run's config.yaml)")
    p.add_argument("--out", default=None, metavar="RUN", help="run folder (default runs/<preset>)")
    p.add_argument("--stage", choices=("1", "2", "all"), default="all", help="which stage(s) to run (default all)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the run folder's newest checkpoint, with its config.yaml")
    p.add_argument("--change-schedule", action="store_true",
                   help="with --resume: accept new stage1/stage2.iterations or optim.milestones from --set/--preset "
                        "(written to config.yaml and history.log)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set stage1.iterations=1000 (repeatable)")
    p.add_argument("--cache-dir", default=None, metavar="DIR",
                   help="where a dataset root is prepared (default $AMMCNET_CACHE, else ~/.cache/ammcnet)")
    renamed(p, "--cache", "--cache-dir")
    add_device(p)
    p.add_argument("--workers", type=int, default=None,
                   help="data loader / preparation worker processes (default data.workers of the preset)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--minutes", type=float, default=None, metavar="M",
                   help="fit stage1/stage2 iterations to about M minutes of training, from steps timed here first")
    p.set_defaults(func=run)


def options(args: argparse.Namespace) -> TrainOptions:
    """The flags as the :class:`~ammcnet.api.TrainOptions` that :func:`ammcnet.api.train` takes."""
    from ammcnet.api import TrainOptions

    return TrainOptions(preset=args.preset, overrides=tuple(args.overrides), device=args.device, resume=args.resume,
                        change_schedule=args.change_schedule, cache_dir=args.cache_dir, progress=not args.no_progress,
                        stage=args.stage, workers=args.workers, minutes=args.minutes)


def _print_schedule(plan: Any) -> None:
    """The schedule fitted to ``--minutes``, before training starts."""
    t1, t2 = plan.seconds_per_step
    print(f"schedule for {plan.minutes:g} min on {plan.device}: stage 1 {plan.stage1} x {t1:.3f} s, "
          f"stage 2 {plan.stage2} x {t2:.3f} s (timed steps, 25 % kept for data and checkpoints), "
          f"milestone {plan.milestone}", flush=True)


def run(args: argparse.Namespace) -> int:
    from ammcnet import api

    result = api.train(args.root, options(args), out=args.out, on_schedule=_print_schedule)
    print(result.model)
    return 0
