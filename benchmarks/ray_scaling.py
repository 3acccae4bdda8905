"""Capacity of one CPU core: end-to-end detection rate of N video streams on 1 and 2 Ray workers.

Each stream is a copy of one video file cut to ``--frames`` frames, detected end to end (decode,
resize, DIS flow, model, fusion, events; files written) by ``ammcnet.fleet.archive.detect_many_ray``
with one torch thread per actor, on a local Ray instance with ``--cpus`` CPUs. The same streams
run first on one worker, then on two, side by side in one process; the model has random weights
(the rate does not depend on them) and a neutral calibration.

Reported per run: wall time of the job (actor start and model load included), scored frames, the
job's aggregate rate, and the median per-stream rate (frames read per second inside one actor =
what one core sustains for one stream). Streams per core at 25 fps = per-stream rate / 25.

Ray starts its workers at niceness 15, so on a machine shared with other work they get a fraction
of a core; this benchmark starts them at 0 (``RAY_worker_niceness=0``) to measure the code, not
the scheduler, and records the load average before each run.

    python benchmarks/ray_scaling.py --preset cpu-lite --video ../shared/data/real/vtest.avi \
        --streams 4 --frames 150 --json benchmarks/results/ray-scaling-cpu-lite.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from ammcnet.bench.system import machine_info
from ammcnet.detect import DetectOptions
from ammcnet.fleet.archive import detect_many_ray
from ammcnet.fleet.cluster import connect
from ammcnet.models import AMMCNet, ModelConfig, save_model_file
from ammcnet.scoring.fusion import RECORDS
from ammcnet.training.presets import load_preset
from ammcnet.utils.io import write_json_atomic

INPUT_FPS = 25.0


def _model_file(preset: str, folder: Path) -> Path:
    cfg = load_preset(preset)
    torch.manual_seed(0)
    model = AMMCNet(ModelConfig(**cfg.to_dict()["model"])).eval()
    cal = {"records": {r: {"mean": 0.0, "std": 1.0} for r in RECORDS}}
    path = folder / "run" / "model.pt"
    save_model_file(path, model, calibration=cal, train_config=cfg.to_dict())
    return path


def _one(sources: list[str], model: Path, out: Path, workers: int, frames: int) -> dict:
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    summaries = detect_many_ray(sources, model, out, DetectOptions(threads=1, max_frames=frames, threshold=None),
                                workers=workers)
    wall = time.perf_counter() - t0
    scored = sum(s.frames_scored for s in summaries if s is not None)
    per_stream = [s.fps for s in summaries if s is not None]
    return {"workers": workers, "streams": len(sources), "load_1min_before": round(load, 2), "wall_s": round(wall, 2), "frames_scored": scored,
            "aggregate_fps": round(scored / wall, 2), "per_stream_fps_median": round(statistics.median(per_stream), 2),
            "per_stream_fps": [round(x, 2) for x in per_stream]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu-lite")
    ap.add_argument("--video", required=True)
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    os.environ.setdefault("RAY_worker_niceness", "0")
    ray = connect("", num_cpus=args.cpus)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        model = _model_file(args.preset, Path(tmp))
        sources = [args.video] * args.streams
        for w in (int(x) for x in args.workers.split(",")):
            run = _one(sources, model, Path(tmp) / f"out-{w}", w, args.frames)
            run["streams_per_core_at_25fps"] = round(run["per_stream_fps_median"] / INPUT_FPS, 3)
            runs.append(run)
            print(json.dumps(run))
    if len(runs) >= 2:
        print(f"speed-up {runs[1]['workers']} vs {runs[0]['workers']} workers: "
              f"{runs[1]['aggregate_fps'] / runs[0]['aggregate_fps']:.2f}x aggregate")
    result = {"preset": args.preset, "video": args.video, "frames_per_stream": args.frames, "ray": ray.__version__,
              "torch": torch.__version__, "machine": machine_info("cpu"), "runs": runs,
              "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    if args.json:
        write_json_atomic(args.json, result)


if __name__ == "__main__":
    main()
