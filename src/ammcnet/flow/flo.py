"""Middlebury ``.flo`` files: the format of the authors' precomputed FlowNet2 flows.

Layout: 4-byte magic float ``202021.25`` (bytes ``PIEH``), int32 width, int32 height, then
``height * width * 2`` little-endian float32 values (u, v interleaved, row-major).

>>> import tempfile, pathlib, numpy as np
>>> p = pathlib.Path(tempfile.mkdtemp()) / "a.flo"
>>> write_flo(p, np.ones((2, 3, 2), np.float32)); read_flo(p).shape
(2, 3, 2)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ammcnet.errors import DataError
from ammcnet.utils.io import atomic_path

#: The magic number at the start of every Middlebury flow file.
FLO_MAGIC = np.float32(202021.25)
#: Largest width or height accepted, to refuse garbage headers before allocating memory.
MAX_SIDE = 1 << 15


def read_flo(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one ``.flo`` file.

    Args:
        path: the file.

    Returns:
        (H, W, 2) float32 flow in pixels of the file's own resolution; channel 0 = u, 1 = v.

    Raises:
        DataError: missing file, wrong magic number, a null or absurd size (the authors met such
            files in their ShanghaiTech flows), or a file shorter or longer than its header says.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read flow file {path}: {exc.strerror}; check the path") from None
    if len(raw) < 12:
        raise DataError(f"{path} is not a .flo file (only {len(raw)} bytes); recompute or remove it")
    magic = np.frombuffer(raw[:4], "<f4")[0]
    if magic != FLO_MAGIC:
        raise DataError(
            f"{path} has magic {float(magic)!r}, not 202021.25: not a Middlebury .flo file; recompute or remove it"
        )
    w, h = (int(x) for x in np.frombuffer(raw[4:12], "<i4"))
    if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE):
        raise DataError(f"{path} declares an invalid size {w}x{h}; the file is corrupt, recompute it")
    expected = 12 + 8 * w * h
    if len(raw) != expected:
        raise DataError(
            f"{path} holds {len(raw)} bytes but its {w}x{h} header needs {expected}: truncated or corrupt, recompute it"
        )
    return np.frombuffer(raw[12:], "<f4").reshape(h, w, 2).astype(np.float32)


def write_flo(path: str | os.PathLike[str], flow: np.ndarray) -> None:
    """Write (H, W, 2) flow to a ``.flo`` file atomically (temp name, then rename)."""
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must be (H, W, 2), got {flow.shape}")
    h, w = flow.shape[:2]
    data = FLO_MAGIC.astype("<f4").tobytes() + np.array([w, h], "<i4").tobytes()
    data += np.ascontiguousarray(flow, dtype="<f4").tobytes()
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
