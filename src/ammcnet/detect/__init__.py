"""ammcnet.detect: live anomaly detection on any video, frame folder, stream or camera.

>>> from ammcnet.detect import events_from_scores
>>> [(e.start, e.end) for e in events_from_scores([0, 2, 2, 0, 0, 2], threshold=1)]
[(1, 2), (5, 5)]
"""

import os
import sys
import types
from contextlib import nullcontext
from dataclasses import replace
from typing import Any

from ammcnet.alarms.events import Event, EventTracker, events_from_scores
from ammcnet.detect.detector import Detector, DetectorOptions, FrameResult, resize_frame, resolve_threshold
from ammcnet.detect.many import detect_many
from ammcnet.detect.overlay import OverlayWriter
from ammcnet.detect.run import DetectionSummary, DetectOptions, run_detection
from ammcnet.detect.sources import Frame, FrameReader, SourceInfo, open_source
from ammcnet.utils.lock import output_lock

__all__ = [
    "DetectOptions",
    "DetectionSummary",
    "Detector",
    "DetectorOptions",
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
    :func:`run_detection` as :func:`ammcnet.api.detect` does (``options`` default
    ``DetectOptions(progress=False)``, ``fields`` replace its fields, ``out`` locked while it is
    written), so both spellings mean one thing.
    """

    def __call__(self, source: Any, model: Any, options: DetectOptions | None = None, *,
                 out: str | os.PathLike[str] | None = None, video: str | os.PathLike[str] | None = None,
                 **fields: Any) -> DetectionSummary:
        options = replace(options if options is not None else DetectOptions(progress=False), **fields)
        with output_lock(out, "ammcnet detect") if out is not None else nullcontext():
            return run_detection(source, model, options, out=out, video=video)


sys.modules[__name__].__class__ = _DetectPackage
