"""Probe: frame mean vs max of a sliding window (1/8 of the frame) over appearance and flow errors.

Usage: ``.venv/bin/python benchmarks/probes/local_probe.py RUN TESTDIR`` (e.g. ``runs/demo/run
runs/demo/test``). Re-runs the model on the test clips and prints micro AUCs after per-video
min-max. Analysis only: it reads test labels, so nothing it prints may choose a default.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from ammcnet.data.cache import open_prepared
from ammcnet.data.clips import ClipDataset
from ammcnet.demo.blind import design_folders
from ammcnet.models.checkpoint import load_model_file


def main() -> None:
    torch.set_num_threads(1)
    run, test = design_folders(sys.argv[1:3], "local_probe.py")  # report scenes stay blind
    loaded = load_model_file(run)
    ds = open_prepared(json.load(open(f"{test}/metrics.json"))["data"])
    clips = ClipDataset(ds, "test", frames_in=loaded.config.frames_in, flows_in=loaded.config.flows_in)
    recs: dict[str, list[torch.Tensor]] = {}
    with torch.inference_mode():
        for s in range(0, len(clips), 32):
            b = clips.get_batch(list(range(s, min(s + 32, len(clips)))))
            out = loaded.model(b["frames"], b["flows"])
            errors = {"rgb": ((out.frame_pred - b["target"]) * 0.5).pow(2).mean(1, keepdim=True),
                      "flow": (out.flow_pred - b["flow_target"]).pow(2).mean(1, keepdim=True)}
            k = max(2, round(min(errors["rgb"].shape[-2:]) / 8))
            for name, e in errors.items():
                recs.setdefault(f"{name}_mean", []).append(e.flatten(1).mean(1))
                recs.setdefault(f"{name}_local", []).append(F.avg_pool2d(e, k, max(1, k // 2)).flatten(1).amax(1))
            recs.setdefault("vid", []).append(b["video"])
            recs.setdefault("t", []).append(b["t"])
    r = {k: torch.cat(v).numpy() for k, v in recs.items()}

    def auc(score: np.ndarray) -> float:
        scores, labels = [], []
        for vi, v in enumerate(clips.video_names):
            sel = r["vid"] == vi
            s = score[sel]
            scores.append((s - s.min()) / (s.max() - s.min() + 1e-12))
            labels.append(ds.labels(v)[r["t"][sel]])
        return round(roc_auc_score(np.concatenate(labels), np.concatenate(scores)), 3)

    print(run, "window", k, {name: auc(r[name]) for name in ("rgb_mean", "rgb_local", "flow_mean", "flow_local")})


if __name__ == "__main__":
    main()
