"""``ammcnet export RUN --onnx FILE``: the inference graph with its score heads, as ONNX."""

from __future__ import annotations

import argparse
import sys


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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ammcnet.export import export_run

    path = export_run(args.run, args.onnx, size=args.size, opset=args.opset)
    print(f"wrote {path}", file=sys.stderr)
    return 0
