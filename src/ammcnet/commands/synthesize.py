"""``ammcnet synthesize DATA --out DIR``: a validation dataset made from DATA's normal training videos.

>>> import argparse; p = argparse.ArgumentParser().add_subparsers(); register(p)
"""

from __future__ import annotations

import argparse

from ammcnet.choices import LAYOUTS
from ammcnet.commands.common import renamed


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "synthesize", help="write a validation dataset: held-out normal training videos and synthetic anomalies made from them")
    p.add_argument("data", help="dataset root (any layout `ammcnet verify` reads); only its training videos are used")
    p.add_argument("--out", required=True, help="folder to create (the `custom` layout: train/, test/, labels.json)")
    p.add_argument("--layout", default="auto", choices=LAYOUTS, help="dataset layout (default: detect)")
    p.add_argument("--seed", type=int, default=0, help="generator seed; the same seed gives the same dataset")
    p.add_argument("--per-kind", type=int, default=3, help="synthetic videos of each kind per held-out video (default 3)")
    p.add_argument("--format", default="png", choices=("png", "jpg"), help="frame images (default png, lossless)")
    p.add_argument("--rotation", type=int, default=0,
                   help="which quarter of the training videos (or of one recording's stretches) to hold out, 0-3 (default 0: the last)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace --out if it exists (only a validation set this command wrote)")
    renamed(p, "--force", "--overwrite")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ammcnet import api

    made = api.synthesize(args.data, args.out, layout=args.layout, seed=args.seed, per_kind=args.per_kind,
                          image_format=args.format, overwrite=args.overwrite, rotation=args.rotation,
                          progress=False if args.no_progress else None)
    print(f"{len(made.train)} training videos, {len(made.test)} test videos ({made.anomalous} of {made.frames} test "
          f"frames anomalous) in {made.root}")
    print(f"next: ammcnet verify {made.root}; ammcnet train {made.root} --out RUN; ammcnet test RUN {made.root}")
    return 0
