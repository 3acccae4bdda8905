"""Probe: frame mean vs max of a sliding window over saved appearance error maps (per-video min-max).

Usage: ``.venv/bin/python benchmarks/probes/patch_probe.py RUN [RUN ...]`` where each RUN holds
``test/metrics.json`` and ``test/maps/`` from ``ammcnet test --maps``. Prints the micro AUC and the
per-video AUCs for windows 1 (= frame mean), 4, 8 and 16 px. Analysis only: it reads test labels,
so nothing it prints may choose a default (BENCHMARKS.md, Demo).
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from ammcnet.data.cache import open_prepared
from ammcnet.demo.blind import design_folders


def main() -> None:
    for run in design_folders(sys.argv[1:], "patch_probe.py"):  # report scenes stay blind
        metrics = json.load(open(f"{run}/test/metrics.json"))
        ds = open_prepared(metrics["data"])
        warmup = 4
        res = {}
        for k in (1, 4, 8, 16):
            scores, labels, per_video = [], [], []
            for v in ds.videos("test"):
                maps = torch.from_numpy(np.load(f"{run}/test/maps/{v}.npy").astype(np.float32)[warmup:])[:, None]
                if k > 1:
                    s = F.avg_pool2d(maps, k, stride=max(1, k // 2)).flatten(1).amax(1).numpy()
                else:
                    s = maps.flatten(1).mean(1).numpy()
                s = (s - s.min()) / (s.max() - s.min() + 1e-12)
                y = ds.labels(v)[warmup:]
                scores.append(s)
                labels.append(y)
                if 0 < y.mean() < 1:
                    per_video.append(round(roc_auc_score(y, s), 2))
            res[k] = (round(roc_auc_score(np.concatenate(labels), np.concatenate(scores)), 3), per_video)
        print(run, res)


if __name__ == "__main__":
    main()
