"""Equal error rate: the false-positive rate where it equals the false-negative rate.

>>> import numpy as np
>>> eer(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
0.5
"""

from __future__ import annotations

import numpy as np

from ammcnet.metrics.auc import roc_curve


def eer(scores: np.ndarray, labels: np.ndarray) -> float:
    """FPR at the ROC point nearest to FPR = FNR (= 1 - TPR), on anomaly scores.

    This is the usual video-anomaly EER (ano_pred, PyAnomaly): no interpolation between ROC
    points, so it is exact on the curve sklearn returns.
    """
    fpr, tpr, _ = roc_curve(scores, labels)
    idx = int(np.nanargmin(np.abs(fpr - (1.0 - tpr))))
    return float(fpr[idx])
