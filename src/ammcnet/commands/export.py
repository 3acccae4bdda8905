"""``ammcnet export RUN --onnx FILE [--int8 --int8-data DATA]``: the inference graph with its score heads, as ONNX."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ammcnet.commands.common import grid_size, renamed

if TYPE_CHECKING:
    from ammcnet.api import ExportOptions


def _size(text: str) -> tuple[int, int]:
    vals = grid_size(text)
    return vals[0], vals[-1]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a trained model (with score heads) to ONNX",
        description="Export the inference graph (both streams, memories, AMFT, score heads; dynamic batch axis) "
        "of a run folder or model file to ONNX, with BatchNorm folded into the convolutions.",
    )
    p.add_argument("run", help="run folder (RUN/model.pt) or model file")
    p.add_argument("--onnx", required=True, metavar="FILE", help="the .onnx file to write")
    p.add_argument("--size", type=_size, default=None, metavar="N|HxW",
                   help="input size, square or HxW (default: the training size stored in the model file)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset version (default 17)")
    p.add_argument("--int8", action="store_true",
                   help="write a statically quantised graph (uint8 activations, int8 weights): about 1.5x faster on "
                        "a CPU, scores change slightly (see docs/export.md); needs --int8-data")
    p.add_argument("--int8-data", default=None, metavar="TRAINING_DATA",
                   help="with --int8: the dataset root or prepared cache the model was trained on; its normal "
                        "training clips set the activation ranges (no test data is read)")
    p.add_argument("--int8-float-motion", action="store_true",
                   help="with --int8: keep the motion stream's encoder and memory in float32 (motion records closer "
                        "to float32, about 1.3x instead of 1.6x faster)")
    p.add_argument("--int8-clips", type=int, default=32, metavar="N",
                   help="with --int8: evenly spaced training clips that set the activation ranges (default 32)")
    # the old names: "calibrate" also names the score statistics of `ammcnet calibrate`
    why = "ammcnet calibrate is the score statistics"
    renamed(p, "--calibrate", "--int8-data", note=why)
    renamed(p, "--calibration-clips", "--int8-clips", note=why)
    p.set_defaults(func=run)


def options(args: argparse.Namespace) -> ExportOptions:
    """The flags as the :class:`~ammcnet.api.ExportOptions` that :func:`ammcnet.api.export` takes."""
    from ammcnet.api import ExportOptions

    return ExportOptions(size=args.size, opset=args.opset, int8=args.int8, int8_data=args.int8_data,
                         int8_clips=args.int8_clips, float_motion=args.int8_float_motion, progress=True)


def run(args: argparse.Namespace) -> int:
    from ammcnet import api

    if args.int8_data is not None and not args.int8:
        print("note: --int8-data is only used with --int8", file=sys.stderr)
    # the graph's folder is locked like every output folder: a second export into it waits, and the
    # temporary file a killed export left there is swept before this one writes
    path = api.export(args.run, args.onnx, options(args))
    print(f"wrote {path}", file=sys.stderr)
    return 0
