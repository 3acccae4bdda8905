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
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ammcnet.errors import AmmcError, CheckpointError
from ammcnet.export.fuse import optimize_for_inference
from ammcnet.export.heads import ScoringGraph
from ammcnet.export.quantize import DEFAULT_INT8_CLIPS, int8_range_feeds, quantize_onnx
from ammcnet.scoring.model_file import ModelFile
from ammcnet.scoring.scorer import Scorer
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


def export_size(model_file: ModelFile, size: tuple[int, int] | None = None) -> tuple[int, int]:
    """The (H, W) a model file is exported at: ``size``, else the training size stored in it (its
    settings checked when it was read), else 256x256 (imported weights). Checked before any work,
    so a caller preparing int8 range clips at this size does not do so for nothing.

    Raises:
        CheckpointError: the size is not divisible by 8 (the network halves it three times).
    """
    if size is None:
        size = model_file.training_size or (256, 256)
    if size[0] % 8 or size[1] % 8:
        raise CheckpointError(f"--size {size[0]}x{size[1]} is not divisible by 8: pick e.g. "
                              f"{max(8, size[0] // 8 * 8)}x{max(8, size[1] // 8 * 8)}")
    return int(size[0]), int(size[1])


def export_model_file(model_file: ModelFile, onnx_path: str | os.PathLike[str], *, size: tuple[int, int] | None = None,
                      opset: int = DEFAULT_OPSET, int8_set: Any = None, int8_clips: int = DEFAULT_INT8_CLIPS,
                      float_motion: bool = False, meta: dict[str, Any] | None = None) -> Path:
    """Export a model file's network and scorer to ONNX, at the size it was trained at.

    The int8 graph's activation ranges come from normal training clips, which the caller opens
    (:func:`ammcnet.apps.exporter.export_run` opens them from the training data): exporting never
    reads training data itself.

    Args:
        model_file: the model file (:func:`ammcnet.scoring.model_file.read_model_file`).
        onnx_path: the ``.onnx`` file to write.
        size: (H, W) override (:func:`export_size`).
        opset: ONNX opset version.
        int8_set: a clip dataset of normal training clips: write a statically quantised graph
            (:mod:`ammcnet.export.quantize`) whose ranges they set; None writes float32.
        int8_clips: with ``int8_set``: how many evenly spaced clips set the ranges.
        float_motion: with ``int8_set``: keep the motion stream's encoder and memory float32.
        meta: provenance stored in the graph's metadata beside the source file.
    """
    size = export_size(model_file, size)
    meta = {"source": str(model_file.path), **(meta or {})}
    scorer = model_file.scorer
    if int8_set is None:
        return export_onnx(model_file.model, onnx_path, size=size, opset=opset, meta=meta, scorer=scorer)
    feeds = int8_range_feeds(int8_set, int8_clips, motion=getattr(model_file.model, "motion", None) is not None)
    with tempfile.TemporaryDirectory(prefix="ammcnet-export-") as tmp:
        fp32 = export_onnx(model_file.model, Path(tmp) / "fp32.onnx", size=size, opset=opset, meta=meta, scorer=scorer)
        return quantize_onnx(fp32, onnx_path, feeds, float_motion=float_motion)
