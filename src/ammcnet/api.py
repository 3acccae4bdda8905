"""The Python API: train, test, detect, evaluate and load, each returning a typed result.

Every ``ammcnet`` command is a thin layer over these functions (``import ammcnet`` gives them
lazily, so ``ammcnet --help`` starts without torch). Arguments are named alike across them:
``data`` (a dataset root or prepared cache), ``model`` (a run folder or model file), ``out``
(an output folder), ``device`` and ``progress``.

>>> import ammcnet
>>> sorted(n for n in ("train", "test", "detect", "evaluate", "load") if callable(getattr(ammcnet, n)))
['detect', 'evaluate', 'load', 'test', 'train']
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ammcnet.apps.tester import default_out_dir, run_test
from ammcnet.data.clips import ClipBatch
from ammcnet.detect import DetectionSummary, Detector, run_detection
from ammcnet.metrics import EvalOptions, evaluate_files
from ammcnet.metrics.protocols import DEFAULT_PROTOCOL, EvalReport
from ammcnet.models import AMMCNet, AMMCOutput, LoadedModel, load_model_file
from ammcnet.regions.validation_dataset import ValidationDataset, write_validation_dataset
from ammcnet.scoring.scorer import Scorer, load_scorer
from ammcnet.scoring.settings import ScoringSettings, scoring_settings
from ammcnet.training import train as train_run
from ammcnet.training.resume import run_config

PathLike = str | os.PathLike[str]
#: What :func:`detect` returns (the summary ``ammcnet detect`` prints and writes).
DetectResult = DetectionSummary
#: What :func:`evaluate` returns (the report ``ammcnet evaluate`` prints and writes).
EvaluateResult = EvalReport
#: What :func:`synthesize` returns (the folder and its videos).
SynthesizeResult = ValidationDataset


@dataclass
class Model:
    """A model file, loaded: the network, its scorer and the settings that fuse its records.

    Attributes:
        network: the ``AMMCNet``, in eval mode.
        scorer: the one scoring path with the file's fitted components (e.g. the motion prior).
        settings: fusion weights and smoothing (:func:`ammcnet.scoring.settings.scoring_settings`).
        calibration: statistics of the records on held-out normal clips, or None.
        train_config: the training settings, or None.
        path: the file that was read.
    """

    network: AMMCNet
    scorer: Scorer
    settings: ScoringSettings
    calibration: dict[str, Any] | None
    train_config: dict[str, Any] | None
    path: Path

    def score(self, batch: ClipBatch) -> tuple[AMMCOutput, dict[str, Any]]:
        """The network's output and the per-clip records of one batch of clips."""
        return self.scorer.score(self.network, batch)

    def detector(self, **kwargs: Any) -> Detector:
        """An online detector over this model (``kwargs``: see :meth:`ammcnet.detect.Detector.from_run`)."""
        return Detector.from_run(self.path, **kwargs)


@dataclass
class TrainResult:
    """A finished training run.

    Attributes:
        run: the run folder (``config.yaml``, ``metrics.csv``, checkpoints).
        model: the final model file, ``run/model.pt``.
    """

    run: Path
    model: Path


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


def load(model: PathLike, *, device: str = "cpu") -> Model:
    """Read a run folder or model file: network, scorer and scoring settings."""
    loaded: LoadedModel = load_model_file(model, map_location=device)
    return Model(loaded.model, load_scorer(loaded), scoring_settings(loaded.train_config, loaded.calibration),
                 loaded.calibration, loaded.train_config, loaded.path)


def train(data: PathLike, *, preset: str | None = None, out: PathLike | None = None,
          overrides: list[str] | tuple[str, ...] = (), device: str = "auto", resume: bool = False,
          change_schedule: bool = False, cache_dir: PathLike | None = None, progress: bool = False) -> TrainResult:
    """Train on the normal videos of ``data`` with a preset (default ``cpu-lite``) and ``key=value`` overrides.

    ``out`` defaults to ``runs/<preset name>``. With ``resume`` and no ``preset``, the run continues
    with its own ``config.yaml``; ``change_schedule`` lets ``overrides`` change its iterations.
    """
    config, run = run_config(preset, overrides, out, resume=resume)
    path = train_run(data, config, run, resume=resume, change_schedule=change_schedule, cache_dir=cache_dir,
                     device=device, progress=progress)
    return TrainResult(run=run, model=Path(path))


def test(model: PathLike, data: PathLike, *, out: PathLike | None = None, protocol: str = "honest",
         maps: bool = False, plots: bool = False, batch_size: int = 16, device: str = "cpu",
         cache_dir: str | None = None, progress: bool = False, score: str | None = None) -> TestResult:
    """Score the test split of ``data`` and evaluate it (``out`` defaults to ``RUN/test``).

    ``score`` picks the scoring mode that gives the honest score (``region``, ``fusion``,
    ``records``, ``max-speed``, ``per-position``; default the model file's), as ``ammcnet test
    --score`` does; ``metrics["scoring_modes"]`` holds every mode's figures on the same frames.
    """
    folder = Path(out) if out is not None else default_out_dir(model)
    metrics = run_test(model, data, folder, protocol=protocol, maps=maps, plots=plots, batch_size=batch_size,
                       device=device, cache_dir=cache_dir, progress=progress, score=score)
    honest, paper = metrics.get("honest") or {}, metrics.get("paper") or {}
    return TestResult(out=folder, honest_auc=honest.get("auc_micro"), paper_auc=paper.get("auc_micro"),
                      metrics=metrics)


def detect(source: PathLike | int, model: PathLike, *, out: PathLike | None = None, video: PathLike | None = None,
           threshold: str | float | None = "auto", device: str = "cpu", progress: bool = False) -> DetectResult:
    """Score every frame of a video, frame folder, stream or camera; alarm events and files in ``out``."""
    return run_detection(source, model, out=out, video=video, threshold=threshold, device=device, progress=progress)


test.__test__ = False  # type: ignore[attr-defined]  # the API function, not a pytest test


def evaluate(scores: PathLike, labels: PathLike, *, protocol: str = DEFAULT_PROTOCOL, dataset: str | None = None,
             options: EvalOptions | None = None) -> EvaluateResult:
    """Frame AUCs of a score file against labels, as ``ammcnet evaluate`` computes them.

    ``protocol`` defaults to ``honest``, the command's default: every record as is, one scale for
    every video, no weight from test labels, so the number is one a camera could reach.
    ``custom``, ``paper`` (per-video min-max, the authors' weights tuned on test labels) and
    ``all`` are chosen by name; ``report.header()`` says which was used.
    """
    return evaluate_files(scores, labels, protocol=protocol, dataset=dataset, options=options)


def synthesize(data: PathLike, out: PathLike, *, seed: int = 0, per_kind: int = 3, image_format: str = "png",
               overwrite: bool = False, rotation: int = 0, progress: bool = False) -> SynthesizeResult:
    """Write a validation dataset made from the normal training videos of ``data``: held-out normal
    videos and synthetic anomalies, with labels (:mod:`ammcnet.regions.validation_dataset`;
    ``rotation`` 0-3: which quarter of the videos is held out)."""
    return write_validation_dataset(data, out, seed=seed, per_kind=per_kind, image_format=image_format,
                                    overwrite=overwrite, rotation=rotation, progress=progress)
