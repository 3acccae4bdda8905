"""A synthetic test result for the report tests: six short videos, one event each, a threshold,
the raw files a test writes, and top frames with a heatmap and boxes. No network is trained.

The scores are smooth noise with a bump over each labelled event, so the page looks like a real
one (the docs' screenshot is taken of it) and every figure on it has something to show.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ammcnet.metrics.figures import mode_figures
from ammcnet.report import ReportExtras, ReportInputs, TopFrame, VideoTrace

#: Frames per video, frames without a score at the start of each, the alarm threshold.
FRAMES, FIRST, THRESHOLD = 80, 4, 1.0
KINDS = ("cart", "vehicle", "cyclist", "runner", "lawn", "against")
#: Height and width of the top frames.
H, W = 64, 96


def _score(rng: np.random.Generator, labels: np.ndarray, height: float) -> np.ndarray:
    noise = np.convolve(rng.normal(0, 0.9, FRAMES + 8), np.ones(5) / 5, mode="valid")[:FRAMES]
    bump = np.convolve(labels.astype(float), np.ones(7) / 7, mode="same") * height
    return 0.3 + noise + bump


def _frame(rng: np.random.Generator, x: int) -> tuple[np.ndarray, np.ndarray]:
    """A grey walkway with a bright object at column ``x``, and an error map hot around it."""
    img = np.full((H, W, 3), 110, np.uint8)
    img[20:44] = 150
    img += rng.integers(0, 12, img.shape, dtype=np.uint8)
    img[26:40, x:x + 12] = (210, 180, 60)
    yy, xx = np.mgrid[0:H, 0:W]
    heat = np.exp(-((yy - 33) ** 2 + (xx - x - 6) ** 2) / 60.0) + rng.random((H, W)) * 0.05
    return img, heat


def write_raw_files(folder: Path, names: list[str], metrics: dict) -> dict[str, Path]:
    """The files ``ammcnet test`` writes beside the report (contents are placeholders but for metrics.json)."""
    (folder / "plots" / "curves").mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(json.dumps(metrics))
    for name in ("table.txt", "scores.npz", "plots/roc.png"):
        (folder / name).write_bytes(b"x")
    for i, _ in enumerate(names):
        (folder / "plots" / "curves" / f"{i + 1:02d}.png").write_bytes(b"x")
    return {"metrics.json": folder / "metrics.json", "table.txt": folder / "table.txt",
            "scores.npz": folder / "scores.npz", "ROC (PNG)": folder / "plots" / "roc.png",
            "honest_scores.npz": folder / "honest_scores.npz"}  # the last one is not written: not linked


def synthetic_inputs(folder: Path, names: list[str] | None = None, *, seed: int = 0) -> ReportInputs:
    """A report's inputs for six (or ``len(names)``) videos, with the raw files written in ``folder``."""
    names = names or [f"{i + 1:02d}" for i in range(6)]
    rng = np.random.default_rng(seed)
    labels, scores, events = [], [], []
    for i, name in enumerate(names):
        start = 20 + 6 * i
        y = np.zeros(FRAMES, int)
        y[start:start + 25] = 1
        labels.append(y)
        scores.append(_score(rng, y, 1.0 + 0.25 * ((i * 7) % 5)))
        events.append({"video": name, "kind": KINDS[i % len(KINDS)], "start": start, "end": start + 24})
    region = [0.8 * s + rng.normal(0, 0.25, FRAMES) for s in scores]
    modes = {"fusion": {"row": "honest fusion (calibrated records and region head, smoothed)", "threshold_note": None,
                        **mode_figures(scores, scores, labels, THRESHOLD, FIRST)},
             "region": {"row": "honest (region head, smoothed)", "threshold_note": None,
                        **mode_figures(region, region, labels, THRESHOLD, FIRST)}}
    metrics = {"model": "runs/walkway/run/model.pt", "data": "data/walkway", "dataset": "scene", "size": [H, W],
               "frames_in": FIRST, "num_videos": len(names), "num_frames": FRAMES * len(names),
               "scored_frames": (FRAMES - FIRST) * len(names), "scoring_fps": 180.0, "device": "cpu",
               "backend": "torch", "labels": "test split frame labels", "score_mode": "fusion",
               "fusion": {"weights": {"rgb_psnr": 0.0, "rgb_commit": 0.1, "region": 2.0},
                          "smoothing": {"sigma": 3.0, "causal": False}},
               "scoring_modes": {"frames_note": f"the first {FIRST} frames of every test video are left out",
                                 "target_false_alarm_rate": 0.01, "modes": modes},
               "paper": {"auc_micro": 0.9731}, "pixel": {"pixel_auc": 0.9512,
                                                          "rbdc": {"max_fpr": 1.0, "rbdc_at_max_fpr": 0.43}}}
    files = write_raw_files(folder, names, metrics)
    videos = [VideoTrace(n, s, y, {"curve PNG": folder / "plots" / "curves" / f"{i + 1:02d}.png",
                                   "error maps": folder / "maps" / f"{i + 1:02d}.npy"})
              for i, (n, s, y) in enumerate(zip(names, scores, labels, strict=True))]
    tops = []
    for i in range(min(4, len(names))):
        x = 10 + 18 * i
        img, heat = _frame(rng, x)
        tops.append(TopFrame(names[i], 40, float(scores[i][40]), img, heat, box=(x - 2, 24, x + 14, 42),
                             truth=(x, 26, x + 12, 40)))
    y_all = np.concatenate([y[FIRST:] for y in labels])
    roc = {"fusion causal": (np.concatenate([s[FIRST:] for s in scores]), y_all),
           "region causal": (np.concatenate([s[FIRST:] for s in region]), y_all)}
    return ReportInputs(metrics=metrics, videos=videos, first_frame=FIRST, threshold=THRESHOLD,
                        score_name="honest score (fusion, causal)", roc=roc, top_frames=tops,
                        head={"settings": "window 32 px, parts speed + direction", "parts": "speed 1, direction 1"},
                        files=files, extras=ReportExtras(title="ammcnet test report", events=events,
                                                         facts=[("scene", "6 test videos, seed 0")]))
