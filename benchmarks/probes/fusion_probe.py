"""Probe: honest fusion variants computed from a run's stored calibration and test scores only.

Usage: ``.venv/bin/python benchmarks/probes/fusion_probe.py RUN TESTDIR [RUN TESTDIR ...]``.
Variants: the default z-scores; robust z (median, q0.9 - q0.5 from the stored quantiles); PSNR
only; appearance records only; half the motion weights. Analysis only: it reads test labels, so
nothing it prints may choose a default weight.
"""

from __future__ import annotations

import copy
import json
import sys
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from ammcnet.data.cache import open_prepared
from ammcnet.demo.blind import design_folders
from ammcnet.metrics.scorefile import load_score_file
from ammcnet.models.checkpoint import load_model_file
from ammcnet.scoring.fusion import FusionWeights, Smoothing, fused_scores


def robust(cal: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(cal)
    for st in out["records"].values():
        q = st["quantiles"]
        st["mean"], st["std"] = q["0.5"], max(q["0.9"] - q["0.5"], 1e-12)
    return out


VARIANTS = {
    "current": (lambda c: c, {}),
    "robust (median, q90-q50)": (robust, {}),
    "psnr only": (lambda c: c, {"rgb_psnr": 1, "rgb_commit": 0, "flow_error": 0, "flow_commit": 0}),
    "appearance (psnr+commit)": (lambda c: c, {"rgb_psnr": 1, "rgb_commit": 0.1, "flow_error": 0, "flow_commit": 0}),
    "flow half": (lambda c: c, {"rgb_psnr": 1, "rgb_commit": 0.1, "flow_error": 0.5, "flow_commit": 0.05}),
}


def main() -> None:
    design_folders(sys.argv[1:], "fusion_probe.py")  # report scenes stay blind
    for run, test in zip(sys.argv[1::2], sys.argv[2::2], strict=True):
        loaded = load_model_file(run)
        ds = open_prepared(json.load(open(f"{test}/metrics.json"))["data"])
        sf = load_score_file(f"{test}/scores.npz")
        labels = [ds.labels(v) for v in sf.videos]
        f = int(loaded.config.frames_in)
        row = {}
        for name, (transform, w) in VARIANTS.items():
            weights = FusionWeights.from_dict({**FusionWeights().to_dict(), **w})
            hs = fused_scores(sf, transform(loaded.calibration), weights, Smoothing())
            y = np.concatenate([lab[f:] for lab in labels])
            row[name] = round(roc_auc_score(y, np.concatenate([h[f:] for h in hs])), 3)
        print(run, row)


if __name__ == "__main__":
    main()
