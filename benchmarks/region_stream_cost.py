"""Where the region head's online time goes: one live frame of ``vtest.avi``, stage by stage.

The head is fitted on the clip's first 160 frames (settings: the defaults, all three parts, the
object-sized window of Ped2: 34/240), then frames 170-259 are fed one at a time as ``ammcnet detect``
feeds them. Each stage is timed on its own. torch (which rounds the flow to float16) runs on one
thread here: with two, its idle OpenMP threads spin after each tiny conversion and slow the DIS
call that follows in this single-threaded loop, which would charge the flow for torch's spin.

Usage::

    python benchmarks/region_stream_cost.py --json benchmarks/results/region-stream-cost.json
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ammcnet.data.video import open_video
from ammcnet.flow.analysis import AnalysisFlow, analysis_size
from ammcnet.regions import RegionHead, RegionHeadConfig
from ammcnet.regions.footage import flows_of_frames
from ammcnet.regions.head import features_of
from ammcnet.utils.float16 import round_float16
from ammcnet.utils.io import write_json_atomic

FIT, START, STOP = 160, 170, 260


def stage_times(head: RegionHead, frames: np.ndarray) -> dict[str, float]:
    """Mean milliseconds per frame of each stage of ``RegionStream.update``."""
    flow = AnalysisFlow(head.size, head.config.flow_preset)
    spent = {"grey and resize": 0.0, "flow": 0.0, "float16 round trip": 0.0, "window features": 0.0, "parts and fusion": 0.0}
    prev = flow.grey(frames[0])
    for rgb in frames[1:]:
        t0 = time.perf_counter()
        cur = flow.grey(rgb)
        t1 = time.perf_counter()
        f = flow.backend.compute_grey(prev, cur)
        t2 = time.perf_counter()
        f = round_float16(f)  # as RegionStream.update
        t3 = time.perf_counter()
        feats = features_of(f[None], head.config)
        t4 = time.perf_counter()
        head.score_features(feats)
        t5 = time.perf_counter()
        prev = cur
        for name, dt in zip(spent, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            spent[name] += dt
    n = len(frames) - 1
    return {k: round(1000 * v / n, 2) for k, v in spent.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default="../shared/data/real/vtest.avi")
    ap.add_argument("--json", default=None)
    ap.add_argument("--relative", action="store_true", help="add the relative part (its blobs are part of the window features)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    frames = []
    for f in open_video(args.video):
        frames.append(f)
        if len(frames) >= STOP:
            break
    frames = np.stack(frames)
    weights = {"speed": 1.0, "place": 1.0, "direction": 1.0, **({"relative": 1.0} if args.relative else {})}
    config = RegionHeadConfig(weights=weights, window=34 / 240)
    size = analysis_size(frames.shape[1:3], config.height)
    flows = flows_of_frames(frames[:FIT], size, config.flow_preset)
    head = RegionHead.fit([flows[: FIT // 2], flows[FIT // 2:]], config)
    stage_times(head, frames[START - 10:START])  # warm-up
    stages = stage_times(head, frames[START:STOP])
    report = {"command": " ".join([Path(sys.executable).name, *sys.argv]),
              "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
              "video": args.video, "source_size": list(frames.shape[1:3]), "analysis_grid": list(size),
              "frames": STOP - START - 1, "ms_per_frame": stages, "total_ms": round(sum(stages.values()), 2)}
    print(report)
    if args.json:
        write_json_atomic(args.json, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
