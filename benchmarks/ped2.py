"""UCSD Ped2 benchmark: prepare -> train -> test, one command, resumable, results committed.

Writes ``benchmarks/results/ped2-<preset>-<variant>-seed<S>.json`` with every AUC convention, pixel
metrics, training wall time, seconds per step, machine, torch version, seed and git commit.

Variants (the paper's ablation, same budget and seed):
  full        both streams + memory + AMFT (AMMC-Net)
  appearance  the appearance stream with its memory only (future-frame prediction baseline)
  noamft      both streams, no feature transfer

Usage:
    python benchmarks/ped2.py --variant full --seed 0            # starts or resumes
    python benchmarks/ped2.py --variant full --seed 0 --preset paper-ped2 --device cuda
    # train where the training frames are, test later where the test frames are (a GPU machine
    # that receives the dataset in two parts), under a tag that names the shortened schedule:
    python benchmarks/ped2.py --preset paper-ped2 --tag gpu --root ped2-train --train-only --set ...
    python benchmarks/ped2.py --preset paper-ped2 --tag gpu --root ped2-train --test-root ped2-test --set ...
A killed run is continued by running the same command again (training resumes from its last
checkpoint; a finished stage is not repeated).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch
from provenance import git_state, provenance  # the sibling module

from ammcnet.apps.tester import TestOptions, run_test
from ammcnet.training import load_preset, train
from ammcnet.utils.io import write_json_atomic

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = REPO.parent / "shared" / "benchmarks" / "ped2"
VARIANTS = {
    "full": [],
    "appearance": ["model.streams=appearance"],
    "noamft": ["model.use_amft=false"],
}


class TrainingClock:
    """Adds this invocation's training time to ``bench_timing.json``, every minute and at the end.

    The file is rewritten while training runs, so a run that is killed (and later resumed with
    the same command) still accounts for the time it spent.
    """

    def __init__(self, path: Path, timing: dict, every: float = 60.0) -> None:
        self.path, self.timing, self.every = path, timing, every
        self.base = float(timing["train_seconds"])
        self._stop = threading.Event()

    def _write(self) -> None:
        self.timing["train_seconds"] = self.base + time.perf_counter() - self.t0
        if self.path.parent.is_dir():
            write_json_atomic(self.path, self.timing)

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self._write()

    def __enter__(self) -> TrainingClock:
        self.t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._write()


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "torch": torch.__version__, "threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def git_commit() -> str:
    try:
        return subprocess.check_output(["git", "rev-parse", "HEAD"], cwd=REPO, text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def seconds_per_step(run: Path) -> dict:
    """Median seconds per step of each stage from metrics.csv (it/s column)."""
    import csv
    import statistics

    path = run / "metrics.csv"
    if not path.is_file():
        return {}
    rates: dict[str, list[float]] = {}
    with path.open() as fh:
        for row in csv.DictReader(fh):
            try:
                rates.setdefault(f"stage{row['stage']}", []).append(1.0 / float(row["it_s"]))
            except (KeyError, ValueError, ZeroDivisionError):
                continue
    return {k: statistics.median(v) for k, v in rates.items() if v}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=str(DEFAULT_ROOT), help="Ped2 in the frame-folder layout")
    parser.add_argument("--preset", default="cpu-lite")
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="full")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", default=str(REPO / "runs" / "bench"), help="where run folders go")
    parser.add_argument("--results", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--test-root", default=None, help="Ped2 test split, if not under --root")
    parser.add_argument("--train-only", action="store_true", help="stop after training (test in a later call)")
    parser.add_argument("--tag", default="", help="added to the run and result names, e.g. for a shortened schedule")
    parser.add_argument("--no-maps", action="store_true", help="skip per-pixel maps, pixel AUC and RBDC")
    args = parser.parse_args(argv)

    root = Path(args.root)
    if not root.is_dir():
        print(f"error: {root} not found: the Ped2 benchmark needs ../shared/benchmarks/ped2 (or --root)", file=sys.stderr)
        return 2
    name = f"ped2-{args.preset}{'-' + args.tag if args.tag else ''}-{args.variant}-seed{args.seed}"
    run = Path(args.runs) / name
    # the seed varies the network and the region head alike (its bank, synthetic anomalies, held-out videos)
    overrides = [*VARIANTS[args.variant], f"run.seed={args.seed}", f"scoring.regions.seed={args.seed}", *args.overrides]
    config = load_preset(args.preset, overrides)
    progress = not args.no_progress

    timing_path = run / "bench_timing.json"
    timing = json.loads(timing_path.read_text()) if timing_path.is_file() else {"train_seconds": 0.0, "sessions": 0}
    if not (run / "model.pt").is_file():
        resume = (run / "config.yaml").is_file()
        if not (run / "provenance.json").is_file():  # how the network was trained, for every later result of it
            run.mkdir(parents=True, exist_ok=True)
            write_json_atomic(run / "provenance.json", {**provenance(), "seed": args.seed, "overrides": overrides})
        timing["sessions"] += 1
        with TrainingClock(timing_path, timing):
            train(root, config, run, stage="all", resume=resume, device=args.device, progress=progress)
    if args.train_only:
        print(f"{name}: trained ({timing['train_seconds']:.0f} s); test with the same command without --train-only")
        return 0
    test_root = Path(args.test_root) if args.test_root else root
    device = "cuda" if (args.device in ("auto", "cuda") and torch.cuda.is_available()) else "cpu"
    metrics = run_test(run, test_root, run / "test",
                       TestOptions(device=device, maps=not args.no_maps, plots=True, progress=progress))

    result = {
        "benchmark": "ped2",
        "command": " ".join(["python", "benchmarks/ped2.py", *(argv if argv is not None else sys.argv[1:])]),
        "preset": args.preset,
        "tag": args.tag,
        "variant": args.variant,
        "overrides": overrides,
        "seed": args.seed,
        "config": config.to_dict(),
        "machine": machine(),
        "git_commit": git_commit(),
        **git_state(),
        "train_wall_seconds": timing["train_seconds"],
        "train_sessions": timing["sessions"],
        "seconds_per_step": seconds_per_step(run),
        "metrics": {k: v for k, v in metrics.items() if k not in ("files",)},
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    out = Path(args.results) / f"{name}.json"
    write_json_atomic(out, result)
    honest = (metrics.get("honest") or {}).get("auc_micro")
    paper = (metrics.get("paper") or {}).get("auc_micro")
    print(f"{name}: honest micro AUC {honest}, paper-protocol micro AUC {paper} -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
