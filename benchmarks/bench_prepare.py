"""Benchmark ``prepare`` (decode + resize + DIS flow into the cache) and clip loading from the cache.

Usage::

    .venv/bin/python benchmarks/bench_prepare.py [ROOT] [--size 256] [--preset medium] [--workers 2]
        [--max-videos N] [--clips 2000]

ROOT defaults to ../shared/benchmarks/ped2 (real UCSD Ped2, 4560 frames). Prints the command,
the machine, library versions, the current load and the numbers.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from ammcnet.data import ClipDataset, prepare_dataset

REPO = Path(__file__).resolve().parents[1]


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children: load-independent cost."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", nargs="?", default=str(REPO.parent / "shared" / "benchmarks" / "ped2"))
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--preset", default="medium")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--max-videos", type=int, default=None)
    ap.add_argument("--clips", type=int, default=2000, help="clips read in random order for the loading benchmark")
    args = ap.parse_args()

    torch.set_num_threads(1)
    print("command:", " ".join([Path(sys.executable).name, *sys.argv]))
    print(f"machine: {os.cpu_count()}-core {platform.machine()} CPU, {platform.system()} {platform.release()}")
    print(f"python {platform.python_version()}, torch {torch.__version__}, opencv {cv2.__version__}, numpy {np.__version__}")
    print("load average before (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))

    with tempfile.TemporaryDirectory(prefix="ammcnet-bench-") as cache:
        cpu0 = _cpu_seconds()
        t0 = time.perf_counter()
        ds = prepare_dataset(args.root, size=(args.size, args.size), flow_preset=args.preset, cache_dir=cache,
                             workers=args.workers, max_videos=args.max_videos, progress=False)
        dt = time.perf_counter() - t0
        n = sum(ds.num_frames("train")) + sum(ds.num_frames("test"))
        print(f"prepare: {n} frames at {args.size}x{args.size}, DIS {args.preset}, {args.workers} worker(s): "
              f"{dt:.1f} s ({n / dt:.1f} frames/s)")
        cpu = _cpu_seconds() - cpu0
        print(f"prepare CPU time (this process + workers): {cpu:.1f} s = {cpu / n * 1000:.1f} ms/frame; "
              f"on {args.workers} otherwise idle core(s) about {cpu / args.workers:.0f} s wall")

        clips = ClipDataset(ds, "train")
        order = np.random.default_rng(0).permutation(len(clips))[: args.clips]
        for i in order[:50]:  # open the memory maps once, as a training run would
            clips[int(i)]
        # pass 1 touches every page of the memory maps for the first time in this process (page
        # faults); pass 2 is the steady state of a training run, whose epochs revisit the same clips
        for name in ("first pass over the clips", "second pass (steady state)"):
            cpu0 = _cpu_seconds()
            t0 = time.perf_counter()
            for i in order:
                item = clips[int(i)]
            dt = time.perf_counter() - t0
            cpu = _cpu_seconds() - cpu0
            assert item["frames"].shape[0] == 12
            print(f"clip loading, {name}: {len(order)} random clips, single process: {len(order) / dt:.0f} clips/s wall, "
                  f"{len(order) / cpu:.0f} clips per CPU second")
        # what training does: whole batches of 16 (ClipDataset.get_batch), in this process
        # (data.workers=0) or packed in 2 worker processes and unpacked here (data.workers=2)
        from torch.utils.data import BatchSampler, DataLoader

        from ammcnet.data.clips import ClipBatches, unpack_batch

        for workers in (0, 2):
            loader = DataLoader(ClipBatches(clips), sampler=BatchSampler([int(i) for i in order], 16, False),
                                batch_size=None, num_workers=workers)
            for rep in range(2):  # pass 1 includes the workers' start-up
                t0 = time.perf_counter()
                n_read = sum(len(unpack_batch(batch)["t"]) for batch in loader)
                dt = time.perf_counter() - t0
                print(f"clip loading, batches of 16, {workers} worker process(es), pass {rep + 1}"
                      f"{' (start-up included)' if rep == 0 and workers else ''}: {n_read / dt:.0f} clips/s wall")
    print("load average after (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
