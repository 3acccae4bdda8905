"""The region head on the real clips (``../shared/data/real``): false alarms on unseen normal street
footage, and the hand in ``tree.avi``, beside the two training-free baselines.

* ``vtest.avi`` (795 frames of pedestrians, no labelled anomaly): fitted on frames 0-476 (the same
  60 % as ``bench_real_footage.py``), settings chosen on those frames alone (stretches held out,
  synthetic anomalies); the alarm threshold is the 1 % false-alarm rate of held-out normal
  stretches; reported: the share of frames 477-794 that alarm (causal smoothing, as live).
* ``tree.avi`` (68 frames; a hand enters at frame 53): fitted on frames 0-45 (too short to hold
  anything out, so the default settings are used); reported: AUC on frames 46-67 and how many of
  the 15 hand frames alarm at the 1 % threshold.

The head and the training-free baselines (``max-speed``, ``per-position``: one part alone at the
head's window, as ``ammcnet train`` fits them beside the head) are the scoring modes of the
leaderboard; the perspective part alone is an ablation. Usage (the leaderboard's result file)::

    python benchmarks/honest_head_real.py --appearance --json benchmarks/results/leaderboard/real-clips.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from provenance import provenance, save_result  # the sibling module
from sklearn.metrics import roc_auc_score

from ammcnet.data.video import open_video
from ammcnet.flow.analysis import analysis_size
from ammcnet.regions import RegionHead, RegionHeadConfig
from ammcnet.regions.footage import flows_of_frames
from ammcnet.regions.head import features_of
from ammcnet.regions.selection.validate import (
    PART_SETS,
    RELATIVE_PART_SETS,
    SPEED_PART_SETS,
    Footage,
    choose_settings,
)
from ammcnet.scoring.region_head import BASELINE_PARTS

REAL = Path(os.environ.get("AMMCNET_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data" / "real"
VTEST_FIT = 477
TREE_FIT, TREE_HAND = 46, (53, 67)
#: The scoring modes (the head, then the baselines at its window), then the ablation.
HEADS = {"region": None, **BASELINE_PARTS, "perspective part alone": {"perspective": 1.0}}


def causal(s: np.ndarray, sigma: float = 3.0) -> np.ndarray:
    k = np.arange(-int(3 * sigma), 1, dtype=np.float64)
    taps = np.exp(-0.5 * (k / sigma) ** 2)
    taps /= taps.sum()
    padded = np.concatenate([np.full(len(taps) - 1, s[0]), s])
    return np.array([padded[i:i + len(taps)] @ taps for i in range(len(s))])


def clip(name: str, config: RegionHeadConfig) -> tuple[np.ndarray, np.ndarray]:
    frames = open_video(REAL / name).read_all()
    size = analysis_size(frames.shape[1:3], config.height)
    return frames, flows_of_frames(frames, size, config.flow_preset)


def vtest_fitting(config: RegionHeadConfig) -> tuple[np.ndarray, Footage]:
    """``vtest.avi``'s flows (every frame) and its fitting frames 0-476 as one training video."""
    frames, flows = clip("vtest.avi", config)
    return flows, Footage(f"vtest[0:{VTEST_FIT}]", flows[:VTEST_FIT], lambda: frames[:VTEST_FIT])


def heads_for(config: RegionHeadConfig, fit_flows: np.ndarray, extra: dict | None = None) -> dict[str, RegionHead]:
    """The head of ``config``, the baselines at its window and the ablations; an ``extra`` entry is
    a part set at ``config``'s window or a whole config of its own (the motion head)."""
    out = {}
    for name, weights in {**HEADS, **(extra or {})}.items():
        if isinstance(weights, RegionHeadConfig):
            cfg = weights
        else:
            cfg = config if weights is None else replace(config, weights=dict(weights))
        out[name] = RegionHead.fit_features([features_of(fit_flows, cfg)], cfg)
    return out


def motion_config(sel) -> RegionHeadConfig:
    """The ``motion-head`` mode's settings: the motion winner of the same choice (its first stage)."""
    return (sel.motion or sel.best).config


def scored(head: RegionHead, flows: np.ndarray) -> np.ndarray:
    return causal(head.score_features(features_of(flows, head.config)).score)


def threshold(head: RegionHead) -> float:
    return float(np.quantile(np.concatenate([causal(s) for s in head.normal_scores]), 0.99))


def save_command() -> str:
    """The command line as it ran."""
    return provenance()["command"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default=None)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--preset", default=RegionHeadConfig().flow_preset, help="DIS preset of the analysis flow")
    ap.add_argument("--relative-part", action="store_true",
                    help="also try the perspective-free part (relative) as a candidate, and report it alone")
    ap.add_argument("--speed-only", action="store_true",
                    help="leave the perspective part out of the candidates (the candidates before it existed)")
    ap.add_argument("--appearance", action="store_true",
                    help="the choice tries the appearance part: the head with it, and without it (motion-head, the default head)")
    args = ap.parse_args(argv)
    part_sets = (SPEED_PART_SETS if args.speed_only else PART_SETS) + (RELATIVE_PART_SETS if args.relative_part else ())
    extra = {"relative part alone": {"relative": 1.0}} if args.relative_part else {}
    t0 = time.time()
    base = RegionHeadConfig(height=args.height, flow_preset=args.preset, try_appearance=args.appearance)
    flows, fitting = vtest_fitting(base)
    sel = choose_settings([fitting], base, part_sets=part_sets, log=lambda m: print("  " + m, flush=True))
    vtest = {}
    for name, head in heads_for(sel.best.config, flows[:VTEST_FIT], {**extra, "motion-head": motion_config(sel)}).items():
        s = scored(head, flows)[VTEST_FIT:]
        vtest[name] = {"held_out_false_alarm_rate": round(float((s > threshold(head)).mean()), 4)}
    frames, flows = clip("tree.avi", base)
    labels = np.zeros(len(flows) - TREE_FIT, int)
    labels[TREE_HAND[0] - TREE_FIT:] = 1
    tree = {}
    # too short to choose: the defaults (motion parts), and the same with the appearance part as an ablation
    with_looks = {"defaults + appearance part (edges, x1)": {**base.weights, "appearance": 1.0}}
    for name, head in heads_for(base, flows[:TREE_FIT], {**extra, **with_looks}).items():
        s = scored(head, flows)[TREE_FIT:]
        tree[name] = {"auc": round(float(roc_auc_score(labels, s)), 4),
                      "hand_frames_alarmed": int((s[labels == 1] > threshold(head)).sum()), "hand_frames": int(labels.sum()),
                      "other_frames_alarmed": int((s[labels == 0] > threshold(head)).sum()), "other_frames": int((labels == 0).sum())}
    print(json.dumps({"vtest": vtest, "tree": tree}, indent=1))
    save_result(args.json, {"commands": [save_command()], "seed": base.seed,
                            "settings": {"vtest": sel.best.config.as_dict(), "vtest_chosen": sel.best.label,
                                         "tree": base.as_dict(), "tree_chosen": "defaults (too short to hold out)"},
                            "vtest": {"validation": sel.as_dict(), "results": vtest},
                            "tree": {"config": "defaults", "results": tree}, "seconds": round(time.time() - t0, 1)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
