"""Probe: does the region head's cost online depend on how the CPU's threads are shared?

``ammcnet detect`` runs the model on torch's threads (two on a 2-core machine), decoding and the
model's flow in a producer thread, and the head (its DIS flow, window features, parts) in a
worker thread of its own: four busy threads on two cores. Two policies are timed against the
default, each as ``ammcnet bench`` times the head (the same optimised run without, then with the
head, alternated; the median of the rounds' ratios):

* ``torch-1-thread``: the model on one torch thread while the head runs, leaving it a core;
* ``omp-passive``: torch's OpenMP workers sleep instead of spinning between calls
  (``OMP_WAIT_POLICY=PASSIVE``; each policy runs in a child process started with its environment).

Frames are decoded once in advance, so decoding is not part of these figures (``ammcnet bench``
includes it). Random cpu-lite weights, ``vtest.avi``; no score is judged.

Usage::

    python benchmarks/probes/head_thread_probe.py --json benchmarks/results/head-thread-probe.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from ammcnet.bench.pipeline import score_stream
from ammcnet.bench.runner import BenchConfig, _load, _region_counterpart
from ammcnet.data import open_video
from ammcnet.export import TorchBackend

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the sibling benchmark scripts

from provenance import save_result  # noqa: E402

POLICIES: dict[str, dict[str, str]] = {"default": {}, "torch-1-thread": {}, "omp-passive": {"OMP_WAIT_POLICY": "PASSIVE"}}


def measure(policy: str, video: str, frames: int, rounds: int) -> dict:
    """One policy's rounds, in this process (torch already loaded with the policy's environment)."""
    model, tcfg, _ = _load(BenchConfig())
    backend = TorchBackend(model, channels_last=True)
    clip = [f for _, f in zip(range(frames), open_video(video), strict=False)]
    with_head, _ = _region_counterpart(None, clip, frames)
    kw = dict(size=tuple(int(v) for v in tcfg.data.size), batch_size=4, threaded=True, flow=tcfg.data.flow,
              flow_preset=tcfg.data.flow_preset)
    score_stream(clip, backend, **kw)  # warm-up
    out = []
    for _ in range(rounds):
        torch.set_num_threads(2)
        without = score_stream(clip, backend, **kw)[1]["fps"]
        torch.set_num_threads(1 if policy == "torch-1-thread" else 2)
        with_fps = score_stream(clip, backend, scorer=with_head, **kw)[1]["fps"]
        out.append({"without_fps": without, "with_fps": with_fps, "ratio": with_fps / without})
    return {"rounds": out, "median_ratio": float(np.median([r["ratio"] for r in out]))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default="../shared/data/real/vtest.avi")
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", default=None)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:  # one policy, its environment already set by the parent
        print(json.dumps(measure(args.child, args.video, args.frames, args.rounds)))
        return 0
    results = {}
    for policy, env in POLICIES.items():
        cmd = [sys.executable, __file__, "--child", policy, "--video", args.video, "--frames", str(args.frames),
               "--rounds", str(args.rounds)]
        done = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True, check=True)
        results[policy] = json.loads(done.stdout.strip().splitlines()[-1])
        ratios = ", ".join(f"{r['ratio']:.2f}" for r in results[policy]["rounds"])
        print(f"{policy}: median ratio {results[policy]['median_ratio']:.3f} ({ratios})", flush=True)
    save_result(args.json, {"video": args.video, "frames": args.frames, "rounds": args.rounds, "policies": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
