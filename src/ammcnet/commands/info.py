"""``ammcnet info MODEL``: what a model file holds and whether its content digest checks out."""

from __future__ import annotations

import argparse
import json

from ammcnet.commands.common import renamed


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "info",
        help="show a model file's format, digest, version, size, training data and calibration",
        description="Reads a model file (or RUN/model.pt) without trusting it and reports its format, content "
        "digest and whether it checks out, ammcnet version, parameter count, training data, preset and "
        "calibration. Exit status 2 when the digest does not match or the weights hold NaN/inf.",
    )
    p.add_argument("model", help="model file or run folder")
    p.add_argument("--format", default="text", choices=("text", "json"),
                   help="print the report as text or JSON (default text)")
    renamed(p, "--json", "--format", const="json")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ammcnet import api

    info = api.info(args.model)
    print(json.dumps(info, indent=2, default=str) if args.format == "json" else api.format_info(info))
    return 2 if info["digest_ok"] is False or info["non_finite"] else 0
