"""The Python API: one function per ``ammcnet`` command, each returning a typed result.

Every ``ammcnet`` command is a skin over these functions: it parses its flags into the options
object the function takes (:class:`TestOptions`, :class:`DetectOptions`, :class:`CalibrateOptions`,
...), calls the function and prints what it returns. ``import ammcnet`` gives the main ones lazily,
so ``ammcnet --help`` starts without torch. Arguments are named alike across them: ``data`` (a
dataset root or prepared cache), ``model`` (a run folder or model file), ``out`` (an output
folder), ``options`` (the settings, one frozen dataclass per task; its fields can also be given as
keyword arguments, which replace those of ``options``), ``device`` and ``progress``.

The functions that write an output folder hold its lock while they do (:mod:`ammcnet.utils.lock`):
a second writer of the same folder is refused in one line, from Python as from the command line.

>>> import ammcnet
>>> sorted(n for n in ("train", "test", "detect", "evaluate", "load") if callable(getattr(ammcnet, n)))
['detect', 'evaluate', 'load', 'test', 'train']
>>> test_options(batch_size=8) == TestOptions(batch_size=8, plots=False, progress=False)
True
"""

from __future__ import annotations

import functools
import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

from ammcnet.alarms.lifecycle import AlarmEvent
from ammcnet.alarms.pipeline import AlarmOptions
from ammcnet.alarms.sinks_config import SinkOptions
from ammcnet.alarms.zones import ZoneConfig, load_zones
from ammcnet.apps.alarm_figures import alarm_figures
from ammcnet.apps.calibrator import CalibrateOptions, recalibrate
from ammcnet.apps.exporter import ExportOptions, export_run
from ammcnet.apps.fitter import FitOptions, FitResult, fit_head_model
from ammcnet.apps.teacher import TeachOptions, TeachResult, teach_model
from ammcnet.apps.tester import TestOptions, default_out_dir, run_test
from ammcnet.bench import BenchConfig, run_benchmark
from ammcnet.bench.runner import format_report as format_bench_report
from ammcnet.data import PreparedDataset, prepare_dataset
from ammcnet.data.clips import ClipBatch
from ammcnet.data.verify import VerifyReport, verify_dataset
from ammcnet.demo.job import demo_scene as write_demo_scene
from ammcnet.demo.job import run_demo
from ammcnet.detect import DetectionSummary, DetectOptions, Detector, DetectorOptions, run_detection
from ammcnet.detect.many import INDEX_FILE as DETECT_INDEX_FILE
from ammcnet.detect.many import detect_many as detect_many_local
from ammcnet.detect.reconnect import ReconnectPolicy
from ammcnet.errors import ConfigError
from ammcnet.fleet.archive import detect_many_ray, score_prepared_ray
from ammcnet.fleet.watch import watch as watch_cameras
from ammcnet.fleet.watch_config import WatchConfig, load_watch_config
from ammcnet.metrics import EvalOptions, evaluate_files, format_table
from ammcnet.metrics.protocols import DEFAULT_PROTOCOL, EvalReport
from ammcnet.metrics.records import parse_records
from ammcnet.models import AMMCNet, AMMCOutput
from ammcnet.models.info import format_info, model_info
from ammcnet.models.official import import_official as import_official_checkpoint
from ammcnet.regions.selection.dataset import ValidationDataset, write_validation_dataset
from ammcnet.scoring.calibration import Calibration
from ammcnet.scoring.head_model import HeadModel, open_model
from ammcnet.scoring.scorer import Scorer
from ammcnet.scoring.settings import HonestScoring
from ammcnet.serve import ServeOptions, serve_folder
from ammcnet.training import train as train_run
from ammcnet.training.api import resolve_device as training_device
from ammcnet.training.budget import BudgetPlan, fit_to_minutes
from ammcnet.training.config import TrainConfig
from ammcnet.training.resume import run_config
from ammcnet.utils.io import write_json_atomic
from ammcnet.utils.lock import output_lock

