"""Probe: would the label-free synthetic validation set pick the demo's fusion weights?

For each demo scene: ``ammcnet synthesize SCENE --out VAL`` (held-out training videos and
synthetic anomalies made from them, labelled), then ``ammcnet test MODEL VAL`` (every record of
the trained model and the region head on it), then this probe fuses the stored records at a grid
of weights (the model file's calibration and smoothing) and ranks the weightings by the synthetic
set's micro AUC, to compare with the choice made on the labelled validation scenes.

Caveat: the model was trained, and the head fitted, on every training video, the held-out ones
included, so both have seen the normal content of the synthetic set (not its anomalies).

Usage::

    python benchmarks/probes/fusion_on_synthetic.py runs/dv/val-s2-test runs/dv/val-s3-test \\
        --json benchmarks/results/fusion-on-synthetic-demo.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from ammcnet.data.cache import open_prepared
from ammcnet.demo.blind import design_folders
from ammcnet.metrics import load_score_file
from ammcnet.models import load_model_file
from ammcnet.scoring import FusionWeights, Smoothing, fused_scores
from ammcnet.utils.io import write_json_atomic

#: The weights tried on top of the demo preset's other weights (those of the labelled-scene grid, wider).
GRID = {"region": (0.0, 0.5, 1.0, 2.0, 3.0, 4.0), "rgb_error_local": (0.0, 0.5, 1.0), "rgb_psnr": (0.0, 1.0),
        "motion_prior": (0.0, 0.5)}
#: The weighting the labelled validation scenes chose, and the one before it.
MARKED = {"labelled-scene choice": {"region": 2.0, "rgb_error_local": 0.5, "rgb_psnr": 0.0, "motion_prior": 0.5},
          "earlier preset": {"region": 0.0, "rgb_error_local": 0.0, "rgb_psnr": 1.0, "motion_prior": 0.5}}


def auc_of(folder: Path, changes: dict[str, float]) -> float:
    """Micro AUC (%) on the synthetic set of the stored records fused with the run's weights changed by ``changes``."""
    m = json.loads((folder / "metrics.json").read_text())
    sf = load_score_file(folder / "scores.npz")
    weights = FusionWeights.from_dict({**m["fusion"]["weights"], **changes})
    scores = fused_scores(sf, load_model_file(m["model"]).calibration, weights, Smoothing.from_dict(m["fusion"]["smoothing"]))
    ds, first = open_prepared(m["data"]), int(m["frames_in"])
    y = np.concatenate([ds.labels(sf.video_name(v))[first:] for v in range(len(sf.videos))])
    return round(100 * float(roc_auc_score(y, np.concatenate([s[first:] for s in scores]))), 2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path, help="ammcnet test output folders of synthetic validation sets")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    args.folders = design_folders(args.folders, "fusion_on_synthetic.py")  # report scenes stay blind
    rows = []
    for values in itertools.product(*GRID.values()):
        changes = dict(zip(GRID, values, strict=True))
        aucs = [auc_of(f, changes) for f in args.folders]
        rows.append({"weights": changes, "aucs": aucs, "mean": round(float(np.mean(aucs)), 2)})
    rows.sort(key=lambda r: -r["mean"])
    for r in rows[:6]:
        print(f"{r['mean']:.2f} {r['aucs']} {r['weights']}")
    marked = {name: next(r for r in rows if r["weights"] == w) for name, w in MARKED.items()}
    for name, r in marked.items():
        print(f"{name}: {r['mean']:.2f} {r['aucs']} (rank {rows.index(r) + 1} of {len(rows)})")
    if args.json:
        write_json_atomic(args.json, {"command": " ".join([Path(sys.executable).name, *sys.argv]),
                                      "machine": f"{platform.machine()} {platform.node()}",
                                      "folders": [str(f) for f in args.folders], "grid": rows,
                                      "marked": {k: {**v, "rank": rows.index(v) + 1} for k, v in marked.items()}})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
