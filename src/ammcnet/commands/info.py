"""``ammcnet info MODEL``: what a model file holds and whether its content digest checks out."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "info",
        help="show a model file's format, digest, version, size, training data and calibration",
        description="Reads a model file (or RUN/model.pt) without trusting it and reports its format, content "
        "digest and whether it checks out, ammcnet version, parameter count, training data, preset and "
        "calibration. Exit status 2 when the digest does not match or the weights hold NaN/inf.",
    )
    p.add_argument("model", help="model file or run folder")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ammcnet.models.info import format_info, model_info

    info = model_info(args.model)
    print(json.dumps(info, indent=2, default=str) if args.json else format_info(info))
    return 2 if info["digest_ok"] is False or info["non_finite"] else 0
