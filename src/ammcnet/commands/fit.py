"""``ammcnet fit``: a head-only model of a camera from its normal footage, in about a minute.

Example::

    ammcnet fit street.mp4 --out street-head.pt            # a video of normal footage
    ammcnet fit rtsp://cam.local/stream --seconds 120 --out gate.pt
    ammcnet detect street-live.mp4 --model street-head.pt --out alarms/
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ammcnet.api import FitOptions


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fit",
        help="fit the region head alone on normal footage: a model file for detect and watch, no network needed",
        description="Reads normal footage (a video, a frame folder, a stream recorded for --seconds, or a dataset "
                    "root whose training split is used), chooses the region head's settings on it without labels "
                    "and writes a head-only model file. `ammcnet train` adds the network later.",
    )
    p.add_argument("footage", help="video file, frame folder, rtsp://|http:// URL or camera index, or dataset root")
    p.add_argument("--out", required=True, metavar="MODEL", help="the model file to write")
    p.add_argument("--start", type=int, default=0, help="first frame of a single video to fit on (default 0)")
    p.add_argument("--end", type=int, default=None, help="fit on frames before this one (default: to the end)")
    p.add_argument("--seconds", type=float, default=None, help="seconds of a stream or camera to record and fit on")
    p.add_argument("--layout", default="auto", help="dataset layout of a dataset root (default auto)")
    p.add_argument("--seed", type=int, default=0, help="seed of the head's random draws (default 0)")
    p.add_argument("--no-choose", dest="choose", action="store_false",
                   help="keep the default window and parts instead of choosing them on the footage")
    p.add_argument("--height", type=int, default=None, help="analysis-grid height in pixels (default 240)")
    p.add_argument("--fps", type=float, default=None,
                   help="frame rate of the footage when its files do not say (frame folders; default 25)")
    p.add_argument("--cache-dir", default=None, metavar="DIR",
                   help="where analysis flows and recordings are kept (default $AMMCNET_CACHE, else ~/.cache/ammcnet)")
    p.add_argument("--overwrite", action="store_true", help="replace MODEL if it exists")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None, help="hide progress bars")
    p.set_defaults(func=run)


def options(args: argparse.Namespace) -> FitOptions:
    """The flags as the :class:`~ammcnet.api.FitOptions` that :func:`ammcnet.api.fit` takes."""
    from ammcnet.api import FitOptions

    return FitOptions(start=args.start, end=args.end, seconds=args.seconds, layout=args.layout, seed=args.seed,
                      choose=args.choose, height=args.height, fps=args.fps, cache_dir=args.cache_dir,
                      overwrite=args.overwrite, progress=args.progress)


def run(args: argparse.Namespace) -> int:
    from ammcnet import api

    print(api.fit(args.footage, args.out, options(args)).report())
    return 0
