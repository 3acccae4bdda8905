"""``ammcnet demo``: the whole pipeline on a generated scene, or just the scene (``--scene-only``)."""

from __future__ import annotations

import argparse

from ammcnet.commands.common import add_device, resolve_device


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="generate a walkway scene with known anomalies, train a small model on it, test it and report",
        description="Generate the built-in walkway scene (no download), prepare it, train a small AMMC-Net "
        "(small enough for a CPU), test it and print the frame AUC and the path of report.html. Re-running reuses "
        "finished steps.",
    )
    p.add_argument("--out", default="runs/demo", help="working folder (default: runs/demo)")
    p.add_argument("--quick", action="store_true", help="smaller scene and shorter training (120 + 60 steps instead of 300 + 150)")
    p.add_argument("--seed", type=int, default=0, help="scene seed (default 0)")
    add_device(p)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="extra training override, e.g. --set stage1.iterations=200 (repeatable)")
    p.add_argument("--scene-only", action="store_true", help="only write the scene dataset to OUT and stop")
    p.add_argument("--no-video", action="store_true", help="skip the annotated detector video")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ammcnet import api

    if args.scene_only:
        root = api.demo_scene(args.out, quick=args.quick, seed=args.seed, progress=not args.no_progress)
        print(f"scene dataset: {root}  (see {root / 'README.txt'})")
        return 0
    result = api.demo(args.out, quick=args.quick, seed=args.seed, overrides=args.overrides,
                      device=resolve_device(args.device), annotate=not args.no_video, progress=not args.no_progress)
    auc = result["auc"]
    print(f"honest frame AUC (micro, no test label used): {auc:.4f}" if auc is not None else "frame AUC: n/a")
    if result["auc_paper"] is not None:
        print(f"paper-protocol frame AUC (micro): {result['auc_paper']:.4f}")
    if result.get("detect"):
        print(f"annotated video: {result['detect']['annotated']}")
    print(f"report: {result['report']}")
    return 0
