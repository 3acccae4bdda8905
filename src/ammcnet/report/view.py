"""The report's text: every number formatted, every link made relative, before the template sees it.

The template only lays out what this module gives it (strings and lists of strings), so what the
page says is decided, and tested, here. Figures the page shows are the test's own: the headline
is the **causal** micro AUC and the operator's figures at the 1 % threshold
(``metrics["scoring_modes"]``, :func:`ammcnet.metrics.figures.mode_figures`).

>>> fmt(0.92274, ".4f"), fmt(None, ".4f"), fmt(float("nan"), ".1%")
('0.9227', 'n/a', 'n/a')
>>> relative_link(Path("/nowhere"), Path("/etc/hostname")) is None
True
"""

from __future__ import annotations

import math
import urllib.parse
from pathlib import Path
from typing import Any

import numpy as np

from ammcnet.metrics.alarms import alarm_report
from ammcnet.metrics.auc import auc_micro
from ammcnet.report.inputs import ReportInputs, VideoTrace

#: Shown for a figure that does not exist (no labels, no threshold, one class only).
MISSING = "n/a"
#: Sort key of a missing figure in the per-video table: below every number.
MISSING_SORT = "-Infinity"


def fmt(value: Any, spec: str) -> str:
    """``value`` formatted with ``spec``; ``n/a`` for None and NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return format(value, spec)


def _sort_key(value: float | None) -> str:
    return MISSING_SORT if value is None or math.isnan(value) else repr(float(value))


def relative_link(folder: Path, path: Path) -> str | None:
    """``path`` relative to ``folder``, URL-quoted; None when it is missing or lies outside ``folder``
    (a report links only what travels with it)."""
    target = Path(path).resolve()
    try:
        rel = target.relative_to(Path(folder).resolve())
    except ValueError:
        return None
    return urllib.parse.quote(rel.as_posix()) if target.is_file() else None


def links(folder: Path, files: dict[str, Path]) -> list[dict[str, str]]:
    """``[{"label", "href"}]`` of the files that exist inside ``folder``, in the order given."""
    found = [(label, relative_link(folder, p)) for label, p in files.items()]
    return [{"label": label, "href": href} for label, href in found if href is not None]


def chosen_mode(metrics: dict[str, Any]) -> dict[str, Any] | None:
    """The figures of the scoring mode that gave the honest score, or None (no labels, paper protocol)."""
    modes = (metrics.get("scoring_modes") or {}).get("modes") or {}
    return modes.get(metrics.get("score_mode"))


def _operator_cards(figures: dict[str, Any], target: float) -> list[dict[str, str]]:
    """False-alarm rate, events caught and median delay at the threshold set on held-out normal footage."""
    op = figures.get("operator")
    if not op:
        return [{"label": "alarms", "value": "no threshold",
                 "note": figures.get("threshold_note") or "this scoring mode has no calibrated threshold"}]
    return [
        {"label": "false-alarm rate", "value": fmt(op["false_alarm_rate"], ".2%"),
         "note": f"of the normal test frames, at threshold {op['threshold']:.4g} (set for {target:.0%} false alarms "
                 "on held-out normal footage)"},
        {"label": "events caught", "value": f"{op['events_caught']} / {op['events']}",
         "note": f"labelled anomalies with at least one alarm; {op['false_alarm_runs']} false-alarm runs"},
        {"label": "median delay", "value": f"{fmt(op['median_delay'], 'g')} frames",
         "note": "from an event's first frame to its first alarm (caught events)"},
    ]


def summary_cards(metrics: dict[str, Any]) -> list[dict[str, str]]:
    """The headline: the causal AUC of the honest score, then what an operator sees at the 1 % threshold."""
    figures = chosen_mode(metrics)
    if figures is not None:
        target = (metrics.get("scoring_modes") or {}).get("target_false_alarm_rate", 0.01)
        head = {"label": "honest causal AUC", "value": fmt(figures["causal_micro"], ".4f"),
                "note": f"{figures['row']}; smoothed causally, as a camera scores; no test label used. Centred "
                        f"{fmt(figures['centred_micro'], '.4f')}, macro {fmt(figures['macro'], '.4f')} "
                        f"({figures['macro_videos']} two-class videos, {figures['macro_excluded']} left out)"}
        return [head, *_operator_cards(figures, target)]
    honest, paper = metrics.get("honest"), metrics.get("paper")
    if honest:
        return [{"label": "honest AUC", "value": fmt(honest.get("auc_micro"), ".4f"), "note": honest.get("name", "")}]
    if paper:
        return [{"label": "paper-protocol AUC", "value": fmt(paper.get("auc_micro"), ".4f"),
                 "note": "weights tuned on test labels by the authors: not an honest figure"}]
    return [{"label": "AUC", "value": MISSING, "note": metrics.get("note") or "no frame labels: no AUC"}]


def mode_rows(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per scoring mode, all on the same frames, the chosen one marked."""
    chosen = metrics.get("score_mode")
    rows = []
    for name, m in ((metrics.get("scoring_modes") or {}).get("modes") or {}).items():
        op = m.get("operator") or {}
        rows.append({"mode": name, "row": m["row"], "chosen": name == chosen,
                     "cells": [fmt(m["causal_micro"], ".4f"), fmt(m["centred_micro"], ".4f"), fmt(m["macro"], ".4f"),
                               fmt(op.get("false_alarm_rate"), ".2%"),
                               f"{op['events_caught']} / {op['events']}" if op else MISSING,
                               fmt(op.get("median_delay"), "g")]})
    return rows


