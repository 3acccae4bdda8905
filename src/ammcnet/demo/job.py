"""The demo: generate the walkway scene, prepare it, train a small AMMC-Net, test it, report.

Everything runs on the CPU in minutes and needs no download. Each step reuses what an earlier
run of the demo left in ``OUT`` (the scene, the prepared cache, a finished model), so running it
twice only re-tests. Files::

    OUT/scene[-quick]/      the generated dataset (UCSD Ped2 frame-folder layout)
    OUT/cache/              prepared frames and optical flow
    OUT/run[-quick]/        the training run (model.pt, metrics.csv, config.yaml)
    OUT/test[-quick]/       scores, metrics.json, table.txt, plots/ (curves, ROC, heatmaps)
    OUT/detect[-quick]/     the online detector over one test video: annotated.mp4, events.json
    OUT/report[-quick].html the report: one self-contained page (figures inline), links to the above
    OUT/REPORT[-quick].md   a pointer to it, with the headline figures

>>> from ammcnet.demo.job import demo_settings
>>> scene, train = demo_settings(quick=True)
>>> train.data.size, scene.train_videos
((64, 96), 4)
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ammcnet.apps.tester import TestOptions, run_test
from ammcnet.data import prepare_dataset
from ammcnet.demo.config import SceneConfig
from ammcnet.demo.writer import generate_scene_dataset
from ammcnet.detect.run import DetectOptions, run_detection
from ammcnet.report import ReportExtras
from ammcnet.training import load_preset, train
from ammcnet.utils.io import write_text_atomic

QUICK_SCENE = SceneConfig(train_videos=4, test_videos=6, train_frames=80, test_frames=80)


def demo_settings(quick: bool = False, overrides: tuple[str, ...] | list[str] = ()) -> tuple[SceneConfig, Any]:
    """The scene and training config the demo uses: the ``demo`` preset (``demo-quick`` with
    ``quick``: smaller scene, shorter schedule) plus ``key=value`` overrides."""
    config = load_preset("demo-quick" if quick else "demo", list(overrides))
    return (replace(QUICK_SCENE) if quick else SceneConfig()), config


def demo_scene(out: str | os.PathLike[str], *, quick: bool = False, seed: int = 0, progress: bool = True) -> Path:
    """Write only the demo's scene dataset (training and test videos, labels, masks) to ``out``."""
    scene, _ = demo_settings(quick)
    return generate_scene_dataset(out, scene, seed=seed, progress=progress)


def _annotated_video(run_dir: Path, dataset: Path, video: str, out: Path, progress: bool,
                     device: str) -> dict[str, Any]:
    summary = run_detection(dataset / "testing" / "frames" / video, run_dir, DetectOptions(device=device, progress=progress),
                            out=out, video=out / "annotated.mp4")
    info = summary.to_dict()
    return {"video": video, "annotated": str(out / "annotated.mp4"), "folder": str(out),
            "events": info.get("events", info.get("num_events"))}


def _pointer(result: dict[str, Any], page: Path) -> str:
    """REPORT.md: the headline figures and a relative link to the page that holds everything."""
    m = result["metrics"]
    mode = ((m.get("scoring_modes") or {}).get("modes") or {}).get(m.get("score_mode")) or {}
    lines = ["# ammcnet demo", "",
             f"Open [{page.name}]({page.name}) in a browser: summary, the score curve of every test video, the ROC, "
             "the highest-scoring frames and a per-video table, in one self-contained file.", ""]
    if mode:
        lines.append(f"- honest causal AUC (micro, no test label used): {mode['causal_micro']:.4f}")
    if result["auc"] is not None:
        lines.append(f"- honest frame AUC (micro, centred smoothing): {result['auc']:.4f}")
    if result["auc_paper"] is not None:
        lines.append(f"- paper-protocol frame AUC (micro, weights tuned on test labels): {result['auc_paper']:.4f}")
    return "\n".join(lines) + "\n"


