"""ammcnet.detect: live anomaly detection on any video, frame folder, stream or camera.

>>> from ammcnet.detect import events_from_scores
>>> [(e.start, e.end) for e in events_from_scores([0, 2, 2, 0, 0, 2], threshold=1)]
[(1, 2), (5, 5)]
"""

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
