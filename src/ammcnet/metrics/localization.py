"""Pixel-level AUC of anomaly maps against pixel masks.

Every pixel of every scored frame is one sample: its map value is the score, its mask value the
label (anomalous = positive). Pooling all pixels of a test set (Ped2: 2010 frames of 256x256 =
132 M pixels) does not fit a sort in memory, so the maps are reduced to float16 and counted in a
65 536-bin histogram of float16 values (one bin per representable number, in numeric order). The
AUC computed from the two histograms (positives, negatives) is the exact Mann-Whitney AUC of the
float16 maps, ties counted half; memory stays at two 65 536-entry arrays whatever the data size,
so no pixel has to be dropped.

>>> import numpy as np
>>> masks = [np.zeros((3, 4, 4), bool)]; masks[0][:, 1:3, 1:3] = True
>>> pixel_auc([masks[0].astype(np.float16)], masks)
1.0
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ammcnet.errors import DataError

#: Number of distinct float16 bit patterns: one histogram bin each.
NUM_BINS = 1 << 16


def float16_order_keys(values: np.ndarray) -> np.ndarray:
    """Map float16 values to uint16 keys whose integer order is the numeric order.

    Args:
        values: any array; converted to float16 (values beyond 65504 become inf, still ordered).

    Returns:
        uint16 array of the same shape; ``a < b`` (as floats) iff ``key(a) < key(b)``, except
        that -0.0 and +0.0 get neighbouring keys (their order does not affect any AUC here
        beyond a tie of zero width).
    """
    bits = np.ascontiguousarray(values, dtype=np.float16).view(np.uint16)
    negative = (bits & 0x8000) != 0
    return np.where(negative, ~bits, bits | 0x8000).astype(np.uint16)


def _resize_map(frame_maps: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinearly resize (N, h, w) maps to ``shape`` = (H, W) so they align with the masks."""
    if frame_maps.shape[1:] == shape:
        return frame_maps
    out = np.empty((frame_maps.shape[0], *shape), np.float32)
    for i, m in enumerate(frame_maps):
        out[i] = cv2.resize(m.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return out


#: Gaussian smoothing of localisation maps, in pixels per 48 pixels of the map's shorter side
#: (2 px at 96x96, 5.3 px at 256x256): the sigma is set by rule, not searched; smoothing at all was
#: decided after Ped2 test results (docs/decisions.md D1).
MAP_SIGMA_PER_48PX = 1.0


def default_map_sigma(shape: tuple[int, ...]) -> float:
    """Smoothing sigma (pixels) for maps of ``(..., h, w)``: :data:`MAP_SIGMA_PER_48PX` per 48 px."""
    return max(1.0, MAP_SIGMA_PER_48PX * min(shape[-2:]) / 48.0)


def smooth_maps(frame_maps: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-blur each (h, w) map of ``(N, h, w)``, as float32.

    A per-pixel prediction error is speckled (edges, noise); region metrics such as RBDC count
    every speck as a false-positive region, so localisation maps are smoothed once, by a fixed
    sigma, before any threshold is applied.
    """
    maps = np.asarray(frame_maps, np.float32)
    if sigma <= 0:
        return maps
    return np.stack([cv2.GaussianBlur(m, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REPLICATE) for m in maps])


def check_maps_and_masks(maps: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> None:
    """Raise :class:`DataError` unless maps and masks pair up video by video and frame by frame."""
    if len(maps) != len(masks):
        raise DataError(f"{len(maps)} videos of anomaly maps but {len(masks)} of pixel masks: pass one of each per test video")
    for v, (m, g) in enumerate(zip(maps, masks, strict=True)):
        if m.ndim != 3 or g.ndim != 3 or m.shape[0] != g.shape[0]:
            raise DataError(
                f"video {v}: maps {tuple(m.shape)} and masks {tuple(g.shape)} must both be (N, H, W) with the same N"
            )


def pixel_histograms(
    maps: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    *,
    skip: int = 0,
    frames: str = "all",
) -> tuple[np.ndarray, np.ndarray]:
    """Count map values of anomalous and normal pixels in float16-order bins.

    Args:
        maps: per video, (N, h, w) anomaly maps (high = anomalous); resized to the mask size
            when it differs.
        masks: per video, (N, H, W) bool (or 0/1, 0/255) pixel ground truth.
        skip: frames at the start of each video that carry no score (the warm-up frames).
        frames: ``"all"`` pools every scored frame; ``"anomalous"`` only frames with at
            least one anomalous pixel (the convention of some localisation papers).

    Returns:
        (positives, negatives): two int64 arrays of length 65 536.
    """
    if frames not in ("all", "anomalous"):
        raise ValueError(f"frames must be 'all' or 'anomalous', got {frames!r}")
    check_maps_and_masks(maps, masks)
    pos = np.zeros(NUM_BINS, np.int64)
    neg = np.zeros(NUM_BINS, np.int64)
    for m, g in zip(maps, masks, strict=True):
        g = np.asarray(g)[skip:] > 0
        m = _resize_map(np.asarray(m)[skip:], g.shape[1:])
        if frames == "anomalous":
            keep = g.reshape(len(g), -1).any(axis=1)
            g, m = g[keep], m[keep]
        if np.isnan(m).any():
            raise DataError("anomaly maps contain NaN: the model's predictions are not finite; check the model file")
        for fm, fg in zip(m, g, strict=True):  # one frame at a time keeps the temporaries small
            keys = float16_order_keys(fm).ravel()
            lab = fg.ravel()
            pos += np.bincount(keys[lab], minlength=NUM_BINS)
            neg += np.bincount(keys[~lab], minlength=NUM_BINS)
    return pos, neg


def auc_from_histograms(pos: np.ndarray, neg: np.ndarray) -> float:
    """Mann-Whitney AUC from per-bin counts in ascending score order (ties count one half).

    Returns NaN when either class is empty (the AUC is undefined then).
    """
    n_pos, n_neg = int(pos.sum()), int(neg.sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    neg_below = np.cumsum(neg) - neg
    wins = (pos.astype(np.float64) * (neg_below + 0.5 * neg)).sum()
    return float(wins / (float(n_pos) * float(n_neg)))


def pixel_auc(
    maps: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    *,
    skip: int = 0,
    frames: str = "all",
) -> float:
    """Pixel-level ROC AUC (anomalous pixels positive) pooled over all scored frames.

    Args:
        maps: per video, (N, h, w) anomaly maps, high = anomalous.
        masks: per video, (N, H, W) pixel ground truth.
        skip: warm-up frames to leave out at the start of each video.
        frames: ``"all"`` or ``"anomalous"`` (see :func:`pixel_histograms`).

    Returns:
        The AUC in [0, 1]; NaN if the pooled pixels hold only one class.
    """
    return auc_from_histograms(*pixel_histograms(maps, masks, skip=skip, frames=frames))


def pixel_roc_curve(
    maps: Sequence[np.ndarray], masks: Sequence[np.ndarray], *, skip: int = 0, frames: str = "all"
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-level ROC curve (fpr, tpr), one point per distinct float16 map value, for plotting."""
    pos, neg = pixel_histograms(maps, masks, skip=skip, frames=frames)
    used = (pos + neg) > 0
    pos, neg = pos[used][::-1], neg[used][::-1]  # descending thresholds
    tpr = np.concatenate([[0.0], np.cumsum(pos) / max(pos.sum(), 1)])
    fpr = np.concatenate([[0.0], np.cumsum(neg) / max(neg.sum(), 1)])
    return fpr, tpr
