"""``ammcnet teach``: "this was normal": teach a model's region head, without retraining.

Example::

    ammcnet teach street-head.pt --normal-event alarms/events.jsonl:1733570000.123456-k3x9qa
    ammcnet teach runs/cam/model.pt --normal lawn.mp4 --start 100 --end 400 --out runs/cam/taught.pt
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ammcnet.api import TeachOptions


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "teach",
        help="teach a model that some footage or alarm events were normal (a new model file; the old one is kept)",
        description="Adds the region features of the given frames to the region head's normal banks and refits its "
                    "scales and thresholds; the network is not retrained. The head's synthetic-anomaly validation is "
                    "measured before and after, and a teach that drops it by more than --margin is refused unless "
                    "--force is given.",
    )
    p.add_argument("model", help="a model file or run folder, full or head-only (ammcnet fit)")
    p.add_argument("--normal", action="append", default=[], metavar="SOURCE",
                   help="a video file or frame folder whose frames are normal (repeatable)")
    p.add_argument("--start", type=int, default=0, help="with one --normal: first frame to teach (default 0)")
    p.add_argument("--end", type=int, default=None, help="with one --normal: teach frames before this one")
    p.add_argument("--normal-event", action="append", default=[], metavar="EVENTS.jsonl:ID",
                   help="an alarm event of a detect or watch event log that was normal (repeatable)")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="the new model file (default MODEL-taught.pt beside it, numbered when taken)")
    p.add_argument("--margin", type=float, default=0.02,
                   help="synthetic-AUC drop allowed before the teach is refused (default 0.02)")
    p.add_argument("--force", action="store_true", help="teach even past --margin, or without footage to check it on")
    p.add_argument("--footage", default=None, metavar="PATH",
                   help="the head's normal footage for the check, when the model file does not name it")
    p.add_argument("--cache-dir", default=None, metavar="DIR", help="where analysis flows are kept")
    p.set_defaults(func=run)


def options(args: argparse.Namespace) -> TeachOptions:
    """The flags as the :class:`~ammcnet.api.TeachOptions` that :func:`ammcnet.api.teach` takes."""
    from ammcnet.api import TeachOptions

    return TeachOptions(normal=tuple(args.normal), start=args.start, end=args.end,
                        normal_events=tuple(args.normal_event), out=args.out, force=args.force, margin=args.margin,
                        footage=args.footage, cache_dir=args.cache_dir)


def run(args: argparse.Namespace) -> int:
    from ammcnet import api

    print(api.teach(args.model, options(args)).report())
    return 0
