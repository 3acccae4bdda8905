"""Probe: how much the direction part's position weight drives false alarms on unseen street footage.

On ``vtest.avi`` (fitted on frames 0-476, as ``benchmarks/honest_head_real.py``), for a few part
sets at the object-sized window, and the direction part's ``position_weight`` at 1 (the default),
0.5, 0.25 and 0: the label-free validation numbers (mean synthetic AUC per kind, false alarms on
the held-out stretch) beside the share of frames 477-794 that alarm at the 1 % threshold. The
question: could the validation set choose a weight that keeps people at new places from
alarming? No label is read: the clip has none.

Usage::

    python benchmarks/probes/direction_position_probe.py --json benchmarks/results/direction-position-vtest.json
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the sibling benchmark scripts

from honest_head_real import VTEST_FIT, causal, threshold, vtest_fitting  # noqa: E402
from provenance import save_result  # noqa: E402

from ammcnet.regions import RegionHead, RegionHeadConfig  # noqa: E402
from ammcnet.regions.footage import flows_of_frames  # noqa: E402
from ammcnet.regions.head import features_of  # noqa: E402
from ammcnet.regions.selection.validate import FeatureCache, object_window, split_footage, validate  # noqa: E402

PART_SETS = ({"perspective": 1.0, "direction": 1.0}, {"speed": 1.0, "direction": 1.0},
             {"perspective": 1.0, "direction": 1.0, "place": 1.0})
WEIGHTS = (1.0, 0.5, 0.25, 0.0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    base = RegionHeadConfig()
    flows, fitting = vtest_fitting(base)
    split = split_footage([fitting])
    held = [v.frames() for v in split.held_out]
    synthetic = [(flows_of_frames(v.frames, split.grid, base.flow_preset), v.labels, v.kind) for _, v in split.synthetic(held)]
    fit, normal = [v.flows for v in split.fit], [v.flows for v in split.held_out]
    window = object_window([f.astype("float32") for f in fit], base.window)
    cache, rows = FeatureCache(), []
    for parts in PART_SETS:
        for weight in WEIGHTS:
            cfg = replace(base, window=window, weights=dict(parts), position_weight=weight)
            r = validate("+".join(parts), cfg, fit, normal, synthetic, cache=cache)
            head = RegionHead.fit_features([features_of(flows[:VTEST_FIT], cfg)], cfg)
            later = causal(head.score_features(features_of(flows, cfg)).score)[VTEST_FIT:]
            rows.append({"parts": "+".join(parts), "position_weight": weight, "validation_mean_auc": round(r.mean_auc, 4),
                         "validation_auc": {k: round(v, 4) for k, v in r.auc.items()},
                         "validation_false_alarm": round(r.false_alarm, 4),
                         "held_out_false_alarm_rate": round(float((later > threshold(head)).mean()), 4)})
            print(json.dumps(rows[-1]), flush=True)
    save_result(args.json, {"window": window, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
