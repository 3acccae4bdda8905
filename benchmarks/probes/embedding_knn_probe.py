"""Probe: a kNN density over AMMC-Net's own bottleneck features, fitted on normal training clips.

Usage: ``.venv/bin/python benchmarks/probes/embedding_knn_probe.py DEMO_FOLDER [...] [--json F]``
(``ammcnet demo --out`` folders: a trained ``run/`` and the prepared ``cache/`` it was tested on).

Each stream's encoder turns a clip into a (C, H/8, W/8) bottleneck; every position is a feature
vector of one region (its receptive field covers most of a person at the demo's size). The
training split's vectors (every clip, every position, subsampled to ``--bank`` vectors, L2
normalised) form the bank of normal regions; a test region scores the mean distance to its
``--k`` nearest bank vectors, and a frame its largest region (the maximum over objects of the
honest scorers). That is the density head the memory's commitment approximates with its codes.
Reported: the honest micro AUC of each record alone (the run's sigma-3 smoothing, one global
scale), beside the run's ``rgb_commit_local`` (distance to the memory's codes, largest window)
and ``rgb_psnr``. Analysis only: it reads test labels, and nothing here is chosen on them.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors
from torch.utils.data import DataLoader

from ammcnet.data.cache import open_prepared
from ammcnet.data.clips import ClipBatch, ClipDataset
from ammcnet.demo.blind import design_folders
from ammcnet.metrics import load_score_file
from ammcnet.metrics.records import NORMAL, direction_of
from ammcnet.models import load_model_file
from ammcnet.scoring.fusion import Smoothing, smooth
from ammcnet.utils.io import write_json_atomic

STREAMS = ("appearance", "motion")


@torch.no_grad()
def bottlenecks(model, prepared, split: str) -> tuple[dict[str, list[np.ndarray]], np.ndarray, np.ndarray]:
    """Per stream: (N, h*w, C) L2-normalised bottleneck vectors of every clip; video index and target frame."""
    cfg = model.config
    data = ClipDataset(prepared, split, frames_in=int(cfg.frames_in), flows_in=int(cfg.flows_in))
    out: dict[str, list[np.ndarray]] = {s: [] for s in STREAMS if getattr(model, s, None) is not None}
    vids, ts = [], []
    for raw in DataLoader(data, batch_size=32, shuffle=False):
        batch = ClipBatch.from_dict(raw, motion=model.motion is not None)
        inputs = {"appearance": batch.frames, "motion": batch.flows}
        for stream in out:
            z, _ = getattr(model, stream).encode(inputs[stream])
            z = torch.nn.functional.normalize(z.flatten(2).transpose(1, 2), dim=-1)
            out[stream].append(z.numpy().astype(np.float32))
        vids.append(batch.video.numpy())
        ts.append(batch.t.numpy())
    return {s: np.concatenate(v) for s, v in out.items()}, np.concatenate(vids), np.concatenate(ts)


def knn_scores(bank: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """(N,) largest over regions of the mean distance to the k nearest bank vectors."""
    index = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(bank)
    n, regions, dim = queries.shape
    dist, _ = index.kneighbors(queries.reshape(-1, dim))
    return dist.mean(1).reshape(n, regions).max(1)


def honest_auc(per_video: list[np.ndarray], labels: list[np.ndarray], smoothing: Smoothing, first: int) -> float:
    scores = [smooth(np.asarray(s, np.float64), smoothing)[first:] for s in per_video]
    return round(100 * float(roc_auc_score(np.concatenate([lab[first:] for lab in labels]), np.concatenate(scores))), 2)


def probe(folder: Path, bank_size: int, k: int, seed: int) -> dict:
    loaded = load_model_file(folder / "run")
    model = loaded.model.eval()
    metrics = json.loads((folder / "test" / "metrics.json").read_text())
    prepared = open_prepared(metrics["data"])
    first, smoothing = int(metrics["frames_in"]), Smoothing.from_dict(metrics["fusion"]["smoothing"])
    t0 = time.time()
    train, _, _ = bottlenecks(model, prepared, "train")
    test, vid, tt = bottlenecks(model, prepared, "test")
    names = prepared.videos("test")
    counts = prepared.num_frames("test")
    labels = [prepared.labels(v) for v in names]
    rng = np.random.default_rng(seed)
    out = {}
    for stream, vectors in train.items():
        flat = vectors.reshape(-1, vectors.shape[-1])
        bank = flat[np.sort(rng.choice(len(flat), min(bank_size, len(flat)), replace=False))]
        frame = knn_scores(bank, test[stream], k)
        per_video = [np.zeros(int(n)) for n in counts]
        for s, v, t in zip(frame, vid, tt, strict=True):
            per_video[v][t] = s
        for p in per_video:
            p[:first] = p[first]
        out[f"{stream}_embedding_knn"] = honest_auc(per_video, labels, smoothing, first)
    sf = load_score_file(folder / "test" / "scores.npz")
    for name in ("rgb_psnr", "rgb_commit", "rgb_commit_local", "flow_commit_local"):
        if name in sf.record_names:
            sign = -1.0 if direction_of(name) == NORMAL else 1.0
            out[name] = honest_auc([sign * np.asarray(r) for r in sf.records[name]], labels, smoothing, first)
    out["bank"] = {s: int(min(bank_size, v.shape[0] * v.shape[1])) for s, v in train.items()}
    out["dims"] = {s: int(v.shape[-1]) for s, v in train.items()}
    out["seconds"] = round(time.time() - t0, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--bank", type=int, default=20000, help="normal region vectors kept (random subset)")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    args.folders = design_folders(args.folders, "embedding_knn_probe.py")  # report scenes stay blind
    torch.set_num_threads(2)
    results = {}
    for folder in args.folders:
        results[folder.name] = probe(folder, args.bank, args.k, args.seed)
        print(folder.name, results[folder.name], flush=True)
    keys = [k for k in next(iter(results.values())) if k not in ("bank", "dims", "seconds")]
    mean = {k: round(float(np.mean([r[k] for r in results.values() if k in r])), 2) for k in keys}
    print("mean", mean)
    if args.json:
        write_json_atomic(args.json, {"command": " ".join([Path(sys.executable).name, *sys.argv]),
                                      "machine": platform.machine(), "bank": args.bank, "k": args.k, "seed": args.seed,
                                      "runs": results, "mean": mean})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
