"""Average precision (area under the precision-recall curve) with anomalous frames positive.

>>> import numpy as np
>>> round(average_precision(np.array([0.1, 0.9, 0.2, 0.8]), np.array([0, 1, 0, 1])), 3)
1.0
"""

from __future__ import annotations

import numpy as np
from sklearn import metrics


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """``sklearn.metrics.average_precision_score`` on anomaly scores, anomalous = positive."""
    return float(metrics.average_precision_score(np.asarray(labels), np.asarray(scores), pos_label=1))