def _extras(out: Path, tag: str, info: dict[str, Any], seconds: dict[str, float], seed: int,
            detect: dict[str, Any] | None) -> ReportExtras:
    """What the demo adds to the test's report: the scene and its events, seconds per step, the detector's video."""
    kinds = ", ".join(sorted({e["kind"] for e in info["events"]})) or "none"
    facts = [("scene", f"{len(info['test_videos'])} test videos, seed {seed}; anomalies: {kinds}")]
    facts += [(f"{step} time", f"{sec:.1f} s") for step, sec in seconds.items()]
    files = {"scene README": out / f"scene{tag}" / "README.txt", "training log": out / f"run{tag}" / "metrics.csv"}
    if detect is not None:
        facts.append(("annotated video", f"the online detector over test video {detect['video']}"))
        files.update({"annotated video (MP4)": Path(detect["annotated"]), "detector events": Path(detect["folder"]) / "events.json"})
    return ReportExtras(title="ammcnet demo", folder=out, facts=facts, events=list(info["events"]), files=files,
                        name=f"report{tag}.html")


def run_demo(out: str | os.PathLike[str], *, quick: bool = False, seed: int = 0, progress: bool = True,
             scene: SceneConfig | None = None, overrides: tuple[str, ...] | list[str] = (), device: str = "cpu",
             annotate: bool = True) -> dict[str, Any]:
    """Generate, prepare, train, test and report, all under ``out``.

    Args:
        out: working folder (created); earlier results in it are reused.
        quick: smaller scene and a shorter schedule (120 + 60 steps instead of 300 + 150).
        seed: scene seed (the training seed is the preset's).
        progress: tqdm bars on stderr (only on a terminal).
        scene: scene settings instead of the demo's.
        overrides: extra ``key=value`` training overrides (as ``ammcnet train --set``).
        device: torch device for training and testing.
        annotate: also run the online detector over the test video with most anomalous frames
            and write an annotated MP4.

    Returns:
        A dict with ``auc`` (honest micro frame AUC), ``auc_paper``, ``report`` (path of
        ``report.html``), ``summary`` (REPORT.md, a pointer to it), the dataset, run and test
        folders, seconds per step and the test metrics.
    """
    out = Path(out).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    tag = "-quick" if quick else ""
    scene_cfg, train_cfg = demo_settings(quick, overrides)
    scene_cfg = scene or scene_cfg
    seconds: dict[str, float] = {}

    t0 = time.perf_counter()
    dataset = generate_scene_dataset(out / f"scene{tag}", scene_cfg, seed=seed, progress=progress)
    seconds["scene"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    prepared = prepare_dataset(dataset, size=tuple(train_cfg.data.size), flow=train_cfg.data.flow,
                               flow_preset=train_cfg.data.flow_preset, cache_dir=out / "cache",
                               splits=("train", "test"), progress=progress)
    seconds["prepare"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    run_dir = out / f"run{tag}"
    if not (run_dir / "model.pt").is_file():
        train(prepared.root, train_cfg, run_dir, resume=run_dir.exists(), device=device, progress=progress)
    seconds["train"] = time.perf_counter() - t0

    info = json.loads((dataset / "scene.json").read_text())
    detect = None
    if annotate:  # before the test, so that the report links the video
        t0 = time.perf_counter()
        detect = _annotated_video(run_dir, dataset, _most_anomalous(info), out / f"detect{tag}", progress, device)
        seconds["detect"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    test_dir = out / f"test{tag}"
    metrics = run_test(run_dir, prepared.root, test_dir,
                       TestOptions(device=device, maps=True, plots=True, protocol="honest", progress=progress),
                       report=_extras(out, tag, info, dict(seconds), seed, detect))
    seconds["test"] = time.perf_counter() - t0

    result: dict[str, Any] = {
        "dataset": str(dataset), "prepared": str(prepared.root), "run": str(run_dir), "model": str(run_dir / "model.pt"),
        "test_dir": str(test_dir), "seed": seed, "size": list(train_cfg.data.size), "events": info["events"],
        "auc": (metrics.get("honest") or {}).get("auc_micro"), "auc_paper": (metrics.get("paper") or {}).get("auc_micro"),
        "seconds": seconds, "metrics": metrics, "detect": detect, "report": metrics["files"]["report"],
    }
    summary = out / f"REPORT{tag}.md"
    write_text_atomic(summary, _pointer(result, Path(result["report"])))
    result["summary"] = str(summary)
    return result


def _most_anomalous(info: dict[str, Any]) -> str:
    """The test video with the most anomalous frames (the first one without events)."""
    counts: dict[str, int] = {}
    for e in info["events"]:
        counts[e["video"]] = counts.get(e["video"], 0) + max(e["end"] - e["start"] + 1, 0)
    return max(counts, key=counts.get) if counts else info["test_videos"][0]
