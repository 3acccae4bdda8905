"""``ammcnet export RUN --onnx FILE [--int8 --int8-data DATA]``: the inference graph with its score heads, as ONNX."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 256x256, got {text!r}") from None
    return h, w


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a trained model (with score heads) to ONNX",
        description="Export the inference graph (both streams, memories, AMFT, score heads; dynamic batch axis) "
        "of a run folder or model file to ONNX, with BatchNorm folded into the convolutions.",
    )
    p.add_argument("run", help="run folder (RUN/model.pt) or model file")
    p.add_argument("--onnx", required=True, metavar="FILE", help="the .onnx file to write")
    p.add_argument("--size", type=_size, default=None, metavar="HxW",
                   help="input size (default: the training size stored in the model file)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset version (default 17)")
    p.add_argument("--int8", action="store_true",
                   help="write a statically quantised graph (uint8 activations, int8 weights): about 1.5x faster on "
                        "a CPU, scores change slightly (see docs/export.md); needs --int8-data")
    p.add_argument("--int8-data", default=None, metavar="TRAINING_DATA",
                   help="with --int8: the dataset root or prepared cache the model was trained on; its normal "
                        "training clips set the activation ranges (no test data is read)")
    # the names before 0.x: "calibrate" also names the score statistics of `ammcnet calibrate`
    p.add_argument("--calibrate", dest="old_int8_data", default=None, help=argparse.SUPPRESS)
    p.add_argument("--calibration-clips", dest="old_int8_clips", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--int8-float-motion", action="store_true",
                   help="with --int8: keep the motion stream's encoder and memory in float32 (motion records closer "
                        "to float32, about 1.3x instead of 1.6x faster)")
    p.add_argument("--int8-clips", type=int, default=32, metavar="N",
                   help="with --int8: evenly spaced training clips that set the activation ranges (default 32)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ammcnet.export import export_run
    from ammcnet.utils.lock import output_lock

    take_old_names(args)
    if args.int8_data is not None and not args.int8:
        print("note: --int8-data is only used with --int8", file=sys.stderr)
    # the graph's folder is locked like every output folder: a second export into it waits, and the
    # temporary file a killed export left there is swept before this one writes
    with output_lock(Path(args.onnx).expanduser().resolve().parent, "ammcnet export", wait=True):
        path = export_run(args.run, args.onnx, size=args.size, opset=args.opset, int8=args.int8,
                          int8_data=args.int8_data, int8_clips=args.int8_clips,
                          float_motion=args.int8_float_motion)
    print(f"wrote {path}", file=sys.stderr)
    return 0


def take_old_names(args: argparse.Namespace) -> None:
    """Accept ``--calibrate``/``--calibration-clips`` (renamed ``--int8-data``/``--int8-clips``) with a note."""
    for old, new, flag in (("old_int8_data", "int8_data", "--calibrate"), ("old_int8_clips", "int8_clips", "--calibration-clips")):
        value = getattr(args, old)
        if value is not None:
            setattr(args, new, value)
            print(f"note: {flag} is now {'--' + new.replace('_', '-')} (ammcnet calibrate is the score statistics)",
                  file=sys.stderr)
