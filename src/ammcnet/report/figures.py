"""The report's figures as ``data:`` URIs, so the page holds its images and needs no other file.

The ROC and the heatmaps of the top frames are drawn by the same functions that write the PNGs
of ``ammcnet test`` (:mod:`ammcnet.scoring.plots`), into a temporary file read back; only the
score curve is drawn here, because the report also marks the alarms on it. Every PNG is
re-encoded losslessly (opaque RGB, zlib at its best), which keeps the page light enough to mail.

>>> import numpy as np
>>> from ammcnet.report.inputs import VideoTrace
>>> uri = curve_uri(VideoTrace("01", np.r_[0.1, 0.2, 0.9, 0.8, 0.1], np.r_[0, 0, 1, 1, 0]), 0.5, 1)
>>> uri.startswith("data:image/png;base64,")
True
"""

from __future__ import annotations

import base64
import io
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
from matplotlib.figure import Figure

from ammcnet.metrics.auc import auc_micro
from ammcnet.report.inputs import Box, TopFrame, VideoTrace
from ammcnet.scoring import plots as plotting

#: Resolution of the report's own figures (dots per inch) and the curve's size (inches).
DPI = 80
CURVE_SIZE = (9.0, 2.4)
#: Colours (RGB, 0-255) of the boxes drawn into the top frames: where the scorer located the
#: anomaly, and the labelled anomalous pixels.
BOX_RGB, TRUTH_RGB = (255, 255, 255), (0, 230, 0)


def png_data_uri(png: bytes) -> str:
    """``data:image/png;base64,...`` of PNG bytes, re-encoded losslessly to be small."""
    return "data:image/png;base64," + base64.b64encode(compact_png(png)).decode("ascii")


def compact_png(png: bytes) -> bytes:
    """The same pixels as a PNG at zlib's best compression, without an alpha channel that is
    opaque everywhere (matplotlib's white figures have one)."""
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        return png
    if img.ndim == 3 and img.shape[2] == 4 and int(img[..., 3].min()) == 255:
        img = img[..., :3]
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return buf.tobytes() if ok and len(buf) < len(png) else png


def _via_file(draw: Callable[[Path], Path]) -> str:
    """The data URI of a PNG that ``draw`` writes to the path it is given (a temporary file)."""
    with tempfile.TemporaryDirectory(prefix="ammcnet-report-") as tmp:
        return png_data_uri(draw(Path(tmp) / "figure.png").read_bytes())


def plain_text(text: str) -> str:
    """``text`` as matplotlib draws it literally (a ``$`` would start mathtext)."""
    return text.replace("$", r"\$")


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of every run of True."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    edges = np.flatnonzero(m[1:] != m[:-1])
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def curve_uri(trace: VideoTrace, threshold: float | None, first: int, ylabel: str = "anomaly score") -> str:
    """One video's score with the threshold, the labelled spans (red), the alarms (orange bar at
    the top) and each labelled event's first alarm (black triangle)."""
    s = np.asarray(trace.score, np.float64)
    fig = Figure(figsize=CURVE_SIZE)
    ax = fig.subplots()
    labelled = np.asarray(trace.labels) > 0 if trace.labels is not None else np.zeros(len(s), bool)
    for a, b in _runs(labelled):
        ax.axvspan(a - 0.5, b - 0.5, color="tab:red", alpha=0.2, lw=0)
    if first:
        ax.axvspan(-0.5, first - 0.5, color="0.88", lw=0)
    ax.plot(np.arange(len(s)), s, color="tab:blue", lw=1.2)
    if threshold is not None:
        ax.axhline(threshold, color="k", ls="--", lw=0.8)
        alarm = (s > threshold) & (np.arange(len(s)) >= first)
        for a, b in _runs(alarm):
            ax.axvspan(a - 0.5, b - 0.5, ymin=0.93, ymax=1.0, color="tab:orange", lw=0)
        onsets = [a + int(np.flatnonzero(alarm[a:b])[0]) for a, b in _runs(labelled) if alarm[a:b].any()]
        ax.plot(onsets, s[onsets], "v", color="k", ms=6)
    ax.set_xlim(-0.5, max(len(s) - 0.5, 0.5))
    ax.set_xlabel("frame")
    ax.set_ylabel(ylabel)
    ax.set_title(plain_text(trace.name), fontsize=10)
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=DPI, bbox_inches="tight")
    return png_data_uri(out.getvalue())


def roc_uri(curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str = "frame-level ROC") -> str | None:
    """The ROC of each scoring (legend -> (scores, labels)), their AUCs in the legend; None when
    no scoring has both classes."""
    usable = {f"{name} (AUC {auc_micro(np.asarray(s), np.asarray(y)):.3f})": (np.asarray(s), np.asarray(y))
              for name, (s, y) in curves.items() if 0 < int(np.sum(np.asarray(y) > 0)) < len(y)}
    if not usable:
        return None
    return _via_file(lambda path: plotting.plot_roc_curves(usable, path, title=title))


def draw_box(image: np.ndarray, box: Box | None, rgb: tuple[int, int, int]) -> np.ndarray:
    """A copy of ``image`` with ``box`` outlined one pixel wide (unchanged without a box)."""
    out = np.ascontiguousarray(image, dtype=np.uint8).copy()
    if box is None:
        return out
    h, w = out.shape[:2]
    x0, y0 = (int(np.clip(v, 0, n - 1)) for v, n in zip(box[:2], (w, h), strict=True))
    x1, y1 = (int(np.clip(np.ceil(v) - 1, 0, n - 1)) for v, n in zip(box[2:], (w, h), strict=True))
    cv2.rectangle(out, (x0, y0), (max(x1, x0), max(y1, y0)), rgb, 1)
    return out


def top_frames_uri(frames: Sequence[TopFrame]) -> str | None:
    """The top frames side by side, each with its error heatmap, the labelled box (green) and the
    scorer's box (white); None without frames."""
    if not frames:
        return None
    images = [draw_box(draw_box(f.image, f.truth, TRUTH_RGB), f.box, BOX_RGB) for f in frames]
    titles = [plain_text(f"{f.video} frame {f.frame}  score {f.score:.2f}") for f in frames]
    return _via_file(lambda path: plotting.plot_heatmaps(images, [f.heatmap for f in frames], titles, path))
