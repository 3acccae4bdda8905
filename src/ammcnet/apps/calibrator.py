"""Recompute a trained model's calibration: new fusion weights or smoothing without re-training.

The honest protocol and ``--threshold auto`` read statistics of the model's scores on held-out
normal clips, stored in the model file at the end of training, together with the fused-score
table of the weights and smoothing in force then. Changing ``scoring.weights`` or
``scoring.smoothing`` afterwards needs those tables again: this module re-scores the same held-out
clips (the last ``data.val_fraction`` of every training video, as training held them out) and
rewrites the model file atomically. No test video and no label is read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ammcnet.errors import ConfigError, DataError
from ammcnet.models import save_model_file
from ammcnet.scoring.calibration import calibrate, threshold_for_fpr
from ammcnet.scoring.head_model import region_head_of
from ammcnet.scoring.model_file import ModelFile, read_model_file
from ammcnet.scoring.scorer import fit_scorer
from ammcnet.training.api import open_training_data
from ammcnet.training.config import TrainConfig, apply_overrides, stored_config
from ammcnet.training.presets import load_preset

#: Keys ``--set`` may change here: how scores are fused, and which clips are held out.
ALLOWED_PREFIXES: tuple[str, ...] = ("scoring.", "data.val_fraction")


@dataclass(frozen=True)
class CalibrateOptions:
    """How :func:`recalibrate` re-scores the held-out clips (``ammcnet calibrate``'s flags).

    Attributes:
        overrides: ``key=value`` settings under ``scoring.`` (weights, smoothing, batch size) or
            ``data.val_fraction`` (default none: the model file's own settings).
        preset: training settings to assume when the model file holds none, e.g. an imported model
            (default None).
        batch_size: inference batch size (default None: ``scoring.batch_size``; changes no value).
        device: torch device string (default ``cpu``).
        cache_dir: where a dataset root is prepared (default None: ``$AMMCNET_CACHE``, else ``~/.cache/ammcnet``).
        progress: progress bars (default True).
    """

    overrides: tuple[str, ...] = ()
    preset: str | None = None
    batch_size: int | None = None
    device: str = "cpu"
    cache_dir: str | os.PathLike[str] | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "overrides", tuple(self.overrides))  # a list from argparse compares equal


def recalibrate(
    run: str | os.PathLike[str],
    root: str | os.PathLike[str],
    options: CalibrateOptions = CalibrateOptions(),  # noqa: B008 - frozen, never mutated
    *,
    out: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Re-score the held-out normal training clips and store a new calibration.

    Args:
        run: a run folder (``RUN/model.pt``) or a model file.
        root: the training data: a dataset root (prepared at the run's settings) or a prepared cache.
        options: the settings changed, batch size, device, cache folder and progress (:class:`CalibrateOptions`).
        out: where to write the recalibrated model file (default: overwrite the input, atomically).

    Returns:
        A summary: ``model`` (path written), ``clips``, ``weights``, ``smoothing``, ``records``
        (mean and std of each record) and ``threshold_fpr_0.01``.

    Raises:
        ConfigError: a key outside :data:`ALLOWED_PREFIXES`, or no training settings to go by.
        DataError: no held-out clips.
    """
    bad = [o for o in options.overrides if not o.split("=", 1)[0].strip().startswith(ALLOWED_PREFIXES)]
    if bad:
        raise ConfigError(
            f"--set {bad[0]!r}: only scoring.* and data.val_fraction can change after training "
            "(other settings would describe a different model or data)"
        )
    loaded = read_model_file(run)
    config = _settings(loaded, options.preset, options.overrides)
    progress = options.progress
    _, train_set, val_set = open_training_data(root, config, cache_dir=options.cache_dir, progress=progress)
    if len(val_set) == 0:
        raise DataError(
            f"no held-out clips in {root} with data.val_fraction={config.data.val_fraction}: "
            "pass --set data.val_fraction=0.1 (or larger)"
        )
    weights, smoothing = config.scoring.weights, config.scoring.smoothing
    # (re)fitted on the training clips, like at training
    scorer = fit_scorer(loaded.model, train_set, config.scoring.prior, config.scoring.region_config(),
                        choose_regions=config.scoring.choose_regions, progress=progress,
                        head=region_head_of(config.scoring.head_from))
    calibration = calibrate(loaded.model, val_set, batch_size=options.batch_size or config.scoring.batch_size,
                            device=options.device, weights=weights, smoothing=smoothing, progress=progress,
                            scorer=scorer)
    dest = Path(out) if out is not None else loaded.path
    meta = {**(loaded.meta or {}), "recalibrated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
            "calibration_clips": len(val_set)}
    save_model_file(dest, loaded.model.cpu(), calibration=calibration, train_config=config.to_dict(), meta=meta,
                    scorer=scorer.state())
    return {
        "model": str(dest),
        "clips": len(val_set),
        "weights": weights.to_dict(),
        "smoothing": smoothing.to_dict(),
        "records": {k: {"mean": v["mean"], "std": v["std"]} for k, v in calibration["records"].items()},
        "threshold_fpr_0.01": threshold_for_fpr(calibration, 0.01, weights=weights, smoothing=smoothing),
    }


def _settings(loaded: ModelFile, preset: str | None, overrides: tuple[str, ...] | list[str]) -> TrainConfig:
    """The model file's whole training settings (or ``preset`` for an imported model) with ``overrides``
    applied: re-fitting opens its training data and the file is saved with every section again."""
    if loaded.train_config:
        config = stored_config(loaded.train_config, loaded.path)
    elif preset:
        config = load_preset(preset)
    else:
        raise ConfigError(
            f"{loaded.path} holds no training settings (an imported model?): pass --preset NAME to say at "
            "which size and flow settings its data is prepared"
        )
    config = apply_overrides(config, overrides)
    if config.model != loaded.config:  # the weights decide the architecture (e.g. a preset for an import)
        config = replace(config, model=loaded.config)
    return config
