"""``ammcnet export``: a run's model file to ONNX, with the int8 graph's range clips opened here.

The export library (:mod:`ammcnet.export`) turns a model file into a graph and never reaches the
training package; an int8 graph's activation ranges need normal *training* clips, which only the
training package knows how to open at a model's settings (its held-out clips left out). This
application opens them and hands them to :func:`ammcnet.export.export_model_file`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ammcnet.errors import ConfigError
from ammcnet.export.onnx_export import DEFAULT_OPSET, export_model_file, export_size
from ammcnet.scoring.model_file import ModelFile, read_model_file
from ammcnet.training.api import open_training_data
from ammcnet.training.config import stored_config

__all__ = ["ExportOptions", "export_run", "training_clips"]


@dataclass(frozen=True)
class ExportOptions:
    """How :func:`export_run` writes a graph (``ammcnet export``'s flags).

    Attributes:
        size: (H, W) of the graph's input (default None: the training size in the model file, else 256x256).
        opset: ONNX opset version (default :data:`~ammcnet.export.onnx_export.DEFAULT_OPSET`).
        int8: write a statically quantised graph (:mod:`ammcnet.export.quantize`) instead of float32
            (default False).
        int8_data: with ``int8``: the training data (dataset root or prepared cache) whose normal
            training clips set the activation ranges (default None; needed with ``int8``). (Not named
            "calibrate": ``ammcnet calibrate`` is the score statistics, a different thing.)
        int8_clips: with ``int8``: how many evenly spaced training clips set the ranges (default 32).
        float_motion: with ``int8``: keep the motion stream's encoder and memory float32 (default False).
        cache_dir: where a dataset root given as ``int8_data`` is prepared (default None: the cache folder).
        progress: progress bars while preparing the int8 range data (default True).
    """

    size: tuple[int, int] | None = None
    opset: int = DEFAULT_OPSET
    int8: bool = False
    int8_data: str | os.PathLike[str] | None = None
    int8_clips: int = 32
    float_motion: bool = False
    cache_dir: str | os.PathLike[str] | None = None
    progress: bool = True


def export_run(run: str | os.PathLike[str], onnx_path: str | os.PathLike[str],
               options: ExportOptions = ExportOptions()) -> Path:  # noqa: B008 - frozen, never mutated
    """Export a run folder's (or model file's) model to ONNX, at the size it was trained at.

    Args:
        run: a run folder (``RUN/model.pt``) or a model file.
        onnx_path: the ``.onnx`` file to write.
        options: size, opset and the int8 settings (:class:`ExportOptions`).
    """
    o = options
    if o.int8 and o.int8_data is None:
        raise ConfigError("--int8 needs normal clips to set the activation ranges: pass --int8-data TRAINING_DATA "
                          "(the dataset root or prepared cache the model was trained on)")
    model_file = read_model_file(run)
    size = export_size(model_file, o.size)
    if not o.int8:
        return export_model_file(model_file, onnx_path, size=size, opset=o.opset)
    clips = training_clips(model_file, o.int8_data, size, cache_dir=o.cache_dir, progress=o.progress)
    return export_model_file(model_file, onnx_path, size=size, opset=o.opset, int8_set=clips, int8_clips=o.int8_clips,
                             float_motion=o.float_motion, meta={"int8_data": str(o.int8_data)})


def training_clips(model_file: ModelFile, root: str | os.PathLike[str], size: tuple[int, int], *,
                   cache_dir: str | os.PathLike[str] | None = None, progress: bool = True) -> Any:
    """The training clips (not the held-out ones) of ``root`` at ``size``, prepared with the model
    file's data settings: normal clips the model was fitted to, never test data.

    Raises:
        ConfigError: the model file holds no training settings to prepare its data with.
    """
    if model_file.train_config is None:
        raise ConfigError(f"{model_file.path} holds no training settings (an imported model?), so its training data "
                          "cannot be opened to set the int8 ranges; export float32 instead")
    config = stored_config(model_file.train_config, model_file.path)
    config = replace(config, model=model_file.config, data=replace(config.data, size=tuple(size)))
    _, train_set, _ = open_training_data(root, config, cache_dir=cache_dir, progress=progress)
    return train_set
