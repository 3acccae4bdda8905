"""Probe: scale each fused record by calibration quantiles instead of its mean and standard deviation.

For ``ammcnet test`` output folders of runs whose fusion weighs the region head (the demo preset),
fuses the stored records with the run's weights and smoothing three ways: the z-score of
``ammcnet.scoring.fusion`` and ``(x - median) / (q - median)`` for ``q`` the 0.9 and 0.99
calibration quantiles, and prints each folder's micro AUC. Analysis only: it reads test labels,
so give it validation scenes.

Usage::

    python benchmarks/probes/quantile_scale_probe.py runs/dv/fuse-s2 runs/dv/fuse-s3 \\
        --json benchmarks/results/quantile-scale-demo.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from ammcnet.data.cache import open_prepared
from ammcnet.demo.blind import design_folders
from ammcnet.metrics import load_score_file
from ammcnet.metrics.records import NORMAL, direction_of
from ammcnet.models import load_model_file
from ammcnet.scoring.fusion import Smoothing, record_stats, smooth
from ammcnet.utils.io import write_json_atomic

SCALES = ("z-score", "0.9", "0.99")


def scaled(x: np.ndarray, stats: dict, cal: dict, name: str, scale: str) -> np.ndarray:
    """One record's values on the chosen scale, signed so that high means anomalous."""
    if scale == "z-score":
        mu, sd = record_stats(cal, name)
    else:
        mu = stats["quantiles"]["0.5"]
        sd = max(stats["quantiles"][scale] - mu, 1e-9)
    z = (x - mu) / sd
    return -z if direction_of(name) == NORMAL else z


def folder_auc(folder: Path, scale: str) -> float:
    """Micro AUC (%) of the run's fusion with every record on ``scale``."""
    m = json.loads((folder / "test" / "metrics.json").read_text())
    sf = load_score_file(folder / "test" / "scores.npz")
    cal = load_model_file(m["model"]).calibration
    weights = {k: v for k, v in m["fusion"]["weights"].items() if v}
    smoothing, first = Smoothing.from_dict(m["fusion"]["smoothing"]), int(m["frames_in"])
    ds = open_prepared(m["data"])
    ys, ss = [], []
    for v in range(len(sf.videos)):
        total = sum(w * scaled(np.asarray(sf.records[n][v], np.float64), cal["records"][n], cal, n, scale)
                    for n, w in weights.items())
        ss.append(smooth(total, smoothing)[first:])
        ys.append(ds.labels(sf.video_name(v))[first:])
    return round(100 * float(roc_auc_score(np.concatenate(ys), np.concatenate(ss))), 2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    args.folders = design_folders(args.folders, "quantile_scale_probe.py")  # report scenes stay blind
    out = {s: [folder_auc(f, s) for f in args.folders] for s in SCALES}
    for s, aucs in out.items():
        print(f"{s:8s} {aucs} mean {np.mean(aucs):.2f}")
    if args.json:
        write_json_atomic(args.json, {"command": " ".join([Path(sys.executable).name, *sys.argv]),
                                      "machine": f"{platform.machine()} {platform.node()}",
                                      "folders": [str(f) for f in args.folders], "micro_auc": out})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
