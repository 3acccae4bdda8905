"""Feedback without retraining, measured on the real clips: ``ammcnet fit``, ``detect``, ``teach``.

* ``vtest.avi`` (795 frames of pedestrians, all normal): a head-only model is fitted on frames
  0-476 (``ammcnet fit --end 477``); ``detect`` runs on frames 477-636, and every alarm event it
  raises there is taught as normal (``ammcnet teach --normal-event``); then frames 637-794, never
  used by anything, are scored by the model before and after the teach. Reported: the share of
  those frames that alarm at the 1 % threshold (``--threshold auto --fpr 0.01``, causal), and
  the synthetic-anomaly AUC of the head's validation before and after (the teach's guard).
* ``tree.avi`` (68 frames; a hand enters at frame 53): a head fitted on frames 0-45; how many of
  the 15 hand frames alarm, before and after teaching frames 20-45 as normal (teaching normal
  footage must not blind the head).
* ``fit``'s time and peak memory on vtest's 477 frames, and ``detect``'s frame rate with the
  head-only model beside a full model (network and head) on the same clip (a Ped2 test video).

Every step runs the command a user would, as a subprocess, so times include start-up. Usage::

    python benchmarks/teach_vtest.py --json benchmarks/results/teach-vtest.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
from provenance import provenance, save_result  # the sibling module

from ammcnet.data.video import open_video

SHARED = Path(os.environ.get("AMMCNET_SHARED", Path(__file__).resolve().parents[2] / "shared"))
REAL = SHARED / "data" / "real"
PED2 = SHARED / "benchmarks" / "ped2"
FIT_END, TEACH_END = 477, 637
TREE_FIT, TREE_HAND = 46, (53, 68)
#: A cache of this run's own (set in ``main``), so ``fit`` computes its flows cold, as a new user's would.
CACHE = Path("cache")
FULL_MODEL = Path(__file__).resolve().parents[1] / "runs" / "bench" / "ped2-cpu-lite-lb-full-seed0" / "model.pt"


def ammcnet(*args: str) -> tuple[str, float, list[str]]:
    """Run ``ammcnet ARGS``; (stdout, seconds, the command)."""
    cmd = [sys.executable, "-m", "ammcnet", *args]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "AMMCNET_CACHE": str(CACHE)})
    if done.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stdout, time.perf_counter() - t0, ["ammcnet", *args]


def frames_folder(video: Path, start: int, end: int, out: Path) -> Path:
    """Frames ``start`` to ``end`` of a video as a PNG folder (a camera's later footage)."""
    if out.is_dir():
        return out
    out.mkdir(parents=True)
    src = open_video(video)
    for t in range(start, min(end, len(src))):
        cv2.imwrite(str(out / f"{t:06d}.png"), cv2.cvtColor(src[t], cv2.COLOR_RGB2BGR))
    return out


def alarm_share(folder: Path) -> dict[str, float]:
    rows = [json.loads(x) for x in (folder / "frames.jsonl").read_text().splitlines()]
    return {"frames": len(rows), "alarmed": sum(r["alarm"] for r in rows),
            "rate": sum(r["alarm"] for r in rows) / max(len(rows), 1)}


def event_ids(folder: Path) -> list[str]:
    lines = [json.loads(x) for x in (folder / "events.jsonl").read_text().splitlines()]
    return [x["event"]["id"] for x in lines if x["kind"] == "end"]


def vtest(work: Path, commands: list) -> dict:
    model = work / "vtest-head.pt"
    out, fit_s, cmd = ammcnet("fit", str(REAL / "vtest.avi"), "--end", str(FIT_END), "--out", str(model), "--overwrite")
    commands.append(cmd)
    teach_src = frames_folder(REAL / "vtest.avi", FIT_END, TEACH_END, work / "vtest-477-636")
    later = frames_folder(REAL / "vtest.avi", TEACH_END, 795, work / "vtest-637-794")
    _, _, cmd = ammcnet("detect", str(teach_src), "--model", str(model), "--out", str(work / "det-teach"), "--no-progress")
    commands.append(cmd)
    ids = event_ids(work / "det-teach")
    taught = work / "vtest-head-taught.pt"
    teach_args = [a for i in ids for a in ("--normal-event", f"{work / 'det-teach' / 'events.jsonl'}:{i}")]
    teach_out, teach_s, cmd = ammcnet("teach", str(model), *teach_args, "--out", str(taught))
    commands.append(cmd)
    result = {"fit_report": out.strip(), "fit_seconds_with_startup": round(fit_s, 1), "events_taught": len(ids),
              "teach_report": teach_out.strip(), "teach_seconds": round(teach_s, 1)}
    for name, m in (("before", model), ("after", taught)):
        folder = work / f"det-later-{name}"
        _, _, cmd = ammcnet("detect", str(later), "--model", str(m), "--out", str(folder), "--no-progress")
        commands.append(cmd)
        result[f"later_{name}"] = alarm_share(folder)
    return result


def tree(work: Path, commands: list) -> dict:
    model, taught = work / "tree-head.pt", work / "tree-head-taught.pt"
    _, _, cmd = ammcnet("fit", str(REAL / "tree.avi"), "--end", str(TREE_FIT), "--out", str(model), "--overwrite")
    commands.append(cmd)
    _, _, cmd = ammcnet("teach", str(model), "--normal", str(REAL / "tree.avi"), "--start", "20", "--end",
                        str(TREE_FIT), "--out", str(taught), "--force")
    commands.append(cmd)
    out = {}
    for name, m in (("before", model), ("after", taught)):
        folder = work / f"tree-{name}"
        _, _, cmd = ammcnet("detect", str(REAL / "tree.avi"), "--model", str(m), "--out", str(folder), "--no-progress")
        commands.append(cmd)
        rows = [json.loads(x) for x in (folder / "frames.jsonl").read_text().splitlines()]
        hand = [r for r in rows if TREE_HAND[0] <= r["index"] < TREE_HAND[1]]
        out[name] = {"hand_frames_alarmed": sum(r["alarm"] for r in hand), "hand_frames": len(hand),
                     "other_frames_alarmed": sum(r["alarm"] for r in rows if r["index"] >= TREE_FIT and r not in hand)}
    return out


def detect_rates(work: Path, commands: list, full_model: Path) -> dict:
    """``detect`` frames/s on one Ped2 test video: a head-only model (fitted on Ped2's training
    split) beside the full model (network and head)."""
    clip = PED2 / "testing" / "frames" / "01"
    head = work / "ped2-head.pt"
    out, fit_s, cmd = ammcnet("fit", str(PED2), "--out", str(head), "--overwrite")
    commands.append(cmd)
    rates = {"ped2_fit_report": out.strip(), "ped2_fit_seconds_with_startup": round(fit_s, 1)}
    for name, m in (("head_only", head), ("full", full_model)):
        if not m.exists():
            rates[name] = None
            continue
        folder = work / f"rate-{name}"
        _, _, cmd = ammcnet("detect", str(clip), "--model", str(m), "--out", str(folder), "--no-progress",
                            "--threads", "2")
        commands.append(cmd)
        summary = json.loads((folder / "summary.json").read_text())
        rates[name] = {"fps": round(summary["fps"], 1), "frames": summary["frames_read"],
                       "latency_ms_mean": summary["latency_ms_mean"]}
    return rates


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default=None)
    ap.add_argument("--work", default="runs/bench/teach-vtest")
    ap.add_argument("--full-model", default=str(FULL_MODEL),
                    help="a full model (network and head) trained on Ped2, for the frame-rate comparison")
    args = ap.parse_args(argv)
    global CACHE
    work = Path(args.work)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    CACHE = work / "cache"
    commands: list = []
    t0 = time.time()
    result = {"vtest": vtest(work, commands), "tree": tree(work, commands), "detect_rates": detect_rates(work, commands, Path(args.full_model))}
    print(json.dumps(result, indent=1))
    save_result(args.json, {"commands": [provenance()["command"], *[" ".join(c) for c in commands]], "seed": 0,
                            "settings": {"fit_frames": [0, FIT_END], "teach_frames": [FIT_END, TEACH_END],
                                         "measured_frames": [TEACH_END, 795], "threshold": "auto, fpr 0.01",
                                         "tree_fit": [0, TREE_FIT], "tree_taught": [20, TREE_FIT]},
                            **result, "seconds": round(time.time() - t0, 1)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