__all__ = [
    "AlarmEvent", "AlarmOptions", "SinkOptions", "ZoneConfig", "load_zones", "BenchConfig", "BudgetPlan", "CalibrateOptions", "DETECT_INDEX_FILE", "DetectOptions", "DetectResult",
    "DetectorOptions", "EvalOptions", "EvaluateResult", "ExportOptions", "FitOptions", "FitResult", "Model",
    "PrepareOptions", "TeachOptions", "TeachResult", "fit", "teach",
    "ReconnectPolicy", "ServeOptions", "SynthesizeResult", "TestOptions", "TestResult", "TrainOptions", "TrainResult", "WatchResult",
    "bench", "calibrate", "demo", "demo_scene", "detect", "detect_many", "detect_options", "eval_options", "evaluate", "export",
    "format_bench_report", "format_info", "format_table", "import_official", "info", "load", "prepare",
    "serve", "synthesize", "test", "test_options", "train", "verify", "watch",
]

PathLike = str | os.PathLike[str]
#: What :func:`detect` returns (the summary ``ammcnet detect`` prints and writes).
DetectResult = DetectionSummary
#: What :func:`evaluate` returns (the report ``ammcnet evaluate`` prints and writes).
EvaluateResult = EvalReport
#: What :func:`synthesize` returns (the folder and its videos).
SynthesizeResult = ValidationDataset

_O = TypeVar("_O")


def _options(default: _O, options: _O | None, overrides: dict[str, Any]) -> _O:
    """``options`` (else ``default``) with the fields named in ``overrides`` replaced."""
    base = options if options is not None else default
    names = {f.name for f in fields(base)}  # type: ignore[arg-type]
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise TypeError(f"{type(base).__name__} has no field {unknown[0]!r}; its fields: {', '.join(sorted(names))}")
    return replace(base, **overrides) if overrides else base  # type: ignore[type-var]


# results and the options defined here (the others live beside the function they configure)


@dataclass
class Model:
    """A model file, loaded: the network, its scorer and the settings that fuse its records.

    Attributes:
        network: the ``AMMCNet``, in eval mode; None for a head-only model (``ammcnet fit``).
        scorer: the one scoring path with the file's fitted components (e.g. the motion prior).
        settings: fusion weights, smoothing and scoring mode (:class:`ammcnet.scoring.settings.HonestScoring`).
        calibration: statistics of the records on held-out normal clips (typed), or None.
        train_config: the training settings, or None.
        path: the file that was read.
    """

    network: AMMCNet | None
    scorer: Scorer
    settings: HonestScoring
    calibration: Calibration | None
    train_config: dict[str, Any] | None
    path: Path

    def score(self, batch: ClipBatch) -> tuple[AMMCOutput, dict[str, Any]]:
        """The network's output and the per-clip records of one batch of clips."""
        if self.network is None:
            raise ConfigError(f"{self.path} is a head-only model: it scores frames (detector()), not clips")
        return self.scorer.score(self.network, batch)

    def detector(self, options: DetectorOptions | None = None, **overrides: Any) -> Detector:
        """An online detector over this model (see :meth:`ammcnet.detect.Detector.from_run`)."""
        return Detector.from_run(self.path, options, **overrides)

    def watch(self, source: PathLike | int, options: DetectOptions | None = None, *, out: PathLike | None = None,
              **overrides: Any) -> Iterator[dict[str, Any]]:
        """Alarm events of ``source`` as they happen: ``for message in model.watch("street.mp4"): ...``

        Yields each lifecycle message (``{"type": "new" | "update" | "end", "before", "after"}``,
        the event as ``after``) while detection runs on a thread; leaving the loop stops it. The
        options and files are :func:`detect`'s.
        """
        o = detect_options(options, **overrides)
        messages: queue.Queue[Any] = queue.Queue()
        stop, done = threading.Event(), object()

        def work() -> None:
            try:
                run_detection(source, self.path, o, out=out, on_event=messages.put, stop=stop)
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
                messages.put(exc)
            finally:
                messages.put(done)

        thread = threading.Thread(target=work, name="ammcnet-watch", daemon=True)
        thread.start()
        try:
            while (item := messages.get()) is not done:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            thread.join(timeout=30)

    def teach_normal(self, source: PathLike, *, start: int = 0, end: int | None = None, **overrides: Any) -> TeachResult:
        """Teach this model that frames ``start`` to ``end`` of ``source`` are normal (:func:`teach`;
        ``overrides`` are other fields of :class:`TeachOptions`, e.g. ``out``); a new model file is
        written and this one is kept."""
        return teach(self.path, TeachOptions(normal=(str(source),), start=start, end=end, **overrides))


