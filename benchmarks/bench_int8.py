"""What the int8 graph (``ammcnet export --int8``) costs in accuracy, on a trained Ped2 run.

For each run given: scores the Ped2 test split with the PyTorch model (float32), then with int8
graphs exported from the same model, once fully quantised and once with ``--int8-float-motion``,
through ``ammcnet test --onnx``. The int8 graphs are calibrated on the run's *training* clips;
the test labels are read only by the evaluator, as for every other row in BENCHMARKS.md.
Reported per run and graph: honest and paper-protocol micro AUC, scoring fps of ``ammcnet test``
(batch 16), and how close each record stays to float32 (correlation, max relative difference).

Usage::

    .venv/bin/python benchmarks/bench_int8.py runs/bench/ped2-cpu-lite-full-seed{0,1,2} \\
        --data ../shared/benchmarks/ped2 --json benchmarks/results/int8-ped2-cpu-lite.json
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ammcnet.apps.exporter import ExportOptions, export_run
from ammcnet.apps.tester import TestOptions, run_test
from ammcnet.bench.system import machine_info
from ammcnet.metrics import load_score_file
from ammcnet.utils.io import write_json_atomic


def _closeness(ref: Path, other: Path) -> dict[str, dict[str, float]]:
    a, b = load_score_file(ref), load_score_file(other)
    out = {}
    for name in a.records:
        x, y = np.concatenate(a.records[name]), np.concatenate(b.records[name])
        out[name] = {"correlation": float(np.corrcoef(x, y)[0, 1]),
                     "max_rel_diff": float(np.abs(x - y).max() / max(np.abs(x).max(), 1e-12))}
    return out


def measure(run: Path, data: str, work: Path, clips: int) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    graphs: dict[str, Path | None] = {"float32 (PyTorch)": None}
    for name, float_motion in (("int8", False), ("int8, float motion", True)):
        t0 = time.perf_counter()
        graphs[name] = export_run(run, work / f"{run.name}-{name.replace(', ', '-').replace(' ', '')}.onnx",
                                  ExportOptions(int8=True, int8_data=data, int8_clips=clips, float_motion=float_motion,
                                                progress=False))
        rows[name] = {"export_seconds": time.perf_counter() - t0}
    for name, graph in graphs.items():
        out = work / f"{run.name}-test-{len(rows)}-{abs(hash(name)) % 10**6}"
        m = run_test(run, data, out, TestOptions(plots=False, progress=False, onnx=graph))
        rows.setdefault(name, {}).update({
            "honest_micro": m["honest"]["auc_micro"], "honest_macro": m["honest"]["auc_macro"],
            "paper_micro": m["paper"]["auc_micro"], "scoring_fps": m["scoring_fps"], "backend": m["backend"],
            "scores": str(out / "scores.npz"),
        })
        print(f"{run.name} | {name:<20} honest {m['honest']['auc_micro']:.4f}  paper {m['paper']['auc_micro']:.4f}  "
              f"scoring {m['scoring_fps']:.1f} fps", flush=True)
    ref = Path(rows["float32 (PyTorch)"]["scores"])
    for name in graphs:
        if graphs[name] is not None:
            rows[name]["records_vs_float32"] = _closeness(ref, Path(rows[name]["scores"]))
    for r in rows.values():
        r.pop("scores", None)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path, help="trained Ped2 run folders")
    p.add_argument("--data", required=True, help="the Ped2 dataset root (or prepared cache)")
    p.add_argument("--calibration-clips", type=int, default=32)
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    args = p.parse_args(argv)
    command = "python benchmarks/bench_int8.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    report: dict[str, Any] = {"command": command, "machine": machine_info(), "torch_threads": torch.get_num_threads(),
                              "calibration_clips": args.calibration_clips, "runs": {},
                              "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")}
    print(command, "|", report["machine"]["processor"], f"x{report['machine']['cpu_count']}",
          "| torch", torch.__version__, "| threads", torch.get_num_threads(), flush=True)
    with tempfile.TemporaryDirectory(prefix="ammcnet-int8-") as tmp:
        for run in args.runs:
            report["runs"][run.name] = measure(run, args.data, Path(tmp), args.calibration_clips)
    if args.json:
        write_json_atomic(args.json, report)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
