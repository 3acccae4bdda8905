"""The last few seconds of decoded frames, kept so that a clip can begin before its event did.

An event is only known once its score crosses the threshold; the seconds that led up to it are
what a reviewer wants to see first. The ring keeps (index, timestamp, frame) for the last
``seconds * fps`` frames plus the newest one, dropping the oldest as new ones arrive.

Memory: frames are stored as downscaled copies no wider than ``max_width`` (default 640). One
640x360 RGB frame is 640 * 360 * 3 = 691,200 bytes, so 3 s at 25 fps (75 frames) is about 52 MB;
a full-size 1920x1080 frame would be 6.2 MB, 467 MB for the same 3 s. ``max_width=None`` keeps
frames at full size.

>>> import numpy as np
>>> ring = FrameRing(seconds=0.5, fps=10, max_width=32)
>>> for i in range(20): _ = ring.push(i, np.zeros((48, 64, 3), np.uint8), timestamp=i / 10)
>>> len(ring), ring.frames()[0].index, ring.frames()[-1].index, ring.frames()[0].rgb.shape
(6, 14, 19, (24, 32, 3))
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from ammcnet.errors import ConfigError

#: Default largest stored width in pixels (height follows the aspect ratio).
DEFAULT_MAX_WIDTH = 640


@dataclass(frozen=True)
class RingFrame:
    """One stored frame: its index in the stream, its timestamp (seconds) and the (downscaled) RGB copy."""

    index: int
    timestamp: float | None
    rgb: np.ndarray


def downscale(rgb: np.ndarray, max_width: int | None) -> np.ndarray:
    """A copy of ``rgb`` no wider than ``max_width`` (aspect kept; never upscaled); always a new array."""
    h, w = rgb.shape[:2]
    if max_width is None or w <= max_width:
        return np.array(rgb, copy=True)
    height = max(1, int(round(h * max_width / w)))
    return cv2.resize(rgb, (int(max_width), height), interpolation=cv2.INTER_AREA)


class FrameRing:
    """A bounded buffer of the most recent frames.

    Args:
        seconds: how much history to keep; the ring holds ``round(seconds * fps) + 1`` frames
            (the history plus the newest frame).
        fps: frames per second at which frames are pushed.
        max_width: store copies no wider than this many pixels (None = full size).
    """

    def __init__(self, seconds: float, fps: float, max_width: int | None = DEFAULT_MAX_WIDTH) -> None:
        if seconds < 0 or not fps or fps <= 0:
            raise ConfigError(f"a frame ring needs seconds >= 0 and fps > 0, got seconds={seconds}, fps={fps}")
        if max_width is not None and max_width < 2:
            raise ConfigError(f"max_width must be at least 2 pixels or None, got {max_width}")
        self.seconds, self.fps, self.max_width = float(seconds), float(fps), max_width
        self.capacity = int(round(self.seconds * self.fps)) + 1
        self._frames: deque[RingFrame] = deque(maxlen=self.capacity)

    def push(self, index: int, rgb: np.ndarray, timestamp: float | None = None) -> RingFrame:
        """Store a downscaled copy of ``rgb`` (the caller may reuse its buffer); returns the stored frame."""
        item = RingFrame(int(index), None if timestamp is None else float(timestamp), downscale(rgb, self.max_width))
        self._frames.append(item)
        return item

    def frames(self, since_index: int | None = None) -> list[RingFrame]:
        """The stored frames, oldest first; with ``since_index`` only those with ``index >= since_index``."""
        if since_index is None:
            return list(self._frames)
        return [f for f in self._frames if f.index >= since_index]

    @property
    def nbytes(self) -> int:
        """Bytes held by the stored pixels."""
        return sum(f.rgb.nbytes for f in self._frames)

    def clear(self) -> None:
        self._frames.clear()

    def __len__(self) -> int:
        return len(self._frames)
