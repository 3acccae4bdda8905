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
the table ``make_leaderboard_md.py`` puts in BENCHMARKS.md: each set's motion winner and the
variant that joined it, side by side, and (to show what the validation missed) the test numbers
the leaderboard measured for the same two heads.
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
from ammcnet.regions.selection.validate import LOOK_LABELS, choose_settings  # noqa: E402
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


def kept(done: dict) -> dict:
    """What the result file keeps of a set's choice: the chosen settings, and the numbers of the
    motion winner and of its variants with a look part (every candidate's are in ``--work``)."""
    sel = dict(done["selection"])
    winner = sel["motion_chosen"]
    sel["candidates_tried"] = len(sel["candidates"])
    sel["candidates"] = [{k: v for k, v in c.items() if k != "config"} for c in sel["candidates"]
                         if c["label"] == winner or any(c["label"].startswith(winner + s) for s in LOOK_LABELS)]
    return {**done, "selection": sel}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", type=Path, default=None, help="print the markdown table of a result file and stop")
    ap.add_argument("--sets", nargs="+", default=["ped2:0", "vtest", "demo:0"])
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if args.table is not None:
        from make_leaderboard_md import validation_table  # the benchmarks' sibling module

        print("\n".join(validation_table(json.loads(args.table.read_text()))))
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
    save_result(args.json, {"sets": {name: kept(done) for name, done in out.items()}, "seed": 0,
                            "settings": {"try_appearance": True, "sets": args.sets}})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