@dataclass
class TrainResult:
    """A finished training run.

    Attributes:
        run: the run folder (``config.yaml``, ``metrics.csv``, checkpoints).
        model: the final model file, ``run/model.pt``.
        plan: the schedule fitted to ``TrainOptions.minutes``, or None.
    """

    run: Path
    model: Path
    plan: BudgetPlan | None = None


@dataclass
class TestResult:
    """The scores and metrics of a test split.

    Attributes:
        out: the output folder (``scores.npz``, ``honest_scores.npz``, ``metrics.json``, ...).
        honest_auc: micro frame AUC of the honest score (None: no labels or paper protocol).
        paper_auc: micro frame AUC under the authors' protocol (None without labels).
        metrics: everything written to ``metrics.json``.
    """

    out: Path
    honest_auc: float | None
    paper_auc: float | None
    metrics: dict[str, Any] = field(repr=False)

    __test__ = False  # a result type, not a pytest test class


@dataclass
class WatchResult:
    """How a watch ended.

    Attributes:
        out: the output folder (``events.jsonl`` of all cameras, ``status.json``, one folder per camera).
        status: the final status, also in ``OUT/status.json`` (``status["cameras"]``: one row per camera).
    """

    out: Path
    status: dict[str, Any]


@dataclass(frozen=True)
class TrainOptions:
    """How :func:`train` trains (``ammcnet train``'s flags).

    Attributes:
        preset: preset name or YAML file (default None: ``cpu-lite``; with ``resume``: the run's own
            ``config.yaml``).
        overrides: ``key=value`` settings over the preset, e.g. ``stage1.iterations=1000`` (default none).
        device: ``auto`` (default: CUDA when available, else the CPU), ``cpu``, ``cuda`` or ``cuda:N``.
        resume: continue from the run folder's newest checkpoint, with its ``config.yaml`` (default False).
        change_schedule: with ``resume``: accept new iterations or milestones from ``overrides`` or
            ``preset`` (written to ``config.yaml`` and ``history.log``; default False).
        cache_dir: where a dataset root is prepared (default None: ``$AMMCNET_CACHE``, else ``~/.cache/ammcnet``).
        progress: a progress bar on a terminal (default False).
        stage: ``"1"``, ``"2"`` (needs ``RUN/stage1.pt``) or ``"all"`` (default).
        workers: data loader and preparation processes (default None: ``data.workers`` of the preset).
        minutes: fit both stages' iterations to about this many minutes of training, from steps
            timed first on ``device`` (default None: the preset's schedule; not with ``resume``).
    """

    preset: str | None = None
    overrides: tuple[str, ...] = ()
    device: str = "auto"
    resume: bool = False
    change_schedule: bool = False
    cache_dir: PathLike | None = None
    progress: bool = False
    stage: str = "all"
    workers: int | None = None
    minutes: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "overrides", tuple(self.overrides))  # a list from argparse compares equal


