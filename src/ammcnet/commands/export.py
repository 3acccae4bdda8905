"""``ammcnet export RUN --onnx FILE [--int8 --calibrate DATA]``: the inference graph with its score heads, as ONNX."""

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
                        "a CPU, scores change slightly (see docs/export.md); needs --calibrate")
    p.add_argument("--calibrate", default=None, metavar="TRAINING_DATA",
                   help="with --int8: the dataset root or prepared cache the model was trained on; its normal "
                        "training clips set the activation ranges (no test data is read)")
    p.add_argument("--int8-float-motion", action="store_true",
                   help="with --int8: keep the motion stream's encoder and memory in float32 (motion records closer "
                        "to float32, about 1.3x instead of 1.6x faster)")
    p.add_argument("--calibration-clips", type=int, default=32, metavar="N",
                   help="with --int8: evenly spaced training clips to calibrate on (default 32)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ammcnet.export import export_run
    from ammcnet.utils.lock import output_lock

    if args.calibrate is not None and not args.int8:
        print("note: --calibrate is only used with --int8", file=sys.stderr)
    # the graph's folder is locked like every output folder: a second export into it waits, and the
    # temporary file a killed export left there is swept before this one writes
    with output_lock(Path(args.onnx).expanduser().resolve().parent, "ammcnet export", wait=True):
        path = export_run(args.run, args.onnx, size=args.size, opset=args.opset, int8=args.int8,
                          calibrate=args.calibrate, calibration_clips=args.calibration_clips,
                          float_motion=args.int8_float_motion)
    print(f"wrote {path}", file=sys.stderr)
    return 0
