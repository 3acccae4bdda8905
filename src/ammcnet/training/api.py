"""``train()``: prepare (or open) the data, run stage 1 and/or stage 2, write the run folder.

A resumed run continues with its own ``config.yaml`` (see :mod:`ammcnet.training.resume`); every
start, resume and change of settings is written to the run's ``history.log``.

>>> from ammcnet.training import load_preset
>>> cfg = load_preset("tiny")
>>> # train("data/ped2", cfg, "runs/ped2-tiny")   # -> Path("runs/ped2-tiny/model.pt")
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch
import yaml

from ammcnet.data.cache import open_prepared, prepare_dataset
from ammcnet.data.clips import ClipDataset
from ammcnet.errors import CheckpointError, ConfigError, DataError
from ammcnet.models import AMMCNet, ModelConfig, load_model_file, save_model_file
from ammcnet.models.checkpoint import check_state_dict
from ammcnet.scoring.calibration import calibrate
from ammcnet.scoring.head_model import region_head_of
from ammcnet.scoring.scorer import Scorer, fit_scorer
from ammcnet.training.config import TrainConfig
from ammcnet.training.distributed import barrier, init_distributed, verify_replicas, world_size
from ammcnet.training.metrics_log import MetricsLog
from ammcnet.training.resume import check_resume, history_line, record_history
from ammcnet.training.sampling import ClipSubset, split_train_val
from ammcnet.training.state import (
    checkpoint_dir,
    heal_checkpoints,
    latest_checkpoint,
    load_latest_train_state,
)
from ammcnet.training.trainer import StageContext, StepHook, load_best, run_stage
from ammcnet.utils.io import write_text_atomic
from ammcnet.version import __version__

STAGES = {"1": (1,), "2": (2,), "all": (1, 2)}


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cpu``/``cuda`` as asked."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ConfigError(f"--device {device!r}: use auto, cpu or cuda")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available; use --device cpu")
    return torch.device(device)


def model_config(config: TrainConfig, *, use_amft: bool | None = None) -> ModelConfig:
    """The :class:`ModelConfig` a training config describes (optionally without AMFT, for stage 1)."""
    if use_amft is None:
        return config.model
    return dataclasses.replace(config.model, use_amft=use_amft and config.model.use_amft)


def open_training_data(
    root: str | os.PathLike[str], config: TrainConfig, *, cache_dir: str | os.PathLike[str] | None, progress: bool
) -> tuple[Any, Any, Any]:
    """Prepared dataset plus the training and held-out clip sets.

    ``root`` is either a prepared cache entry (a folder with ``manifest.json``) or a dataset root,
    which is prepared with the config's data settings (cached, so a second call is instant).

    Raises:
        DataError: the cache does not match the config's size, or there are no training clips.
    """
    root = Path(root)
    if not root.exists():
        raise DataError(f"{root} does not exist; pass a dataset root or a prepared cache folder")
    if (root / "manifest.json").is_file():
        prepared = open_prepared(root)
    else:
        prepared = prepare_dataset(
            root,
            size=tuple(config.data.size),
            flow=config.data.flow,
            flow_preset=config.data.flow_preset,
            cache_dir=cache_dir,
            workers=max(1, config.data.workers),
            splits=("train",),
            progress=progress,
        )
    if tuple(prepared.size) != tuple(config.data.size):
        h, w = prepared.size
        raise DataError(
            f"{prepared.root} holds {h}x{w} frames but the config wants {config.data.size[0]}x{config.data.size[1]}; "
            f"pass the dataset root instead, or --set data.size=[{h},{w}]"
        )
    if not prepared.videos("train"):
        raise DataError(f"{prepared.root} has no training videos; prepare the train split of the dataset")
    clips = ClipDataset(prepared, "train", frames_in=config.model.frames_in, flows_in=config.model.flows_in)
    if len(clips) == 0:
        raise DataError(
            f"{prepared.root}: no training clips (every video is shorter than frames_in + 1 = "
            f"{config.model.frames_in + 1} frames); use longer videos or a smaller model.frames_in"
        )
    train_rows, val_rows = split_train_val(clips.index, config.data.val_fraction)
    if len(train_rows) == 0:
        raise DataError(f"{prepared.root}: no training clips left after holding out data.val_fraction")
    return prepared, ClipSubset(clips, train_rows), ClipSubset(clips, val_rows)


def _check_run_folder(out: Path, stages: tuple[int, ...], resume: bool) -> None:
    if resume:
        return
    taken = [s for s in stages if latest_checkpoint(out, s) is not None]
    if taken:
        raise CheckpointError(
            f"{out} already holds a training run; pass --resume to continue it or choose another --out"
        )


def _calibrate(model: AMMCNet, val_set: Any, config: TrainConfig, device: torch.device,
               scorer: Scorer) -> dict[str, Any] | None:
    """Score statistics of the held-out clips (none held out: no calibration, said in the model file)."""
    if len(val_set) == 0:
        return None
    model.eval()
    try:
        return calibrate(
            model, val_set, batch_size=config.scoring.batch_size, device=str(device), weights=config.scoring.weights,
            smoothing=config.scoring.smoothing, scorer=scorer,
        )
    finally:
        model.train()


def train(
    root: str | os.PathLike[str],
    config: TrainConfig,
    out: str | os.PathLike[str],
    *,
    stage: str = "all",
    resume: bool = False,
    change_schedule: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    device: str = "auto",
    progress: bool = True,
    hook: StepHook | None = None,
) -> Path:
    """Train AMMC-Net in two stages and write a run folder.

    Args:
        root: dataset root or prepared cache folder.
        config: the training config (see :func:`ammcnet.training.load_preset`).
        out: run folder (created).
        stage: ``"1"``, ``"2"`` (needs ``out/stage1.pt``) or ``"all"``.
        resume: continue from the newest checkpoint of each stage, with the run's own settings:
            ``config`` must equal the run's ``config.yaml`` except for
            :data:`~ammcnet.training.resume.RUNTIME_KEYS`.
        change_schedule: on resume, also accept new :data:`~ammcnet.training.resume.SCHEDULE_KEYS`
            values (written to ``config.yaml`` and ``history.log``).
        cache_dir: cache folder for prepared data.
        device: ``auto`` (CUDA if present), ``cpu`` or ``cuda``.
        progress: show a progress bar on a terminal.
        hook: called after every step with (stage, step, logs).

    Returns:
        Path of the final model file ``out/model.pt``.

    Raises:
        ConfigError, DataError, CheckpointError: one-line problems with the input.
    """
    if stage not in STAGES:
        raise ConfigError(f"--stage {stage!r}: use 1, 2 or all")
    stages = STAGES[stage]
    config.validate()
    out = Path(out)
    _check_run_folder(out, stages, resume)
    changed = check_resume(out, config, change_schedule=change_schedule) if resume else {}
    if 2 in stages and 1 not in stages and not (out / "stage1.pt").is_file():
        raise CheckpointError(f"{out / 'stage1.pt'} not found; run stage 1 first (--stage 1 or --stage all)")
    dev = resolve_device(device)
    dctx = init_distributed(dev.type)  # a single process unless started by torchrun
    if dctx.enabled:
        dev = dctx.device
    threads_before = torch.get_num_threads()
    if dev.type == "cpu":
        torch.set_num_threads(config.run.threads or os.cpu_count() or 1)
    else:  # every batch has the same shape: cuDNN times its algorithms once and keeps the fastest
        torch.backends.cudnn.benchmark = True
    try:
        history = history_line(config, stages, resume, changed)
        return _train(root, config, out, stages, resume, cache_dir, dev, progress, hook, dctx.is_main, history)
    finally:
        torch.set_num_threads(threads_before)


def _train(
    root: str | os.PathLike[str],
    config: TrainConfig,
    out: Path,
    stages: tuple[int, ...],
    resume: bool,
    cache_dir: str | os.PathLike[str] | None,
    dev: torch.device,
    progress: bool,
    hook: StepHook | None,
    is_main: bool = True,
    history: str = "",
) -> Path:
    """The body of :func:`train`. Under torchrun every rank runs it; only the main rank writes
    files, and the others wait at barriers where they read what it wrote (``stage1.pt``)."""
    if is_main:  # prepare the cache once; the other ranks then find it ready
        open_training_data(root, config, cache_dir=cache_dir, progress=progress)
    barrier()
    prepared, train_set, val_set = open_training_data(root, config, cache_dir=cache_dir, progress=progress and is_main)
    log: MetricsLog | _NullLog = _NullLog()
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
        checkpoint_dir(out).mkdir(exist_ok=True)
        write_text_atomic(out / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
        if history:
            record_history(out, history)
        # a fresh run keeps the rows of earlier stages only (e.g. stage 1's when running --stage 2)
        resume_after = _resume_point(out) if resume else (min(stages) - 1, 2**62)
        log = MetricsLog(
            out / "metrics.csv",
            resume_after=resume_after,
            tensorboard_dir=(out / "tensorboard") if config.run.tensorboard else None,
        )
    barrier()
    ctx = StageContext(out, train_set, val_set, dev, log, progress=progress, hook=hook)
    meta: dict[str, Any] = {
        "preset": config.name,
        "dataset": str(prepared.root),
        "train_videos": len(prepared.num_frames("train")),
        "train_frames": int(sum(prepared.num_frames("train"))),
        "train_clips": len(train_set),
        "val_clips": len(val_set),
        "device": str(dev),
        "torch_version": str(torch.__version__),
        "ammcnet_version": __version__,
    }
    try:
        model: AMMCNet | None = None
        stage1_disc = None
        if 1 in stages:
            model, stage1_disc = _stage1(config, ctx, resume, meta, is_main)
        if 2 in stages:
            torch.manual_seed(config.run.seed + 1)
            model = AMMCNet(model_config(config)).to(dev)
            _load_stage1(out / "stage1.pt", model)
            if stage1_disc is None and config.stage2.load_discriminator:
                stage1_disc = _stage1_disc(out)
            summary = run_stage(
                2,
                model,
                config,
                ctx,
                resume=resume,
                init_disc=stage1_disc if config.stage2.load_discriminator else None,
            )
            verify_replicas(model)
            barrier()
            meta["stage2"] = _select(out, 2, model, config, summary)
        assert model is not None
        if is_main:
            _save_final(model, ctx, config, {**meta, "stage": max(stages), "world_size": world_size()})
        barrier()
    finally:
        log.close()
    return out / "model.pt"


def _stage1(config: TrainConfig, ctx: StageContext, resume: bool, meta: dict[str, Any],
            is_main: bool) -> tuple[AMMCNet, dict[str, Any]]:
    """Train both streams apart (no AMFT), write ``stage1.pt``; (model, appearance discriminator state)."""
    torch.manual_seed(config.run.seed)
    model = AMMCNet(model_config(config, use_amft=False)).to(ctx.device)
    summary = run_stage(1, model, config, ctx, resume=resume)
    verify_replicas(model)
    barrier()  # the main rank's checkpoints are complete
    meta["stage1"] = _select(ctx.run, 1, model, config, summary)
    if is_main:
        save_model_file(ctx.run / "stage1.pt", model, train_config=config.to_dict(), meta={**meta, "stage": 1})
    barrier()  # every rank reads stage1.pt below
    return model, summary["appearance_disc"]


def _save_final(model: AMMCNet, ctx: StageContext, config: TrainConfig, meta: dict[str, Any]) -> None:
    """Fit the scorer on the training clips, calibrate on the held-out ones, write ``model.pt``."""
    # where and which way things move in the training clips: the motion_prior record
    scorer = fit_scorer(model, ctx.train_set, config.scoring.prior, config.scoring.region_config(),
                        choose_regions=config.scoring.choose_regions,
                        head=region_head_of(config.scoring.head_from))
    calibration = _calibrate(model, ctx.val_set, config, ctx.device, scorer)
    save_model_file(ctx.run / "model.pt", model.cpu(), calibration=calibration, train_config=config.to_dict(), meta=meta,
                    scorer=scorer.state())


class _NullLog:
    """The metrics log of a non-main rank: rank 0 alone writes metrics.csv."""

    def write(self, row: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


def _select(out: Path, stage: int, model: AMMCNet, config: TrainConfig, summary: dict[str, Any]) -> dict[str, Any]:
    info = {
        "steps": summary["steps"],
        "val_loss": summary["val_loss"],
        "best_val": summary["best_val"],
        "best_step": summary["best_step"],
        "selected_step": summary["steps"],
    }
    if config.run.select == "val":
        step = load_best(out, stage, model)
        if step is not None:
            info["selected_step"] = step
    return info


def _load_stage1(path: Path, model: AMMCNet) -> None:
    """Copy both streams (memories included) from the stage-1 model file; AMFT stays freshly initialised."""
    loaded = load_model_file(path)
    state = loaded.model.state_dict()
    own = model.state_dict()
    stream_keys = {k: v for k, v in own.items() if not k.startswith("amft.")}

    class _Streams(torch.nn.Module):
        def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
            return stream_keys

    check_state_dict(path, _Streams(), state, fix="run stage 1 again with the same model.* settings")
    model.load_state_dict(state, strict=False)


def _stage1_disc(out: Path) -> dict[str, Any] | None:
    found = load_latest_train_state(out, 1)
    if found is None:
        return None
    return found[1]["parts"]["appearance"]["disc"]


def _resume_point(out: Path) -> tuple[int, int]:
    heal_checkpoints(out)  # a damaged newest checkpoint: continue from the previous one
    for s in (2, 1):
        ckpt = latest_checkpoint(out, s)
        if ckpt is not None:
            return (s, int(ckpt.stem.split("-")[1]))
    return (0, 0)
