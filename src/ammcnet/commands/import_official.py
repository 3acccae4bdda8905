"""``ammcnet import-official FILE.pth --out RUN``: the authors' weights as an ammcnet run folder."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "import-official",
        help="convert the authors' released AMMC-Net .pth into a run folder (RUN/model.pt)",
        description=(
            "Rename the 222 entries of the authors' twostream checkpoint onto ammcnet's model and write "
            "RUN/model.pt, which `ammcnet test RUN ROOT` and `ammcnet detect SOURCE --model RUN` accept. "
            "Missing, extra or mis-shaped keys are refused."
        ),
    )
    parser.add_argument(
        "checkpoint", help="the authors' .pth (plain state_dict, wrapped, or module.-prefixed)"
    )
    parser.add_argument("--out", required=True, metavar="RUN", help="run folder to write (RUN/model.pt)")
    parser.add_argument("--dataset", default=None, help="dataset name to record in the model file's meta")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing RUN/model.pt")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ammcnet import api

    path = api.import_official(args.checkpoint, args.out, overwrite=args.overwrite, dataset=args.dataset)
    print(f"wrote {path}", file=sys.stderr)
    return 0
