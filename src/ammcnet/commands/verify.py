"""``ammcnet verify ROOT``: per-split table of a dataset and every problem found (exit 1 if any).

>>> import argparse; p = argparse.ArgumentParser().add_subparsers(); register(p)
"""

from __future__ import annotations

import argparse

from ammcnet.choices import LAYOUTS


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("verify", help="check a dataset: videos, frames, labels, pixel masks, published totals")
    p.add_argument("root", help="dataset root folder")
    p.add_argument("--layout", default="auto", choices=LAYOUTS, help="dataset layout (default: detect)")
    p.add_argument("--deep", action="store_true", help="decode every frame instead of reading headers")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ammcnet import api

    report = api.verify(args.root, layout=args.layout, deep=args.deep)
    print(report.format())
    return 0 if report.ok else 1
