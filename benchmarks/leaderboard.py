"""Leaderboard results: every scoring mode of ``ammcnet test``, with the provenance to rerun it.

Each result file of ``benchmarks/results/leaderboard/`` holds one test of one model file: the
figures of every scoring mode on the same frames (``metrics.json``'s ``scoring_modes``), the
exact commands that made it (training, the head's refit, the test), the commit and whether the
tree was dirty, the machine, the library versions, the seeds and every chosen setting (the head's
window and parts, the baselines' window, the fusion weights, each mode's alarm threshold).
``make_leaderboard_md.py`` turns them into the tables of BENCHMARKS.md and the README.

Ped2 (one trained network, one head per seed: the head's seed draws its synthetic anomalies,
its normal bank and its held-out training videos)::

    python benchmarks/leaderboard.py ped2 --run runs/bench/ped2-cpu-lite-lb-full-seed0 --head-seeds 0 1 2 --appearance

The demo's report scenes (scene seeds no decision has looked at; ``presets/demo.yaml`` lists them)::

    python benchmarks/leaderboard.py demo --seeds 100 101 102 103 104 105 106 107 108 109

The design scenes (what the appearance part's label-free choice did there; never in a report)::

    python benchmarks/leaderboard.py demo --seeds 0 1 2 3 4 5 6 7 8 --prefix demo-design --appearance

and the report scenes with the appearance part tried (the head with it, and without it, on each)::

    python benchmarks/leaderboard.py demo --prefix demo-report-appearance --appearance

A scene or head whose result file exists is skipped, so a killed run continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from provenance import REPO, save_result  # the sibling module

from ammcnet.demo.config import REPORT_SEEDS

RESULTS = REPO / "benchmarks" / "results" / "leaderboard"
PED2 = REPO.parent / "shared" / "benchmarks" / "ped2"
AMMCNET = str(Path(sys.executable).parent / "ammcnet")


def run(cmd: list[str]) -> str:
    """Run one ``ammcnet`` step (its output goes to this log); returns the command as printed."""
    printed = shlex.join(["ammcnet", *cmd[1:]])
    print(f"$ {printed}", flush=True)
    subprocess.run(cmd, check=True)
    return printed


def chosen_settings(model_file: Path, metrics: dict[str, Any]) -> dict[str, Any]:
    """Every setting chosen for the test: the head's and baselines' configs, how the head was chosen,
    the fusion and each mode's alarm thresholds."""
    from ammcnet.models import load_model_file
    from ammcnet.scoring.scorer import load_scorer

    loaded = load_model_file(model_file)
    comps = load_scorer(loaded).components
    out: dict[str, Any] = {"fusion": metrics.get("fusion"), "thresholds": {
        m: (f["operator"] or {}).get("threshold") for m, f in metrics["scoring_modes"]["modes"].items()}}
    if "region_head" in comps:
        comp = comps["region_head"]
        out["region_head"] = comp.head.config.as_dict()
        out["region_head_chosen"] = (comp.selection or {}).get("chosen")
        out["region_head_held_out"] = (comp.selection or {}).get("held_out")
        out["baselines"] = {m: b.config.as_dict() for m, b in comp.baselines.items()}
    return out


def record(path: Path, commands: list[str], metrics: dict[str, Any], model_file: Path, seed: dict[str, Any],
           extra: dict[str, Any]) -> None:
    """One result file, with its provenance."""
    save_result(path, {"commands": commands, "seed": seed, "settings": chosen_settings(model_file, metrics),
                       "dataset": metrics.get("dataset"), "score_mode": metrics.get("score_mode"),
                       "scoring_modes": metrics["scoring_modes"], **extra})
    print(f"-> {path.relative_to(REPO)}", flush=True)


def _done(path: Path, force: bool) -> bool:
    """Whether ``path`` is there already and not to be redone (a killed run continues where it stopped)."""
    if path.exists() and not force:
        print(f"{path.name} exists; skipped")
        return True
    return False