def more_figures(metrics: dict[str, Any]) -> list[tuple[str, str]]:
    """Figures beside the headline: the authors' protocol (labelled as such), localisation."""
    rows = []
    if metrics.get("paper"):
        rows.append(("paper-protocol micro AUC (weights tuned on test labels by the authors)",
                     fmt(metrics["paper"].get("auc_micro"), ".4f")))
    pixel = metrics.get("pixel") or {}
    if "pixel_auc" in pixel:
        rows.append(("pixel AUC (localisation)", fmt(pixel["pixel_auc"], ".4f")))
        r = pixel.get("rbdc") or {}
        if r:
            rows.append((f"RBDC at {r['max_fpr']:g} false-positive regions per frame", fmt(r["rbdc_at_max_fpr"], ".4f")))
    return rows


def model_and_data(metrics: dict[str, Any]) -> list[tuple[str, str]]:
    """What was scored, with what, where and how fast."""
    size = metrics.get("size") or []
    rows = [("model", str(metrics.get("model", MISSING))), ("data", str(metrics.get("data", MISSING))),
            ("dataset", str(metrics.get("dataset", MISSING))),
            ("frame size", f"{size[0]} x {size[1]}" if len(size) == 2 else MISSING),
            ("test videos", str(metrics.get("num_videos", MISSING))),
            ("frames", f"{metrics.get('num_frames', MISSING)} ({metrics.get('scored_frames', MISSING)} scored)"),
            ("scoring", f"{fmt(metrics.get('scoring_fps'), '.1f')} frames/s on {metrics.get('device', MISSING)}, "
                        f"{metrics.get('backend', MISSING)}"),
            ("labels", str(metrics.get("labels") or metrics.get("note") or MISSING))]
    note = (metrics.get("scoring_modes") or {}).get("frames_note")
    return rows + ([("first frames", note)] if note else [])


def settings(metrics: dict[str, Any], head: dict[str, str] | None) -> list[tuple[str, str]]:
    """The honest score's settings: scoring mode, fusion weights, smoothing, and the region head's."""
    fusion = metrics.get("fusion") or {}
    rows = []
    if metrics.get("score_mode"):
        rows.append(("honest score", str(metrics["score_mode"])))
    weights = {k: v for k, v in (fusion.get("weights") or {}).items() if v}
    if weights:
        rows.append(("fusion weights", ", ".join(f"{k} {v:g}" for k, v in weights.items())))
    sm = fusion.get("smoothing") or {}
    if "sigma" in sm:
        rows.append(("smoothing", f"Gaussian, sigma {sm['sigma']:g} frames (centred offline, causal live)"))
    return rows + [(f"region head: {k}", v) for k, v in (head or {}).items()]


