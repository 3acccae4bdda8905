"""Time the scene generator (rendering alone and the whole dataset on disk) and, optionally, the demo.

Usage::

    .venv/bin/python benchmarks/bench_demo.py                 # scene timings, default settings
    .venv/bin/python benchmarks/bench_demo.py --demo --quick  # also the full demo job (minutes)

Prints one JSON object: frames per second of rendering (wall and CPU time), seconds to write
the default dataset, and, with ``--demo``, the seconds per demo step and the AUCs.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from ammcnet.demo import SceneConfig, build_scene, generate_scene_dataset, render_video


def bench_render(config: SceneConfig, frames: int) -> dict:
    scene = build_scene(config, seed=0)
    wall, cpu = time.perf_counter(), time.process_time()
    render_video(config, frames, anomalies=[("cyclist", frames // 4)], seed=0, scene=scene)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"frames": frames, "fps_wall": frames / wall, "fps_cpu": frames / cpu}


def bench_dataset(config: SceneConfig) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu = time.perf_counter(), time.process_time()
        generate_scene_dataset(Path(tmp) / "scene", config, seed=0, progress=False)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    n = config.train_videos * config.train_frames + config.test_videos * config.test_frames
    return {"frames": n, "seconds_wall": wall, "seconds_cpu": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200, help="frames rendered for the rendering benchmark")
    parser.add_argument("--demo", action="store_true", help="also run the demo job")
    parser.add_argument("--quick", action="store_true", help="with --demo: the quick demo")
    parser.add_argument("--out", default=None, help="with --demo: working folder (default: a temporary one)")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    config = SceneConfig()
    result = {
        "machine": f"{platform.machine()} {torch.get_num_threads()} threads, torch {torch.__version__}",
        "size": [config.height, config.width],
        "render": bench_render(config, args.frames),
        "dataset": bench_dataset(config),
    }
    if args.demo:
        from ammcnet.demo.job import run_demo

        with tempfile.TemporaryDirectory() as tmp:
            out = Path(args.out) if args.out else Path(tmp) / "demo"
            demo = run_demo(out, quick=args.quick, progress=False)
        result["demo"] = {"quick": args.quick, "seconds": demo["seconds"], "auc": demo["auc"],
                          "auc_paper": demo["auc_paper"]}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
