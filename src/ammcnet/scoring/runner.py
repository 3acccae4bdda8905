"""``ammcnet test``: score a test set with a trained model, evaluate, plot, localise.

Writes into ``OUT`` (default ``RUN/test``)::

    scores.npz          the four per-frame records (evaluator score-file format)
    honest_scores.npz   the honest anomaly score (record ``anomaly``), same format
    metrics.json        honest and paper-protocol numbers, every convention, pixel metrics
    table.txt           the side-by-side table of conventions
    maps/<video>.npy    (with --maps) (N, H, W) float16 per-pixel error maps
    plots/              score curve per video, ROC, heatmaps, RBDC curve

>>> from ammcnet.scoring.runner import default_out_dir
>>> default_out_dir("runs/ped2/model.pt").as_posix()
'runs/ped2/test'
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ammcnet.errors import ConfigError, DataError
from ammcnet.scoring.fusion import FusionWeights, Smoothing, honest_scores
from ammcnet.scoring.inference import ScoreResult, score_prepared
from ammcnet.scoring.scorer import load_scorer

PROTOCOLS = ("honest", "paper")
#: Frames shown in the heatmap figure.
HEATMAP_FRAMES = 4
#: False-alarm rate of the reported alarm operating point.
ALARM_FPR = 0.01


def default_out_dir(run: str | os.PathLike[str]) -> Path:
    """``RUN/test`` for a run folder, ``<folder of the model file>/test`` for a file."""
    p = Path(run)
    return (p if p.is_dir() else p.parent) / "test"


def scoring_settings(
    train_config: dict[str, Any] | None, calibration: dict[str, Any] | None
) -> tuple[FusionWeights, Smoothing]:
    """Fusion weights and smoothing fixed before testing.

    Taken from the preset's ``scoring.weights`` / ``scoring.smoothing`` when the model file holds
    them, else from the calibration's fused-score table, else the documented defaults.
    """
    sc = (train_config or {}).get("scoring") or {}
    fused = (calibration or {}).get("fused") or {}
    weights = FusionWeights.from_dict(sc.get("weights") or fused.get("weights"))
    smoothing = Smoothing.from_dict(sc.get("smoothing") or fused.get("smoothing"))
    return weights, smoothing


def resolve_test_data(
    root: str | os.PathLike[str], loaded: Any, *, cache_dir: str | None = None, workers: int = 1, progress: bool = True
) -> Any:
    """Open ``root`` as a prepared cache folder, or prepare it with the run's data settings.

    Raises:
        DataError: the grid size does not match the model's, or the test split is empty.
    """
    from ammcnet.data import open_prepared, prepare_dataset

    root = Path(root)
    data = ((loaded.train_config or {}).get("data")) or {}
    trained_size = tuple(int(s) for s in data["size"]) if data.get("size") else None
    if (root / "manifest.json").is_file():
        prepared = open_prepared(root)
    elif not root.exists():
        raise DataError(f"{root}: no such dataset root or prepared cache folder; check the path")
    else:
        if trained_size is None:
            raise DataError(
                f"{loaded.path}: the model file stores no data settings, so {root} cannot be prepared to match it; "
                "run `ammcnet prepare ROOT --size H W` with the training size and pass the cache folder"
            )
        prepared = prepare_dataset(root, size=trained_size, flow=data.get("flow", "dis"),
                                   flow_preset=data.get("flow_preset", "medium"), cache_dir=cache_dir,
                                   workers=workers, splits=("test",), progress=progress)
    h, w = prepared.size
    if trained_size is not None and tuple(prepared.size) != trained_size:
        raise DataError(
            f"{prepared.root} holds {h}x{w} frames but the model was trained at {trained_size[0]}x{trained_size[1]}; "
            f"pass the dataset root (it is prepared at the model's size) or prepare it with --size {trained_size[0]} {trained_size[1]}"
        )
    if h % 8 or w % 8:
        raise DataError(f"{prepared.root}: frame size {h}x{w} is not divisible by 8, which the model needs; prepare again")
    if not prepared.videos("test"):
        raise DataError(f"{prepared.root} has no test videos; prepare the test split (ammcnet prepare ... --splits test)")
    return prepared


def _evaluate(result: ScoreResult, honest: list[np.ndarray] | None, labels: list[np.ndarray], dataset: str | None):
    from ammcnet.metrics import EvalOptions, ScoreFile, all_protocols, evaluate_scores
    from ammcnet.metrics.protocols import PAPER_WEIGHTS

    sf = ScoreFile.from_records(result.records, result.num_frames, result.videos)
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if honest is not None:
            opts = EvalOptions(records={"anomaly": 1.0}, directions={"anomaly": "anomalous"}, normalise="none",
                               smooth="none", warmup=result.frames_in, name="honest (calibrated fusion, smoothed)")
            named = ScoreFile.from_records({"anomaly": honest}, result.num_frames, result.videos)  # per-video keys = names
            h = evaluate_scores(named, labels, opts)
            h.notes.append("honest protocol: records z-scored with normal-clip statistics, fixed weights, "
                           "Gaussian smoothing within each video; no test label used")
            rows.append(h)
        rows += all_protocols(sf, labels, dataset if dataset in PAPER_WEIGHTS else None, warmup=result.frames_in)
    return rows


def _alarm_point(honest: list[np.ndarray], labels: list[np.ndarray], threshold: float, warmup: int) -> dict[str, Any]:
    s = np.concatenate([h[warmup:] for h in honest])
    y = np.concatenate([np.asarray(lab)[warmup:] > 0 for lab in labels])
    return {
        "target_false_alarm_rate": ALARM_FPR,
        "threshold": threshold,
        "test_false_alarm_rate": float((s[~y] > threshold).mean()) if (~y).any() else None,
        "test_detection_rate": float((s[y] > threshold).mean()) if y.any() else None,
    }


def _pixel_metrics(result: ScoreResult, masks: list[np.ndarray], progress: bool) -> tuple[dict[str, Any], Any]:
    from ammcnet.metrics.localization import default_map_sigma, pixel_auc, smooth_maps
    from ammcnet.metrics.rbdc import rbdc

    f = result.frames_in
    sigma = default_map_sigma(result.maps[0].shape)
    maps = [smooth_maps(m, sigma) for m in result.maps]
    out = {"map_sigma": sigma,
           "pixel_auc": pixel_auc(maps, masks, skip=f),
           "pixel_auc_anomalous_frames": pixel_auc(maps, masks, skip=f, frames="anomalous"),
           "pixel_auc_raw_maps": pixel_auc(result.maps, masks, skip=f)}
    r = rbdc(maps, masks, skip=f, progress=progress)
    out["rbdc"] = r.summary()
    out["tbdc"] = None
    out["tbdc_note"] = "TBDC needs anomaly tracks, which the dataset does not provide; not computed"
    return out, r


def _plots(out: Path, prepared: Any, result: ScoreResult, honest: list[np.ndarray] | None,
           labels: list[np.ndarray] | None, rows: list, rbdc_result: Any, threshold: float | None) -> list[str]:
    from ammcnet.metrics.transforms import minmax
    from ammcnet.scoring import plots

    f = result.frames_in
    if honest is not None:
        curves, ylabel = honest, "honest anomaly score"
    else:  # no calibration: 1 - per-video min-max PSNR (the paper's main term)
        curves, ylabel = [1.0 - minmax(p) for p in result.records["rgb_psnr"]], "1 - normalised PSNR"
        threshold = None
    written = plots.plot_score_curves(curves, labels, result.videos, out / "plots" / "curves", warmup=f,
                                      threshold=threshold, ylabel=ylabel)
    if rows:
        picked = [r for r in rows if r.name.startswith(("honest", "paper (", "PSNR only"))][:3] or rows[:1]
        written.append(plots.plot_roc({r.name: (r.scores, r.labels) for r in picked}, out / "plots" / "roc.png"))
    if result.maps is not None:
        top = plots.top_frames(curves, HEATMAP_FRAMES, warmup=f)
        frames = [np.asarray(prepared.frames("test", result.videos[v])[t]) for v, t in top]
        titles = [f"{result.videos[v]} frame {t}  score {curves[v][t]:.2f}" for v, t in top]
        written.append(plots.plot_heatmaps(frames, [result.maps[v][t] for v, t in top], titles, out / "plots" / "heatmaps.png"))
    if rbdc_result is not None and rbdc_result.curve[0].size:
        written.append(plots.plot_rbdc_curve(*rbdc_result.curve, out / "plots" / "rbdc.png", max_fpr=rbdc_result.max_fpr))
    return [str(p) for p in written]


def run_test(
    run: str | os.PathLike[str],
    root: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    batch_size: int = 16,
    device: str = "cpu",
    maps: bool = False,
    plots: bool = True,
    protocol: str = "honest",
    map_flow_weight: float = 0.0,
    cache_dir: str | None = None,
    workers: int = 1,
    progress: bool = True,
    onnx: str | os.PathLike[str] | None = None,
    score_with: Callable[..., ScoreResult] | None = None,
) -> dict[str, Any]:
    """Score the test split of ``root`` with the model of ``run`` and evaluate it.

    Args:
        run: a run folder (uses ``RUN/model.pt``) or a model file.
        root: a dataset root (prepared at the run's data settings) or a prepared cache folder.
        out: output folder; default :func:`default_out_dir`.
        batch_size: inference batch size (changes no score).
        device: torch device string.
        maps: also write per-pixel error maps and compute pixel AUC / RBDC where masks exist.
        plots: write PNG plots.
        protocol: ``honest`` (needs the model's calibration) or ``paper`` (only the
            label-free records and the conventions table, no calibrated score).
        map_flow_weight: weight of the motion error added to the error maps.
        cache_dir: where a dataset root is prepared (default: the cache folder).
        workers: processes used to prepare a dataset root and to score the test videos
            (videos are sharded over them; every score equals a single process's).
        progress: show tqdm bars (only on a terminal).
        onnx: score with this graph from ``ammcnet export`` (e.g. an ``--int8`` one) through ONNX
            Runtime instead of the PyTorch model; calibration and settings still come from ``run``.
        score_with: scores the test split instead of this process, called as
            ``score_with(model, prepared, "test", batch_size=..., error_maps=..., map_flow_weight=...)``
            (``ammcnet.fleet.archive.score_prepared_ray`` spreads it over a Ray cluster); its result
            must equal ``score_prepared``'s.

    Returns:
        The metrics dict also written to ``OUT/metrics.json``.
    """
    from ammcnet.metrics import format_table, save_score_file
    from ammcnet.models import load_model_file
    from ammcnet.utils.io import write_json_atomic, write_text_atomic

    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {batch_size}")
    loaded = load_model_file(run)
    if protocol == "honest" and not (loaded.calibration or {}).get("records"):
        raise ConfigError(
            f"{loaded.path} holds no calibration statistics, which the honest protocol needs; re-train (training "
            "calibrates on its validation clips), add them with ammcnet calibrate RUN TRAINING_DATA, or pass --protocol paper"
        )
    out = Path(out) if out is not None else default_out_dir(run)
    show = progress and None  # tqdm: None = only on a terminal
    prepared = resolve_test_data(root, loaded, cache_dir=cache_dir, workers=workers, progress=progress)

    scorer: Any = loaded.model
    if onnx is not None:
        from ammcnet.export import OnnxBackend

        if workers > 1:
            raise ConfigError("--onnx scores in one process (ONNX Runtime uses the threads itself): drop --workers")
        scorer = OnnxBackend(onnx)
        if scorer.config != loaded.config:
            raise ConfigError(f"{onnx} was exported from a different model than {loaded.path}: export this run "
                              f"again with ammcnet export {run} --onnx {onnx}")
    t0 = time.perf_counter()
    records_of = load_scorer(loaded)
    if score_with is not None:
        if onnx is not None:
            raise ConfigError("--onnx scores in one process: drop --ray")
        result = score_with(loaded.model, prepared, "test", batch_size=batch_size, error_maps=maps,
                            map_flow_weight=map_flow_weight, scorer=records_of)
    elif workers > 1:  # videos spread over processes; the scores equal a single process's
        from ammcnet.scoring.sharded import score_prepared_sharded

        result = score_prepared_sharded(loaded.model, prepared, "test", workers=workers, batch_size=batch_size,
                                        device=device, error_maps=maps, map_flow_weight=map_flow_weight,
                                        scorer=records_of)
    else:
        result = score_prepared(scorer, prepared, "test", scorer=records_of, batch_size=batch_size, device=device,
                                error_maps=maps, map_flow_weight=map_flow_weight, progress=show)
    seconds = time.perf_counter() - t0
    f = result.frames_in
    dataset = str(prepared.name).lower()
    result.save(out / "scores.npz", dataset=dataset)

    metrics: dict[str, Any] = {
        "model": str(loaded.path),
        "data": str(prepared.root),
        "dataset": dataset,
        "size": list(prepared.size),
        "frames_in": f,
        "num_videos": len(result.videos),
        "num_frames": int(result.num_frames.sum()),
        "scored_frames": int(sum(max(int(n) - f, 0) for n in result.num_frames)),
        "scoring_seconds": seconds,
        "scoring_fps": float(sum(max(int(n) - f, 0) for n in result.num_frames) / max(seconds, 1e-9)),
        "device": device,
        "batch_size": batch_size,
        "backend": "torch" if onnx is None else f"onnx ({scorer.precision}): {onnx}",
        "files": {"scores": str(out / "scores.npz")},
    }
    honest = threshold = None
    if protocol == "honest":
        from ammcnet.scoring.calibration import threshold_for_fpr

        weights, smoothing = scoring_settings(loaded.train_config, loaded.calibration)
        honest = honest_scores(result, loaded.calibration, weights, smoothing)
        save_score_file(out / "honest_scores.npz", {"anomaly": honest}, result.num_frames, result.videos)
        metrics["files"]["honest_scores"] = str(out / "honest_scores.npz")
        metrics["fusion"] = {"weights": weights.as_dict(), "smoothing": smoothing.as_dict()}
        try:
            threshold = threshold_for_fpr(loaded.calibration, ALARM_FPR, weights, smoothing)
        except ConfigError as exc:
            metrics["alarm_note"] = str(exc)

    labels = [prepared.labels(v) for v in result.videos]
    rows: list = []
    if all(lab is not None for lab in labels):
        rows = _evaluate(result, honest, labels, dataset)
        metrics["labels"] = "test split frame labels (from the prepared test videos only)"
        metrics["honest"] = rows[0].to_dict() if honest is not None else None
        paper = next((r for r in rows if r.name.startswith("paper (")), None)
        metrics["paper"] = paper.to_dict() if paper is not None else None
        metrics["protocols"] = [r.to_dict() for r in rows]
        if honest is not None and threshold is not None:
            metrics["alarm"] = _alarm_point(honest, labels, threshold, f)
        table = format_table(rows)
        head = [f"model: {loaded.path}", f"data: {prepared.root} ({dataset}, {len(result.videos)} test videos)"]
        if honest is not None:
            head.append(f"honest micro AUC (no test label used): {rows[0].auc_micro:.4f}")
        if paper is not None:
            head.append(f"paper protocol micro AUC (weights tuned on test labels by the authors): {paper.auc_micro:.4f}")
        write_text_atomic(out / "table.txt", "\n".join(head) + "\n\n" + table + "\n")
        metrics["files"]["table"] = str(out / "table.txt")
    else:
        metrics["labels"] = None
        metrics["note"] = "the test split has no frame labels: scores written, no AUC computed"

    rbdc_result = None
    if maps:
        metrics["files"]["maps"] = [str(p) for p in result.save_maps(out / "maps")]
        masks = [prepared.pixel_masks(v) for v in result.videos]
        if all(m is not None for m in masks):
            metrics["pixel"], rbdc_result = _pixel_metrics(result, masks, bool(progress))
        else:
            metrics["pixel"] = None
            metrics["pixel_note"] = "no pixel masks in the test split: pixel AUC and RBDC not computed"
    if plots:
        metrics["files"]["plots"] = _plots(out, prepared, result, honest, labels if rows else None, rows,
                                           rbdc_result, threshold)
    write_json_atomic(out / "metrics.json", metrics)
    return metrics