#: What ``--appearance`` adds to the fitting command: the choice tries the region head's appearance
#: part (off by default), and every test then shows the head with it (``region``) and without it
#: (``motion-head``: the head the defaults fit).
APPEARANCE_SET = ("--set", "scoring.regions.try_appearance=true")


def appearance_set(args: argparse.Namespace) -> tuple[str, ...]:
    return APPEARANCE_SET if args.appearance else ()


def ped2(args: argparse.Namespace) -> int:
    """One network, one head refit per seed, then one test (it reports every mode)."""
    run_dir = Path(args.run)
    train = json.loads((run_dir / "provenance.json").read_text())
    for s in args.head_seeds:
        path = RESULTS / f"ped2-{args.name}-head{s}.json"
        if _done(path, args.force):
            continue
        work = Path(args.work) / f"head{s}"
        t0 = time.time()
        cal = run([AMMCNET, "calibrate", str(run_dir), args.data, "--set", "scoring.region_head=true",
                   "--set", f"scoring.regions.seed={s}", *appearance_set(args), "--out", str(work / "model.pt"),
                   "--no-progress"])
        t1 = time.time()
        test = run([AMMCNET, "test", str(work), args.data, "--out", str(work / "test"), "--score", "region",
                    "--no-plots", "--no-progress", "--quiet"])
        metrics = json.loads((work / "test" / "metrics.json").read_text())
        record(path, [train["command"], cal, test], metrics, work / "model.pt",
               {"network": train["seed"], "head": s},
               {"training": train, "seconds": {"refit": round(t1 - t0, 1), "test": round(time.time() - t1, 1)},
                "row_command": test.replace("--score region", "--score {mode}")})
    return 0


def demo(args: argparse.Namespace) -> int:
    """One generated scene per seed: ``ammcnet demo`` trains and tests it (every mode reported)."""
    for s in args.seeds:
        path = RESULTS / f"{args.prefix}-seed{s}.json"
        if _done(path, args.force):
            continue
        work = Path(args.work) / f"s{s}"
        t0 = time.time()
        cmd = run([AMMCNET, "demo", "--out", str(work), "--seed", str(s), "--no-video", "--no-progress",
                   *appearance_set(args)])
        metrics = json.loads((work / "test" / "metrics.json").read_text())
        row = " ".join(["ammcnet", "test", shlex.quote(str(work / "run")), shlex.quote(str(work / "scene")), "--cache-dir",
                        shlex.quote(str(work / "cache")), "--out", shlex.quote(str(work / "test")) + "-{mode}", "--score {mode}"])
        record(path, [cmd], metrics, work / "run" / "model.pt", {"scene": s, "network": "preset (run.seed)", "head": 0},
               {"seconds": {"demo": round(time.time() - t0, 1)}, "row_command": row, "report_scene": s in REPORT_SEEDS})
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    p = sub.add_parser("ped2", help="refit the head of a trained Ped2 run per seed, then test")
    p.add_argument("--run", required=True, help="a trained run folder holding provenance.json")
    p.add_argument("--data", default=str(PED2))
    p.add_argument("--head-seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--name", default="cpu-lite-net0", help="the network's name in the result files")
    p.add_argument("--work", default=str(REPO / "runs" / "leaderboard" / "ped2"))
    p.add_argument("--force", action="store_true", help="redo results that exist")
    p.add_argument("--appearance", action="store_true", help="the choice tries the appearance part (see APPEARANCE_SET)")
    p.set_defaults(func=ped2)
    d = sub.add_parser("demo", help="generate, train and test demo scenes")
    d.add_argument("--seeds", nargs="+", type=int, default=list(REPORT_SEEDS))
    d.add_argument("--work", default=str(REPO / "runs" / "leaderboard" / "demo"))
    d.add_argument("--force", action="store_true")
    d.add_argument("--appearance", action="store_true", help="the choice tries the appearance part (see APPEARANCE_SET)")
    d.add_argument("--prefix", default="demo-report",
                   help="result file name before -seedS (demo-design for the design scenes 0-8, which the report leaves out)")
    d.set_defaults(func=demo)
    args = ap.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
