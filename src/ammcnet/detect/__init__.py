"""ammcnet.detect: live anomaly detection on any video, frame folder, stream or camera.

>>> from ammcnet.detect import events_from_scores
>>> [(e.start, e.end) for e in events_from_scores([0, 2, 2, 0, 0, 2], threshold=1)]
[(1, 2), (5, 5)]
"""

import sys
import types
from typing import Any

from ammcnet.detect.detector import Detector, FrameResult, resize_frame, resolve_threshold
from ammcnet.detect.events import Event, EventTracker, events_from_scores
from ammcnet.detect.many import detect_many
from ammcnet.detect.overlay import OverlayWriter
from ammcnet.detect.run import DetectionSummary, run_detection
from ammcnet.detect.sources import Frame, FrameReader, SourceInfo, open_source

__all__ = [
    "DetectionSummary",
    "Detector",
    "Event",
    "EventTracker",
    "Frame",
    "detect_many",
    "FrameReader",
    "FrameResult",
    "OverlayWriter",
    "SourceInfo",
    "events_from_scores",
    "open_source",
    "resize_frame",
    "resolve_threshold",
    "run_detection",
]


class _DetectPackage(types.ModuleType):
    """``ammcnet.detect`` is this package and, called, the API function ``ammcnet.detect(source, model, ...)``.

    The package and the function share a name (whisper-style API); calling the package runs
    :func:`run_detection` with the same arguments, so both spellings mean one thing.
    """

    def __call__(self, source: Any, model: Any, **kwargs: Any) -> DetectionSummary:
        kwargs.setdefault("progress", False)
        return run_detection(source, model, **kwargs)


sys.modules[__name__].__class__ = _DetectPackage
