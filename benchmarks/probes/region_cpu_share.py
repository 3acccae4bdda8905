"""Probe: how much CPU the region head adds to ``detect`` end to end, and what two cores allow.

Runs the pipeline ``ammcnet bench`` times (``score_stream``: threaded decode and flow, the fused
channels-last model at batch 4, the cpu-lite grid, an untrained cpu-lite network) on the first
120 frames of ``vtest.avi``, without and with a region head fitted on those frames (as ``bench``
does for a run without one), and measures the process's CPU time beside the wall time. The rate
with the head cannot beat ``cpu_without / cpu_with`` of the rate without it unless the pipeline
uses the cores better than without the head; the probe prints that bound next to the measured
ratio. ``--fewer-threads`` also times the run with the head at one torch thread fewer (the head
then has a core of its own).

Usage::

    python benchmarks/probes/region_cpu_share.py --repeats 3 --fewer-threads --json benchmarks/results/region-cpu-share.json
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ammcnet.bench.pipeline import score_stream
from ammcnet.bench.runner import _region_counterpart
from ammcnet.data.video import open_video
from ammcnet.export import make_backend
from ammcnet.models import AMMCNet
from ammcnet.training.presets import load_preset
from ammcnet.utils.io import write_json_atomic

VIDEO = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real" / "vtest.avi"


def run_once(video: list, backend, size, cfg, scorer) -> dict:
    """Rate, wall and CPU seconds of one pass."""
    c0, w0 = time.process_time(), time.perf_counter()
    _, st = score_stream(iter(video), backend, size=size, batch_size=4, threaded=True, max_frames=len(video),
                         flow=cfg.data.flow, flow_preset=cfg.data.flow_preset, scorer=scorer)
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    return {"fps": st["fps"], "wall_s": wall, "cpu_s": cpu, "cores_busy": cpu / wall,
            "cpu_ms_per_frame": 1000 * cpu / max(st["scored"], 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=str(VIDEO))
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--fewer-threads", action="store_true", help="also time the head with one torch thread fewer")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    cfg = load_preset("cpu-lite")
    size = tuple(cfg.data.size)
    torch.manual_seed(0)
    backend = make_backend("torch", AMMCNet(cfg.model).eval(), channels_last=True)
    video = [f for _, f in zip(range(args.frames), open_video(args.video), strict=False)]
    head, _ = _region_counterpart(None, iter(video), args.frames)
    threads = torch.get_num_threads()
    plan = [("without", None, threads), ("with", head, threads)]
    if args.fewer_threads and threads > 1:
        plan.append((f"with, {threads - 1} torch thread(s)", head, threads - 1))
    runs: dict[str, list[dict]] = {name: [] for name, _, _ in plan}
    for _ in range(args.repeats):  # interleaved, so drift in the machine's load hits both alike
        for name, scorer, n in plan:
            torch.set_num_threads(n)
            runs[name].append(run_once(video, backend, size, cfg, scorer))
            r = runs[name][-1]
            print(f"{name:24s} {r['fps']:6.1f} fps, {r['cores_busy']:.2f} cores busy, {r['cpu_ms_per_frame']:.1f} CPU ms/frame",
                  flush=True)
    med = {k: {m: float(np.median([r[m] for r in v])) for m in v[0]} for k, v in runs.items()}
    summary = {"rate_ratio": med["with"]["fps"] / med["without"]["fps"],
               "cpu_ratio_bound": med["without"]["cpu_ms_per_frame"] / med["with"]["cpu_ms_per_frame"],
               "head_cpu_ms_per_frame": med["with"]["cpu_ms_per_frame"] - med["without"]["cpu_ms_per_frame"]}
    print(f"rate with / without the head {summary['rate_ratio']:.2f}x; CPU-time bound at equal core use "
          f"{summary['cpu_ratio_bound']:.2f}x; the head adds {summary['head_cpu_ms_per_frame']:.1f} CPU ms per frame")
    if args.json:
        write_json_atomic(args.json, {"command": " ".join([Path(sys.executable).name, *sys.argv]),
                                      "machine": f"{platform.machine()} {platform.node()}, {threads} torch threads",
                                      "video": args.video, "frames": args.frames, "runs": runs, "median": med, **summary})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
