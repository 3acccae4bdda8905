"""Probe (Ped2, a design set; reads its test labels): the look of moving windows beside the motion head.

The appearance part compares a window's look with the looks kept at its place, moving or not.
This probe asks whether the look of *moving* windows, compared with every normal moving window's
look and position in one kNN (as the direction part compares directions), adds what the motion
parts miss on Ped2 (small cyclists in crowds): the look is the appearance part's 8 gradient
energies over the whole window (``--cells 1``) or over each of its 2 x 2 quarters (``--cells 2``,
32 values, an outline's shape); the position weighted 1 or 0. Each variant is scaled like a part
(the 99.9th percentile of frame maxima on training videos held out 4-fold) and combined with the
motion head's frame score (window 34/240, perspective + direction + place: the head Ped2's choice
makes) by the head's max at weight w, or added at weight w (as the strongest honest scorers sum
their parts). For comparison, the appearance part itself (the looks kept at each place, moving or
not; edges, scaled as the head scales it) combined the same two ways, and the library's moving-look
part (``ammcnet.regions.parts.MovingLookPart``, which builds the whole-window variant at position
weight 1) weighed in a head at each weight. Reported: causal micro AUC (sigma 3, the first 4 frames of each video left out).
Nothing here is used by the library; ``docs/decisions.md`` D33 records what it showed. Usage::

    python benchmarks/probes/moving_look_probe.py --work /tmp/moving-look --json benchmarks/results/moving-look-probe.json
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.io as sio
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from provenance import save_result  # noqa: E402  (the benchmarks' sibling module)

from ammcnet.data.layouts import discover_dataset  # noqa: E402
from ammcnet.flow.analysis import GREY_CHANNEL, analysis_size  # noqa: E402
from ammcnet.regions import RegionHead, RegionHeadConfig  # noqa: E402
from ammcnet.regions.features import EDGE_SCALE, _chunk_features  # noqa: E402
from ammcnet.regions.footage import flows_of_frames  # noqa: E402
from ammcnet.regions.head import features_of, frame_maxima  # noqa: E402

SHARED = Path(os.environ.get("AMMCNET_SHARED", Path(__file__).resolve().parents[3] / "shared"))
CONFIG = RegionHeadConfig(window=34 / 240, weights={"speed": 0.0, "perspective": 1.0, "direction": 1.0, "place": 1.0})
BANK = 20000
NEIGHBOURS = 5
FIRST_FRAME = 4


def records(video, work: Path, tag: str) -> np.ndarray:
    """A video's analysis records (u, v, grey), cached in ``work``."""
    path = work / f"{tag}-{video.name}.npy"
    if path.is_file():
        return np.load(path)
    frames = video.open().read_all()
    out = flows_of_frames(frames, analysis_size(frames.shape[1:3], CONFIG.height), CONFIG.flow_preset).astype(np.float32)
    np.save(path, out)
    return out


def looks(rec: np.ndarray, feats, cells: int) -> np.ndarray:
    """(T, R, C, 8 * cells^2) gradient energies of each window's ``cells`` x ``cells`` parts."""
    grey = rec[..., GREY_CHANNEL]
    step, per = feats.step, feats.side // feats.step
    hb, wb = grey.shape[1] // step, grey.shape[2] // step
    gx, gy = np.zeros_like(grey), np.zeros_like(grey)
    gx[:, :, 1:-1] = (grey[:, :, 2:] - grey[:, :, :-2]) / 2
    gy[:, 1:-1] = (grey[:, 2:] - grey[:, :-2]) / 2
    q, (rows, cols) = per // cells, feats.grid
    out = []
    for a in range(0, len(grey), 16):
        grad = np.stack([gx[a:a + 16], gy[a:a + 16]], -1)[:, : hb * step, : wb * step]
        strength, hist = _chunk_features(grad, step, q, 1.0)
        energy = np.sqrt(hist * strength[..., None] / EDGE_SCALE)
        out.append(np.concatenate([energy[:, i * q:i * q + rows, j * q:j * q + cols]
                                   for i in range(cells) for j in range(cells)], -1))
    return np.concatenate(out)


def vectors(look: np.ndarray, feats, moving: np.ndarray, weight: float) -> np.ndarray:
    pos = np.broadcast_to(feats.positions() * weight, feats.speed.shape + (2,))
    return np.concatenate([look[moving], pos[moving]], -1)


def look_maxima(look, feats, index: NearestNeighbors, threshold: float, weight: float) -> np.ndarray:
    out = np.zeros(len(feats), np.float32)
    pos = feats.positions() * weight
    for i in range(len(feats)):
        moving = feats.speed[i] >= threshold
        if moving.any():
            dist, _ = index.kneighbors(np.concatenate([look[i][moving], pos[moving]], -1), NEIGHBOURS)
            out[i] = dist.mean(1).max()
    return out


def combined(motion, part, micro) -> dict[str, float]:
    """Causal micro AUC of ``part`` alone, in the head's max and added to its score, at each weight."""
    row = {"alone": micro(part)}
    row.update({f"max x{w:g}": micro([np.maximum(m, w * p) for m, p in zip(motion, part, strict=True)])
                for w in (0.25, 0.5, 0.75, 1.0)})
    row.update({f"sum x{w:g}": micro([m + w * p for m, p in zip(motion, part, strict=True)]) for w in (0.1, 0.25, 0.5, 1.0)})
    return row


