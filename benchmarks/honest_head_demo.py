"""The region head on the demo's generated scenes (seed 0 = the default scene; 1-5 other draws).

Each scene is generated (as ``ammcnet demo`` does) and run through ``honest_head.py``: settings
chosen on its training videos and synthetic anomalies, then its test split. One JSON per scene.

Usage::

    python benchmarks/honest_head_demo.py --seeds 0 1 2 3 4 5 --work runs/honest_demo
    python benchmarks/honest_head_demo.py --speed-only   # the candidates before the perspective part
"""

from __future__ import annotations

import argparse
from pathlib import Path

import honest_head  # the sibling benchmark script

from ammcnet.demo.config import SceneConfig, refuse_report_seeds
from ammcnet.demo.writer import generate_scene_dataset


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    ap.add_argument("--work", default="runs/honest_demo")
    ap.add_argument("--results", default="benchmarks/results")
    ap.add_argument("--speed-only", action="store_true",
                    help="leave the perspective part out of the candidates (files named honest-head-demo-speedonly-seedS.json)")
    args = ap.parse_args(argv)
    refuse_report_seeds(args.seeds, "honest_head_demo.py")  # report scenes stay blind
    tag, extra = ("-speedonly", ["--speed-only"]) if args.speed_only else ("", [])
    for seed in args.seeds:
        out = Path(args.results) / f"honest-head-demo{tag}-seed{seed}.json"
        if out.exists():
            print(f"seed {seed}: {out} exists, skipped (delete it to rerun)", flush=True)
            continue
        root = generate_scene_dataset(Path(args.work) / f"scene-s{seed}", SceneConfig(), seed=seed, progress=False)
        honest_head.main(["--data", str(root), "--work", str(Path(args.work) / f"flows-s{seed}"), "--json", str(out), *extra])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
