"""Region-based detection criterion (RBDC) for anomaly maps.

Written from the description in Ramachandra and Jones, "Street Scene: A new dataset and
evaluation protocol for video anomaly detection" (WACV 2020), for per-pixel anomaly maps:

* ground-truth regions: 8-connected components of each frame's pixel mask;
* detected regions at a threshold: 8-connected components of ``map >= threshold``;
* a ground-truth region is *detected* if some detected region has IoU >= ``alpha`` (0.1) with it;
* a detected region is a *false positive* if its IoU with every ground-truth region is < ``alpha``;
* RBDC = detected ground-truth regions / all ground-truth regions; FPR = false positives / frames,
  both pooled over every scored frame (normal frames add false positives only).

Sweeping the threshold gives an RBDC-vs-FPR curve. We report the best RBDC whose FPR is at most
1 false positive per frame (``rbdc_at_max_fpr``) and the area under the curve over FPR in [0, 1],
divided by 1 (``rbdc_area``, the number the paper tabulates). The track-based criterion (TBDC)
needs anomaly tracks, which Ped2 and the other benchmarks here do not ship, so it is not computed.

>>> import numpy as np
>>> gt = np.zeros((2, 8, 8), bool); gt[:, 2:5, 2:5] = True
>>> r = rbdc([gt.astype(np.float32)], [gt], thresholds=[0.5])
>>> (r.rbdc_at_max_fpr, float(r.fpr[0]))
(1.0, 0.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from ammcnet.metrics.localization import _resize_map, check_maps_and_masks

#: IoU needed for a detected and a ground-truth region to match (the paper's alpha).
DEFAULT_ALPHA = 0.1
#: Number of thresholds in the default sweep.
DEFAULT_NUM_THRESHOLDS = 40
#: Pixels drawn (by a fixed stride) to place the default thresholds.
THRESHOLD_SAMPLE = 1_000_000


@dataclass
class RBDCResult:
    """Outcome of an RBDC sweep.

    Attributes:
        thresholds: (T,) map thresholds, ascending.
        rbdc: (T,) fraction of ground-truth regions detected at each threshold.
        fpr: (T,) false-positive regions per frame at each threshold.
        rbdc_at_max_fpr: best RBDC among thresholds with ``fpr <= max_fpr``.
        rbdc_area: area under the (upper envelope of the) RBDC-vs-FPR curve on [0, max_fpr],
            divided by ``max_fpr``.
        num_gt_regions: ground-truth regions over all scored frames.
        num_frames: scored frames.
        alpha: IoU threshold used.
        max_fpr: the false-positive rate the summary numbers stop at.
    """

    thresholds: np.ndarray
    rbdc: np.ndarray
    fpr: np.ndarray
    rbdc_at_max_fpr: float
    rbdc_area: float
    num_gt_regions: int
    num_frames: int
    alpha: float = DEFAULT_ALPHA
    max_fpr: float = 1.0
    curve: tuple[np.ndarray, np.ndarray] = field(default_factory=lambda: (np.zeros(0), np.zeros(0)))

    def summary(self) -> dict[str, float | int]:
        """JSON-able headline numbers."""
        return {
            "rbdc_at_max_fpr": self.rbdc_at_max_fpr,
            "rbdc_area": self.rbdc_area,
            "max_fpr": self.max_fpr,
            "alpha": self.alpha,
            "num_gt_regions": self.num_gt_regions,
            "num_frames": self.num_frames,
            "num_thresholds": int(len(self.thresholds)),
        }


def match_regions(
    det_labels: np.ndarray, n_det: int, gt_labels: np.ndarray, n_gt: int, alpha: float, min_area: int = 0
) -> tuple[int, int]:
    """Count detected ground-truth regions and false-positive detections in one frame.

    Args:
        det_labels: (H, W) int32 component labels of the detection, 0 = background.
        n_det: number of labels in ``det_labels`` including background.
        gt_labels: (H, W) int32 component labels of the ground truth, 0 = background.
        n_gt: number of labels in ``gt_labels`` including background.
        alpha: IoU needed for a match.
        min_area: detected regions smaller than this many pixels are ignored.

    Returns:
        (detected ground-truth regions, false-positive detected regions).
    """
    if n_det <= 1:
        return 0, 0
    det_area = np.bincount(det_labels.ravel(), minlength=n_det)[1:]
    keep = det_area >= max(min_area, 1)
    if n_gt <= 1:
        return 0, int(keep.sum())
    joint = np.bincount((det_labels.astype(np.int64) * n_gt + gt_labels).ravel(), minlength=n_det * n_gt)
    inter = joint.reshape(n_det, n_gt)[1:, 1:].astype(np.float64)
    gt_area = np.bincount(gt_labels.ravel(), minlength=n_gt)[1:]
    union = det_area[:, None] + gt_area[None, :] - inter
    hit = (inter / np.maximum(union, 1)) >= alpha
    hit &= keep[:, None]
    detected = int(hit.any(axis=0).sum())
    false_pos = int((keep & ~hit.any(axis=1)).sum())
    return detected, false_pos


def default_thresholds(
    maps: Sequence[np.ndarray], skip: int = 0, num: int = DEFAULT_NUM_THRESHOLDS
) -> np.ndarray:
    """Thresholds at upper quantiles of the pooled map values (deterministic stride sample).

    Levels run geometrically from the median to the 1 - 1e-5 quantile, so the sweep spends most
    thresholds where detections are few (the low-FPR part of the curve that RBDC measures).
    """
    total = sum(max(len(m) - skip, 0) * int(np.prod(m.shape[1:])) for m in maps)
    stride = max(1, total // THRESHOLD_SAMPLE)
    sample = np.concatenate([np.asarray(m[skip:], np.float32).ravel()[::stride] for m in maps])
    levels = 1.0 - np.geomspace(0.5, 1e-5, num)
    return np.unique(np.quantile(sample, levels))


def _curve_summary(fpr: np.ndarray, rbdc_values: np.ndarray, max_fpr: float) -> tuple[float, float, tuple]:
    order = np.argsort(fpr, kind="stable")
    x = np.concatenate([[0.0], fpr[order]])
    y = np.maximum.accumulate(np.concatenate([[0.0], rbdc_values[order]]))
    inside = x <= max_fpr
    at_max = float(y[inside].max())
    xs, ys = x[inside], y[inside]
    if xs[-1] < max_fpr:  # close the curve at max_fpr: interpolate towards the next point, else hold
        nxt = np.searchsorted(x, max_fpr, side="right")
        if nxt < len(x) and x[nxt] > xs[-1]:
            y_end = ys[-1] + (y[nxt] - ys[-1]) * (max_fpr - xs[-1]) / (x[nxt] - xs[-1])
        else:
            y_end = ys[-1]
        xs, ys = np.append(xs, max_fpr), np.append(ys, y_end)
    area = float(np.trapezoid(ys, xs) / max_fpr) if hasattr(np, "trapezoid") else float(np.trapz(ys, xs) / max_fpr)
    return at_max, area, (x, y)


def rbdc(
    maps: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    *,
    thresholds: Sequence[float] | np.ndarray | None = None,
    alpha: float = DEFAULT_ALPHA,
    max_fpr: float = 1.0,
    skip: int = 0,
    min_area: int = 0,
    progress: bool = False,
) -> RBDCResult:
    """Region-based detection rate of anomaly maps, swept over thresholds.

    Args:
        maps: per video, (N, h, w) anomaly maps, high = anomalous; resized to the mask size.
        masks: per video, (N, H, W) pixel ground truth (bool, 0/1 or 0/255).
        thresholds: map values to sweep; default :func:`default_thresholds`.
        alpha: IoU for a match (0.1 in the paper).
        max_fpr: false positives per frame at which the summary numbers stop (1.0 in the paper).
        skip: warm-up frames without a score at the start of each video.
        min_area: ignore detected regions smaller than this (0 = keep all, the paper's rule).
        progress: show a tqdm bar over videos.

    Returns:
        :class:`RBDCResult` with the curve and its summary numbers.
    """
    check_maps_and_masks(maps, masks)
    thr = np.sort(np.asarray(default_thresholds(maps, skip) if thresholds is None else thresholds, np.float64))
    detected = np.zeros(len(thr), np.int64)
    false_pos = np.zeros(len(thr), np.int64)
    n_gt_total = 0
    n_frames = 0
    from tqdm import tqdm

    for m, g in tqdm(list(zip(maps, masks, strict=True)), desc="RBDC", unit="video", disable=not progress):
        g = np.asarray(g)[skip:] > 0
        m = _resize_map(np.asarray(m)[skip:], g.shape[1:]).astype(np.float32, copy=False)
        for fm, fg in zip(m, g, strict=True):
            n_frames += 1
            n_gt, gt_lab = cv2.connectedComponents(fg.astype(np.uint8), connectivity=8)
            n_gt_total += n_gt - 1
            for i, t in enumerate(thr):
                n_det, det_lab = cv2.connectedComponents((fm >= t).astype(np.uint8), connectivity=8)
                d, f = match_regions(det_lab, n_det, gt_lab, n_gt, alpha, min_area)
                detected[i] += d
                false_pos[i] += f
    rate = detected / max(n_gt_total, 1) if n_gt_total else np.full(len(thr), np.nan)
    fpr = false_pos / max(n_frames, 1)
    if n_gt_total:
        at_max, area, curve = _curve_summary(fpr, rate, max_fpr)
    else:
        at_max, area, curve = float("nan"), float("nan"), (np.zeros(0), np.zeros(0))
    return RBDCResult(thr, rate, fpr, at_max, area, n_gt_total, n_frames, alpha, max_fpr, curve)
