"""A generated scene for the alarm tests: a square sliding slowly (normal), and bursts of a fast one.

The fast square races along the bottom rows, far enough below the normal one for its optical flow
not to reach the top half, so masks and zones can be tested on it.
"""

from __future__ import annotations

import cv2
import numpy as np

SIZE, FPS = 128, 10.0
FAST = ((40, 50), (90, 100))


def scene_frame(x: int, fast_x: int | None = None) -> np.ndarray:
    """The normal square sliding at the top; with ``fast_x``, a second one racing along the bottom
    (far enough below for its flow not to reach the top half)."""
    img = np.full((SIZE, SIZE, 3), 50, np.uint8)
    img[::8] = 70  # a little texture for the flow
    for left, row in ((x, 12), *(((fast_x, 104),) if fast_x is not None else ())):
        left = left % (SIZE - 20)
        cv2.rectangle(img, (left, row), (left + 16, row + 16), (210, 190, 100), -1)
    return img


def normal_frames(n: int, start: int = 0) -> list[np.ndarray]:
    return [scene_frame(3 * (start + i)) for i in range(n)]


def anomaly_frames() -> list[np.ndarray]:
    """130 frames of the normal square, with a fast one (10 px a frame) at the bottom during :data:`FAST`."""
    return [scene_frame(3 * i, 10 * i if any(a <= i < b for a, b in FAST) else None) for i in range(130)]
