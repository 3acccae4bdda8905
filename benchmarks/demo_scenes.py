"""The demo's honest score on several generated scenes, beside the training-free baselines.

Reads ``ammcnet test`` outputs (``FOLDER/test/metrics.json``, e.g. of ``ammcnet demo --out FOLDER
--seed S``) and writes, per scene: the default honest score's micro and macro AUC and per-video
AUCs, every honest variant (the region head alone among them), the operator's view at the 1 %
threshold, and the best training-free baseline of ``benchmarks/results/honest-head-demo-seedS.json``
(the same scene, ``python benchmarks/honest_head_demo.py``) when it exists. The figures are those
``ammcnet test`` wrote; ``--other-weights NAME=VALUE ...`` also fuses each run's stored records
with other weights (on top of the run's own, its own calibration and smoothing), e.g. an earlier
preset's, to compare them on the same trained models.

Usage::

    python benchmarks/demo_scenes.py runs/dv/fuse-s0 runs/dv/fuse-s1 --seeds 0 1 --json demo.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from provenance import save_result  # the sibling module
from sklearn.metrics import roc_auc_score

from ammcnet.data.cache import open_prepared
from ammcnet.metrics import load_score_file
from ammcnet.models import load_model_file
from ammcnet.scoring import FusionWeights, Smoothing, fused_scores

RESULTS = Path(__file__).resolve().parent / "results"


def best_baseline(seed: int) -> dict | None:
    """The best training-free baseline (centred, micro) on the scene drawn with ``seed``, if measured."""
    path = RESULTS / f"honest-head-demo-seed{seed}.json"
    if not path.exists():
        return None
    baselines = json.loads(path.read_text())["test"]["baselines"]
    name = max(baselines, key=lambda n: baselines[n]["centred"]["micro"])
    return {"name": name, "micro": baselines[name]["centred"]["micro"]}


def refused_auc(folder: Path, metrics: dict, changes: dict[str, float]) -> float:
    """Micro AUC (%) of the run's stored records fused with its weights changed by ``changes``."""
    weights = FusionWeights.from_dict({**metrics["fusion"]["weights"], **changes})
    sf = load_score_file(folder / "test" / "scores.npz")
    scores = fused_scores(sf, load_model_file(metrics["model"]).calibration, weights,
                           Smoothing.from_dict(metrics["fusion"]["smoothing"]))
    ds, first = open_prepared(metrics["data"]), int(metrics["frames_in"])
    labels = np.concatenate([ds.labels(sf.video_name(v))[first:] for v in range(len(sf.videos))])
    return round(100 * float(roc_auc_score(labels, np.concatenate([x[first:] for x in scores]))), 2)


def scene_row(folder: Path, seed: int, changes: dict[str, float] | None = None) -> dict:
    """What ``ammcnet test`` measured in ``folder`` (percent, two decimals)."""
    m = json.loads((folder / "test" / "metrics.json").read_text())
    honest = m["honest"]
    row = {
        "folder": str(folder),
        "seed": seed,
        "honest": honest["name"],
        "micro": round(100 * honest["auc_micro"], 2),
        "macro": round(100 * honest["auc_macro"], 2),
        "per_video": {k: round(100 * v, 1) for k, v in honest["per_video_auc"].items()},
        "variants": {k: round(100 * v["auc_micro"], 2) for k, v in m["honest_variants"].items()},
        "operator": m.get("operator"),
        "fusion": m.get("fusion"),
        "best_baseline": best_baseline(seed),
    }
    if changes:
        row["other_weights"] = {"changes": changes, "micro": refused_auc(folder, m, changes)}
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--seeds", nargs="+", type=int, required=True, help="the scene seed of each folder, in order")
    ap.add_argument("--other-weights", nargs="+", default=[], metavar="NAME=VALUE",
                    help="also fuse the stored records with these weights changed")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if len(args.seeds) != len(args.folders):
        ap.error("give one --seeds value per folder")
    changes = {k: float(v) for k, v in (c.split("=", 1) for c in args.other_weights)}
    rows = [scene_row(f, s, changes) for f, s in zip(args.folders, args.seeds, strict=True)]
    for r in rows:
        base = r["best_baseline"]
        vs = f"; best baseline {base['micro']:.2f} ({base['name']})" if base else ""
        if "other_weights" in r:
            vs += f"; with {changes}: {r['other_weights']['micro']:.2f}"
        print(f"seed {r['seed']}: {r['micro']:.2f} micro / {r['macro']:.2f} macro ({r['honest']}){vs}")
    mean = round(float(np.mean([r["micro"] for r in rows])), 2)
    print(f"mean micro AUC over {len(rows)} scenes: {mean:.2f}")
    save_result(args.json, {"scenes": rows, "mean_micro": mean})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
