"""Probe (Ped2, a design set; reads its test labels): the place bank, less what looks like a moving thing.

The appearance part (the looks kept at each place) costs Ped2: its top normal frames are walkers
where nobody walked in training (docs/decisions.md D31). This probe asks whether a window should
count as unusual to look at only when its look is *also* unlike every look that moved in training:
per window, the smaller of the place bank's distance and the distance to the nearest moving
training window's look (the 8 gradient energies, no position; a seeded sample of 20,000). A walker
where nobody walked then looks like a walker and scores low; a left bag or a cart keeps its score.
Each variant is scaled like a part (the 99.9th percentile of frame maxima on training videos held
out 4-fold) and combined with the motion head's frame score (window 34/240, perspective + direction +
place: the head Ped2's choice makes) by the head's max or added, at each weight (``moving_look_probe``'s
``combined``). Reported: causal micro AUC (sigma 3, the first 4 frames of each video left out).
Nothing here is used by the library; ``docs/decisions.md`` D36 records what it showed. Usage::

    python benchmarks/probes/place_and_moving_probe.py --work /tmp/moving-look --json benchmarks/results/place-and-moving-probe.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.neighbors import KDTree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import moving_look_probe as probe  # noqa: E402  (the sibling probe: records, scaling, combining)
from provenance import save_result  # noqa: E402

from ammcnet.regions import RegionHead, RegionHeadConfig  # noqa: E402
from ammcnet.regions.features import DIRECTIONS  # noqa: E402
from ammcnet.regions.head import features_of  # noqa: E402
from ammcnet.regions.parts import AppearancePart  # noqa: E402

LOOKS = RegionHeadConfig(window=probe.CONFIG.window, weights={**probe.CONFIG.weights, "appearance": 1.0},
                         appearance_descriptor="edges")


def moving_tree(feats, videos, threshold: float) -> KDTree:
    """The looks of the moving windows of ``videos`` (a seeded sample of :data:`probe.BANK`)."""
    x = np.concatenate([feats[i].appearance[..., :DIRECTIONS][feats[i].speed >= threshold] for i in videos])
    if len(x) > probe.BANK:
        x = x[np.random.default_rng(LOOKS.seed).choice(len(x), probe.BANK, replace=False)]
    return KDTree(x.astype(np.float32))


def frame_maxima(f, place: AppearancePart, tree: KDTree | None) -> np.ndarray:
    """Per frame, the largest window score: the place bank's distance, or (with ``tree``) the smaller
    of it and the distance to the nearest moving look."""
    score = place.score(f)
    if tree is not None:
        dist, _ = tree.query(f.appearance[..., :DIRECTIONS].reshape(-1, DIRECTIONS).astype(np.float32), k=1)
        score = np.minimum(score, dist[:, 0].reshape(score.shape))
    return score.reshape(len(score), -1).max(1)


def scaled_part(ftrain, ftest, threshold: float, unlike_moving: bool) -> list[np.ndarray]:
    """The variant's frame maxima on the test videos over its held-out training scale."""
    held = []
    for g in range(4):
        fold = list(range(g, len(ftrain), 4))
        rest = [i for i in range(len(ftrain)) if i not in fold]
        place = AppearancePart.fit([ftrain[i] for i in rest], LOOKS)
        tree = moving_tree(ftrain, rest, threshold) if unlike_moving else None
        held += [frame_maxima(ftrain[i], place, tree) for i in fold]
    scale = float(np.quantile(np.concatenate(held), LOOKS.scale_quantile))
    place = AppearancePart.fit(ftrain, LOOKS)
    tree = moving_tree(ftrain, range(len(ftrain)), threshold) if unlike_moving else None
    return [frame_maxima(f, place, tree) / scale for f in ftest]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    train, test, micro = probe.ped2(args.work)
    ftrain, ftest = [features_of(r, LOOKS, True) for r in train], [features_of(r, LOOKS, True) for r in test]
    head = RegionHead.fit_features([features_of(r, probe.CONFIG) for r in train], probe.CONFIG)
    motion = [head.score_features(features_of(r, probe.CONFIG)).score for r in test]
    threshold = head.parts["direction"].threshold
    out = {"motion head": micro(motion)}
    for name, unlike_moving in (("place bank (edges)", False), ("place bank, unless it looks like a moving thing", True)):
        out[name] = probe.combined(motion, scaled_part(ftrain, ftest, threshold, unlike_moving), micro)
        print(name, out[name], flush=True)
    save_result(args.json, {"commands": [" ".join(["python", *sys.argv])], "seed": LOOKS.seed,
                            "settings": {"head": probe.CONFIG.as_dict(), "looks": LOOKS.as_dict(), "bank": probe.BANK,
                                         "first_frame": probe.FIRST_FRAME, "smoothing": "causal, sigma 3"},
                            "dataset": "ped2 (design set; test labels read)", "causal_micro_auc": out})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
