"""``ammcnet calibrate``: new fusion weights or smoothing for a trained model, without re-training.

Example::

    ammcnet calibrate runs/ped2 ../shared/benchmarks/ped2 --set scoring.weights.flow_error=0.5
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ammcnet.commands.common import add_device, resolve_device

if TYPE_CHECKING:
    from ammcnet.api import CalibrateOptions


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "calibrate",
        help="re-score the held-out normal training clips and store a new calibration in the model file",
        description="Recomputes the normal-clip statistics and the fused-score table that the honest protocol and "
                    "--threshold auto use, e.g. after changing scoring.weights or scoring.smoothing. Reads only "
                    "training videos (the clips training held out); rewrites the model file atomically.",
    )
    p.add_argument("run", help="run folder (uses RUN/model.pt) or a model file")
    p.add_argument("root", help="the training data: dataset root or prepared cache folder")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="scoring.* or data.val_fraction, e.g. --set scoring.weights.flow_error=0.5 (repeatable)")
    p.add_argument("--preset", default=None, help="training settings for a model file that holds none (an import)")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="write the recalibrated model here instead of overwriting RUN's")
    p.add_argument("--batch-size", type=int, default=None, metavar="N",
                   help="inference batch size (default scoring.batch_size)")
    add_device(p)
    p.add_argument("--cache-dir", default=None, metavar="DIR",
                   help="where a dataset root is prepared (default $AMMCNET_CACHE, else ~/.cache/ammcnet)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide progress bars")
    p.set_defaults(func=run)


def options(args: argparse.Namespace) -> CalibrateOptions:
    """The flags as the :class:`~ammcnet.api.CalibrateOptions` that :func:`ammcnet.api.calibrate` takes."""
    from ammcnet.api import CalibrateOptions

    return CalibrateOptions(overrides=tuple(args.overrides), preset=args.preset, batch_size=args.batch_size,
                            device=resolve_device(args.device), cache_dir=args.cache_dir, progress=args.progress)


def run(args: argparse.Namespace) -> int:
    from ammcnet import api

    s = api.calibrate(args.run, args.root, options(args), out=args.out)
    print(f"calibrated on {s['clips']} held-out normal clips; weights {s['weights']}, smoothing {s['smoothing']}")
    for name, st in s["records"].items():
        print(f"  {name:<12} mean {st['mean']:.6g}  std {st['std']:.6g}")
    print(f"alarm threshold at 1 % false alarms: {s['threshold_fpr_0.01']:.4f}; written to {s['model']}")
    return 0
