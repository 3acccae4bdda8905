"""Probe: errors standardised per pixel position with statistics of held-out normal clips.

Usage: ``.venv/bin/python benchmarks/probes/position_probe.py RUN_FOLDER`` where RUN_FOLDER is an
``ammcnet demo --out`` folder (``run/``, ``cache/``, ``test/``).

A frame's mean error mixes how many people are in view with how unusual any one of them is. Here
each pixel's error is compared with what that pixel shows on *normal* clips (mean and std over
the held-out training clips, the ones training calibrates on): a figure where nobody normally
walks (the lawn) or moving faster than anyone at that spot stands out. The frame score is the
maximum of the pooled standardised map; it is normalised with the same held-out clips' frame
scores (honest, no test label) and the two streams are averaged. Analysis only: it reads test
labels to print AUCs, so nothing it prints may choose a default by itself.
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
from ammcnet.training.sampling import ClipSubset, split_train_val

POOL = 5  # px window of the pooled maps (the demo's figures are ~15 px tall at 64x96)


def error_maps(model, clips, batch=32) -> tuple[dict[str, torch.Tensor], np.ndarray, np.ndarray]:
    maps: dict[str, list[torch.Tensor]] = {"rgb": [], "flow": []}
    vids, ts = [], []
    with torch.inference_mode():
        for s in range(0, len(clips), batch):
            items = [clips[i] for i in range(s, min(s + batch, len(clips)))]
            b = {k: torch.stack([it[k] for it in items]) for k in ("frames", "flows", "target", "flow_target")}
            out = model(b["frames"], b["flows"])
            rgb = ((out.frame_pred - b["target"]) * 0.5).pow(2).mean(1, keepdim=True)
            flow = (out.flow_pred - b["flow_target"]).pow(2).mean(1, keepdim=True)
            maps["rgb"].append(F.avg_pool2d(rgb, POOL, 1, POOL // 2))
            maps["flow"].append(F.avg_pool2d(flow, POOL, 1, POOL // 2))
            vids += [int(it["video"]) for it in items]
            ts += [int(it["t"]) for it in items]
    return {k: torch.cat(v)[:, 0] for k, v in maps.items()}, np.array(vids), np.array(ts)


def main() -> None:
    torch.set_num_threads(1)
    (folder,) = design_folders(sys.argv[1:2], "position_probe.py")  # report scenes stay blind
    loaded = load_model_file(folder / "run")
    model = loaded.model.eval()
    test_metrics = json.loads((folder / "test" / "metrics.json").read_text())
    ds = open_prepared(test_metrics["data"])
    f, p = loaded.config.frames_in, loaded.config.flows_in
    train = ClipDataset(ds, "train", frames_in=f, flows_in=p)
    val_fraction = float(loaded.train_config["data"]["val_fraction"])
    _, val_rows = split_train_val(train.index, val_fraction)
    val = ClipSubset(train, val_rows)
    normal, _, _ = error_maps(model, val)
    test = ClipDataset(ds, "test", frames_in=f, flows_in=p)
    maps, vid, t = error_maps(model, test)

    scores: dict[str, np.ndarray] = {}
    val_scores: dict[str, np.ndarray] = {}
    for name in ("rgb", "flow"):
        mu, sd = normal[name].mean(0), normal[name].std(0)
        sd = sd.clamp_min(float(sd.median()))  # no division by the near-zero spread of static pixels

        def frame_score(m: torch.Tensor, mu=mu, sd=sd) -> np.ndarray:
            return ((m - mu) / sd).flatten(1).amax(1).numpy()

        scores[f"{name}_pos"], val_scores[f"{name}_pos"] = frame_score(maps[name]), frame_score(normal[name])
        scores[f"{name}_mean"], val_scores[f"{name}_mean"] = (maps[name].flatten(1).mean(1).numpy(),
                                                              normal[name].flatten(1).mean(1).numpy())
    z = {k: (scores[k] - val_scores[k].mean()) / (val_scores[k].std() + 1e-12) for k in scores}
    z["pos_both"] = (z["rgb_pos"] + z["flow_pos"]) / 2
    z["mean_both"] = (z["rgb_mean"] + z["flow_mean"]) / 2

    labels = np.concatenate([ds.labels(test.video_names[v])[t[vid == v]] for v in np.unique(vid)])
    order = np.concatenate([np.flatnonzero(vid == v) for v in np.unique(vid)])
    events = {e["video"]: e["kind"] for e in json.loads((folder / "scene" / "scene.json").read_text())["events"]}

    def per_video(score: np.ndarray) -> dict[str, float]:
        out = {}
        for v in np.unique(vid):
            sel = vid == v
            lab = ds.labels(test.video_names[v])[t[sel]]
            if 0 < lab.sum() < len(lab):
                out[events.get(test.video_names[v], test.video_names[v])] = round(roc_auc_score(lab, score[sel]), 3)
        return out

    print(folder, "| honest demo AUC from ammcnet test:", round(test_metrics["honest"]["auc_micro"], 3))
    for k, s in z.items():
        print(f"  {k:<10} micro {roc_auc_score(labels, s[order]):.3f}  per video {per_video(s)}")


if __name__ == "__main__":
    main()
