"""Cached arrays to model tensors, and the allocator setting that keeps clip loading fast.

Frames are cached as (..., H, W, 3) uint8 and flows as (..., H, W, 2) float16 (compact, memory-
mappable); the model wants channel-first float32, frames in [-1, 1]. The layout change is done on
the small uint8/float16 data with OpenCV's SIMD ``cv2.split`` into preallocated planes (2.5x faster
than numpy's transpose copy at 256x256), then torch casts and scales contiguous memory (faster than
a fused strided cast). Training (:class:`~ammcnet.data.clips.ClipDataset`) and online detection
(:class:`~ammcnet.detect.Detector`) both convert here, so the two paths give bit-identical inputs.

Why :func:`keep_freed_memory`: a clip at 256x256 is about 6 MB of fresh float32 tensors. glibc
serves blocks that large with ``mmap`` and returns them with ``munmap`` (or trims the heap), so every
clip paid about a hundred page faults for zeroed memory; profiling showed that to be about half of
the loading time (BENCHMARKS.md, clip loading). Raising glibc's mmap and trim thresholds lets the
process reuse freed blocks instead.

>>> import numpy as np
>>> [round(v, 6) for v in frames_to_tensor(np.array([[[[0, 255, 51]]]], dtype=np.uint8)).flatten().tolist()]
[-1.0, 1.0, -0.6]
>>> flows_to_tensor(np.zeros((4, 8, 8, 2), np.float16)).shape
torch.Size([4, 2, 8, 8])
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

import cv2
import numpy as np
import torch

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc <malloc.h>
_tuned_pid: int | None = None


def split_channels(src: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Copy channel-last (..., H, W, C) into channel-first (..., C, H, W) (``out`` if given).

    Works for 1- and 2-byte types with up to 4 channels (uint8 frames, float16 flows); memory maps
    are read directly.
    """
    *lead, h, w, c = src.shape
    if out is None:
        out = np.empty((*lead, c, h, w), src.dtype)
    as_int = {1: np.uint8, 2: np.uint16}.get(src.dtype.itemsize)
    if as_int is None or c > 4 or not out.flags.c_contiguous:  # not what the cache produces: numpy does it
        np.copyto(out, np.moveaxis(src, -1, -3))
        return out
    src2, out2 = src.reshape(-1, h, w, c).view(as_int), out.reshape(-1, c, h, w).view(as_int)
    for k in range(src2.shape[0]):
        cv2.split(src2[k], list(out2[k]))
    return out


def unit_range(x: torch.Tensor) -> torch.Tensor:
    """uint8 tensor (any layout, any device) -> float32 in [-1, 1]: x * 2/255 - 1, the one rule used everywhere."""
    return x.float().mul_(2.0 / 255.0).sub_(1.0)


def frames_to_tensor(frames: np.ndarray) -> torch.Tensor:
    """(..., H, W, 3) uint8 RGB -> (..., 3, H, W) float32 in [-1, 1] (x * 2/255 - 1), contiguous."""
    return unit_range(torch.from_numpy(split_channels(frames)))


def flows_to_tensor(flows: np.ndarray) -> torch.Tensor:
    """(..., H, W, 2) float16 normalised flow -> (..., 2, H, W) float32, contiguous."""
    return torch.from_numpy(split_channels(flows)).float()


def keep_freed_memory(mmap_threshold: int = 256 << 20, trim_threshold: int = 1 << 30) -> bool:
    """Let glibc reuse freed multi-megabyte blocks instead of unmapping them (once per process).

    Sets ``M_MMAP_THRESHOLD`` (blocks above it still use mmap) and ``M_TRIM_THRESHOLD`` (free heap
    kept before it is returned to the system). Called by the clip dataset in each process that reads
    clips. A no-op returning False off glibc, or when ``AMMCNET_MALLOC_TUNING=0``.
    """
    global _tuned_pid
    if _tuned_pid == os.getpid():
        return True
    if os.environ.get("AMMCNET_MALLOC_TUNING", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = bool(mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))) and bool(mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)))
    _tuned_pid = os.getpid()
    return ok
