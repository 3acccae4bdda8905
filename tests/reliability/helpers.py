"""Small builders shared by the reliability tests."""

from __future__ import annotations

from pathlib import Path

#: Score statistics that let an untrained model be run by the detector.
CALIBRATION = {"records": {r: {"mean": 0.0, "std": 1.0} for r in ("rgb_psnr", "rgb_commit", "flow_error", "flow_commit")}}


def write_squares_video(folder: Path, n: int, offset: int, size: int = 48) -> None:
    """A folder of PNG frames: a square moving to the right (offset picks its row and phase)."""
    import cv2
    import numpy as np

    folder.mkdir(parents=True)
    for i in range(n):
        img = np.full((size, size, 3), 40, np.uint8)
        x = (3 * i + 7 * offset) % (size - 12)
        cv2.rectangle(img, (x, 10 + 5 * offset), (x + 10, 20 + 5 * offset), (200, 180, 90), -1)
        cv2.imwrite(str(folder / f"{i:03d}.png"), img)
