"""The region head on a dataset: settings chosen on training footage only, then the test split.

1. Analysis flows (DIS, 240 px high by default) of every training and test video (cached in
   ``--work`` as .npy, so a rerun or ``--resume`` skips them).
2. Validation without test labels: every 4th training video is held out whole; synthetic
   anomalies (``ammcnet.regions.selection.synthetic``) are made from the held-out videos; every candidate
   setting (window size x parts) is fitted on the other training videos and measured there
   (mean synthetic AUC, false alarms on the held-out normal videos at the 1 % threshold).
3. The winner is refitted on all training videos and scores the test split: honest micro and
   macro AUC (raw, centred sigma 3, causal sigma 3), the operator's view at the 1 % threshold,
   the two training-free baselines (largest local speed, per-position speed ratio) at the three
   window sizes, and each part alone (ablation).

Test labels are read only in step 3, to report. Usage::

    python benchmarks/honest_head.py --data ../shared/benchmarks/ped2 --json benchmarks/results/honest-head-ped2.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d
from sklearn.metrics import roc_auc_score

from ammcnet.data.analysis_flows import FLOW_CACHE_VERSION
from ammcnet.data.layouts import discover_dataset
from ammcnet.flow.analysis import analysis_size
from ammcnet.metrics.alarms import alarm_report
from ammcnet.regions import RegionHead, RegionHeadConfig
from ammcnet.regions.footage import flows_of_frames, resized_frames, video_size
from ammcnet.regions.head import features_of
from ammcnet.regions.selection.validate import (
    PART_SETS,
    RELATIVE_PART_SETS,
    ROW_PART_SETS,
    SPEED_PART_SETS,
    WINDOWS,
    Footage,
    choose_settings,
    validation_rotation,
)
from ammcnet.utils.io import write_json_atomic

BASELINES = {"max local speed": {"speed": 1.0}, "per-position speed ratio": {"place": 1.0}}


def cached_flows(videos, size, preset, work: Path, tag: str) -> list[np.ndarray]:
    out = []
    for v in videos:
        path = work / f"{tag}-{v.name}-{size[0]}x{size[1]}-{preset}-v{FLOW_CACHE_VERSION}.npy"  # a new flow, a new file
        if not path.exists():
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, flows_of_frames(v.open(), size, preset))
            tmp.replace(path)
        out.append(np.load(path))
        print(f"  flows {tag} {v.name}: {len(out[-1])} frames", flush=True)
    return out


def smooth(s: np.ndarray, mode: str) -> np.ndarray:
    if mode == "raw":
        return s
    if mode == "centred":
        return gaussian_filter1d(s, 3.0, mode="nearest")
    k = np.arange(-9, 1, dtype=np.float64)
    taps = np.exp(-0.5 * (k / 3.0) ** 2)
    taps /= taps.sum()
    padded = np.concatenate([np.full(9, s[0]), s])
    return np.array([padded[i:i + 10] @ taps for i in range(len(s))])


def aucs(scores: list[np.ndarray], labels: list[np.ndarray]) -> dict[str, dict[str, float]]:
    out = {}
    for mode in ("raw", "centred", "causal"):
        sm = [smooth(np.asarray(s, np.float64), mode) for s in scores]
        micro = 100 * roc_auc_score(np.concatenate(labels), np.concatenate(sm))
        macro = [100 * roc_auc_score(y, s) for s, y in zip(sm, labels, strict=True) if 0 < y.sum() < len(y)]
        out[mode] = {"micro": round(micro, 2), "macro": round(float(np.mean(macro)), 2) if macro else None}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/benchmarks/ped2")
    ap.add_argument("--work", default="runs/honest_head")
    ap.add_argument("--json", default=None)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--preset", default="medium")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--row-part", action="store_true", help="also try the per-row part (row) in place of speed")
    ap.add_argument("--relative-part", action="store_true",
                    help="also try the perspective-free part (relative: blob speed over blob height) in place of speed")
    ap.add_argument("--speed-only", action="store_true",
                    help="leave the perspective part out of the candidates (the candidates before it existed)")
    args = ap.parse_args(argv)
    t0 = time.time()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    ds = discover_dataset(args.data)
    size = analysis_size(video_size(ds.train[0]), args.height)
    print(f"{ds.name}: {len(ds.train)} training, {len(ds.test)} test videos, analysis grid {size}", flush=True)
    train_flows = cached_flows(ds.train, size, args.preset, work, "train")
    test_flows = cached_flows(ds.test, size, args.preset, work, "test")
    t_flow = time.time() - t0
    footage = [Footage(v.name, f, partial(resized_frames, v.open(), size)) for v, f in zip(ds.train, train_flows, strict=True)]
    base = RegionHeadConfig(height=args.height, flow_preset=args.preset, seed=args.seed)  # the kNN bank subset
    part_sets = (SPEED_PART_SETS if args.speed_only else PART_SETS) + (ROW_PART_SETS if args.row_part else ())
    part_sets += RELATIVE_PART_SETS if args.relative_part else ()
    selection = choose_settings(footage, base, seed=args.seed, part_sets=part_sets, rotation=validation_rotation(args.seed),
                                log=lambda m: print("  " + m, flush=True))
    best = selection.best
    print(f"chosen on validation: {best.label}", flush=True)
    t1 = time.time()
    head = RegionHead.fit_features([features_of(f, best.config) for f in train_flows], best.config)
    t_fit = time.time() - t1
    labels = [np.asarray(y, np.int64) for y in ds.test_labels]
    test_feats = [features_of(f, best.config) for f in test_flows]
    t2 = time.time()
    scored = [head.score_features(f) for f in test_feats]
    t_score = (time.time() - t2) / sum(len(f.speed) for f in test_feats)
    scores = [s.score for s in scored]
    thr = float(np.quantile(np.concatenate([smooth(s, "causal") for s in head.normal_scores]), 0.99))
    operator = alarm_report([smooth(s, "causal") for s in scores], labels, thr).as_dict()
    report = {"head": aucs(scores, labels), "operator_at_1pct_causal": operator,
              "parts_alone": {p: aucs([s.parts[p] for s in scored], labels) for p in head.parts},
              "baselines": {}}
    for window in dict.fromkeys([*WINDOWS, best.config.window]):  # the head's own window too
        for name, weights in BASELINES.items():
            cfg = RegionHeadConfig(window=window, weights=weights)
            b = RegionHead.fit_features([features_of(f, cfg) for f in train_flows], cfg)
            bs = [b.score_features(features_of(f, cfg)).score for f in test_flows]
            report["baselines"][f"{name}, window {window * 240:.0f}/240"] = aucs(bs, labels)
    out = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": f"{platform.machine()} {platform.processor() or ''} {platform.node()}".strip(),
        "dataset": ds.name, "analysis_grid": list(size), "seed": args.seed,
        "validation": selection.as_dict(),
        "config": best.config.as_dict(), "test": report,
        "seconds": {"flows": round(t_flow, 1), "fit": round(t_fit, 1), "score_per_frame_ms": round(1000 * t_score, 2),
                    "total": round(time.time() - t0, 1)},
    }
    print(json.dumps(out["test"], indent=1))
    if args.json:
        write_json_atomic(args.json, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
