"""``ammcnet calibrate``: new fusion weights or smoothing for a trained model, without re-training.

Example::

    ammcnet calibrate runs/ped2 ../shared/benchmarks/ped2 --set scoring.weights.flow_error=0.5
"""

from __future__ import annotations

import argparse


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
    p.add_argument("--out", default=None, help="write the recalibrated model here instead of overwriting RUN's")
    p.add_argument("--batch-size", type=int, default=None, help="inference batch size (default scoring.batch_size)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--cache-dir", default=None, help="where a dataset root is prepared (default $AMMCNET_CACHE)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ammcnet.apps.calibrator import recalibrate
    from ammcnet.utils.lock import output_lock

    target = Path(args.out or args.run)  # the folder of the model file that is rewritten
    with output_lock(target if target.is_dir() else target.parent, "ammcnet calibrate"):
        s = recalibrate(args.run, args.root, overrides=args.overrides, preset=args.preset, out=args.out,
                        batch_size=args.batch_size, device=args.device, cache_dir=args.cache_dir,
                        progress=args.progress)
    print(f"calibrated on {s['clips']} held-out normal clips; weights {s['weights']}, smoothing {s['smoothing']}")
    for name, st in s["records"].items():
        print(f"  {name:<12} mean {st['mean']:.6g}  std {st['std']:.6g}")
    print(f"alarm threshold at 1 % false alarms: {s['threshold_fpr_0.01']:.4f}; written to {s['model']}")
    return 0
