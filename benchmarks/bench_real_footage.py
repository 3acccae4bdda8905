"""What ``ammcnet detect`` reports on real footage (not a unit test; a few minutes on 2 CPU cores).

* ``tree.avi`` (68 frames, fixed camera on a tree; a hand enters at frame 53 and stays to 67):
  a small model is fitted on frames 0-45 only, written as the custom dataset
  ``ROOT/train/tree_normal/``; then the whole clip is run through :func:`run_detection` at the
  auto threshold. Reported: alarm events, which frames alarm, and the frame-level AUC on the
  unseen frames 46-67 (22 frames, 15 of them with the hand).
* ``vtest.avi`` (795 frames, pedestrians, no labelled anomaly): fitted on the first 60 % of
  frames, the false-alarm rate at the auto threshold is measured on the remaining 40 %.

Both models see very little data (46 and 477 frames, a few hundred optimiser steps), far from
the paper's training; the numbers show what the pipeline does, not what AMMC-Net can reach.

Usage::

    .venv/bin/python benchmarks/bench_real_footage.py --out runs/bench_real  # writes results.json
    .venv/bin/python benchmarks/bench_real_footage.py --out runs/bench_real_mp --set scoring.weights.motion_prior=0.5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from ammcnet.detect import DetectOptions, run_detection
from ammcnet.training import load_preset
from ammcnet.training.api import train
from ammcnet.utils.io import write_json_atomic

REAL = Path(os.environ.get("AMMCNET_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data" / "real"
TREE_TRAIN_END = 46  # frames 0..45 are the training data
TREE_HAND = (53, 67)  # inclusive, 0-based
VTEST_FIT_FRACTION = 0.6


def write_frames(video: Path, folder: Path, stop: int) -> int:
    """Decode frames 0..stop-1 of ``video`` into lossless PNGs (what the detector decodes from the file)."""
    folder.mkdir(parents=True, exist_ok=True)
    cap = cv2.VideoCapture(str(video))
    n = 0
    while n < stop:
        ok, frame = cap.read()
        if not ok:
            break
        cv2.imwrite(str(folder / f"{n:04d}.png"), frame)
        n += 1
    cap.release()
    return n


def fit(video: Path, name: str, stop: int, work: Path, args: argparse.Namespace) -> tuple[Path, float]:
    """Train a small model on the first ``stop`` frames of ``video``; returns (run folder, seconds)."""
    root = work / f"{name}_data"
    write_frames(video, root / "train" / f"{name}_normal", stop)
    cfg = load_preset(args.preset, [
        f"data.size=[{args.size},{args.size}]",
        "data.val_fraction=0.2",
        f"stage1.iterations={args.steps1}",
        f"stage2.iterations={args.steps2}",
        f"run.checkpoint_every={max(args.steps1, args.steps2, 1)}",
        "run.log_every=10",
        f"run.threads={args.threads}",
        *args.overrides,
    ])
    run = work / f"{name}_run"
    t0 = time.perf_counter()
    train(root, cfg, run, cache_dir=work / "cache", device="cpu", progress=False)
    return run, time.perf_counter() - t0


def scores_of(out: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = [json.loads(line) for line in (out / "frames.jsonl").read_text().splitlines()]
    return (np.array([r["index"] for r in rows]), np.array([r["score"] for r in rows]),
            np.array([r["alarm"] for r in rows], bool))


def tree(work: Path, args: argparse.Namespace) -> dict:
    from sklearn.metrics import roc_auc_score

    run, train_s = fit(REAL / "tree.avi", "tree", TREE_TRAIN_END, work, args)
    out = work / "tree_detect"
    s = run_detection(REAL / "tree.avi", run, DetectOptions(fpr=args.fpr, progress=False), out=out,
                      video=work / "tree_detect.mp4")
    idx, score, alarm = scores_of(out)
    hand = (idx >= TREE_HAND[0]) & (idx <= TREE_HAND[1])
    unseen = idx >= TREE_TRAIN_END
    return {
        "train_seconds": round(train_s, 1),
        "threshold": s.threshold,
        "events": [e.to_dict() for e in s.events],
        "alarmed_frames": idx[alarm].tolist(),
        "hand_frames_alarmed": int((alarm & hand).sum()),
        "hand_frames": int(hand.sum()),
        "unseen_normal_frames_alarmed": int((alarm & unseen & ~hand).sum()),
        "unseen_normal_frames": int((unseen & ~hand).sum()),
        "auc_unseen_frames": float(roc_auc_score(hand[unseen], score[unseen])),
        "mean_score_hand": float(score[hand].mean()),
        "mean_score_unseen_normal": float(score[unseen & ~hand].mean()),
        "latency_ms_mean": s.latency_ms_mean,
        "fps": s.fps,
    }


def diagnose(run: Path, out: Path, split_at: int) -> dict:
    """Why alarms fire after ``split_at``: mean z-score of each record there, and the rate under other smoothing."""
    from ammcnet.models import load_model_file
    from ammcnet.scoring.fusion import Smoothing, smooth

    cal = load_model_file(run).calibration
    rows = [json.loads(line) for line in (out / "frames.jsonl").read_text().splitlines()]
    idx = np.array([r["index"] for r in rows])
    rest = idx >= split_at
    fused = np.array([r["fused"] for r in rows])
    thr = cal["thresholds"]["0.01"]
    z = {}
    for name, stats in cal["records"].items():
        v = np.array([r["records"][name] for r in rows])
        z[name] = round(float(((v[rest] - stats["mean"]) / max(stats["std"], 1e-6)).mean()), 2)
    return {
        "calibration_frames": cal["num_frames"],
        "heldout_mean_z": z,
        "heldout_rate_unsmoothed": float((fused[rest] > thr).mean()),
        "heldout_rate_symmetric_smoothing": float((smooth(fused, Smoothing())[rest] > thr).mean()),
    }


def vtest(work: Path, args: argparse.Namespace) -> dict:
    cap = cv2.VideoCapture(str(REAL / "vtest.avi"))
    total = 0
    while cap.grab():
        total += 1
    cap.release()
    stop = int(total * VTEST_FIT_FRACTION)
    run, train_s = fit(REAL / "vtest.avi", "vtest", stop, work, args)
    out = work / "vtest_detect"
    s = run_detection(REAL / "vtest.avi", run, DetectOptions(fpr=args.fpr, progress=False), out=out)
    idx, score, alarm = scores_of(out)
    rest = idx >= stop
    return {
        "frames": total,
        "fit_frames": stop,
        "train_seconds": round(train_s, 1),
        "threshold": s.threshold,
        "target_fpr": args.fpr,
        "false_alarm_rate_heldout": float(alarm[rest].mean()),
        "heldout_frames": int(rest.sum()),
        "false_alarm_rate_fit_part": float(alarm[~rest].mean()),
        "events_heldout": sum(1 for e in s.events if e.start_frame >= stop),
        "diagnosis": diagnose(run, out, stop),
        "latency_ms_mean": s.latency_ms_mean,
        "fps": s.fps,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/bench_real", help="work folder (models, outputs, results.json)")
    p.add_argument("--preset", default="cpu-lite")
    p.add_argument("--size", type=int, default=64, help="square model grid (multiple of 8)")
    p.add_argument("--steps1", type=int, default=60)
    p.add_argument("--steps2", type=int, default=30)
    p.add_argument("--fpr", type=float, default=0.01)
    p.add_argument("--only", choices=("tree", "vtest"), default=None)
    p.add_argument("--threads", type=int, default=0,
                   help="torch CPU threads (0 = all cores; 1 is faster on a machine busy with other jobs)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="extra config override, e.g. scoring.weights.motion_prior=0.5 (repeatable)")
    args = p.parse_args(argv)
    if not REAL.is_dir():
        print(f"{REAL} not found: this benchmark needs the shared real clips beside the checkout", file=sys.stderr)
        return 2
    work = Path(args.out)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    results: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
                     "args": vars(args)}
    t0 = time.perf_counter()
    for name, job in (("tree", tree), ("vtest", vtest)):
        if args.only in (None, name):
            results[name] = job(work, args)
            print(name, json.dumps(results[name], indent=1, default=str))
    results["seconds"] = round(time.perf_counter() - t0, 1)
    write_json_atomic(work / "results.json", results)
    print(f"total {results['seconds']} s; results in {work / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
