"""PNG plots of a test run: score curves, ROC, RBDC curve and error heatmaps.

Figures are plain ``matplotlib.figure.Figure`` objects rendered by the Agg canvas, not pyplot
figures, so importing this module changes no global matplotlib backend and a long run holds no
open figures. Every file is written atomically (temporary name, then rename).

>>> import numpy as np, tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp())
>>> plot_score_curve(np.r_[0.1, 0.2, 0.9, 0.8], np.r_[0, 0, 1, 1], out / "v.png").name
'v.png'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

from ammcnet.utils.io import atomic_path

#: Resolution of every PNG.
DPI = 100


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight")
    return path


def _subplots(*args: int, **kwargs: object) -> tuple[Figure, object]:
    """``pyplot.subplots`` without pyplot: a standalone figure and its axes."""
    figsize = kwargs.pop("figsize", None)
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*args, **kwargs)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each run of True, end exclusive."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    edges = np.flatnonzero(m[1:] != m[:-1])
    return list(zip(edges[::2], edges[1::2], strict=True))


def plot_score_curve(
    scores: np.ndarray,
    labels: np.ndarray | None,
    path: str | Path,
    *,
    title: str = "",
    warmup: int = 0,
    threshold: float | None = None,
    ylabel: str = "anomaly score",
) -> Path:
    """One video's score over frames; ground-truth anomalous frames shaded red.

    Args:
        scores: (N,) anomaly scores (high = anomalous).
        labels: (N,) 0/1 frame labels or None.
        path: PNG to write.
        title: figure title (the video name).
        warmup: leading frames without a prediction, drawn greyed out.
        threshold: an alarm threshold to draw as a dashed line.
        ylabel: y-axis label.
    """
    fig, ax = _subplots(figsize=(8, 2.6))
    x = np.arange(len(scores))
    if labels is not None:
        for a, b in _runs(np.asarray(labels) > 0):
            ax.axvspan(a - 0.5, b - 0.5, color="tab:red", alpha=0.2, lw=0)
    if warmup:
        ax.axvspan(-0.5, warmup - 0.5, color="0.85", lw=0)
    ax.plot(x, scores, color="tab:blue", lw=1.2)
    if threshold is not None:
        ax.axhline(threshold, color="k", ls="--", lw=0.8)
    ax.set_xlim(-0.5, max(len(scores) - 0.5, 0.5))
    ax.set_xlabel("frame")
    ax.set_ylabel(ylabel)
    ax.set_title(title + ("  (red: labelled anomalous)" if labels is not None else ""))
    return _save(fig, path)


def plot_score_curves(
    scores: Sequence[np.ndarray],
    labels: Sequence[np.ndarray] | None,
    videos: Sequence[str],
    folder: str | Path,
    **kwargs: object,
) -> list[Path]:
    """:func:`plot_score_curve` for every video, into ``folder/<video>.png``."""
    return [
        plot_score_curve(s, None if labels is None else labels[i], Path(folder) / f"{Path(v).name}.png", title=v, **kwargs)
        for i, (s, v) in enumerate(zip(scores, videos, strict=True))
    ]


def plot_roc_curves(
    curves: dict[str, tuple[np.ndarray, np.ndarray]], path: str | Path, *, title: str = "frame-level ROC"
) -> Path:
    """ROC curves of one or more scorings.

    Args:
        curves: legend label -> (scores, labels), concatenated over videos, warm-up dropped;
            scores high = anomalous, labels 1 = anomalous.
        path: PNG to write.
    """
    fig, ax = _subplots(figsize=(4.5, 4.5))
    for name, (s, y) in curves.items():
        fpr, tpr, _ = roc_curve(np.asarray(y), np.asarray(s))
        ax.plot(fpr, tpr, lw=1.4, label=name)
    ax.plot([0, 1], [0, 1], color="0.6", ls=":", lw=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def plot_rbdc_curve(fpr: np.ndarray, rate: np.ndarray, path: str | Path, *, max_fpr: float = 1.0) -> Path:
    """RBDC against false-positive regions per frame (the envelope), up to ``max_fpr``."""
    fig, ax = _subplots(figsize=(4.5, 3.5))
    ax.step(fpr, rate, where="post", lw=1.4)
    ax.axvline(max_fpr, color="0.6", ls=":", lw=1)
    ax.set_xlim(0, max_fpr * 1.05)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false-positive regions per frame")
    ax.set_ylabel("RBDC")
    ax.set_title("region-based detection rate")
    return _save(fig, path)


def top_frames(scores: Sequence[np.ndarray], k: int, warmup: int = 0, min_gap: int = 10) -> list[tuple[int, int]]:
    """(video, frame) of the k highest scores, at least ``min_gap`` frames apart within a video."""
    cands = [(float(s[t]), v, t) for v, s in enumerate(scores) for t in range(warmup, len(s))]
    cands.sort(key=lambda c: -c[0])
    picked: list[tuple[int, int]] = []
    for _, v, t in cands:
        if all(v != pv or abs(t - pt) >= min_gap for pv, pt in picked):
            picked.append((v, t))
            if len(picked) == k:
                break
    return picked


def plot_heatmaps(
    frames: Sequence[np.ndarray],
    maps: Sequence[np.ndarray],
    titles: Sequence[str],
    path: str | Path,
) -> Path:
    """Frames with their error heatmaps overlaid (one column each).

    Args:
        frames: (H, W, 3) uint8 RGB frames.
        maps: (H, W) error maps (any scale; each is stretched to its own max).
        titles: one caption per frame (video, frame, score).
        path: PNG to write.
    """
    n = max(len(frames), 1)
    fig, axes = _subplots(1, n, figsize=(3.2 * n, 3.4), squeeze=False)
    for ax, img, m, t in zip(axes[0], frames, maps, titles, strict=False):
        m = np.asarray(m, np.float32)
        ax.imshow(img)
        ax.imshow(m / max(float(m.max()), 1e-12), cmap="jet", alpha=0.45, vmin=0, vmax=1)
        ax.set_title(t, fontsize=8)
        ax.axis("off")
    for ax in axes[0][len(frames):]:
        ax.axis("off")
    return _save(fig, path)
