"""Content digests: a SHA-256 over a saved object's tensors and plain settings, stored inside it.

A model file or training checkpoint can be damaged after it was written (a bad disk, a partial
copy, a bit flipped in transit) in ways ``torch.load`` does not notice: the weights still load,
and the model then scores nonsense. Sealing the object with a digest of its own content lets
every load check that what is read is what ammcnet wrote.

The digest covers every tensor's dtype, shape and raw bytes and every plain value (str, int,
float, bool, None, lists, dicts with their keys in sorted order), so it is independent of how
``torch.save`` lays out the zip file.

>>> import torch
>>> obj = seal({"w": torch.ones(2), "cfg": {"a": 1}})
>>> obj["digest"][:7], check_digest(obj)
('sha256:', True)
>>> obj["w"][0] = 2.0
>>> check_digest(obj)
False
>>> check_digest({"w": torch.ones(2)}) is None
True
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any

import torch

#: The key under which the digest is stored.
DIGEST_KEY = "digest"
#: Prefix naming the hash, so that another hash can be introduced later.
PREFIX = "sha256:"


def _feed(h: Any, obj: Any) -> None:
    """Feed ``obj`` into the hash ``h`` with a type tag per value, so that [1] and "1" differ."""
    if isinstance(obj, torch.Tensor):
        t = obj.detach().to("cpu").contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif obj is None:
        h.update(b"N")
    elif isinstance(obj, bool):
        h.update(b"B1" if obj else b"B0")
    elif isinstance(obj, int):
        h.update(f"I{obj};".encode())
    elif isinstance(obj, float):
        h.update(b"F" + struct.pack("<d", obj))
    elif isinstance(obj, str):
        data = obj.encode("utf-8", "surrogatepass")
        h.update(f"S{len(data)}:".encode() + data)
    elif isinstance(obj, (bytes, bytearray)):
        h.update(f"Y{len(obj)}:".encode() + bytes(obj))
    elif isinstance(obj, dict):
        h.update(f"D{len(obj)}{{".encode())
        for key in sorted(obj, key=lambda k: (type(k).__name__, str(k))):
            _feed(h, key)
            _feed(h, obj[key])
        h.update(b"}")
    elif isinstance(obj, (list, tuple)):
        h.update(f"L{len(obj)}[".encode())
        for v in obj:
            _feed(h, v)
        h.update(b"]")
    else:
        h.update(f"O{type(obj).__name__}:{obj!r}".encode())


def content_digest(obj: dict[str, Any]) -> str:
    """``"sha256:<hex>"`` over everything in ``obj`` except its stored digest."""
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in obj.items() if k != DIGEST_KEY})
    return PREFIX + h.hexdigest()


def seal(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``obj`` with its content digest stored under :data:`DIGEST_KEY`."""
    return {**obj, DIGEST_KEY: content_digest(obj)}


def check_digest(obj: dict[str, Any]) -> bool | None:
    """True if ``obj``'s stored digest matches its content, False if not, None if it has none."""
    stored = obj.get(DIGEST_KEY)
    if stored is None:
        return None
    if not isinstance(stored, str) or not stored.startswith(PREFIX):
        return False
    return stored == content_digest(obj)


def non_finite_tensors(tensors: dict[str, Any]) -> list[str]:
    """Names of the floating-point tensors in ``tensors`` that hold NaN or inf."""
    return [
        k
        for k, v in tensors.items()
        if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())
    ]
