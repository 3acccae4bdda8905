"""Probe: appearance error per *moving* pixel instead of per pixel.

Usage: ``.venv/bin/python benchmarks/probes/activity_probe.py DEMO_FOLDER [...]`` (``ammcnet demo
--out`` folders, whose ``test/maps`` hold the appearance error maps).

The frame-mean prediction error grows with the number of people in view, so a frame where the
crowd thins while one anomalous figure crosses can score *lower* than a busy normal frame (the
demo's lawn videos). Dividing the error by the moving area (pixels whose true flow t-1 -> t is
above a threshold, plus a constant that keeps empty frames finite) makes the score an error per
moving pixel. Prints micro AUC after per-video min-max for the frame mean and for the
activity-normalised error, and per-video AUCs. Analysis only: it reads test labels.
"""

from __future__ import annotations

import json
import sys

import numpy as np
from sklearn.metrics import roc_auc_score

from ammcnet.data.cache import open_prepared
from ammcnet.demo.blind import design_folders

FLOW_THRESHOLD = 0.15  # px/frame at the prepared size (walkers move ~0.3-0.6 px/frame at 64x96)
AREA_FLOOR = 0.01  # fraction of the frame added to the moving area


def main() -> None:
    for folder in design_folders(sys.argv[1:], "activity_probe.py"):  # report scenes stay blind
        metrics = json.loads((folder / "test" / "metrics.json").read_text())
        ds = open_prepared(metrics["data"])
        f = int(metrics["frames_in"])
        events = {e["video"]: e["kind"] for e in json.loads((folder / "scene" / "scene.json").read_text())["events"]}
        out: dict[str, list[np.ndarray]] = {"mean": [], "per_moving": []}
        labels, per_video = [], {}
        for v in ds.videos("test"):
            err = np.load(folder / "test" / "maps" / f"{v}.npy").astype(np.float32)[f:]
            flows = np.asarray(ds.flows("test", v), np.float32)  # normalised: u / W, v / H
            h, w = flows.shape[1:3]
            mag = np.hypot(flows[..., 0] * w, flows[..., 1] * h)  # (N-1, H, W) px, flow i -> i+1
            moving = (mag[f - 1 :] > FLOW_THRESHOLD).astype(np.float32)  # flow t-1 -> t for t >= f
            area = moving.reshape(len(moving), -1).mean(1) + AREA_FLOOR
            scores = {"mean": err.reshape(len(err), -1).mean(1),
                      "per_moving": (err * moving).reshape(len(err), -1).mean(1) / area}
            lab = ds.labels(v)[f:]
            labels.append(lab)
            for k, s in scores.items():
                out[k].append((s - s.min()) / (s.max() - s.min() + 1e-12))
                if 0 < lab.sum() < len(lab):
                    per_video.setdefault(k, {})[events.get(v, v)] = round(roc_auc_score(lab, s), 3)
        y = np.concatenate(labels)
        for k in out:
            print(f"{folder} {k:<11} micro {roc_auc_score(y, np.concatenate(out[k])):.3f}  {per_video.get(k)}")


if __name__ == "__main__":
    main()
