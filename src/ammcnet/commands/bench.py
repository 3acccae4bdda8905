"""``ammcnet bench``: throughput of the whole pipeline and of the model, against a plain eager baseline."""

from __future__ import annotations

import argparse

from ammcnet.commands.common import add_device, resolve_device


def _batches(text: str) -> tuple[int, ...]:
    try:
        vals = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"batch sizes must look like 1,4,16, got {text!r}") from None
    if not vals or min(vals) < 1:
        raise argparse.ArgumentTypeError("batch sizes must be positive")
    return vals


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bench",
        help="measure fps (end to end and model only), training samples/s and peak memory",
        description="Measure, after warm-up, end-to-end fps on a video (decode + resize + flow + model + score), "
        "model-only fps at batch 1 and at the best batch, training samples/s and peak memory; every figure "
        "beside a plain eager baseline measured in the same run.",
    )
    p.add_argument("--preset", default="cpu-lite", help="training preset with the model sizes (default cpu-lite)")
    add_device(p)
    p.add_argument("--video", default=None, help="video file or frame folder (default: a generated scene)")
    p.add_argument("--model", default=None, metavar="RUN", help="run folder or model file (default: random weights)")
    p.add_argument("--frames", type=int, default=60, help="frames scored end to end (default 60)")
    p.add_argument("--batches", type=_batches, default=(1, 2, 4, 8, 16), help="batch sizes tried (default 1,2,4,8,16)")
    p.add_argument("--seconds", type=float, default=3.0, help="minimum seconds per timed measurement (default 3)")
    p.add_argument("--train-steps", type=int, default=3, help="timed training steps, 0 to skip (default 3)")
    p.add_argument("--no-onnx", action="store_true", help="do not measure ONNX Runtime")
    p.add_argument("--no-int8", action="store_true", help="do not measure the int8 ONNX graph")
    p.add_argument("--compile", action="store_true", help="also measure torch.compile (slow warm-up)")
    p.add_argument("--flow-workers", type=int, default=0,
                   help="threads computing optical flow end to end (default: 1 on cpu, up to 8 on cuda)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads of the optimised path (default: measured on a CPU, 1 or torch's default, "
                        "whichever is faster; torch's default on CUDA)")
    p.add_argument("--head-rounds", type=int, default=3,
                   help="rounds timing the region head's cost, without then with it (default 3; the median ratio)")
    p.add_argument("--json", default=None, metavar="OUT", help="also write the full report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ammcnet import api

    config = api.BenchConfig(preset=args.preset, device=resolve_device(args.device), video=args.video,
                             model=args.model, frames=args.frames, batches=args.batches, seconds=args.seconds,
                             train_steps=args.train_steps, onnx=not args.no_onnx, int8=not args.no_int8,
                             compile=args.compile, threads=args.threads, flow_workers=args.flow_workers,
                             head_rounds=args.head_rounds)
    report = api.bench(config, json_path=args.json)
    print(api.format_bench_report(report))
    return 0
