"""What a benchmark number depends on: machine, library versions, threads, and peak memory.

>>> info = machine_info()
>>> info["cpu_count"] == __import__("os").cpu_count()
True
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

from ammcnet.utils.optional import try_import


def machine_info(device: str = "cpu") -> dict[str, Any]:
    """Platform, CPU count, load average, Python/torch versions, threads, and the GPU if used."""
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }
    try:
        info["load_avg_1m"] = round(os.getloadavg()[0], 2)
    except OSError:
        pass
    ort = try_import("onnxruntime")
    info["onnxruntime"] = ort.__version__ if ort is not None else None
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def peak_memory_mb(device: str = "cpu") -> float:
    """Peak memory in MiB: process RSS high-water mark on CPU, ``max_memory_allocated`` on CUDA."""
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 if sys.platform != "darwin" else rss / 2**20


def time_call(fn: Callable[[], Any], *, warmup: int = 1, min_iters: int = 3, min_seconds: float = 2.0,
              sync: Callable[[], None] | None = None) -> float:
    """Median seconds per call of ``fn`` after ``warmup`` calls (at least ``min_iters`` and ``min_seconds``).

    The median, not the mean, so a burst of load from another process moves it less.
    """
    for _ in range(warmup):
        fn()
    if sync:
        sync()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_iters or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t0)
        if len(times) >= 200:
            break
    times.sort()
    return times[len(times) // 2]
