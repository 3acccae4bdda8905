"""Peak memory and time of fitting the region head and choosing its settings on long footage.

Builds MINUTES of 320x240 footage at 10 fps (``vtest.avi`` from ``../shared/data/real`` looped and
resized, in 80-second MJPG videos, each starting elsewhere in the loop) as the training split of a
``custom`` dataset, prepares it (``ammcnet prepare``'s :func:`~ammcnet.data.prepare_dataset`, a
32x32 model grid), then fits the head on that split as ``ammcnet train`` and ``ammcnet calibrate``
do (:func:`ammcnet.scoring.region_head.fit_region_head`, settings chosen, default config) in a
child process. The child's peak resident memory (``wait4``'s ``ru_maxrss``: exact, the whole
process, the libraries' ~0.5 GB included; psutil samples every 0.5 s beside it) and its wall and
CPU time are recorded. The flow cache of the prepared split is removed first, so the time
includes the analysis flows (DIS ``medium`` at 240x320), as on a first ``ammcnet train``.

``--src`` runs another copy of the package (the code before a change: a copy of its ``src``).
Usage::

    python benchmarks/head_memory.py --minutes 60 --out benchmarks/results/head-memory-1h.json
    python benchmarks/head_memory.py --minutes 5 --out benchmarks/results/head-memory-5min.json
    python benchmarks/head_memory.py --minutes 5 --src /tmp/before_src --label before \\
        --out benchmarks/results/head-memory-5min-before.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import psutil
from provenance import save_result  # the sibling module

from ammcnet.data import prepare_dataset
from ammcnet.data.cache import open_prepared
from ammcnet.regions import RegionHeadConfig
from ammcnet.scoring.region_head import fit_region_head

REAL = Path(os.environ.get("AMMCNET_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data" / "real"
FPS, VIDEO_SECONDS, SIZE = 10, 80, (240, 320)
#: Start of video j in the vtest loop: consecutive videos do not repeat each other frame for frame.
OFFSET = 97


def build_footage(root: Path, minutes: float) -> dict:
    """``root/train/NNN.avi``: ``minutes`` of vtest looped at 320x240 (skipped when already there)."""
    frames_total = int(round(minutes * 60 * FPS))
    per_video = VIDEO_SECONDS * FPS
    counts = [min(per_video, frames_total - a) for a in range(0, frames_total, per_video)]
    info = {"minutes": minutes, "fps": FPS, "frames": frames_total, "videos": len(counts), "size": list(SIZE),
            "source": "vtest.avi looped, resized with INTER_AREA, MJPG .avi"}
    done = root / "footage.json"
    if done.is_file() and json.loads(done.read_text()) == info:
        return info
    cap = cv2.VideoCapture(str(REAL / "vtest.avi"))
    loop = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        loop.append(cv2.resize(frame, (SIZE[1], SIZE[0]), interpolation=cv2.INTER_AREA))
    shutil.rmtree(root / "train", ignore_errors=True)
    (root / "train").mkdir(parents=True)
    for j, n in enumerate(counts):
        out = cv2.VideoWriter(str(root / "train" / f"{j:03d}.avi"), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (SIZE[1], SIZE[0]))
        for t in range(n):
            out.write(loop[(j * OFFSET + t) % len(loop)])
        out.release()
    done.write_text(json.dumps(info))
    return info


def child(prepared_root: str, seed: int, result: str) -> None:
    """Fit the head on the prepared training split; write time, memory before fitting, settings.
    (The child imports the package from ``--src`` when given: its PYTHONPATH comes first.)"""
    prepared = open_prepared(prepared_root)
    config = RegionHeadConfig(seed=seed)
    before = psutil.Process().memory_info().rss
    start, cpu = time.perf_counter(), time.process_time()
    comp = fit_region_head(prepared, config=config, choose=True, progress=False)
    out = {"wall_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu, "rss_before_fit_mb": before / 2**20,
           "settings": comp.head.config.as_dict(), "chosen": (comp.selection or {}).get("chosen"),
           "chosen_numbers": _chosen_numbers(comp.selection), "normal_scores_sum": float(sum(s.sum() for s in comp.head.normal_scores)),
           "head_frames": comp.head.frames, "candidates": len((comp.selection or {}).get("candidates", [])),
           "package": str(Path(sys.modules["ammcnet"].__file__).parent)}
    Path(result).write_text(json.dumps(out))


def _chosen_numbers(selection: dict | None) -> dict | None:
    """The winner's validation numbers: the same code before and after a change that keeps the
    numbers gives the same ones."""
    best = next((c for c in (selection or {}).get("candidates", []) if c["label"] == selection["chosen"]), None)
    return None if best is None else {k: best[k] for k in ("auc", "mean_auc", "false_alarm", "spread")}


def measure(prepared_root: Path, seed: int, src: str | None, work: Path) -> dict:
    """Run :func:`child` in a process of its own; its exact peak RSS (``wait4``) and psutil samples."""
    result = work / "child.json"
    env = dict(os.environ, **({"PYTHONPATH": src} if src else {}))
    cmd = [sys.executable, __file__, "--child", str(prepared_root), "--seed", str(seed), "--result", str(result)]
    proc = subprocess.Popen(cmd, env=env)
    samples, stop = [], threading.Event()

    def sample() -> None:
        p = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                samples.append(p.memory_info().rss)
            except psutil.Error:
                return
            stop.wait(0.5)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    stop.set()
    thread.join()
    if proc.returncode:
        raise SystemExit(f"the fitting failed (exit {proc.returncode})")
    out = json.loads(result.read_text())
    out.update(peak_rss_mb=usage.ru_maxrss / 1024, sampled_peak_rss_mb=max(samples, default=0) / 2**20,
               child_cpu_s=usage.ru_utime + usage.ru_stime, child_command=" ".join(cmd))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--work", type=Path, default=Path("runs/head-memory"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--src", help="PYTHONPATH of the package to measure (default: this checkout)")
    ap.add_argument("--label", default="after", help="what --src is, for the result (before/after)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.seed, args.result)
    work = args.work / f"{args.minutes:g}min"
    footage = build_footage(work / "data", args.minutes)
    start = time.perf_counter()
    prepared = prepare_dataset(work / "data", size=(32, 32), flow="dis", flow_preset="ultrafast", splits=("train",),
                               cache_dir=work / "cache", progress=False, layout="custom")
    prepare_s = time.perf_counter() - start
    shutil.rmtree(prepared.root / "region-flows", ignore_errors=True)  # flows computed as on a first train
    run = measure(prepared.root, args.seed, args.src, work)
    print(f"{args.label}: {footage['frames']} frames ({args.minutes:g} min): peak RSS {run['peak_rss_mb']:.0f} MB "
          f"(before fitting {run['rss_before_fit_mb']:.0f} MB), wall {run['wall_s']:.0f} s, CPU {run['child_cpu_s']:.0f} s",
          flush=True)
    save_result(args.out, {"commands": [" ".join([Path(sys.executable).name, *sys.argv]), run.pop("child_command")],
                           "seed": args.seed, "settings": run.pop("settings"), "code": args.label,
                           "footage": footage, "prepare_s": prepare_s, **run})


if __name__ == "__main__":
    main()
