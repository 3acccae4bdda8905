"""Event media: browser-playable videos, event clips with pre/post-capture, snapshots, retention.

* :class:`VideoEncoder` (``encoder``): the one MP4 writer of the package, H.264 through PyAV with
  an OpenCV ``mp4v`` fallback that says so; :func:`probe` reads a video's codec, size and frames.
* :class:`FrameRing` (``ring``): the last few seconds of frames, for pre-capture.
* :class:`ClipRecorder` (``clips``): one ``clips/<event id>.mp4`` per event, encoded off the frame loop.
* :func:`write_snapshot` (``snapshot``): the event's JPEG with its box drawn.
* :class:`Retention` (``retention``): delete the oldest snapshots and clips past a size or age.

Importing this package is cheap: the submodules (and PyAV, which only the encoder imports, when
it first writes) load on first use of a name.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "VideoEncoder": "encoder",
    "probe": "encoder",
    "h264_unavailable_reason": "encoder",
    "FrameRing": "ring",
    "RingFrame": "ring",
    "ClipRecorder": "clips",
    "ClipOptions": "clips",
    "clip_relpath": "clips",
    "write_snapshot": "snapshot",
    "Retention": "retention",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
