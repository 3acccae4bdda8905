"""``ammcnet test``: score a test set with a trained run, evaluate it, plot and localise.

The flags become the :class:`~ammcnet.api.TestOptions` that :func:`ammcnet.api.test` takes
(:func:`options`); the command calls it and prints the table.

Example::

    ammcnet test runs/ped2 ../shared/benchmarks/ped2 --maps
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ammcnet.commands.common import add_device, resolve_device

if TYPE_CHECKING:
    from ammcnet.api import TestOptions


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "test",
        help="score every test video with a trained model and evaluate (honest + paper protocol)",
        description="Batched inference over the test split: writes scores.npz, honest_scores.npz, metrics.json, "
                    "table.txt, plots and report.html (one self-contained page); with --maps also per-pixel error "
                    "maps, pixel AUC and RBDC.",
    )
    p.add_argument("run", help="run folder (uses RUN/model.pt) or a model file")
    p.add_argument("root", help="dataset root (prepared at the run's size and flow settings) or a prepared cache folder")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default: RUN/test)")
    p.add_argument("--batch-size", type=int, default=16, metavar="N", help="inference batch size; changes no score (default 16)")
    add_device(p, "with --ray, auto is cpu: Ray actors are given no GPU")
    p.add_argument("--maps", action="store_true",
                   help="write per-pixel error maps and compute pixel AUC and RBDC where pixel masks exist")
    p.add_argument("--map-flow-weight", type=float, default=0.0,
                   help="add the motion error to the maps with this weight (default 0: appearance error only)")
    p.add_argument("--protocol", default="honest", choices=("honest", "paper"),
                   help="honest (default; needs the model's calibration) or paper (conventions table only)")
    p.add_argument("--score", default=None, metavar="MODE",
                   help="the scoring mode that gives the honest score of this test, without editing the model file: "
                        "region (the region head), fusion (the calibrated fusion), records (AMMC-Net's records "
                        "alone), max-speed or per-position (training-free baselines at the head's window), motion-head "
                        "(the head without its appearance part); default "
                        "the model file's scoring.honest. Every mode it can give is reported in metrics.json")
    p.add_argument("--no-plots", dest="plots", action="store_false", help="write no PNG plots and no report.html")
    p.add_argument("--cache-dir", default=None, metavar="DIR",
                   help="where a dataset root is prepared (default $AMMCNET_CACHE, else ~/.cache/ammcnet)")
    p.add_argument("--workers", type=int, default=1, help="processes that prepare a dataset root and score the test videos, sharded by video; scores equal one process's (default 1)")
    p.add_argument("--onnx", default=None, metavar="FILE",
                   help="score with this graph from `ammcnet export` (float32 or --int8) through ONNX Runtime; "
                        "calibration and settings still come from RUN")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="score every test video as a task on a Ray cluster (needs the ray extra): no ADDRESS starts "
                        "a local instance, 'auto' joins this machine's cluster; --workers then counts actors "
                        "(default: one per CPU of the cluster); scores equal one process's")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide progress bars")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=run)


def options(args: argparse.Namespace) -> TestOptions:
    """The flags as the :class:`~ammcnet.api.TestOptions` that :func:`ammcnet.api.test` takes
    (``--device auto`` resolved here; with ``--ray`` it is the CPU)."""
    from ammcnet.api import TestOptions

    return TestOptions(batch_size=args.batch_size, device=resolve_device(args.device, remote=args.ray is not None),
                       maps=args.maps, plots=args.plots, protocol=args.protocol, map_flow_weight=args.map_flow_weight,
                       cache_dir=args.cache_dir, workers=args.workers, progress=args.progress, onnx=args.onnx,
                       score=args.score)


def run(args: argparse.Namespace) -> int:
    from ammcnet import api

    result = api.test(args.run, args.root, options(args), out=args.out, ray=args.ray)
    metrics, out = result.metrics, result.out
    if not args.quiet:
        table = out / "table.txt"
        if table.is_file():
            print(table.read_text().rstrip())
        else:
            print(metrics.get("note", ""))
        pixel = metrics.get("pixel")
        if pixel:
            r = pixel["rbdc"]
            print(f"pixel AUC {pixel['pixel_auc']:.4f}; RBDC at {r['max_fpr']:g} FP/frame {r['rbdc_at_max_fpr']:.4f}, "
                  f"area {r['rbdc_area']:.4f} (TBDC not computed: no tracks)")
        _print_modes(metrics.get("scoring_modes"))
        _print_budget(metrics.get("alarm_budget"))
        print(f"{metrics['scored_frames']} frames scored at {metrics['scoring_fps']:.1f} frames/s; results in {out}")
        if metrics["files"].get("report"):
            print(f"report: {metrics['files']['report']}")
    return 0


def _print_budget(budget: dict | None) -> None:
    """What the head's thresholds give in events an hour on its held-out normal footage."""
    if not budget:
        return
    fps = f"{budget['fps']:g} fps" + ("" if budget["fps_known"] else " assumed")
    per = ", ".join(f"--alarms-per-hour {k} -> threshold {b['threshold']:.4g} ({b['events_per_hour']:.2f}/h reached)"
                    for k, b in budget["budgets"].items())
    print(f"alarm budget on {budget['held_out_minutes']:.1f} min of held-out normal footage ({fps}): --fpr 0.01 -> "
          f"{budget['fpr_0.01']['events_per_hour']:.1f} events/h; {per}")


def _print_modes(modes: dict | None) -> None:
    """One line per scoring mode: causal micro AUC (the headline), then the operator's figures."""
    if not modes:
        return
    print(f"scoring modes (causal micro AUC; at {100 * modes['target_false_alarm_rate']:g} % false alarms on held-out "
          f"normal footage: false-alarm rate, events caught, median delay); {modes['frames_note']}")
    for name, m in modes["modes"].items():
        op = m["operator"]
        alarms = (f"{100 * op['false_alarm_rate']:.2f} %, {op['events_caught']}/{op['events']} events, "
                  f"delay {op['median_delay']:g} frames") if op else "no calibrated threshold"
        print(f"  {name:<13} {100 * m['causal_micro']:.2f}  ({alarms})")