def place_bank(ftrain, ftest, train, test) -> list[np.ndarray]:
    """The appearance part's scaled frame maxima on the test videos (fitted with the motion parts, as the head does)."""
    config = RegionHeadConfig(window=CONFIG.window, weights={**CONFIG.weights, "appearance": 1.0})
    head = RegionHead.fit_features([features_of(r, config, True) for r in train], config)
    part, scale = head.parts["appearance"], head.scales["appearance"]
    return [frame_maxima(part, features_of(r, config, True)) / scale for r in test]


def library_part(train, test, micro) -> dict[str, float]:
    """The head with the library's moving-look part weighed at each weight (cells 1, position weight 1,
    added): the same numbers as this probe's own variant, if the part does what the probe measured."""
    out = {}
    for w in (0.1, 0.25, 0.5, 1.0):
        config = RegionHeadConfig(window=CONFIG.window, weights={**CONFIG.weights, "moving_look": w})
        head = RegionHead.fit_features([features_of(r, config) for r in train], config)
        out[f"sum x{w:g}"] = micro([head.score_features(features_of(r, config)).score for r in test])
    return out


def causal(s: np.ndarray, sigma: float = 3.0) -> np.ndarray:
    k = np.arange(-int(3 * sigma), 1, dtype=np.float64)
    taps = np.exp(-0.5 * (k / sigma) ** 2)
    taps /= taps.sum()
    return np.convolve(np.concatenate([np.full(len(taps) - 1, s[0]), s]), taps[::-1], "valid")


def ped2(work: Path) -> tuple[list[np.ndarray], list[np.ndarray], Callable[[list[np.ndarray]], float]]:
    """Ped2's training and test records (cached in ``work``), and the causal micro AUC % of per-frame
    test scores (sigma 3, the first :data:`FIRST_FRAME` frames of each video left out)."""
    work.mkdir(parents=True, exist_ok=True)
    ds = discover_dataset(SHARED / "benchmarks" / "ped2")
    train = [records(v, work, "train") for v in ds.train]
    test = [records(v, work, "test") for v in ds.test]
    gt = sio.loadmat(SHARED / "benchmarks" / "ped2" / "ped2.mat")["gt"]
    labels = []
    for i, r in enumerate(test):
        a, b = gt[0, i].ravel()
        y = np.zeros(len(r), int)
        y[a - 1:b] = 1
        labels.append(y[FIRST_FRAME:])

    def micro(scores: list[np.ndarray]) -> float:
        smooth = np.concatenate([causal(s)[FIRST_FRAME:] for s in scores])
        return round(100 * float(roc_auc_score(np.concatenate(labels), smooth)), 2)

    return train, test, micro


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    train, test, micro = ped2(args.work)
    ftrain, ftest = [features_of(r, CONFIG) for r in train], [features_of(r, CONFIG) for r in test]
    head = RegionHead.fit_features(ftrain, CONFIG)
    motion = [head.score_features(f).score for f in ftest]
    threshold = head.parts["direction"].threshold
    out = {"motion head": micro(motion)}
    print(out, flush=True)
    for cells in (1, 2):
        ltrain = [looks(r, f, cells) for r, f in zip(train, ftrain, strict=True)]
        ltest = [looks(r, f, cells) for r, f in zip(test, ftest, strict=True)]
        for weight in (1.0, 0.0):
            def index(videos, weight=weight, ltrain=ltrain):
                x = np.concatenate([vectors(ltrain[i], ftrain[i], ftrain[i].speed >= threshold, weight) for i in videos])
                if len(x) > BANK:
                    x = x[np.random.default_rng(CONFIG.seed).choice(len(x), BANK, replace=False)]
                return NearestNeighbors().fit(x)
            held = []
            for g in range(4):
                fold = list(range(g, len(ftrain), 4))
                idx = index([i for i in range(len(ftrain)) if i not in fold])
                held += [look_maxima(ltrain[i], ftrain[i], idx, threshold, weight) for i in fold]
            scale = float(np.quantile(np.concatenate(held), CONFIG.scale_quantile))
            idx = index(range(len(ftrain)))
            part = [look_maxima(lk, f, idx, threshold, weight) / scale for lk, f in zip(ltest, ftest, strict=True)]
            row = combined(motion, part, micro)
            out[f"cells {cells}, position weight {weight:g}"] = row
            print(cells, weight, row, flush=True)
    out["appearance part (place bank, edges)"] = combined(motion, place_bank(ftrain, ftest, train, test), micro)
    out["moving_look part (the library's), added"] = library_part(train, test, micro)
    print(out, flush=True)
    save_result(args.json, {"commands": [" ".join(["python", *sys.argv])], "seed": CONFIG.seed,
                            "settings": {"head": CONFIG.as_dict(), "bank": BANK, "neighbours": NEIGHBOURS,
                                         "first_frame": FIRST_FRAME, "smoothing": "causal, sigma 3"},
                            "dataset": "ped2 (design set; test labels read)", "causal_micro_auc": out})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
