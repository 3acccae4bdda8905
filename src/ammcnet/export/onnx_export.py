"""ONNX export of the full inference graph (two streams, top-k memories, AMFT, score heads).

The graph takes ``frames, target[, flows, flow_target]`` with a dynamic batch axis and returns
``frame_pred[, flow_pred]`` and the scorer's records (``rgb_psnr, rgb_commit[, flow_error,
flow_commit, motion_prior]``, see :mod:`ammcnet.scoring.scorer`). The model's sizes are
stored in the ONNX metadata (``ammcnet.model_config``) so :class:`ammcnet.export.OnnxBackend` can
check inputs without the original model file. BatchNorm is folded first
(:func:`ammcnet.export.optimize_for_inference`), which also makes the graph smaller.

>>> import tempfile, pathlib, onnx
>>> from ammcnet.models import AMMCNet, ModelConfig
>>> p = pathlib.Path(tempfile.mkdtemp()) / "m.onnx"
>>> _ = export_onnx(AMMCNet(ModelConfig(features_root=4, embed_dim=8, n_embed=16)), p, size=(32, 32))
>>> [i.name for i in onnx.load(str(p)).graph.input]
['frames', 'target', 'flows', 'flow_target']
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ammcnet.errors import AmmcError, CheckpointError, ConfigError
from ammcnet.export.fuse import optimize_for_inference
from ammcnet.export.heads import ScoringGraph
from ammcnet.export.quantize import int8_range_feeds, quantize_onnx
from ammcnet.models import load_model_file
from ammcnet.scoring.scorer import Scorer, load_scorer
from ammcnet.training.api import open_training_data
from ammcnet.training.config import stored_config
from ammcnet.utils.io import atomic_path
from ammcnet.utils.optional import require

#: Format tag stored in the ONNX metadata.
ONNX_FORMAT = "ammcnet-onnx/1"
#: Default ONNX opset (TopK with ``largest``/``sorted`` attributes needs >= 11).
DEFAULT_OPSET = 17


def _example_inputs(model: nn.Module, size: tuple[int, int], batch: int) -> tuple[torch.Tensor, ...]:
    cfg = model.config
    h, w = size
    g = torch.Generator().manual_seed(0)
    x = [torch.rand(batch, 3 * cfg.frames_in, h, w, generator=g) * 2 - 1, torch.rand(batch, 3, h, w, generator=g) * 2 - 1]
    if getattr(model, "motion", None) is not None:
        x += [torch.randn(batch, 2 * cfg.flows_in, h, w, generator=g) * 0.05, torch.randn(batch, 2, h, w, generator=g) * 0.05]
    return tuple(x)


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    size: tuple[int, int] = (256, 256),
    opset: int = DEFAULT_OPSET,
    fuse: bool = True,
    meta: dict[str, Any] | None = None,
    scorer: Scorer | None = None,
) -> Path:
    """Write the inference graph of ``model`` to ``path`` (atomically).

    Args:
        model: an ``AMMCNet`` (any mode; exported in eval mode, the original is not changed).
        path: the ``.onnx`` file to write.
        size: (H, W) of the example input used for tracing. Height and width stay fixed in the
            graph (the model was trained at one size); the batch axis is dynamic.
        opset: ONNX opset version.
        fuse: fold BatchNorm into convolutions first.
        meta: extra string-able provenance stored in the metadata.
        scorer: the model file's scorer (its fitted components become part of the graph).

    Returns:
        The written path.
    """
    require("onnx", extra="onnx", purpose="ammcnet export")
    net = optimize_for_inference(model) if fuse else model.eval()
    graph = ScoringGraph(net, scorer).eval()
    inputs = _example_inputs(net, size, batch=2)
    dynamic = {name: {0: "batch"} for name in graph.input_names + graph.output_names}
    final = Path(path)
    with atomic_path(final) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about Python ints in shape checks
        try:
            torch.onnx.export(
                graph,
                inputs,
                str(tmp),
                input_names=graph.input_names,
                output_names=graph.output_names,
                dynamic_axes=dynamic,
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
        except Exception as exc:  # exporter failures are environment problems the user can act on
            raise AmmcError(f"ONNX export to {final} failed ({str(exc).splitlines()[0][:160]}); "
                            "check the installed onnx/torch versions (pip install -e '.[onnx]')") from None
        _write_metadata(tmp, net, size, meta or {})
    return final


def _write_metadata(path: Path, model: nn.Module, size: tuple[int, int], meta: dict[str, Any]) -> None:
    onnx = require("onnx", extra="onnx", purpose="ammcnet export")
    proto = onnx.load(str(path))
    entries = {
        "ammcnet.format": ONNX_FORMAT,
        "ammcnet.model_config": json.dumps(asdict(model.config)),
        "ammcnet.size": json.dumps(list(size)),
        **{f"ammcnet.meta.{k}": json.dumps(v, default=str) for k, v in meta.items()},
    }
    for k, v in entries.items():
        prop = proto.metadata_props.add()
        prop.key, prop.value = k, v
    onnx.save(proto, str(path))


def export_run(run: str | os.PathLike[str], onnx_path: str | os.PathLike[str], *, size: tuple[int, int] | None = None,
               opset: int = DEFAULT_OPSET, int8: bool = False, int8_data: str | os.PathLike[str] | None = None,
               int8_clips: int = 32, float_motion: bool = False, cache_dir: str | None = None,
               progress: bool = True) -> Path:
    """Export a run folder's (or model file's) model to ONNX, at the size it was trained at.

    Args:
        run: a run folder (``RUN/model.pt``) or a model file.
        onnx_path: the ``.onnx`` file to write.
        size: (H, W) override; default: the training size in the model file, else 256x256.
        opset: ONNX opset version.
        int8: write a statically quantised graph (:mod:`ammcnet.export.quantize`) instead.
        int8_data: with ``int8``: the training data (dataset root or prepared cache) whose normal
            training clips set the activation ranges. (Not named "calibrate": ``ammcnet calibrate``
            is the score statistics, a different thing.)
        int8_clips: with ``int8``: how many evenly spaced training clips set the ranges.
        float_motion: with ``int8``: keep the motion stream's encoder and memory float32.
        cache_dir: where a dataset root given as ``int8_data`` is prepared.
        progress: progress bars while preparing the int8 range data.
    """
    if int8 and int8_data is None:
        raise ConfigError("--int8 needs normal clips to set the activation ranges: pass --int8-data TRAINING_DATA "
                          "(the dataset root or prepared cache the model was trained on)")
    loaded = load_model_file(run)
    if size is None:
        size = _training_size(loaded)
    if size[0] % 8 or size[1] % 8:
        raise CheckpointError(f"--size {size[0]}x{size[1]} is not divisible by 8: pick e.g. "
                              f"{max(8, size[0] // 8 * 8)}x{max(8, size[1] // 8 * 8)}")
    meta = {"source": str(loaded.path)}
    scorer = load_scorer(loaded)
    if not int8:
        return export_onnx(loaded.model, onnx_path, size=size, opset=opset, meta=meta, scorer=scorer)
    feeds = int8_range_feeds(_training_clips(loaded, int8_data, size, cache_dir, progress), int8_clips,
                              motion=getattr(loaded.model, "motion", None) is not None)
    with tempfile.TemporaryDirectory(prefix="ammcnet-export-") as tmp:
        fp32 = export_onnx(loaded.model, Path(tmp) / "fp32.onnx", size=size, opset=opset,
                           meta={**meta, "int8_data": str(int8_data)}, scorer=scorer)
        return quantize_onnx(fp32, onnx_path, feeds, float_motion=float_motion)


def _training_clips(loaded: Any, root: str | os.PathLike[str], size: tuple[int, int], cache_dir: str | None,
                    progress: bool) -> Any:
    """The training clips (not the held-out ones) of ``root`` at the export size."""
    if not loaded.train_config:
        raise ConfigError(f"{loaded.path} holds no training settings (an imported model?), so its training data "
                          "cannot be opened to set the int8 ranges; export float32 instead")
    config = stored_config(loaded.train_config, loaded.path)
    config = replace(config, model=loaded.config, data=replace(config.data, size=tuple(size)))
    _, train_set, _ = open_training_data(root, config, cache_dir=cache_dir, progress=progress)
    return train_set


def _training_size(loaded: Any) -> tuple[int, int]:
    """The training size stored in the model file (its settings validated), else 256x256 (imported weights)."""
    if not loaded.train_config:
        return 256, 256
    h, w = stored_config(loaded.train_config, loaded.path).data.size
    return int(h), int(w)