def video_row(index: int, trace: VideoTrace, threshold: float | None, first: int, folder: Path) -> dict[str, Any]:
    """One row of the per-video table: (text, sort key) cells, the row's anchor and its links."""
    s = np.asarray(trace.score, np.float64)[first:]
    y = None if trace.labels is None else (np.asarray(trace.labels)[first:] > 0).astype(int)
    auc = auc_micro(s, y) if y is not None and 0 < y.sum() < len(y) else None
    op = alarm_report([s], [y], threshold) if threshold is not None and y is not None else None
    alarms = int((s > threshold).sum()) if threshold is not None else None
    cells = [
        (str(len(trace.score)), repr(len(trace.score))),
        (MISSING if y is None else str(int(y.sum())), _sort_key(None if y is None else float(y.sum()))),
        (fmt(auc, ".4f"), _sort_key(auc)),
        (f"{op.events_caught} / {op.events}" if op else MISSING, _sort_key(op.event_recall if op else None)),
        (fmt(op.median_delay, "g") if op else MISSING, _sort_key(op.median_delay if op else None)),
        (fmt(op.false_alarm_rate, ".2%") if op else MISSING, _sort_key(op.false_alarm_rate if op else None)),
        (fmt(alarms, "d"), _sort_key(alarms)),
        (fmt(float(s.max()) if s.size else None, ".3g"), _sort_key(float(s.max()) if s.size else None)),
    ]
    return {"id": f"video-{index + 1}", "name": trace.name, "cells": cells, "links": links(folder, trace.files)}


#: Headers of the per-video table's number columns, after the video's name.
VIDEO_COLUMNS = ("frames", "labelled", "AUC", "caught", "delay", "false alarms", "alarm frames", "peak score")


def event_rows(inputs: ReportInputs) -> list[dict[str, str]]:
    """The caller's labelled events (the demo's scene), each with its first alarm when there is a threshold."""
    traces = {t.name: np.asarray(t.score, np.float64) for t in inputs.videos}
    rows = []
    for e in inputs.extras.events:
        first_alarm = MISSING
        s = traces.get(str(e.get("video")))
        if s is not None and inputs.threshold is not None:
            a, b = max(int(e["start"]), inputs.first_frame), int(e["end"]) + 1
            hits = np.flatnonzero(s[a:b] > inputs.threshold)
            first_alarm = f"frame {a + int(hits[0])} (+{a + int(hits[0]) - int(e['start'])})" if hits.size else "missed"
        rows.append({"video": str(e.get("video")), "kind": str(e.get("kind", "")), "start": str(e.get("start")),
                     "end": str(e.get("end")), "first_alarm": first_alarm})
    return rows


def build_view(folder: Path, inputs: ReportInputs) -> dict[str, Any]:
    """Every string the template shows (figures are added by the writer)."""
    m = inputs.metrics
    return {
        "title": inputs.extras.title,
        "cards": summary_cards(m),
        "facts": [(str(k), str(v)) for k, v in inputs.extras.facts],
        "more_figures": more_figures(m),
        "modes": mode_rows(m),
        "frames_note": (m.get("scoring_modes") or {}).get("frames_note"),
        "model_and_data": model_and_data(m),
        "settings": settings(m, inputs.head),
        "video_columns": VIDEO_COLUMNS,
        "video_rows": [video_row(i, t, inputs.threshold, inputs.first_frame, folder) for i, t in enumerate(inputs.videos)],
        "events": event_rows(inputs),
        "score_name": inputs.score_name,
        "threshold": fmt(inputs.threshold, ".4g"),
        "files": links(folder, {**inputs.files, **inputs.extras.files}),
    }
