"""Flow on the analysis grid: the region head's motion, near the source resolution, with the frame.

The network sees flow on its small model grid (:mod:`ammcnet.flow.backends` on resized frames);
the region head (:mod:`ammcnet.regions`) needs a person's limbs to move by whole pixels, so its
flow runs on an *analysis grid* of about 240 rows with the source's aspect ratio. Both grids read
the same decoded frames and resize them with :func:`ammcnet.flow.resize.resize_image`, each with
its own interpolation, and both flows come from :class:`~ammcnet.flow.backends.DISFlow`.

Each analysis record carries a third channel beside the flow's (u, v): the grey level (0-255) of
the frame the flow ends on, as the flow saw it. The head's appearance part reads the frame there
(:func:`ammcnet.regions.features.window_appearance`), so the frame travels with its motion through
the one cache, the one stream and the one feature store, and a live frame scores as it does
offline. Grey levels are whole numbers below 2048, which float16 (the cache's type) holds exactly.

>>> import numpy as np
>>> analysis_size((576, 720), 240), analysis_size((120, 160), 240)
((240, 300), (120, 160))
>>> frames = np.zeros((3, 48, 64, 3), np.uint8); frames[1:, 10:20, 12:22] = 255
>>> [f.shape for f in AnalysisFlow((24, 32), "ultrafast").video(frames)]
[(24, 32, 3), (24, 32, 3), (24, 32, 3)]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from ammcnet.flow.backends import DISFlow, grey_frame
from ammcnet.flow.resize import ANALYSIS_INTERPOLATION, resize_image

#: Narrowest analysis grid, in columns (DIS needs a few patches across).
MIN_COLUMNS = 8
#: Channels of an analysis record: u and v (pixels per frame), then the frame's grey level.
ANALYSIS_CHANNELS = 3
#: The channel that holds the grey level (0-255) of the frame the flow ends on.
GREY_CHANNEL = 2


def analysis_size(frame_hw: tuple[int, int], height: int) -> tuple[int, int]:
    """(H, W) of the analysis grid: ``height`` rows, the source's aspect kept (never upsampled)."""
    h, w = int(frame_hw[0]), int(frame_hw[1])
    rows = min(int(height), h)
    return rows, max(MIN_COLUMNS, int(round(w * rows / h)))


class AnalysisFlow:
    """Flow between consecutive frames on the analysis grid (OpenCV DIS on grey frames).

    Frames are turned grey at the source size, then resized: resizing one channel instead of
    three is the cheaper half of the pair (576x768 to 240x320: 1.2 ms against 1.9 ms per frame).

    Args:
        size: (H, W) of the analysis grid.
        preset: DIS preset name.
    """

    def __init__(self, size: tuple[int, int], preset: str = "medium") -> None:
        self.size = (int(size[0]), int(size[1]))
        self.backend = DISFlow(preset)
        self._prev: np.ndarray | None = None

    def grey(self, rgb: np.ndarray) -> np.ndarray:
        """``rgb`` (H, W, 3) uint8 as the (h, w) uint8 grey frame of the analysis grid the flow sees."""
        return resize_image(grey_frame(rgb), self.size, ANALYSIS_INTERPOLATION)

    def reset(self) -> None:
        """Forget the previous frame (a new video, or a gap in a stream)."""
        self._prev = None

    def update(self, rgb: np.ndarray) -> np.ndarray | None:
        """(H, W, 3): the flow from the previous frame to ``rgb`` (pixels) and ``rgb``'s grey level on
        the grid (:data:`GREY_CHANNEL`), or None for the first frame."""
        frame = self.grey(rgb)
        prev, self._prev = self._prev, frame
        if prev is None:
            return None
        out = np.empty((*self.size, ANALYSIS_CHANNELS), np.float32)
        out[..., :2] = self.backend.compute_grey(prev, frame)
        out[..., GREY_CHANNEL] = frame
        return out

    def video(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Records of a whole video: entry 0 repeats entry 1 (flow and frame) so there is one per frame."""
        self.reset()
        first = True
        for rgb in frames:
            flow = self.update(rgb)
            if flow is None:
                continue
            if first:
                yield flow
                first = False
            yield flow
        self.reset()