@dataclass(frozen=True)
class PrepareOptions:
    """How :func:`prepare` decodes, resizes and computes flow (``ammcnet prepare``'s flags).

    Attributes:
        size: (H, W) of the model grid, or one int for a square grid (default 256x256).
        flow: flow backend: ``dis`` (default), ``farneback`` or ``flo`` (precomputed, needs ``flow_dir``).
        flow_preset: DIS preset (default ``medium``).
        flow_dir: folder of precomputed ``.flo`` files, with ``flow="flo"`` (default None).
        cache_dir: where cache entries live (default None: ``$AMMCNET_CACHE``, else ``~/.cache/ammcnet``).
        workers: videos prepared in parallel processes (default 1).
        splits: the splits prepared (default both, ``("train", "test")``).
        skip_bad: skip videos that fail and list them in the manifest instead of stopping (default False).
        progress: progress bars (default False).
        layout: the dataset layout (default ``auto``: detected).
        max_videos: only the first N videos of each split, for quick trials (default None: all).
    """

    size: tuple[int, int] | int = (256, 256)
    flow: str = "dis"
    flow_preset: str = "medium"
    flow_dir: PathLike | None = None
    cache_dir: PathLike | None = None
    workers: int = 1
    splits: tuple[str, ...] = ("train", "test")
    skip_bad: bool = False
    progress: bool = False
    layout: str = "auto"
    max_videos: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "splits", tuple(self.splits))
        if self.flow == "flo" and not self.flow_dir:
            raise ConfigError("--flow flo needs --flow-dir (the folder of precomputed .flo files)")


# data


def prepare(data: PathLike, options: PrepareOptions | None = None, **overrides: Any) -> PreparedDataset:
    """Decode, resize and compute the optical flow of a dataset once, into the cache; later steps
    read only the cache. ``overrides`` replace fields of ``options`` (default ``PrepareOptions()``)."""
    o = _options(PrepareOptions(), options, overrides)
    return prepare_dataset(data, size=o.size, flow=o.flow, flow_preset=o.flow_preset, flow_dir=o.flow_dir,
                           cache_dir=o.cache_dir, workers=o.workers, splits=o.splits, skip_bad=o.skip_bad,
                           progress=o.progress, layout=o.layout, max_videos=o.max_videos)


def verify(data: PathLike, *, layout: str = "auto", deep: bool = False) -> VerifyReport:
    """Check a dataset (videos, frames, labels, pixel masks, published totals); ``deep`` decodes
    every frame instead of reading headers. ``report.ok`` says whether it passed."""
    return verify_dataset(data, layout=layout, deep=deep)


def synthesize(data: PathLike, out: PathLike, *, seed: int = 0, per_kind: int = 3, image_format: str = "png",
               overwrite: bool = False, rotation: int = 0, progress: bool | None = False,
               layout: str = "auto") -> SynthesizeResult:
    """Write a validation dataset made from the normal training videos of ``data``: held-out normal
    videos and synthetic anomalies, with labels (:mod:`ammcnet.regions.selection.dataset`;
    ``rotation`` 0-3: which quarter of the videos is held out; ``progress`` None: on a terminal)."""
    return write_validation_dataset(data, out, layout=layout, seed=seed, per_kind=per_kind, image_format=image_format,
                                    overwrite=overwrite, rotation=rotation, progress=progress)


def demo(out: PathLike, *, quick: bool = False, seed: int = 0, overrides: Sequence[str] = (), device: str = "cpu",
         annotate: bool = True, progress: bool = False) -> dict[str, Any]:
    """Generate the walkway scene, prepare it, train a small model, test it and write a report, all
    under ``out`` (finished steps of an earlier run are reused; see :func:`ammcnet.demo.job.run_demo`).

    Returns:
        ``auc`` (honest micro frame AUC), ``auc_paper``, ``report`` (``report.html``, one self-contained page),
        ``detect`` (the annotated video, with ``annotate``), the folders and the test metrics.
    """
    return run_demo(out, quick=quick, seed=seed, progress=progress, overrides=tuple(overrides), device=device,
                    annotate=annotate)


