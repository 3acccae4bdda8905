"""Score conventions as small pure functions: min-max normalisation and temporal smoothing.

>>> smooth_two_tap([0.0, 1.0, 0.0], 0.5).tolist()
[0.0, 0.5, 0.5]
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d


def minmax(x: np.ndarray) -> np.ndarray:
    """Map ``x`` to [0, 1] by its own min and max; a constant array maps to zeros.

    The authors' code divides by zero on a constant video (NaN); zeros keep such a video
    neutral instead.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return x.copy()
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def smooth_two_tap(s: np.ndarray, ls: float) -> np.ndarray:
    """The paper's 2-tap causal filter ``s'[i] = (1 - ls) s[i-1] + ls s[i]``, ``s'[0] = s[0]``.

    It mixes each value with the *unsmoothed* previous one (a FIR filter, not an EMA), exactly
    as ``eval_metric.img_pred_fea_comm_single_auc`` does.
    """
    s = np.asarray(s, dtype=np.float64)
    out = s.copy()
    if s.size > 1:
        out[1:] = (1.0 - ls) * s[:-1] + ls * s[1:]
    return out


def smooth_gauss(s: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing (``scipy.ndimage.gaussian_filter1d``, reflected edges), as AI-VAD uses."""
    s = np.asarray(s, dtype=np.float64)
    return gaussian_filter1d(s, sigma, mode="reflect") if s.size > 1 else s.copy()


def apply_smoothing(s: np.ndarray, kind: str, param: float) -> np.ndarray:
    """Dispatch on ``kind`` in {"none", "paper", "gauss"}."""
    if kind == "none":
        return np.asarray(s, dtype=np.float64).copy()
    if kind == "paper":
        return smooth_two_tap(s, param)
    if kind == "gauss":
        return smooth_gauss(s, param)
    raise ValueError(kind)
