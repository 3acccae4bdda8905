"""``ammcnet prepare ROOT``: decode, resize and compute optical flow once into the cache.

>>> import argparse; p = argparse.ArgumentParser().add_subparsers(); register(p)
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ammcnet.choices import DIS_PRESET_NAMES, FLOW_BACKENDS, LAYOUTS
from ammcnet.commands.common import grid_size, renamed
from ammcnet.errors import ConfigError

if TYPE_CHECKING:
    from ammcnet.api import PrepareOptions


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("prepare", help="decode, resize and compute optical flow into the cache")
    p.add_argument("root", help="dataset root folder")
    p.add_argument("--size", type=grid_size, nargs="+", default=[(256,)], metavar="N",
                   help="model grid: one value (square), H W or HxW (default 256)")
    p.add_argument("--flow", default="dis", choices=FLOW_BACKENDS, help="flow backend (default dis)")
    p.add_argument("--flow-preset", default="medium", choices=list(DIS_PRESET_NAMES), help="DIS preset (default medium)")
    p.add_argument("--flow-dir", default=None, help="folder of precomputed .flo files (with --flow flo)")
    p.add_argument("--cache-dir", default=None, metavar="DIR",
                   help="where cache entries live (default $AMMCNET_CACHE, else ~/.cache/ammcnet)")
    renamed(p, "--cache", "--cache-dir")
    p.add_argument("--workers", type=int, default=1, help="videos prepared in parallel processes (default 1)")
    p.add_argument("--split", dest="splits", action="append", choices=["train", "test"],
                   help="prepare only this split (repeatable; default both)")
    p.add_argument("--layout", default="auto", choices=LAYOUTS, help="dataset layout (default: detect)")
    p.add_argument("--max-videos", type=int, default=None, help="only the first N videos of each split (quick trials)")
    p.add_argument("--skip-bad", action="store_true", help="skip videos that fail and list them at the end")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def options(args: argparse.Namespace) -> PrepareOptions:
    """The flags as the :class:`~ammcnet.api.PrepareOptions` that :func:`ammcnet.api.prepare` takes."""
    from ammcnet.api import PrepareOptions

    grid = [v for value in args.size for v in value]  # --size 256, --size 240 360 or --size 240x360
    if len(grid) not in (1, 2):
        raise ConfigError("--size takes one value (square), two (H W) or HxW")
    return PrepareOptions(size=(grid[0], grid[-1]), flow=args.flow, flow_preset=args.flow_preset,
                          flow_dir=args.flow_dir, cache_dir=args.cache_dir, workers=args.workers,
                          splits=tuple(args.splits or ("train", "test")), skip_bad=args.skip_bad,
                          progress=not args.no_progress, layout=args.layout, max_videos=args.max_videos)


def run(args: argparse.Namespace) -> int:
    from ammcnet import api

    ds = api.prepare(args.root, options(args))
    for split in ("train", "test"):
        n = ds.num_frames(split)
        if n:
            print(f"{split}: {len(n)} videos, {sum(n)} frames")
    skipped = ds.manifest.get("skipped", [])
    if skipped:
        print(f"{len(skipped)} video(s) skipped (--skip-bad):", file=sys.stderr)
    for s in skipped:
        print(f"  {s['split']}/{s['name']}: {s['error']}", file=sys.stderr)
    print(ds.root)
    return 1 if skipped else 0
