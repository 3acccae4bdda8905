"""Ways to damage a file as a disk, a copy or a crash would (used by the reliability tests)."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path


def flip_weight_bits(path: Path, n: int = 3) -> None:
    """Flip ``n`` high exponent bits inside the largest tensor blob of a ``torch.save`` zip file.

    The zip directory and the pickle stay intact, so ``torch.load`` reads the file without
    complaint: only a content digest can notice.
    """
    with zipfile.ZipFile(path) as zf:
        info = max((i for i in zf.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    data = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26: info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len
    for k in range(n):
        pos = start + (info.file_size // (n + 1)) * (k + 1)
        pos -= pos % 4  # a float32's most significant byte: makes the value huge
        data[pos + 3] ^= 0x40
    path.write_bytes(bytes(data))


def truncate(path: Path, fraction: float = 0.5) -> None:
    """Cut a file to ``fraction`` of its size, as a crash while writing without a rename would."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
