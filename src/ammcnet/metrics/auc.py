"""Frame-level ROC-AUC: micro (all frames pooled) and macro (mean of padded per-video AUCs).

Scores are ANOMALY scores (higher = more anomalous); labels are 1 = anomalous.

>>> import numpy as np
>>> auc_micro(np.array([0.1, 0.9, 0.2, 0.8]), np.array([0, 1, 0, 1]))
1.0
"""

from __future__ import annotations

import numpy as np
from sklearn import metrics


def roc_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) with anomalous frames as the positive class."""
    return metrics.roc_curve(np.asarray(labels), np.asarray(scores), pos_label=1)


def auc_micro(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC-AUC over all frames pooled (``roc_curve`` + trapezoid, as the authors compute it)."""
    fpr, tpr, _ = roc_curve(scores, labels)
    return float(metrics.auc(fpr, tpr))


def video_auc_padded(scores: np.ndarray, labels: np.ndarray) -> float:
    """AUC of one video after appending a normal frame scored 0 and an anomalous frame scored 1.

    The padding (SSMTL / AED-MAE ``compute_auc_average``) makes the AUC defined for videos
    with one class only; it assumes scores on a [0, 1] scale, so the caller min-max normalises
    each video's anomaly scores first.
    """
    s = np.concatenate([[0.0], np.asarray(scores, np.float64), [1.0]])
    y = np.concatenate([[0], np.asarray(labels), [1]])
    return float(metrics.roc_auc_score(y, s))


def auc_macro(scores: list[np.ndarray], labels: list[np.ndarray]) -> tuple[float, list[float]]:
    """Mean of the padded per-video AUCs; returns (mean, per-video list)."""
    per_video = [video_auc_padded(s, y) for s, y in zip(scores, labels, strict=True)]
    return float(np.mean(per_video)), per_video