def demo_scene(out: PathLike, *, quick: bool = False, seed: int = 0, progress: bool = False) -> Path:
    """Write only the demo's scene dataset (training and test videos, labels, masks) to ``out``
    (:func:`ammcnet.demo.job.demo_scene`)."""
    return write_demo_scene(out, quick=quick, seed=seed, progress=progress)


# models: train, calibrate, load, inspect, import, export


def load(model: PathLike, *, device: str = "cpu") -> Model:
    """Read a run folder or model file, full or head-only (its stored settings checked): network,
    scorer and scoring settings."""
    mf = open_model(model, map_location=device)
    if isinstance(mf, HeadModel):
        return Model(None, mf.scorer, mf.scoring, None, None, mf.path)
    return Model(mf.model, mf.scorer, mf.scoring, mf.calibration, mf.train_config, mf.path)


def fit(footage: PathLike, out: PathLike, options: FitOptions | None = None, **overrides: Any) -> FitResult:
    """Fit the region head alone on normal footage (a video, a frame folder, a stream recorded for
    ``seconds``, or a dataset root's training split) and write a head-only model file to ``out``
    (:mod:`ammcnet.apps.fitter`); ``overrides`` replace fields of ``options``."""
    return fit_head_model(footage, out, _options(FitOptions(progress=False), options, overrides))


def teach(model: PathLike, options: TeachOptions | None = None, **overrides: Any) -> TeachResult:
    """Teach a model's region head that footage or alarm events were normal, without retraining; a
    new model file is written, the old one kept (:mod:`ammcnet.apps.teacher`). ``overrides`` replace
    fields of ``options`` (e.g. ``normal_events=["alarms/events.jsonl:ID"]``)."""
    if options is None:
        return teach_model(model, TeachOptions(**overrides))
    return teach_model(model, _options(options, options, overrides))


def train(data: PathLike, options: TrainOptions | None = None, *, out: PathLike | None = None,
          on_schedule: Callable[[BudgetPlan], None] | None = None, **overrides: Any) -> TrainResult:
    """Train on the normal videos of ``data`` with a preset (default ``cpu-lite``) and ``key=value`` overrides.

    Args:
        data: dataset root or prepared cache folder.
        options: the training settings (:class:`TrainOptions`; default ``TrainOptions()``).
        out: the run folder (default ``runs/<preset name>``).
        on_schedule: called with the fitted schedule before training, with ``options.minutes``.
        **overrides: fields of :class:`TrainOptions` replacing those of ``options``, e.g.
            ``preset="tiny", overrides=["stage1.iterations=2"]``.

    With ``resume`` and no ``preset``, the run continues with its own ``config.yaml``;
    ``change_schedule`` lets ``overrides`` change its iterations.
    """
    o = _options(TrainOptions(), options, overrides)
    config, run = _train_config(o, out)
    plan = None
    if o.minutes is not None:
        config, plan = fit_to_minutes(config, o.minutes, training_device(o.device))
        if on_schedule is not None:
            on_schedule(plan)
    # a second writer of the run folder is refused; the ranks of one torchrun job share it, and rank 0 holds it
    main_rank = int(os.environ.get("RANK", "0") or 0) == 0
    with output_lock(run, "ammcnet train") if main_rank else nullcontext():
        path = train_run(data, config, run, stage=o.stage, resume=o.resume, change_schedule=o.change_schedule,
                         cache_dir=o.cache_dir, device=o.device, progress=o.progress)
    return TrainResult(run=run, model=Path(path), plan=plan)


