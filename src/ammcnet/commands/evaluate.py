"""``ammcnet evaluate``: frame-level AUC/EER/AP of a score file under explicit conventions.

With no ``--protocol`` it uses the honest one (:data:`ammcnet.choices.DEFAULT_EVAL_PROTOCOL`, the
default of ``ammcnet.evaluate`` too): every record as is, one scale for every video, no weight
from test labels. Per-video min-max and the authors' test-tuned weights are chosen by name only,
and the first line printed names the protocol.

Example::

    ammcnet evaluate scores.npz --labels ped2.mat                     # honest
    ammcnet evaluate scores.npz --labels ped2.mat --protocol paper --dataset ped2 --json out.json
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ammcnet.choices import DEFAULT_EVAL_PROTOCOL, EVAL_PROTOCOLS
from ammcnet.errors import ConfigError

if TYPE_CHECKING:
    from ammcnet.api import EvalOptions

CUSTOM_FLAGS = ("records", "normalise", "smooth", "smooth_scope")
#: The options each protocol takes besides --warmup: honest fixes the scale (each record as is,
#: smoothing within each video), paper and all fix every convention.
PROTOCOL_FLAGS = {"honest": ("records", "smooth"), "custom": CUSTOM_FLAGS, "paper": (), "all": ()}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="frame-level AUC / EER / AP of a score file against labels",
        description="Evaluate per-frame scores (an .npz written by `ammcnet test`, or the authors' records) "
                    "against frame labels. Scores are turned into anomaly scores (higher = more anomalous).",
    )
    p.add_argument("scores", help="score .npz (num_frames + <record>__<iii> arrays)")
    p.add_argument("--labels", required=True,
                   help="labels: .mat (gt intervals), UCSD .m, test_frame_mask folder, concatenated .npy, .csv, .json")
    p.add_argument("--protocol", default=DEFAULT_EVAL_PROTOCOL, choices=tuple(EVAL_PROTOCOLS),
                   help=f"default {DEFAULT_EVAL_PROTOCOL}. honest: every record as is, one scale for all videos, "
                        "no per-video statistic, no weight from test labels (--records, --smooth apply); "
                        "custom: the options below; paper: the authors' exact scoring (per-video min-max, "
                        "weights tuned on test labels); all: one table of every convention")
    p.add_argument("--dataset", default=None,
                   help="ped2 | avenue | shanghaitech: the paper's fusion weights (default: the file's dataset)")
    p.add_argument("--records", default=None,
                   help="fused records NAME[:WEIGHT[:normal|anomalous]],... (default: the RGB PSNR record)")
    p.add_argument("--normalise", default=None,
                   help="custom only: none (default: values as is) | video (per-video min-max, a statistic of "
                        "each whole test video)")
    p.add_argument("--smooth", default=None, help="none (default) | paper:LS (2-tap, e.g. paper:0.55) | gauss:SIGMA")
    p.add_argument("--smooth-scope", default=None, help="custom only: video (default: within each video) | concat (across videos)")
    p.add_argument("--warmup", type=int, default=4, help="leading frames per video dropped (default 4)")
    p.add_argument("--json", default=None, metavar="OUT.json", help="write every number and convention as JSON")
    p.add_argument("--roc", default=None, metavar="ROC.png", help="draw the ROC curve of the first result")
    p.add_argument("--quiet", action="store_true", help="print no table (errors still go to stderr)")
    p.set_defaults(func=run)


def options(args: argparse.Namespace) -> EvalOptions:
    """The flags as the :class:`~ammcnet.api.EvalOptions` that :func:`ammcnet.api.evaluate` takes; a
    flag the protocol would ignore is an error, so that no table is printed under conventions other
    than the ones asked for."""
    from ammcnet import api

    refused = [f"--{f.replace('_', '-')}" for f in CUSTOM_FLAGS
               if getattr(args, f) is not None and f not in PROTOCOL_FLAGS[args.protocol]]
    if refused:
        verb = "does" if len(refused) == 1 else "do"
        raise ConfigError(f"{', '.join(refused)} {verb} not apply to --protocol {args.protocol}: --records and "
                          "--smooth apply to honest and custom, --normalise and --smooth-scope to custom only")
    if args.protocol == "paper" and args.warmup != 4:
        raise ConfigError("--protocol paper always drops 4 warm-up frames; leave --warmup out")
    return api.eval_options(args.records, normalise=args.normalise, smooth=args.smooth,
                            smooth_scope=args.smooth_scope, warmup=args.warmup)


def run(args: argparse.Namespace) -> int:
    from ammcnet import api

    report = api.evaluate(args.scores, args.labels, protocol=args.protocol, dataset=args.dataset,
                          options=options(args), json_path=args.json, roc_path=args.roc)
    if not args.quiet:
        print(report.header())
        print(api.format_table(report.results))
        for note in report.notes:
            print(f"note: {note}")
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0
