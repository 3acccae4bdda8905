"""``ammcnet test``: score a test set with a trained model, evaluate, plot, localise.

Writes into ``OUT`` (default ``RUN/test``)::

    scores.npz          the per-frame records (evaluator score-file format)
    honest_scores.npz   the honest anomaly score (record ``anomaly``), same format
    metrics.json        honest and paper-protocol numbers, every convention, pixel metrics
    table.txt           the side-by-side table of conventions
    maps/<video>.npy    (with --maps) (N, H, W) float16 per-pixel error maps
    plots/              score curve per video, ROC, heatmaps, RBDC curve
    report.html         everything above on one self-contained page (with the plots)

>>> from ammcnet.apps.tester import default_out_dir
>>> default_out_dir("runs/ped2/model.pt").as_posix()
'runs/ped2/test'
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ammcnet.apps.alarm_figures import alarm_figures_of
from ammcnet.data import PreparedDataset, open_prepared, prepare_dataset
from ammcnet.data.analysis_flows import AnalysisFlowSpec
from ammcnet.errors import ConfigError, DataError
from ammcnet.export import OnnxBackend
from ammcnet.metrics import (
    EvalOptions,
    ScoreFile,
    all_protocols,
    evaluate_scores,
    format_table,
    save_score_file,
)
from ammcnet.metrics.alarms import alarm_report
from ammcnet.metrics.figures import MACRO_CONVENTION, mode_figures
from ammcnet.metrics.localization import default_map_sigma, pixel_auc, smooth_maps
from ammcnet.metrics.protocols import PAPER_WEIGHTS
from ammcnet.metrics.rbdc import rbdc
from ammcnet.metrics.transforms import minmax
from ammcnet.regions.online import scale_box
from ammcnet.report import ReportExtras, ReportInputs, TopFrame, VideoTrace, write_report
from ammcnet.scoring import plots as plotting
from ammcnet.scoring.fusion import FusionWeights, Smoothing, fused_scores, smooth
from ammcnet.scoring.inference import ScoreResult, score_prepared
from ammcnet.scoring.model_file import ModelFile, read_model_file
from ammcnet.scoring.region_head import FLOW_CACHE, HEAD_MODE, MODE_RECORDS, RegionHeadComponent
from ammcnet.scoring.region_head import RECORD as REGION_RECORD
from ammcnet.scoring.scorer import Scorer
from ammcnet.scoring.settings import REGION_MODES, HonestScoring, scoring_mode
from ammcnet.scoring.sharded import score_prepared_sharded
from ammcnet.utils.io import write_json_atomic, write_text_atomic

PROTOCOLS = ("honest", "paper")
#: Frames shown in the heatmap figure.
HEATMAP_FRAMES = 4
#: False-alarm rate of the reported alarm operating point.
ALARM_FPR = 0.01
#: Why the first frames of every video are left out of every figure, for every scoring mode alike.
FRAMES_NOTE = ("the first {n} frames of every test video are left out of every figure and every scoring mode: "
               "the network predicts frame t from the {n} before it, so it has no score for them")


def default_out_dir(run: str | os.PathLike[str]) -> Path:
    """``RUN/test`` for a run folder, ``<folder of the model file>/test`` for a file."""
    p = Path(run)
    return (p if p.is_dir() else p.parent) / "test"


def resolve_test_data(
    root: str | os.PathLike[str], loaded: ModelFile, *, cache_dir: str | None = None, workers: int = 1, progress: bool = True
) -> PreparedDataset:
    """Open ``root`` as a prepared cache folder, or prepare it with the run's data settings.

    Raises:
        DataError: the grid size does not match the model's, or the test split is empty.
    """
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
                                   workers=workers, splits=("test",), progress=progress,
                                   analysis=_head_flows(loaded))
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


def _head_flows(loaded: ModelFile) -> AnalysisFlowSpec | None:
    """The region head's analysis flows, computed while the test split is prepared from the frames
    decoded for the model grid (the head then reads them from the cache, not the source again);
    None when the model has no head."""
    components = loaded.scorer.components
    if RegionHeadComponent.component not in components:
        return None
    head = components[RegionHeadComponent.component].head
    return AnalysisFlowSpec(head.size, head.config.flow_preset, FLOW_CACHE)


#: Notes of the honest rows, by the first word of their name.
HONEST_NOTES = {
    "region": "honest protocol: the region head (max over regions of motion parts fitted on normal training videos, "
              "scaled on held-out training videos); no test statistic, no test label",
    "baseline": "honest protocol: a training-free baseline (one motion part alone at the head's label-free window, "
                "scaled on held-out training videos); no test statistic, no test label",
    "frame-mean": "honest protocol: records z-scored with normal-clip statistics, fixed weights, "
                  "Gaussian smoothing within each video; no test label used",
}
#: Name of the calibrated fusion's row: of the frame-mean records alone, or weighing the region head's record too.
FUSION_NAMES = {False: "honest frame-mean (calibrated fusion, smoothed)",
                True: "honest fusion (calibrated records and region head, smoothed)"}


def _evaluate(result: ScoreResult, honest: dict[str, list[np.ndarray]], labels: list[np.ndarray], dataset: str | None):
    """Rows: each honest variant (``name -> per-video scores``, the default first), then every convention."""
    sf = ScoreFile.from_records(result.records, result.num_frames, result.videos)
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for name, scores in honest.items():
            opts = EvalOptions(records={"anomaly": 1.0}, directions={"anomaly": "anomalous"}, normalise="none",
                               smooth="none", warmup=result.frames_in, name=name)
            named = ScoreFile.from_records({"anomaly": scores}, result.num_frames, result.videos)  # per-video keys = names
            h = evaluate_scores(named, labels, opts)
            kind = "region" if name.startswith("honest (region") else "baseline" if name.startswith("honest (baseline") else "frame-mean"
            h.notes.append(HONEST_NOTES[kind])
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
    f = result.frames_in
    if honest is not None:
        curves, ylabel = honest, "honest anomaly score"
    else:  # no calibration: 1 - per-video min-max PSNR (the paper's main term)
        curves, ylabel = [1.0 - minmax(p) for p in result.records["rgb_psnr"]], "1 - normalised PSNR"
        threshold = None
    written = plotting.plot_score_curves(curves, labels, result.videos, out / "plots" / "curves", warmup=f,
                                      threshold=threshold, ylabel=ylabel)
    if rows:
        picked = [r for r in rows if r.name.startswith(("honest", "paper (", "PSNR only"))][:3] or rows[:1]
        written.append(plotting.plot_roc_curves({r.name: (r.scores, r.labels) for r in picked}, out / "plots" / "roc.png"))
    if result.maps is not None:
        top = plotting.top_frames(curves, HEATMAP_FRAMES, warmup=f)
        frames = [np.asarray(prepared.frames("test", result.videos[v])[t]) for v, t in top]
        titles = [f"{result.videos[v]} frame {t}  score {curves[v][t]:.2f}" for v, t in top]
        written.append(plotting.plot_heatmaps(frames, [result.maps[v][t] for v, t in top], titles, out / "plots" / "heatmaps.png"))
    if rbdc_result is not None and rbdc_result.curve[0].size:
        written.append(plotting.plot_rbdc_curve(*rbdc_result.curve, out / "plots" / "rbdc.png", max_fpr=rbdc_result.max_fpr))
    return [str(p) for p in written]


@dataclass
class _Mode:
    """One scoring mode's scores of every test video: offline (centred smoothing) and live (causal),
    with the alarm thresholds of each at :data:`ALARM_FPR` (None where the mode has none)."""

    name: str
    offline: list[np.ndarray]
    live: list[np.ndarray]
    threshold: float | None = None
    live_threshold: float | None = None
    note: str | None = None


@dataclass
class _Scored:
    """What scoring the test split produced, for the evaluation steps."""

    loaded: ModelFile
    prepared: Any
    result: ScoreResult
    out: Path
    dataset: str
    metrics: dict[str, Any]
    honest: list[np.ndarray] | None = None
    threshold: float | None = None
    variants: dict[str, list[np.ndarray]] = field(default_factory=dict)
    region: Any = None
    region_modes: dict[str, list[np.ndarray]] = field(default_factory=dict)
    modes: dict[str, _Mode] = field(default_factory=dict)
    mode: str | None = None
    live: list[np.ndarray] | None = None
    live_threshold: float | None = None
    labels: list[np.ndarray | None] = field(default_factory=list)
    rows: list = field(default_factory=list)


@dataclass(frozen=True)
class TestOptions:
    """How :func:`run_test` scores and evaluates a test split (``ammcnet test``'s flags).

    Attributes:
        batch_size: inference batch size; changes no score (default 16).
        device: torch device string (default ``cpu``).
        maps: also write per-pixel error maps and compute pixel AUC / RBDC where masks exist (default False).
        plots: write PNG plots and ``report.html``, the page that shows them all (default True).
        protocol: ``honest`` (default; needs the model's calibration) or ``paper`` (only the
            label-free records and the conventions table, no calibrated score).
        map_flow_weight: weight of the motion error added to the error maps (default 0: appearance only).
        cache_dir: where a dataset root is prepared (default None: ``$AMMCNET_CACHE``, else ``~/.cache/ammcnet``).
        workers: processes used to prepare a dataset root and to score the test videos, sharded by
            video; every score equals a single process's (default 1). With a Ray scorer: its actors.
        progress: show tqdm bars, only on a terminal (default True).
        onnx: score with this graph from ``ammcnet export`` (e.g. an ``--int8`` one) through ONNX
            Runtime instead of the PyTorch model; calibration and settings still come from the run
            (default None).
        score: the scoring mode that gives the honest score of this test (``region``, ``fusion``,
            ``records``, ``max-speed``, ``per-position``), without editing the model file; default
            None: the model file's ``scoring.honest``. Every mode the model file can give is
            reported in ``metrics["scoring_modes"]`` on the same frames.
    """

    batch_size: int = 16
    device: str = "cpu"
    maps: bool = False
    plots: bool = True
    protocol: str = "honest"
    map_flow_weight: float = 0.0
    cache_dir: str | os.PathLike[str] | None = None
    workers: int = 1
    progress: bool = True
    onnx: str | os.PathLike[str] | None = None
    score: str | None = None

    __test__ = False  # an options type, not a pytest test class


def run_test(
    run: str | os.PathLike[str],
    root: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    options: TestOptions = TestOptions(),  # noqa: B008 - frozen, never mutated
    *,
    score_with: Callable[..., ScoreResult] | None = None,
    report: ReportExtras | None = None,
) -> dict[str, Any]:
    """Score the test split of ``root`` with the model of ``run`` and evaluate it.

    Args:
        run: a run folder (uses ``RUN/model.pt``) or a model file.
        root: a dataset root (prepared at the run's data settings) or a prepared cache folder.
        out: output folder; default :func:`default_out_dir`.
        options: how the split is scored and evaluated (:class:`TestOptions`).
        score_with: scores the test split instead of this process, called as
            ``score_with(model, prepared, "test", batch_size=..., error_maps=..., map_flow_weight=..., scorer=...)``
            (``ammcnet.fleet.archive.score_prepared_ray`` spreads it over a Ray cluster; ``ammcnet.test``
            builds it from ``ray=``); its result must equal ``score_prepared``'s.
        report: what the caller adds to ``report.html`` (title, facts, events, files, another
            folder); written only with ``options.plots``.

    Returns:
        The metrics dict also written to ``OUT/metrics.json``.
    """
    o = options
    _check_options(o.protocol, o.batch_size, o.onnx, o.workers, score_with)
    score = scoring_mode(o.score) if o.score is not None else None
    loaded = _open_model(run, o.protocol)
    out = Path(out) if out is not None else default_out_dir(run)
    cache_dir = None if o.cache_dir is None else str(o.cache_dir)
    prepared = resolve_test_data(root, loaded, cache_dir=cache_dir, workers=o.workers, progress=o.progress)
    model = _inference_model(loaded, run, o.onnx)
    t0 = time.perf_counter()
    scorer = loaded.scorer
    result = _score(model, scorer, prepared, workers=o.workers, batch_size=o.batch_size, device=o.device,
                    maps=o.maps, map_flow_weight=o.map_flow_weight, progress=o.progress, score_with=score_with)
    s = _Scored(loaded, prepared, result, out, str(prepared.name).lower(), {}, mode=score)
    s.region, s.region_modes = _region_modes(scorer, result)
    result.save(out / "scores.npz", dataset=s.dataset)
    s.metrics = _summary(s, time.perf_counter() - t0, o.device, o.batch_size,
                         "torch" if o.onnx is None else f"onnx ({model.precision}): {o.onnx}")
    if o.protocol == "honest":
        _honest(s)
    _frame_metrics(s)
    rbdc_result = _map_metrics(s, bool(o.progress)) if o.maps else None
    extras = report or ReportExtras()
    page = (extras.folder or out) / extras.name
    if o.plots:
        s.metrics["files"]["plots"] = _plots(out, prepared, result, s.honest, s.labels if s.rows else None, s.rows,
                                             rbdc_result, s.threshold)
        s.metrics["files"]["report"] = str(page)
    write_json_atomic(out / "metrics.json", s.metrics)
    if o.plots:
        write_report(page.parent, _report_inputs(s, extras))
    return s.metrics


def _check_options(protocol: str, batch_size: int, onnx: Any, workers: int, score_with: Any) -> None:
    """Refuse bad option combinations before any work."""
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {batch_size}")
    if onnx is not None and workers > 1:
        raise ConfigError("--onnx scores in one process (ONNX Runtime uses the threads itself): drop --workers")
    if onnx is not None and score_with is not None:
        raise ConfigError("--onnx scores in one process: drop --ray")


def _open_model(run: str | os.PathLike[str], protocol: str) -> ModelFile:
    """The model file, its stored settings checked before any scoring; the honest protocol is
    refused without calibration statistics."""
    loaded = read_model_file(run)
    if protocol == "honest" and not (loaded.calibration is not None and loaded.calibration.has_records):
        raise ConfigError(
            f"{loaded.path} holds no calibration statistics, which the honest protocol needs; re-train (training "
            "calibrates on its validation clips), add them with ammcnet calibrate RUN TRAINING_DATA, or pass --protocol paper"
        )
    return loaded


def _inference_model(loaded: ModelFile, run: str | os.PathLike[str], onnx: str | os.PathLike[str] | None) -> Any:
    """The network, or the ONNX graph of the same model when ``onnx`` is given."""
    if onnx is None:
        return loaded.model
    backend = OnnxBackend(onnx)
    if backend.config != loaded.config:
        raise ConfigError(f"{onnx} was exported from a different model than {loaded.path}: export this run "
                          f"again with ammcnet export {run} --onnx {onnx}")
    return backend


def _score(model: Any, scorer: Scorer, prepared: Any, *, workers: int, batch_size: int, device: str, maps: bool,
           map_flow_weight: float, progress: bool, score_with: Callable[..., ScoreResult] | None) -> ScoreResult:
    """Records of every test video: here, over worker processes, or through ``score_with``."""
    if score_with is not None:
        return score_with(model, prepared, "test", batch_size=batch_size, error_maps=maps,
                          map_flow_weight=map_flow_weight, scorer=scorer)
    if workers > 1:  # videos spread over processes; the scores equal a single process's
        return score_prepared_sharded(model, prepared, "test", workers=workers, batch_size=batch_size, device=device,
                                      error_maps=maps, map_flow_weight=map_flow_weight, scorer=scorer)
    return score_prepared(model, prepared, "test", scorer=scorer, batch_size=batch_size, device=device,
                          error_maps=maps, map_flow_weight=map_flow_weight,
                          progress=progress and None)  # tqdm: None = only on a terminal


def _summary(s: _Scored, seconds: float, device: str, batch_size: int, backend: str) -> dict[str, Any]:
    """The metrics' header: what was scored, where, how fast."""
    result, f = s.result, s.result.frames_in
    scored = int(sum(max(int(n) - f, 0) for n in result.num_frames))
    return {
        "model": str(s.loaded.path),
        "data": str(s.prepared.root),
        "dataset": s.dataset,
        "size": list(s.prepared.size),
        "frames_in": f,
        "num_videos": len(result.videos),
        "num_frames": int(result.num_frames.sum()),
        "scored_frames": scored,
        "scoring_seconds": seconds,
        "scoring_fps": float(scored / max(seconds, 1e-9)),
        "device": device,
        "batch_size": batch_size,
        "backend": backend,
        "files": {"scores": str(s.out / "scores.npz")},
    }


def _region_modes(scorer: Scorer, result: ScoreResult) -> tuple[Any, dict[str, list[np.ndarray]]]:
    """The region component (for its thresholds) and the records of its scoring modes (the head,
    then each baseline), as the scorer produced them, when the model has one."""
    component = scorer.components[RegionHeadComponent.component] if RegionHeadComponent.component in scorer.components else None
    if component is None:
        return None, {}
    return component, {m: result.records[MODE_RECORDS[m]] for m in component.modes if MODE_RECORDS[m] in result.records}


#: Row names of the region component's modes in the conventions table.
REGION_ROW_NAMES = {HEAD_MODE: "honest (region head, {how})", "max-speed": "honest (baseline max-speed, {how})",
                    "per-position": "honest (baseline per-position, {how})",
                    "motion-head": "honest (region head, motion parts only, {how})"}


def _region_mode(s: _Scored, mode: str, settings: HonestScoring, causal: Smoothing) -> _Mode:
    """A region-component mode (the head or a baseline): its raw scores smoothed, its thresholds
    read from its own held-out normal scores."""
    raw = s.region_modes[mode]
    m = _Mode(REGION_ROW_NAMES[mode].format(how="smoothed"), [smooth(r, settings.smoothing) for r in raw],
              [smooth(r, causal) for r in raw])
    m.threshold = s.region.threshold(ALARM_FPR, lambda x: smooth(x, settings.smoothing), mode)
    m.live_threshold = s.region.threshold(ALARM_FPR, lambda x: smooth(x, causal), mode)
    return m


def _fusion_mode(s: _Scored, settings: HonestScoring, causal: Smoothing, weights: FusionWeights, name: str) -> _Mode:
    """The calibrated fusion with ``weights``; thresholds only where the calibration's table is of them."""
    cal = s.loaded.calibration
    m = _Mode(name, fused_scores(s.result, cal, weights, settings.smoothing), fused_scores(s.result, cal, weights, causal))
    if weights != settings.weights:
        m.note = "no calibrated threshold: the model file's fused-score table is of its own weights"
        return m
    try:
        m.threshold = cal.threshold(ALARM_FPR, weights, settings.smoothing)
        m.live_threshold = cal.threshold(ALARM_FPR, weights, causal)
    except ConfigError as exc:
        m.note = str(exc)
    return m


def _scoring_modes(s: _Scored, settings: HonestScoring) -> dict[str, _Mode]:
    """Every scoring mode this model file can give on this test split."""
    causal = settings.smoothing.causal_copy()
    weighs_head = settings.weights.region != 0.0 and REGION_RECORD in s.result.records
    modes = {m: _region_mode(s, m, settings, causal) for m in s.region_modes}
    modes["fusion"] = _fusion_mode(s, settings, causal, settings.weights, FUSION_NAMES[weighs_head])
    if weighs_head:  # AMMC-Net's records alone, without the head's
        alone = FusionWeights.from_dict({**settings.weights.to_dict(), REGION_RECORD: 0.0})
        modes["records"] = _fusion_mode(s, settings, causal, alone, FUSION_NAMES[False])
    else:
        modes["records"] = modes["fusion"]
    return modes


def _honest(s: _Scored) -> None:
    """The honest scores: every scoring mode, smoothed offline (centred) and live (causal), with
    their alarm thresholds; the mode asked for (``--score``, else the model file's) is the honest
    score, the others are reported beside it."""
    settings = s.loaded.scoring
    s.metrics["fusion"] = settings.to_dict()
    s.modes = _scoring_modes(s, settings)
    asked = s.mode or settings.mode
    if asked in REGION_MODES and s.region is None:
        if s.mode is not None:
            raise ConfigError(f"--score {asked}: {s.loaded.path} holds no region head; refit one with "
                              "ammcnet calibrate RUN TRAINING_DATA --set scoring.region_head=true, or pass --score fusion")
        asked = "fusion"  # the settings ask for the head, but the model file has none
    s.mode = asked
    chosen = s.modes[asked]
    s.honest, s.live, s.threshold, s.live_threshold = chosen.offline, chosen.live, chosen.threshold, chosen.live_threshold
    s.variants = {chosen.name: chosen.offline}
    if asked in REGION_MODES:
        s.variants[REGION_ROW_NAMES[asked].format(how="causal")] = chosen.live
    for m in s.modes.values():
        s.variants.setdefault(m.name, m.offline)
    if chosen.note:
        s.metrics["alarm_note"] = chosen.note
    s.metrics["score_mode"] = asked
    save_score_file(s.out / "honest_scores.npz", {"anomaly": s.honest}, s.result.num_frames, s.result.videos)
    s.metrics["files"]["honest_scores"] = str(s.out / "honest_scores.npz")


def _mode_figures(s: _Scored) -> dict[str, Any]:
    """The leaderboard figures of every scoring mode, all on the same frames (from ``frames_in`` on)."""
    f = s.result.frames_in
    out: dict[str, Any] = {"frames_note": FRAMES_NOTE.format(n=f), "macro_convention": MACRO_CONVENTION,
                           "target_false_alarm_rate": ALARM_FPR, "modes": {}}
    for name, m in s.modes.items():
        figures = mode_figures(m.offline, m.live, s.labels, m.live_threshold, f)
        out["modes"][name] = {"row": m.name, "threshold_note": m.note, **figures}
    return out


def _frame_metrics(s: _Scored) -> None:
    """Frame-level AUCs of every protocol and convention, when the test split has labels."""
    result, metrics = s.result, s.metrics
    # events an hour the head's thresholds give on its held-out normal footage (no test label read)
    metrics["alarm_budget"] = alarm_figures_of(s.loaded.scorer, s.loaded.scoring.smoothing, None)
    s.labels = [s.prepared.labels(v) for v in result.videos]
    if not all(lab is not None for lab in s.labels):
        metrics["labels"] = None
        metrics["note"] = "the test split has no frame labels: scores written, no AUC computed"
        return
    s.rows = rows = _evaluate(result, s.variants, s.labels, s.dataset)
    metrics["labels"] = "test split frame labels (from the prepared test videos only)"
    metrics["honest"] = rows[0].to_dict() if s.honest is not None else None
    metrics["honest_variants"] = {r.name: r.to_dict() for r in rows[:len(s.variants)]}
    if s.live is not None and s.live_threshold is not None:
        f = result.frames_in
        metrics["operator"] = {"smoothing": "causal", "target_false_alarm_rate": ALARM_FPR, **alarm_report(
            [x[f:] for x in s.live], [np.asarray(y)[f:] for y in s.labels], s.live_threshold).as_dict()}
    if s.modes:
        metrics["scoring_modes"] = _mode_figures(s)
    paper = next((r for r in rows if r.name.startswith("paper (")), None)
    metrics["paper"] = paper.to_dict() if paper is not None else None
    metrics["protocols"] = [r.to_dict() for r in rows]
    if s.honest is not None and s.threshold is not None:
        metrics["alarm"] = _alarm_point(s.honest, s.labels, s.threshold, result.frames_in)
    head = [f"model: {s.loaded.path}", f"data: {s.prepared.root} ({s.dataset}, {len(result.videos)} test videos)"]
    if s.honest is not None:
        head.append(f"honest micro AUC ({rows[0].name}; no test label used): {rows[0].auc_micro:.4f}")
    if paper is not None:
        head.append(f"paper protocol micro AUC (weights tuned on test labels by the authors): {paper.auc_micro:.4f}")
    write_text_atomic(s.out / "table.txt", "\n".join(head) + "\n\n" + format_table(rows) + "\n")
    metrics["files"]["table"] = str(s.out / "table.txt")


def _map_metrics(s: _Scored, progress: bool) -> Any:
    """Write the error maps; pixel AUC and RBDC where the test split has pixel masks."""
    s.metrics["files"]["maps"] = [str(p) for p in s.result.save_maps(s.out / "maps")]
    masks = [s.prepared.pixel_masks(v) for v in s.result.videos]
    if all(m is not None for m in masks):
        s.metrics["pixel"], rbdc_result = _pixel_metrics(s.result, masks, progress)
        return rbdc_result
    s.metrics["pixel"] = None
    s.metrics["pixel_note"] = "no pixel masks in the test split: pixel AUC and RBDC not computed"
    return None


def _head_settings(region: Any) -> dict[str, str] | None:
    """The region head's settings, as chosen on training footage, for the report (None without a head)."""
    if region is None:
        return None
    cfg, sel = region.head.config, region.selection or {}
    chosen = str(sel.get("chosen") or "given, not chosen")
    if int(sel.get("rotations") or 1) > 1:
        chosen += f" (chosen on {sel['rotations']} held-out stretches in turn)"
    return {"settings": chosen, "parts": ", ".join(f"{p} {w:g}" for p, w in cfg.weights.items() if w > 0),
            "window": f"{round(cfg.window * cfg.height)} px on a {cfg.height}-px analysis grid, stride {cfg.stride:g} "
                      "of the window"}


def _roc_curves(s: _Scored) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """ROC legend -> (scores, labels), the first frames dropped: the honest mode causal and centred,
    every other mode causal; without modes, the conventions the plots show."""
    if not s.rows:
        return {}
    f = s.result.frames_in
    y = np.concatenate([np.asarray(lab)[f:] for lab in s.labels])
    if not s.modes:
        picked = [r for r in s.rows if r.name.startswith(("paper (", "PSNR only"))][:3] or s.rows[:1]
        return {r.name: (r.scores, r.labels) for r in picked}
    chosen = s.modes[s.mode]
    curves = {f"{s.mode} causal": (_joined(chosen.live, f), y), f"{s.mode} centred": (_joined(chosen.offline, f), y)}
    seen = [chosen]
    for name, m in s.modes.items():
        if not any(m is o for o in seen):  # "records" is the same mode as "fusion" when the fusion weighs no head
            seen.append(m)
            curves[f"{name} causal"] = (_joined(m.live, f), y)
    return curves


def _joined(scores: list[np.ndarray], first: int) -> np.ndarray:
    """Every video's scores from frame ``first`` on, end to end."""
    return np.concatenate([np.asarray(x)[first:] for x in scores])


def _head_boxes(s: _Scored, videos: list[int]) -> dict[int, np.ndarray]:
    """Per test video (by index): the region head's winning window of every frame, in pixels of the
    prepared frames; empty without a head or when its source frames cannot be read."""
    if s.region is None or not videos:
        return {}
    names = [s.result.videos[v] for v in videos]
    try:
        scored = s.region.score_split(s.prepared, "test", names)[HEAD_MODE]
    except DataError:
        return {}
    grid, size = s.region.head.size, tuple(s.prepared.size)
    return {v: np.array([scale_box(b, grid, size) if np.isfinite(b).all() else (np.nan,) * 4 for b in fs.boxes], float)
            for v, fs in zip(videos, scored, strict=True)}


def _mask_box(masks: Any, t: int) -> tuple[float, float, float, float] | None:
    """Bounding box (x0, y0, x1, y1), end exclusive, of frame ``t``'s labelled pixels, or None."""
    if masks is None or t >= len(masks):
        return None
    ys, xs = np.nonzero(np.asarray(masks[t]))
    return None if not len(xs) else (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))


def _top_frames(s: _Scored, curves: list[np.ndarray]) -> list[TopFrame]:
    """The frames the heatmap figure shows, with the head's box and the labelled box where known."""
    if s.result.maps is None:
        return []
    top = plotting.top_frames(curves, HEATMAP_FRAMES, warmup=s.result.frames_in)
    boxes = _head_boxes(s, sorted({v for v, _ in top}))
    frames = []
    for v, t in top:
        name = s.result.videos[v]
        box = boxes.get(v)
        box = tuple(box[t]) if box is not None and t < len(box) and np.isfinite(box[t]).all() else None
        frames.append(TopFrame(name, int(t), float(curves[v][t]), np.asarray(s.prepared.frames("test", name)[t]),
                               np.asarray(s.result.maps[v][t], np.float32), box,
                               _mask_box(s.prepared.pixel_masks(name), t)))
    return frames


def _report_inputs(s: _Scored, extras: ReportExtras) -> ReportInputs:
    """What ``report.html`` shows: the causal honest score of every video (what a camera gets) at
    its alarm threshold, or ``1 - normalised PSNR`` without calibration; the ROC; the top frames."""
    out, result = s.out, s.result
    if s.live is not None:
        traces, threshold, name = s.live, s.live_threshold, f"honest score ({s.mode}, causal)"
    else:
        traces, threshold, name = [1.0 - minmax(p) for p in result.records["rgb_psnr"]], None, "1 - normalised PSNR"
    labels = s.labels or [None] * len(result.videos)
    videos = [VideoTrace(v, np.asarray(x), None if y is None else np.asarray(y),
                         {"curve PNG": out / "plots" / "curves" / f"{Path(v).name}.png",
                          "error maps": out / "maps" / f"{Path(v).name}.npy"})
              for v, x, y in zip(result.videos, traces, labels, strict=True)]
    files = {"metrics.json": out / "metrics.json", "table.txt": out / "table.txt", "scores.npz": out / "scores.npz",
             "honest_scores.npz": out / "honest_scores.npz", "ROC (PNG)": out / "plots" / "roc.png",
             "heatmaps (PNG)": out / "plots" / "heatmaps.png", "RBDC curve (PNG)": out / "plots" / "rbdc.png"}
    return ReportInputs(metrics=s.metrics, videos=videos, first_frame=result.frames_in, threshold=threshold,
                        score_name=name, roc=_roc_curves(s),
                        top_frames=_top_frames(s, s.honest if s.honest is not None else traces),
                        head=_head_settings(s.region), files=files, extras=extras)