def _train_config(o: TrainOptions, out: PathLike | None) -> tuple[TrainConfig, Path]:
    """The config to train with and the run folder: a resumed run starts from its own config.yaml."""
    if o.change_schedule and not o.resume:
        raise ConfigError("--change-schedule changes the schedule of a resumed run: add --resume, or drop it")
    if o.minutes is not None and o.resume:
        raise ConfigError("--minutes sets the schedule of a new run; resume without it (config.yaml keeps the "
                          "schedule; --set stage1.iterations=N --change-schedule changes it)")
    settings = [*o.overrides, *([f"data.workers={o.workers}"] if o.workers is not None else [])]
    return run_config(o.preset, settings, out, resume=o.resume)


def calibrate(model: PathLike, data: PathLike, options: CalibrateOptions | None = None, *, out: PathLike | None = None,
              **overrides: Any) -> dict[str, Any]:
    """Re-score the held-out normal training clips of ``data`` and store a new calibration in the
    model file (or in ``out``), e.g. after changing ``scoring.weights`` (:func:`ammcnet.apps.calibrator.recalibrate`).

    ``options`` defaults to ``CalibrateOptions(progress=False)``; ``overrides`` replace its fields
    (``overrides=["scoring.weights.flow_error=0.5"]``, ``device="cuda"``...).

    Returns:
        ``model`` (path written), ``clips``, ``weights``, ``smoothing``, ``records`` (mean and std
        of each) and ``threshold_fpr_0.01``.
    """
    o = _options(CalibrateOptions(progress=False), options, overrides)
    target = Path(out if out is not None else model)  # the folder of the model file that is rewritten
    with output_lock(target if target.is_dir() else target.parent, "ammcnet calibrate"):
        return recalibrate(model, data, o, out=out)


def info(model: PathLike) -> dict[str, Any]:
    """What a model file holds: sizes, settings, digest check, NaN/inf weights and calibration
    (:func:`ammcnet.models.info.model_info`; :func:`format_info` prints it)."""
    info = model_info(model)
    info["alarms"] = alarm_figures(model)
    return info


def import_official(checkpoint: PathLike, out: PathLike, *, overwrite: bool = False, dataset: str | None = None) -> Path:
    """Convert the authors' released AMMC-Net ``.pth`` into ``out/model.pt`` (missing, extra or
    mis-shaped keys are refused); ``dataset`` is recorded in the model file's meta."""
    return import_official_checkpoint(checkpoint, out, overwrite=overwrite, dataset=dataset)


def export(model: PathLike, onnx: PathLike, options: ExportOptions | None = None, **overrides: Any) -> Path:
    """Export a run's model (both streams, memories, score heads) to the ONNX file ``onnx``; an int8
    graph with ``int8=True, int8_data=TRAINING_DATA``. ``options`` defaults to
    ``ExportOptions(progress=False)``; ``overrides`` replace its fields. Waits for another export into
    the same folder."""
    o = _options(ExportOptions(progress=False), options, overrides)
    with output_lock(Path(onnx).expanduser().resolve().parent, "ammcnet export", wait=True):
        return export_run(model, onnx, o)


# scoring: test, evaluate, detect, watch, bench


def test_options(options: TestOptions | None = None, **overrides: Any) -> TestOptions:
    """The options :func:`test` runs with: ``options`` (default ``TestOptions(plots=False,
    progress=False)``) with ``overrides`` replacing its fields."""
    return _options(TestOptions(plots=False, progress=False), options, overrides)


