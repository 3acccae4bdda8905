"""Probe: how much the head's chosen settings depend on which stretch of one long video is held out.

With fewer than four training videos, :func:`ammcnet.regions.selection.validate.choose_settings` cuts the
footage into four stretches and holds out the last one: its synthetic anomalies and false alarms
decide. A camera's user often has one long normal recording, so this is the common case. Here
``vtest.avi``'s frames 0-476 (the fitting frames of ``benchmarks/honest_head_real.py``) are cut
the same way and each stretch is held out in turn; for every rotation the probe keeps every
candidate's validation numbers and the choice, then ranks the candidates by their numbers
averaged over the four rotations. Only frames 0-476 are read; the clip has no labels.

Usage::

    python benchmarks/probes/held_out_stretch_probe.py --json benchmarks/results/held-out-stretch-vtest.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the sibling benchmark scripts

from honest_head_real import vtest_fitting  # noqa: E402
from provenance import save_result  # noqa: E402

from ammcnet.regions import RegionHeadConfig  # noqa: E402
from ammcnet.regions.selection.validate import MAX_FALSE_ALARM, Footage, choose_settings, stretches  # noqa: E402


def parts_of(label: str) -> str:
    """The candidate's label without its window (the object-sized window differs a pixel between rotations)."""
    return label.split(", ", 1)[1] if label.startswith("window ") else label


def rotation(parts: list[Footage], i: int, base: RegionHeadConfig) -> dict:
    """Validation with stretch ``i`` held out: ``choose_settings`` holds out the last video given."""
    order = [p for j, p in enumerate(parts) if j != i] + [parts[i]]
    t0 = time.perf_counter()
    sel = choose_settings(order, base)
    row = {"held_out": parts[i].name, "chosen": sel.best.label, "seconds": round(time.perf_counter() - t0, 1),
           "candidates": [{"label": r.label, "mean_auc": round(r.mean_auc, 4), "false_alarm": round(r.false_alarm, 4),
                           "auc": {k: round(v, 4) for k, v in r.auc.items()}} for r in sel.results]}
    print(json.dumps({k: row[k] for k in ("held_out", "chosen", "seconds")}), flush=True)
    return row


def averaged(rows: list[dict]) -> list[dict]:
    """Each candidate's mean synthetic AUC and false alarms averaged over the rotations, best first
    by the validation's own rule (within the false-alarm bound, then mean AUC)."""
    by_parts: dict[str, list[dict]] = {}
    for row in rows:
        for c in row["candidates"]:
            by_parts.setdefault(parts_of(c["label"]), []).append(c)
    out = [{"parts": p, "mean_auc": round(float(np.mean([c["mean_auc"] for c in cs])), 4),
            "mean_auc_range": [min(c["mean_auc"] for c in cs), max(c["mean_auc"] for c in cs)],
            "false_alarm": round(float(np.mean([c["false_alarm"] for c in cs])), 4)} for p, cs in by_parts.items()]
    return sorted(out, key=lambda r: (r["false_alarm"] <= MAX_FALSE_ALARM, r["mean_auc"]), reverse=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    base = RegionHeadConfig()
    parts = stretches([vtest_fitting(base)[1]])
    rows = [rotation(parts, i, base) for i in range(len(parts))]
    ranked = averaged(rows)
    print(json.dumps({"averaged_choice": ranked[0]}), flush=True)
    save_result(args.json, {"stretches": [p.name for p in parts], "rotations": rows, "averaged": ranked})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
