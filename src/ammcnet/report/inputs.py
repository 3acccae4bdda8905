"""What a report shows, as plain data: the writer needs no model, no dataset and no training.

``ammcnet test`` fills :class:`ReportInputs` from what it has just scored; a test can fill one
from a few synthetic arrays. The writer (:func:`ammcnet.report.html.write_report`) draws and
lays out everything from these alone, so a report is the same whoever builds the inputs.

>>> import numpy as np
>>> trace = VideoTrace("01", np.r_[0.1, 0.2, 0.9, 0.8], np.r_[0, 0, 1, 1])
>>> ReportInputs(metrics={}, videos=[trace]).videos[0].name
'01'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: The report's default file name.
REPORT_NAME = "report.html"
#: A box as (x0, y0, x1, y1) in pixels of the frame it belongs to, end exclusive.
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class VideoTrace:
    """One test video's score over its frames, as a camera gets it.

    Attributes:
        name: the video's name (shown escaped; never used as a file name by the writer).
        score: (N,) the score drawn, high = anomalous, warm-up frames included.
        labels: (N,) 0/1 frame labels, or None for an unlabelled video.
        files: label -> raw file of this video to link (its curve PNG, its error maps); files
            outside the report's folder or missing are not linked.
    """

    name: str
    score: np.ndarray
    labels: np.ndarray | None = None
    files: dict[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class TopFrame:
    """One of the highest-scoring frames, with where the error is and where the anomaly was found.

    Attributes:
        video: the video's name.
        frame: 0-based frame index.
        score: the frame's score.
        image: (H, W, 3) uint8 RGB frame.
        heatmap: (H, W) per-pixel error map of the frame (any scale).
        box: where the scorer located the anomaly (the region head's winning window), or None.
        truth: the bounding box of the labelled anomalous pixels, or None.
    """

    video: str
    frame: int
    score: float
    image: np.ndarray
    heatmap: np.ndarray
    box: Box | None = None
    truth: Box | None = None


@dataclass(frozen=True)
class ReportExtras:
    """What a caller adds to a test's report (the demo: its scene, its seconds per step, its video).

    Attributes:
        title: the page title.
        folder: where ``report.html`` goes (None: the test's output folder); links are relative
            to it, so the files linked must lie inside it.
        facts: (label, value) rows shown under the summary.
        events: labelled anomalies with their kind: dicts with ``video``, ``kind``, ``start``,
            ``end`` (0-based, inclusive).
        files: label -> more raw files to link.
        name: the report's file name.
    """

    title: str = "ammcnet test report"
    folder: Path | None = None
    facts: list[tuple[str, str]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    name: str = REPORT_NAME


@dataclass(frozen=True)
class ReportInputs:
    """Everything one report shows.

    Attributes:
        metrics: the test's ``metrics.json`` content (summary, scoring modes, operator figures).
        videos: one trace per test video, in order.
        first_frame: frames at the start of every video without a score (left out of every figure).
        threshold: the alarm threshold of the traces' score at the target false-alarm rate (None:
            no calibrated threshold, no alarms drawn).
        score_name: what the traces' score is (the curves' y label).
        roc: legend -> (scores, labels) concatenated over the videos, first frames dropped.
        top_frames: the highest-scoring frames with their error heatmaps (empty without maps).
        head: the chosen region-head settings (label -> value), or None without a head.
        files: label -> raw file to link (metrics.json, score files, PNGs).
        extras: what a caller adds (title, facts, events, more files).
    """

    metrics: dict[str, Any]
    videos: list[VideoTrace]
    first_frame: int = 0
    threshold: float | None = None
    score_name: str = "anomaly score"
    roc: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    top_frames: list[TopFrame] = field(default_factory=list)
    head: dict[str, str] | None = None
    files: dict[str, Path] = field(default_factory=dict)
    extras: ReportExtras = field(default_factory=ReportExtras)