def test(model: PathLike, data: PathLike, options: TestOptions | None = None, *, out: PathLike | None = None,
         ray: str | None = None, **overrides: Any) -> TestResult:
    """Score the test split of ``data`` and evaluate it (``out`` defaults to ``RUN/test``).

    Args:
        model: run folder or model file.
        data: dataset root or prepared cache folder.
        options: :class:`TestOptions`, e.g. ``score`` (the scoring mode that gives the honest score:
            ``region``, ``fusion``, ``records``, ``max-speed``, ``per-position``, ``motion-head``; default the model
            file's), ``maps``, ``batch_size`` (see :func:`test_options` for the defaults).
        out: the output folder.
        ray: score every test video as a task on a Ray cluster (the ray extra): ``""`` starts a local
            instance, ``"auto"`` joins this machine's cluster; ``options.workers`` > 1 counts actors.
        **overrides: fields of :class:`TestOptions` replacing those of ``options``.

    ``metrics["scoring_modes"]`` holds every mode's figures on the same frames.
    """
    o = test_options(options, **overrides)
    folder = Path(out) if out is not None else default_out_dir(model)
    score_with = None
    if ray is not None:
        score_with = functools.partial(score_prepared_ray, address=ray, workers=o.workers if o.workers > 1 else None)
    with output_lock(folder, "ammcnet test"):
        metrics = run_test(model, data, folder, o, score_with=score_with)
    honest, paper = metrics.get("honest") or {}, metrics.get("paper") or {}
    return TestResult(out=folder, honest_auc=honest.get("auc_micro"), paper_auc=paper.get("auc_micro"),
                      metrics=metrics)


test.__test__ = False  # type: ignore[attr-defined]  # the API function, not a pytest test
test_options.__test__ = False  # type: ignore[attr-defined]


def eval_options(records: str | None = None, *, normalise: str | None = None, smooth: str | None = None,
                 smooth_scope: str | None = None, warmup: int = 4) -> EvalOptions:
    """:class:`EvalOptions` from ``ammcnet evaluate``'s spellings, checked: ``records`` as
    ``NAME[:WEIGHT[:normal|anomalous]],...``; None keeps each default."""
    opts = EvalOptions(warmup=warmup)
    if records is not None:
        parsed = parse_records(records)
        opts.records = {k: w for k, (w, _) in parsed.items()}
        opts.directions = {k: d for k, (_, d) in parsed.items() if d is not None}
    opts.normalise = normalise or opts.normalise
    opts.smooth = smooth or opts.smooth
    opts.smooth_scope = smooth_scope or opts.smooth_scope
    opts.validate()
    return opts


def evaluate(scores: PathLike, labels: PathLike, *, protocol: str = DEFAULT_PROTOCOL, dataset: str | None = None,
             options: EvalOptions | None = None, json_path: PathLike | None = None,
             roc_path: PathLike | None = None) -> EvaluateResult:
    """Frame AUCs of a score file against labels, as ``ammcnet evaluate`` computes them.

    ``protocol`` defaults to ``honest``, the command's default: every record as is, one scale for
    every video, no weight from test labels, so the number is one a camera could reach.
    ``custom``, ``paper`` (per-video min-max, the authors' weights tuned on test labels) and
    ``all`` are chosen by name; ``report.header()`` says which was used. ``json_path`` writes every
    number as JSON, ``roc_path`` the first result's ROC curve as a PNG.
    """
    return evaluate_files(scores, labels, protocol=protocol, dataset=dataset, options=options, json_path=json_path,
                          roc_path=roc_path)


def detect_options(options: DetectOptions | None = None, **overrides: Any) -> DetectOptions:
    """The options :func:`detect` and :func:`detect_many` run with: ``options`` (default
    ``DetectOptions(progress=False)``) with ``overrides`` replacing its fields."""
    return _options(DetectOptions(progress=False), options, overrides)


def detect(source: PathLike | int, model: PathLike, options: DetectOptions | None = None, *,
           out: PathLike | None = None, video: PathLike | None = None, **overrides: Any) -> DetectResult:
    """Score every frame of a video, frame folder, stream or camera; alarm events and files in ``out``.

    Args:
        source: video file, frame folder, ``rtsp://``/``http://`` URL or camera index.
        model: run folder or model file.
        options: :class:`DetectOptions` (``threshold``, ``fpr``, ``device``, ``batch_size``,
            ``reconnect``...; see :func:`detect_options` for the defaults).
        out: folder for ``frames.jsonl``, ``events.json``, ``events.jsonl`` and ``summary.json``.
        video: an annotated MP4 to write (heatmap, score strip, alarm banner).
        **overrides: fields of :class:`DetectOptions` replacing those of ``options``.
    """
    o = detect_options(options, **overrides)
    with output_lock(out, "ammcnet detect") if out is not None else nullcontext():
        return run_detection(source, model, o, out=out, video=video)


