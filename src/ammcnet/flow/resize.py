"""The one resize of a frame onto a grid, for both grids a frame is read at.

The network's clips live on the *model grid* (e.g. 96x96): RGB frames resized bilinearly, the
aspect ratio not kept, as the authors did (the rule is part of the prepared cache's key). The
region head's flow lives on the *analysis grid* near the source resolution (240 rows by
default): the frame is turned grey first and the grey frame is shrunk by pixel-area averaging,
which does not alias fine texture into false motion. Both go through :func:`resize_image`; only
the interpolation differs, and each grid names its own.

>>> import numpy as np
>>> rgb = np.zeros((4, 6, 3), np.uint8); rgb[:, 3:] = 200
>>> resize_frame(rgb, (2, 3)).shape, resize_image(rgb[..., 0], (2, 3), ANALYSIS_INTERPOLATION).tolist()
((2, 3, 3), [[0, 100, 200], [0, 100, 200]])
"""

from __future__ import annotations

import cv2
import numpy as np

#: Interpolation of the model grid: bilinear (the authors'), on RGB frames.
MODEL_INTERPOLATION = cv2.INTER_LINEAR
#: Interpolation of the analysis grid: pixel-area averaging, on grey frames.
ANALYSIS_INTERPOLATION = cv2.INTER_AREA


def resize_image(image: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    """``image`` ((H, W) or (H, W, C) uint8) at ``size`` = (rows, columns), C-contiguous.

    An image already at ``size`` comes back as it is (no copy when it is contiguous).
    """
    if image.shape[:2] != tuple(size):
        image = cv2.resize(image, (size[1], size[0]), interpolation=interpolation)
    return np.ascontiguousarray(image)


def resize_frame(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An RGB uint8 frame on the model grid ``size`` = (H, W): bilinear, aspect ratio not kept.

    The prepared cache, the online detector and ``ammcnet bench`` all resize with it, so a frame
    reaches the model identically on every path.
    """
    return resize_image(rgb, size, MODEL_INTERPOLATION)
