"""The region head on a live stream, one frame at a time: the same numbers as offline scoring.

Offline flows are stored as float16 (:mod:`ammcnet.regions.footage`); the stream rounds its flow
the same way, so a frame scores alike in ``ammcnet test`` and ``ammcnet detect`` (to 1e-5).

>>> import numpy as np
>>> from ammcnet.regions import RegionHead, RegionHeadConfig
>>> rng = np.random.default_rng(0)
>>> flows = [rng.normal(0, 0.05, (10, 48, 64, 2)).astype(np.float32) for _ in range(3)]
>>> stream = RegionStream(RegionHead.fit(flows, RegionHeadConfig(window=0.25, flow_preset="ultrafast")))
>>> frames = rng.integers(0, 255, (3, 96, 128, 3), dtype=np.uint8)
>>> [r is None for r in map(stream.update, frames)]
[True, False, False]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ammcnet.flow.analysis import AnalysisFlow
from ammcnet.regions.config import PARTS
from ammcnet.regions.head import RegionHead, features_of
from ammcnet.utils.float16 import round_float16


@dataclass
class RegionFrame:
    """The head's view of one frame.

    Attributes:
        score: the head's score (unsmoothed; 1.0 = the top of unseen normal footage).
        parts: part name -> its scaled score.
        box: (x0, y0, x1, y1) of the winning region in pixels of the source frame.
        part: the part that won the frame.
    """

    score: float
    parts: dict[str, float]
    box: tuple[int, int, int, int]
    part: str


def scale_box(box: np.ndarray, analysis_hw: tuple[int, int], frame_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """An analysis-grid box (x0, y0, x1, y1) in pixels of a frame of size ``frame_hw``."""
    sy, sx = frame_hw[0] / analysis_hw[0], frame_hw[1] / analysis_hw[1]
    x0, y0, x1, y1 = (float(v) for v in box)
    return int(x0 * sx), int(y0 * sy), int(round(x1 * sx)), int(round(y1 * sy))


class RegionStream:
    """Feeds a stream's RGB frames (any size) to a fitted head: flow on the analysis grid, then scores."""

    def __init__(self, head: RegionHead) -> None:
        self.head = head
        self.flow = AnalysisFlow(head.size, head.config.flow_preset)

    def reset(self) -> None:
        """Start over (a new video, or a gap in the stream): the next frame has no flow yet."""
        self.flow.reset()

    def update(self, rgb: np.ndarray) -> RegionFrame | None:
        """Score the frame ``rgb`` (H, W, 3) uint8; None for the first frame after a reset."""
        flow = self.flow.update(rgb)
        if flow is None:
            return None
        flow = round_float16(flow)  # as stored offline
        s = self.head.score_features(features_of(flow[None], self.head.config))
        return RegionFrame(float(s.score[0]), {p: float(v[0]) for p, v in s.parts.items()},
                           scale_box(s.boxes[0], self.head.size, rgb.shape[:2]), PARTS[int(s.winner[0])])