def detect_many(sources: Sequence[PathLike | int], model: PathLike, out: PathLike, options: DetectOptions | None = None,
                *, workers: int = 1, ray: str | None = None, **overrides: Any) -> list[DetectResult | None]:
    """Detect every source into ``OUT/<name>/`` and list them in ``OUT/detections.json``
    (:data:`DETECT_INDEX_FILE`); every score equals a single process's.

    Args:
        sources: video files, frame folders, stream URLs or camera indices.
        model: run folder or model file.
        out: the output folder.
        options: as for :func:`detect`; ``threads`` is per worker.
        workers: processes sharing the sources out (with ``ray``: actors; default one per CPU of the cluster).
        ray: run every source as a task on a Ray cluster: ``""`` starts a local instance, ``"auto"``
            joins this machine's cluster (the ``ray`` extra).
        **overrides: fields of :class:`DetectOptions` replacing those of ``options``.

    Returns:
        One summary per source, in the order given (None where it failed: its error is in the index).
    """
    o = detect_options(options, **overrides)
    if ray is not None:
        return detect_many_ray(list(sources), model, out, o, address=ray, workers=workers if workers > 1 else None)
    with output_lock(out, "ammcnet detect"):
        return detect_many_local([str(s) for s in sources], model, out, o, workers=workers)


def watch(config: PathLike | WatchConfig, *, ray: str | None = None, seconds: float | None = None,
          print_status: bool | None = False) -> WatchResult:
    """Watch every camera of ``config`` (a YAML file or :class:`~ammcnet.fleet.watch_config.WatchConfig`):
    one supervised detector each, one event log, a status file; until ``seconds`` pass or Ctrl-C.

    ``ray``: one Ray actor per camera (``""`` a local instance, ``"auto"`` this machine's cluster);
    ``print_status``: a status line on stderr (None: when stderr is a terminal).
    """
    cfg = config if isinstance(config, WatchConfig) else load_watch_config(config)
    status = watch_cameras(cfg, ray=ray, seconds=seconds, print_status=print_status)
    return WatchResult(out=Path(cfg.out), status=status)


def serve(folder: PathLike, options: ServeOptions | None = None, **overrides: Any) -> None:
    """Serve the review pages of a ``detect`` or ``watch`` output folder until Ctrl-C: cameras with
    live scores, events with their snapshot and clip, acknowledge and mark-normal actions recorded
    in ``reviews.jsonl`` (:mod:`ammcnet.serve`; needs the ``serve`` extra). ``overrides`` replace
    fields of ``options`` (default ``ServeOptions()``: 127.0.0.1:8765, no token). "Mark normal" also
    calls the teach-normal update ``teach`` of this module, where it has one and the model file is writable."""
    o = _options(ServeOptions(), options, overrides)
    serve_folder(folder, o, teach=globals().get("teach"))  # the teach-normal update, where this version has it


def bench(config: BenchConfig | None = None, *, json_path: PathLike | None = None, **overrides: Any) -> dict[str, Any]:
    """Throughput of the whole pipeline and of the model, training samples/s and peak memory, each
    beside a plain eager baseline (:func:`ammcnet.bench.run_benchmark`; :func:`format_bench_report`
    prints it). ``overrides`` replace fields of ``config`` (default ``BenchConfig()``); ``json_path``
    writes the report as JSON."""
    report = run_benchmark(_options(BenchConfig(), config, overrides))
    if json_path is not None:
        write_json_atomic(json_path, report)
    return report
