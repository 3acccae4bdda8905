"""ROC curve figure (a standalone matplotlib Figure: no global backend is changed; written atomically).

>>> import numpy as np, tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "roc.png"
>>> plot_roc(np.array([0.1, 0.9, 0.3]), np.array([0, 1, 0]), p); p.stat().st_size > 0
True
"""

from __future__ import annotations

import os

import numpy as np

from ammcnet.metrics.auc import auc_micro, roc_curve
from ammcnet.metrics.evaluate import EvalResult
from ammcnet.utils.io import atomic_path


def plot_roc(result_or_scores: EvalResult | np.ndarray, labels: np.ndarray | None,
             path: str | os.PathLike[str], title: str | None = None) -> None:
    """Draw the frame-level ROC curve (anomalous = positive) to a PNG.

    Args:
        result_or_scores: an :class:`EvalResult` (its scores and labels are used) or anomaly scores.
        labels: 0/1 labels when scores are given; ignored for an :class:`EvalResult`.
        path: destination ``.png``.
        title: figure title; defaults to the convention name.
    """
    # lazy: matplotlib costs start-up time to every user of ammcnet.metrics, and only this draws
    from matplotlib.figure import Figure

    if isinstance(result_or_scores, EvalResult):
        scores, y, name = result_or_scores.scores, result_or_scores.labels, result_or_scores.name
    else:
        if labels is None:
            raise ValueError("plot_roc needs labels when given raw scores")
        scores, y, name = np.asarray(result_or_scores), np.asarray(labels), "scores"
    fpr, tpr, _ = roc_curve(scores, y)
    fig = Figure(figsize=(4.5, 4.5), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(fpr, tpr, lw=1.5, label=f"AUC = {auc_micro(scores, y):.4f}")
    ax.plot([0, 1], [0, 1], ls="--", lw=0.8, color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01),
           title=title or name)
    ax.legend(loc="lower right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
