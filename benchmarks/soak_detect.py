"""Soak test of ``ammcnet detect``: a looped source for a long time, resident memory and fps over time.

A detector that leaks a few kilobytes per frame looks fine in every short test and dies after a
week on a camera. This runs :func:`ammcnet.detect.run_detection` on a real clip played in a loop
(throttled to ``--fps``, as a camera would deliver it) for ``--minutes``, samples the process's
resident memory (``psutil``) every ``--sample-s`` seconds, and reports the memory slope in MB
per hour after a warm-up (least squares over the samples) and the frame rate in each interval.

With ``--drop-every S`` the source also drops every S seconds for ``--drop-s`` seconds (reads
fail and reopening is refused), so the reconnecting capture, its backoff and the gap events are
soaked too.

The model is the cpu-lite preset's network with random weights and a unit calibration: memory
and speed do not depend on what the weights learned. Results go to ``--json``.

Example (what BENCHMARKS.md reports; the throttle keeps it from starving other work)::

    nice -n 19 python benchmarks/soak_detect.py --minutes 30 --fps 4 --json benchmarks/results/soak-detect-30min.json
    nice -n 19 python benchmarks/soak_detect.py --minutes 30 --fps 4 --drop-every 180 --drop-s 5 \\
        --json benchmarks/results/soak-detect-drops-30min.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import psutil
import torch

from ammcnet import __version__
from ammcnet.detect import DetectOptions, run_detection
from ammcnet.detect.detector import Detector, DetectorOptions
from ammcnet.detect.reconnect import ReconnectingCapture, ReconnectPolicy
from ammcnet.errors import DataError
from ammcnet.models import AMMCNet
from ammcnet.training import load_preset
from ammcnet.training.api import model_config
from ammcnet.utils.io import write_json_atomic

DEFAULT_SOURCE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real" / "vtest.avi"


class LoopedVideo:
    """A video file read in an endless loop at ``fps`` frames per second, like a camera.

    With ``drop_every`` > 0, the source is "down" for ``drop_s`` seconds every ``drop_every``
    seconds: reads fail and :meth:`open` raises, as an unreachable camera would.
    """

    def __init__(self, path: Path, fps: float, drop_every: float = 0.0, drop_s: float = 0.0,
                 clock: float | None = None) -> None:
        self.path, self.fps = path, fps
        self.drop_every, self.drop_s = drop_every, drop_s
        self.t0 = clock if clock is not None else time.monotonic()
        self.cap = cv2.VideoCapture(str(path))
        if not self.cap.isOpened():
            raise DataError(f"cannot open {path}")
        self.next_t = time.monotonic()

    def down(self) -> bool:
        if self.drop_every <= 0:
            return False
        return (time.monotonic() - self.t0) % self.drop_every >= self.drop_every - self.drop_s

    def read(self) -> tuple[bool, Any]:
        delay = self.next_t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self.next_t = max(self.next_t + 1.0 / self.fps, time.monotonic() - 1.0)
        if self.down():
            return False, None
        ok, frame = self.cap.read()
        if not ok:  # end of the clip: start again
            self.cap.release()
            self.cap = cv2.VideoCapture(str(self.path))
            ok, frame = self.cap.read()
        return ok, frame

    def release(self) -> None:
        self.cap.release()


def _detector(preset: str) -> Detector:
    cfg = load_preset(preset)
    torch.manual_seed(0)
    model = AMMCNet(model_config(cfg))
    records = ("rgb_psnr", "rgb_commit", "flow_error", "flow_commit")
    calibration = {"records": {r: {"mean": 0.0, "std": 1.0} for r in records}}
    return Detector(model, calibration, DetectorOptions(size=tuple(cfg.data.size), flow=cfg.data.flow,
                                                        flow_preset=cfg.data.flow_preset, threshold=1e9))


def _slope_mb_per_h(samples: list[dict[str, float]], warmup_s: float) -> float | None:
    pts = [(s["t_s"], s["rss_mb"]) for s in samples if s["t_s"] >= warmup_s]
    if len(pts) < 3:
        return None
    t, m = np.asarray(pts).T
    return float(np.polyfit(t / 3600.0, m, 1)[0])


def soak(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    proc = psutil.Process()
    det = _detector(args.preset)
    t0 = time.monotonic()
    policy = ReconnectPolicy(drop_after=3, initial_delay_s=0.5, max_delay_s=8.0, max_attempts=1000, stall_s=10.0)
    cap = ReconnectingCapture(
        lambda: _open(args, t0), policy, first=LoopedVideo(args.source, args.fps, args.drop_every, args.drop_s, t0),
        name=f"looped {args.source.name}")
    samples: list[dict[str, float]] = []
    stop = threading.Event()

    def sampler() -> None:
        last_t, last_n = 0.0, 0
        while not stop.wait(args.sample_s):
            t = time.monotonic() - t0
            if t >= args.minutes * 60:
                cap.stop(f"soak time reached ({args.minutes:g} min)")
            n = cap.frames
            samples.append({"t_s": round(t, 1), "rss_mb": round(proc.memory_info().rss / 2**20, 2),
                            "frames": n, "fps": round((n - last_n) / max(t - last_t, 1e-9), 3)})
            last_t, last_n = t, n

    thread = threading.Thread(target=sampler, daemon=True)
    thread.start()
    with tempfile.TemporaryDirectory() as out:
        summary = run_detection(cap, det, DetectOptions(progress=False, batch_size=1), out=out)
        events = [json.loads(line) for line in (Path(out) / "events.jsonl").read_text().splitlines()]
    stop.set()
    thread.join()
    slope = _slope_mb_per_h(samples, args.warmup_min * 60)
    fps = [s["fps"] for s in samples if s["t_s"] >= args.warmup_min * 60]
    return {
        "what": "ammcnet detect soak: looped real clip, throttled like a camera",
        "command": args.command,
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "torch_threads": args.threads, "nice": os.nice(0)},
        "ammcnet_version": __version__,
        "source": str(args.source.name), "source_fps": args.fps, "preset": args.preset,
        "minutes_planned": args.minutes, "seconds": round(time.monotonic() - t0, 1),
        "frames_read": summary.frames_read, "frames_scored": summary.frames_scored,
        "stop_reason": summary.stop_reason,
        "drop_every_s": args.drop_every, "drop_s": args.drop_s,
        "gaps": len(summary.gaps), "reconnects": summary.reconnects,
        "gap_events_logged": sum(e["kind"] == "gap" for e in events),
        "events_log_lines_valid": len(events),
        "warmup_min": args.warmup_min,
        "rss_mb_start": samples[0]["rss_mb"] if samples else None,
        "rss_mb_end": samples[-1]["rss_mb"] if samples else None,
        "rss_mb_max": max((s["rss_mb"] for s in samples), default=None),
        "slope_mb_per_hour": None if slope is None else round(slope, 3),
        "target_mb_per_hour": 5.0,
        "fps_mean_after_warmup": round(float(np.mean(fps)), 3) if fps else None,
        "fps_min_after_warmup": round(float(np.min(fps)), 3) if fps else None,
        "samples": samples,
    }


def _open(args: argparse.Namespace, t0: float) -> LoopedVideo:
    src = LoopedVideo(args.source, args.fps, args.drop_every, args.drop_s, t0)
    if src.down():
        src.release()
        raise DataError(f"{args.source.name}: source is down (simulated drop)")
    return src


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=30.0, help="soak length (default 30)")
    p.add_argument("--fps", type=float, default=4.0, help="frames per second the looped source delivers (default 4)")
    p.add_argument("--drop-every", type=float, default=0.0, help="the source drops every S seconds (0 = never)")
    p.add_argument("--drop-s", type=float, default=5.0, help="seconds each drop lasts (default 5)")
    p.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="video to loop (default ../shared vtest.avi)")
    p.add_argument("--preset", default="cpu-lite", help="preset whose network is run (default cpu-lite)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--sample-s", type=float, default=10.0, help="seconds between memory samples (default 10)")
    p.add_argument("--warmup-min", type=float, default=3.0, help="minutes left out of the slope (default 3)")
    p.add_argument("--json", type=Path, default=None, help="write the result here")
    args = p.parse_args()
    args.command = "python benchmarks/soak_detect.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("json", "command"))
    result = soak(args)
    brief = {k: v for k, v in result.items() if k != "samples"}
    print(json.dumps(brief, indent=2))
    if args.json is not None:
        write_json_atomic(args.json, result)


if __name__ == "__main__":
    main()
