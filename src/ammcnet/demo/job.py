"""The demo: generate the walkway scene, prepare it, train a small AMMC-Net, test it, report.

Everything runs on the CPU in minutes and needs no download. Each step reuses what an earlier
run of the demo left in ``OUT`` (the scene, the prepared cache, a finished model), so running it
twice only re-tests. Files::

    OUT/scene[-quick]/      the generated dataset (UCSD Ped2 frame-folder layout)
    OUT/cache/              prepared frames and optical flow
    OUT/run[-quick]/        the training run (model.pt, metrics.csv, config.yaml)
    OUT/test[-quick]/       scores, metrics.json, table.txt, plots/ (curves, ROC, heatmaps)
    OUT/detect[-quick]/     the online detector over one test video: annotated.mp4, events.json
    OUT/REPORT[-quick].md   the summary printed at the end

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


def _report(result: dict[str, Any]) -> str:
    m = result["metrics"]
    honest, paper = m.get("honest") or {}, m.get("paper") or {}
    lines = [
        "# ammcnet demo", "",
        f"Scene: `{result['dataset']}` (seed {result['seed']}), prepared at {result['size'][0]}x{result['size'][1]}.",
        f"Model: `{result['model']}`.", "",
        "| measure | value |", "|---|---|",
        f"| honest frame AUC (micro, no test label used) | {honest.get('auc_micro', float('nan')):.4f} |",
        f"| honest frame AUC (macro, per video) | {honest.get('auc_macro', float('nan')):.4f} |",
    ]
    if paper:
        lines.append(f"| paper-protocol frame AUC (micro) | {paper.get('auc_micro', float('nan')):.4f} |")
    pixel = m.get("pixel") or {}
    if "pixel_auc" in pixel:
        lines.append(f"| pixel AUC (localisation) | {pixel['pixel_auc']:.4f} |")
    for step, sec in result["seconds"].items():
        lines.append(f"| {step} time | {sec:.1f} s |")
    lines += ["", "Per-video AUC (honest): " + ", ".join(f"{k}: {v:.3f}" for k, v in
                                                        (honest.get("per_video_auc") or {}).items()), ""]
    lines += ["Anomalies in the test videos (0-based frames):", "", "| video | kind | start | end |", "|---|---|---|---|"]
    lines += [f"| {e['video']} | {e['kind']} | {e['start']} | {e['end']} |" for e in result["events"]]
    files = m.get("files", {})
    lines += ["", "Files:", f"- metrics: `{result['test_dir']}/metrics.json`, table: `{files.get('table', '-')}`"]
    for p in files.get("plots", []):
        lines.append(f"- plot: `{p}`")
    if result.get("detect"):
        lines.append(f"- annotated video: `{result['detect']['annotated']}`")
    return "\n".join(lines) + "\n"


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
        A dict with ``auc`` (honest micro frame AUC), ``auc_paper``, ``report`` (path of the
        markdown summary), the dataset, run and test folders, seconds per step and the test metrics.
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

    t0 = time.perf_counter()
    test_dir = out / f"test{tag}"
    metrics = run_test(run_dir, prepared.root, test_dir,
                       TestOptions(device=device, maps=True, plots=True, protocol="honest", progress=progress))
    seconds["test"] = time.perf_counter() - t0

    info = json.loads((dataset / "scene.json").read_text())
    result: dict[str, Any] = {
        "dataset": str(dataset), "prepared": str(prepared.root), "run": str(run_dir), "model": str(run_dir / "model.pt"),
        "test_dir": str(test_dir), "seed": seed, "size": list(train_cfg.data.size), "events": info["events"],
        "auc": (metrics.get("honest") or {}).get("auc_micro"), "auc_paper": (metrics.get("paper") or {}).get("auc_micro"),
        "seconds": seconds, "metrics": metrics, "detect": None,
    }
    if annotate:
        t0 = time.perf_counter()
        counts: dict[str, int] = {}
        for e in info["events"]:
            counts[e["video"]] = counts.get(e["video"], 0) + max(e["end"] - e["start"] + 1, 0)
        video = max(counts, key=counts.get) if counts else info["test_videos"][0]
        result["detect"] = _annotated_video(run_dir, dataset, video, out / f"detect{tag}", progress, device)
        seconds["detect"] = time.perf_counter() - t0
    report = out / f"REPORT{tag}.md"
    write_text_atomic(report, _report(result))
    result["report"] = str(report)
    return result
