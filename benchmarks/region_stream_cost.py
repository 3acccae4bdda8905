"""Where the region head's online time goes: one live frame of ``vtest.avi``, stage by stage.

Four heads are fitted on the clip's first 160 frames (the motion parts speed, place and direction
at the object-sized window of Ped2, 34/240; the same with the appearance part; the same with the
moving look added; the same with both, as the choice may adopt them), then frames 170-259 are fed
one at a time as ``ammcnet detect`` feeds them, to each head in turn, three rounds interleaved;
the ratios of their totals are the look parts' added cost per live frame. Each stage is timed on its own. torch (which rounds the flow to float16) runs on one
thread here: with two, its idle OpenMP threads spin after each tiny conversion and slow the DIS
call that follows in this single-threaded loop, which would charge the flow for torch's spin.

Usage::

    python benchmarks/region_stream_cost.py --json benchmarks/results/region-stream-cost.json
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from provenance import save_result  # the sibling module

from ammcnet.data.video import open_video
from ammcnet.flow.analysis import AnalysisFlow, analysis_size
from ammcnet.regions import RegionHead, RegionHeadConfig
from ammcnet.regions.footage import flows_of_frames
from ammcnet.regions.head import features_of
from ammcnet.utils.float16 import round_float16

FIT, START, STOP = 160, 170, 260


def stage_times(head: RegionHead, frames: np.ndarray) -> dict[str, float]:
    """Mean milliseconds per frame of each stage of ``RegionStream.update``."""
    flow = AnalysisFlow(head.size, head.config.flow_preset)
    spent = {"grey, resize and flow": 0.0, "float16 round trip": 0.0, "window features": 0.0, "parts and fusion": 0.0}
    flow.update(frames[0])
    for rgb in frames[1:]:
        t0 = time.perf_counter()
        f = flow.update(rgb)  # the flow and the frame's grey level, as the stream gets them
        t1 = time.perf_counter()
        f = round_float16(f)  # as RegionStream.update
        t2 = time.perf_counter()
        feats = features_of(f[None], head.config)
        t3 = time.perf_counter()
        head.score_features(feats)
        t4 = time.perf_counter()
        for name, dt in zip(spent, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            spent[name] += dt
    n = len(frames) - 1
    return {k: round(1000 * v / n, 2) for k, v in spent.items()}


#: Rounds of each head, interleaved, so that both meet the same machine state.
ROUNDS = 3


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
    configs = {"motion parts": RegionHeadConfig(weights=weights, window=34 / 240),
               "with the appearance part": RegionHeadConfig(weights={**weights, "appearance": 1.0}, window=34 / 240),
               "with the moving look": RegionHeadConfig(weights={**weights, "moving_look": 1.0}, window=34 / 240),
               "with both look parts": RegionHeadConfig(weights={**weights, "appearance": 1.0, "moving_look": 1.0},
                                                        window=34 / 240)}
    size = analysis_size(frames.shape[1:3], configs["motion parts"].height)
    flows = flows_of_frames(frames[:FIT], size, configs["motion parts"].flow_preset)
    heads = {k: RegionHead.fit([flows[: FIT // 2], flows[FIT // 2:]], c) for k, c in configs.items()}
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in heads}
    for _ in range(ROUNDS):
        for name, head in heads.items():
            stage_times(head, frames[START - 10:START])  # warm-up
            runs[name].append(stage_times(head, frames[START:STOP]))
    stages = {k: {s: round(float(np.mean([r[s] for r in v])), 2) for s in v[0]} for k, v in runs.items()}
    totals = {k: round(sum(v.values()), 2) for k, v in stages.items()}
    report = save_result(args.json, {
        "seed": configs["motion parts"].seed, "settings": {k: c.as_dict() for k, c in configs.items()},
        "video": args.video, "source_size": list(frames.shape[1:3]), "analysis_grid": list(size),
        "frames": STOP - START - 1, "rounds": ROUNDS, "ms_per_frame": stages, "total_ms": totals,
        "ratio_with_appearance": round(totals["with the appearance part"] / totals["motion parts"], 3),
        "ratio_with_moving_look": round(totals["with the moving look"] / totals["motion parts"], 3),
        "ratio_with_both": round(totals["with both look parts"] / totals["motion parts"], 3)})
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
