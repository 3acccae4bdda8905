"""What the choice's validation measures when it tries the appearance part, per design set.

For each set, the head's settings are chosen with ``try_appearance`` (the two-stage choice of
``regions/selection/validate.py``) and every candidate's validation numbers are written: each
synthetic kind's AUC, the false-alarm rates on held-out normal footage at 1 %, 5 % and 10 %, and
the held-out frames' mean percentile among the fitting set's own held-out scores
(:func:`ammcnet.regions.selection.validate.normal_footage_measures`). No test label is read: the
sets' test numbers are in the leaderboard. Design sets only (Ped2, ``vtest.avi``, demo scenes
0-8); a report scene is refused. Usage::

    python benchmarks/probes/appearance_cost_probe.py --sets ped2:0 vtest demo:0 demo:1 \\
        --work /tmp/probe --json benchmarks/results/appearance-cost-probe.json
    python benchmarks/probes/appearance_cost_probe.py --table benchmarks/results/appearance-cost-probe.json

Results are kept per set in ``--work`` and the run resumes where it stopped. ``--table`` prints
the markdown table of the docs: each set's motion winner and the variant that joined it, side by
side, and (to show what the validation missed) the test numbers the leaderboard measured for the
same two heads.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from provenance import save_result  # noqa: E402  (the benchmarks' sibling module)

from ammcnet.data.layouts import discover_dataset  # noqa: E402
from ammcnet.demo.config import refuse_report_seeds  # noqa: E402
from ammcnet.demo.job import demo_scene  # noqa: E402
from ammcnet.regions import RegionHeadConfig  # noqa: E402
from ammcnet.regions.selection.validate import choose_settings  # noqa: E402
from ammcnet.scoring.region_head import FootageSpan, fit_region_head_on  # noqa: E402
from ammcnet.utils.io import write_json_atomic  # noqa: E402

SHARED = Path(os.environ.get("AMMCNET_SHARED", Path(__file__).resolve().parents[3] / "shared"))


def dataset_selection(root: Path, cache: Path, seed: int) -> dict:
    """The choice ``ammcnet train`` makes on ``root``'s training videos, trying the part."""
    ds = discover_dataset(root)
    footage = [FootageSpan(v.name, Path(v.path)) for v in ds.train]
    config = RegionHeadConfig(seed=seed, try_appearance=True)
    component = fit_region_head_on(footage, cache, config)
    return component.selection


def vtest_selection() -> dict:
    """``vtest.avi``'s choice on frames 0-476, as ``benchmarks/honest_head_real.py`` makes it."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from honest_head_real import vtest_fitting

    base = RegionHeadConfig(try_appearance=True)
    _, fitting = vtest_fitting(base)
    return choose_settings([fitting], base).as_dict()


def selection_of(name: str, work: Path) -> dict:
    kind, _, arg = name.partition(":")
    if kind == "ped2":
        return dataset_selection(SHARED / "benchmarks" / "ped2", work / "ped2-flows", int(arg or 0))
    if kind == "vtest":
        return vtest_selection()
    if kind == "demo":
        seed = int(arg)
        refuse_report_seeds([seed], "the appearance-cost probe")
        scene = work / f"demo-scene-{seed}"
        if not (scene / "scene.json").is_file():
            demo_scene(scene, seed=seed, progress=False)
        return dataset_selection(scene, work / f"demo-flows-{seed}", 0)
    raise SystemExit(f"unknown set {name!r}: use ped2:SEED, vtest or demo:SEED")


MOTION_KINDS = ("patch", "fast", "backwards", "against")
LEADERBOARD = Path(__file__).resolve().parents[1] / "results" / "leaderboard"


def measures(c: dict) -> tuple[float, float, float, float]:
    """(mean AUC over all kinds, over the motion kinds, false alarms at 10 %, normal rank)."""
    motion = sum(c["auc"][k] for k in MOTION_KINDS) / len(MOTION_KINDS)
    return c["mean_auc"], motion, c["false_alarm_10"], c["normal_rank"]


def test_numbers(name: str) -> str:
    """The leaderboard's test figure for the head without and with the part (causal micro AUC;
    for ``vtest.avi`` the share of frames 477-794 alarmed)."""
    kind, _, arg = name.partition(":")
    if kind == "vtest":
        v = json.loads((LEADERBOARD / "real-clips.json").read_text())["vtest"]["results"]
        return f"{100 * v['motion-head']['held_out_false_alarm_rate']:.1f} % -> {100 * v['region']['held_out_false_alarm_rate']:.1f} % alarmed"
    file = LEADERBOARD / (f"ped2-cpu-lite-net0-head{arg}.json" if kind == "ped2" else f"demo-design-seed{arg}.json")
    modes = json.loads(file.read_text())["scoring_modes"]["modes"]
    return f"{100 * modes['motion-head']['causal_micro']:.2f} -> {100 * modes['region']['causal_micro']:.2f}"


def table(result: Path) -> str:
    """The docs' table from a result file of this probe."""
    rows = ["| set | joined | mean AUC, 7 kinds | motion kinds | false alarms at 10 % | normal rank | test (leaderboard) |",
            "|---|---|---|---|---|---|---|"]
    for name, done in json.loads(result.read_text())["sets"].items():
        sel = done["selection"]
        by_label = {c["label"]: c for c in sel["candidates"]}
        motion, chosen = measures(by_label[sel["motion_chosen"]]), measures(by_label[sel["chosen"]])
        joined = sel["chosen"][len(sel["motion_chosen"]) + 2:] or "no"
        cells = [f"{a:.3f} -> {b:.3f}" for a, b in zip(motion, chosen, strict=True)]
        rows.append(f"| {name} | {joined} | {' | '.join(cells)} | {test_numbers(name)} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", type=Path, default=None, help="print the markdown table of a result file and stop")
    ap.add_argument("--sets", nargs="+", default=["ped2:0", "vtest", "demo:0"])
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if args.table is not None:
        print(table(args.table))
        return 0
    if args.work is None:
        ap.error("--work is required to run the probe")
    args.work.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in args.sets:
        done = args.work / f"{name.replace(':', '-')}.json"
        if not done.is_file():
            t0 = time.time()
            sel = selection_of(name, args.work)
            write_json_atomic(done, {"selection": sel, "seconds": round(time.time() - t0, 1)})
            print(f"{name}: chose {sel['chosen']} ({time.time() - t0:.0f} s)", flush=True)
        out[name] = json.loads(done.read_text())
    save_result(args.json, {"sets": out, "seed": 0, "settings": {"try_appearance": True, "sets": args.sets}})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
