"""Per-record honest AUC of trained runs: each AMMC-Net record alone, frame mean beside local.

For every ``ammcnet demo --out`` folder (or any folder with ``run/`` and ``test/`` from
``ammcnet test``) this scores each record of ``test/scores.npz`` alone under the honest protocol:
one global scale for every video (for a single record the calibration's z-score is a monotone
map, so the AUC is that of the record itself), the run's own Gaussian smoothing (sigma 3), no
test statistic. It is the ablation of the records: the frame means (``rgb_psnr``,
``flow_error``, the commitments) beside their local versions (``*_local``: the error map's
mean over the window where it is largest), the motion prior and the region head (``region``).

With ``--fusion-grid`` it also z-fuses the preset's records with the region head and the local
appearance error at a grid of weights (the head z-scored with its held-out normal scores), to see
whether they would earn a place in the honest fusion. Give it design scenes only: report scenes
(100-109) are refused.

Usage::

    python benchmarks/local_records.py runs/dv/loc-s2 runs/dv/loc-s3 --json benchmarks/results/local-records-demo.json
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
from provenance import save_result  # the sibling module
from sklearn.metrics import roc_auc_score

from ammcnet.data.cache import open_prepared
from ammcnet.demo.blind import design_folders
from ammcnet.metrics import load_score_file
from ammcnet.metrics.records import NORMAL, direction_of
from ammcnet.models import load_model_file
from ammcnet.regions import RegionHead
from ammcnet.scoring.fusion import Smoothing, record_stats, smooth

#: Weights tried by ``--fusion-grid`` on top of the preset's (the rest of the preset stays).
GRID = {"region": (0.0, 0.25, 0.5, 1.0, 2.0), "rgb_error_local": (0.0, 0.5, 1.0), "rgb_psnr": (0.0, 1.0),
        "motion_prior": (0.0, 0.5)}


def record_aucs(folder: Path) -> dict[str, float]:
    """Honest micro AUC (%) of each record of ``folder/test/scores.npz`` alone."""
    metrics = json.loads((folder / "test" / "metrics.json").read_text())
    sf = load_score_file(folder / "test" / "scores.npz")
    ds = open_prepared(metrics["data"])
    first = int(metrics["frames_in"])
    smoothing = Smoothing.from_dict(metrics["fusion"]["smoothing"])
    labels = np.concatenate([ds.labels(sf.video_name(i))[first:] for i in range(len(sf.videos))])
    out = {}
    for name in sf.record_names:
        sign = -1.0 if direction_of(name) == NORMAL else 1.0
        scores = [smooth(sign * np.asarray(v, np.float64), smoothing)[first:] for v in sf.records[name]]
        out[name] = round(100 * float(roc_auc_score(labels, np.concatenate(scores))), 2)
    out["fused (the run's honest score)"] = round(100 * float(metrics["honest"]["auc_micro"]), 2)
    return out


def fused_auc(folder: Path, weights: dict[str, float]) -> float:
    """Honest micro AUC of the z-fused records (the region head scaled by its held-out normal scores)."""
    loaded = load_model_file(folder / "run")
    metrics = json.loads((folder / "test" / "metrics.json").read_text())
    sf = load_score_file(folder / "test" / "scores.npz")
    ds, first = open_prepared(metrics["data"]), int(metrics["frames_in"])
    head = RegionHead.from_state(loaded.scorer_state["components"]["region_head"])
    normal = np.concatenate(head.normal_scores)
    stats = {n: record_stats(loaded.calibration, n) for n in weights if n != "region" and weights[n]}
    stats["region"] = (float(normal.mean()), float(normal.std()))
    smoothing = Smoothing.from_dict(metrics["fusion"]["smoothing"])
    labels, scores = [], []
    for v in range(len(sf.videos)):
        total = sum((-w if direction_of(n) == NORMAL else w) * (np.asarray(sf.records[n][v], np.float64) - stats[n][0])
                    / stats[n][1] for n, w in weights.items() if w)
        scores.append(smooth(np.asarray(total, np.float64), smoothing)[first:])
        labels.append(ds.labels(sf.video_name(v))[first:])
    return 100 * float(roc_auc_score(np.concatenate(labels), np.concatenate(scores)))


def fusion_grid(folders: list[Path]) -> list[dict]:
    """Every weighting of :data:`GRID` on top of the first folder's preset, best mean first."""
    preset = json.loads((folders[0] / "test" / "metrics.json").read_text())["fusion"]["weights"]
    rows = []
    for values in itertools.product(*GRID.values()):
        w = {**preset, **dict(zip(GRID, values, strict=True))}
        if not any(w.values()):
            continue
        aucs = [round(fused_auc(f, w), 2) for f in folders]
        rows.append({"weights": w, "aucs": aucs, "mean": round(float(np.mean(aucs)), 2),
                     "preset": w == {**preset, "region": 0.0, "rgb_error_local": 0.0}})
    return sorted(rows, key=lambda r: -r["mean"])


def held_out_gain(rows: list[dict]) -> list[float]:
    """Per scene: the AUC gain over the preset of the weighting that is best on the *other* scenes."""
    preset = next(r for r in rows if r["preset"])
    gains = []
    for k in range(len(preset["aucs"])):
        best = max(rows, key=lambda r: np.mean([a for i, a in enumerate(r["aucs"]) if i != k]))
        gains.append(round(best["aucs"][k] - preset["aucs"][k], 2))
    return gains


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--json", default=None)
    ap.add_argument("--fusion-grid", action="store_true", help="also try fusing the region head and rgb_error_local")
    ap.add_argument("--region-weights", nargs="+", type=float, default=None,
                    help=f"weights of the head tried by --fusion-grid (default {GRID['region']})")
    ap.add_argument("--local-weights", nargs="+", type=float, default=None,
                    help=f"weights of rgb_error_local tried by --fusion-grid (default {GRID['rgb_error_local']})")
    args = ap.parse_args(argv)
    args.folders = design_folders(args.folders, "local_records.py")  # report scenes stay blind
    if args.region_weights:
        GRID["region"] = tuple(args.region_weights)
    if args.local_weights:
        GRID["rgb_error_local"] = tuple(args.local_weights)
    runs = {}
    for folder in args.folders:
        scene = folder / "scene" / "scene.json"
        name = f"seed{json.loads(scene.read_text())['seed']}" if scene.exists() else folder.name
        runs[name] = record_aucs(folder)
        print(name, runs[name], flush=True)
    names = list(next(iter(runs.values())))
    mean = {n: round(float(np.mean([r[n] for r in runs.values()])), 2) for n in names}
    print("mean", mean)
    out = {"runs": runs, "mean": mean}
    if args.fusion_grid:
        out["fusion_grid"] = fusion_grid(args.folders)
        out["held_out_gain"] = held_out_gain(out["fusion_grid"])
        print("gain of the weighting chosen on the other scenes, per held-out scene:", out["held_out_gain"])
        for r in out["fusion_grid"][:5] + [r for r in out["fusion_grid"] if r["preset"]]:
            print(f"fused mean {r['mean']:.2f} {r['aucs']} {r['weights']}{' (preset)' if r['preset'] else ''}")
    save_result(args.json, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
