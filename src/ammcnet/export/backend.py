"""Inference backends with one call: ``backend(frames, flows) -> AMMCOutput``.

:class:`TorchBackend` runs the (fused) PyTorch model under ``torch.inference_mode``;
:class:`OnnxBackend` runs an exported graph with ONNX Runtime. Both also offer
``score(frames, target, flows, flow_target) -> dict`` of per-sample records, and both carry
``config``, ``motion`` (None for appearance-only models), ``eval()`` and ``to()`` so they drop
into code written for an ``AMMCNet`` (``ammcnet.scoring.score_prepared`` included).

>>> import torch
>>> from ammcnet.models import AMMCNet, ModelConfig
>>> b = TorchBackend(AMMCNet(ModelConfig(features_root=4, embed_dim=8, n_embed=16)))
>>> b(torch.zeros(1, 12, 32, 32), torch.zeros(1, 6, 32, 32)).frame_pred.shape
torch.Size([1, 3, 32, 32])
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ammcnet.errors import CheckpointError, ConfigError, DataError
from ammcnet.export.fuse import optimize_for_inference
from ammcnet.export.heads import ScoringGraph
from ammcnet.models import AMMCOutput, ModelConfig
from ammcnet.scoring.scorer import Scorer
from ammcnet.utils.optional import require

#: Backend names accepted by :func:`make_backend` (and ``--backend``).
BACKENDS: tuple[str, ...] = ("torch", "eager", "onnx")
#: Compute precisions of :class:`TorchBackend`.
PRECISIONS: tuple[str, ...] = ("float32", "bfloat16", "float16")


class _Backend:
    config: ModelConfig
    motion: Any

    def eval(self) -> _Backend:
        return self

    def to(self, device: Any) -> _Backend:
        return self


class TorchBackend(_Backend):
    """The PyTorch path: fused BatchNorm, inference mode.

    Args:
        model: an ``AMMCNet``.
        fuse: fold BatchNorm first (False = the plain eager model, the benchmark baseline).
        channels_last: channels-last weights and inputs.
        device: torch device string.
        compile: wrap the model in ``torch.compile`` (default mode). Measured on the 2-core CPU of
            BENCHMARKS.md (Speed): 1.5-3x faster per frame than the fused model, after a warm-up of
            about 3 minutes, so worth it only for long runs.
        precision: ``float32``, or ``bfloat16`` / ``float16`` autocast for the network (meant for
            GPUs with tensor cores; bf16 on a CPU without AVX-512 is emulated and slow). Outputs
            and score records are returned in float32 either way.
        scorer: the model file's scorer, for :meth:`score` (default: the plain records).
    """

    def __init__(self, model: nn.Module, *, fuse: bool = True, channels_last: bool = False, device: str = "cpu",
                 compile: bool = False, precision: str = "float32", scorer: Scorer | None = None) -> None:
        if precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
        net = optimize_for_inference(model, channels_last=channels_last) if fuse else model.eval()
        net = net.to(device)
        if torch.device(device).type == "cuda":
            # fixed input shapes: let cuDNN time its algorithms once and keep the fastest
            torch.backends.cudnn.benchmark = True
        self.model = torch.compile(net) if compile else net
        self.config = model.config
        self.motion = getattr(model, "motion", None)
        self.device = torch.device(device)
        self.channels_last = channels_last
        self.precision = precision
        self._graph = ScoringGraph(self.model, scorer).to(device)

    def _autocast(self) -> Any:
        if self.precision == "float32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=getattr(torch, self.precision))

    def _in(self, x: Tensor | None) -> Tensor | None:
        if x is None:
            return None
        x = x.to(self.device)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def __call__(self, frames: Tensor, flows: Tensor | None = None) -> AMMCOutput:
        with torch.inference_mode(), self._autocast():
            out = self.model(self._in(frames), self._in(flows))
        if self.precision == "float32":
            return out
        fields = {f.name: getattr(out, f.name) for f in dataclasses.fields(out)}
        return AMMCOutput(**{k: v.float() if isinstance(v, Tensor) and v.is_floating_point() else v
                             for k, v in fields.items()})

    def score(self, frames: Tensor, target: Tensor, flows: Tensor | None = None,
              flow_target: Tensor | None = None) -> dict[str, np.ndarray]:
        """Predictions and per-sample records as float32 numpy arrays (names as the ONNX outputs)."""
        with torch.inference_mode(), self._autocast():
            outs = self._graph(self._in(frames), self._in(target), self._in(flows), self._in(flow_target))
        return {k: v.float().cpu().numpy() for k, v in zip(self._graph.output_names, outs, strict=True)}


class OnnxBackend(_Backend):
    """An exported graph run by ONNX Runtime (CPU by default).

    Args:
        path: the ``.onnx`` file written by :func:`ammcnet.export.export_onnx`.
        threads: intra-op threads (default: ``torch.get_num_threads()``).
        providers: ONNX Runtime execution providers (default: CPU).
    """

    def __init__(self, path: str | os.PathLike[str], *, threads: int | None = None,
                 providers: list[str] | None = None) -> None:
        ort = require("onnxruntime", extra="onnx", purpose="the onnx backend (or use --backend torch)")
        self.path = Path(path)
        if not self.path.is_file():
            raise CheckpointError(f"{self.path} not found: export one with `ammcnet export RUN --onnx {self.path}`")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads or torch.get_num_threads())
        opts.inter_op_num_threads = 1
        # no busy-waiting between ops: on a shared CPU spinning threads steal the cores they wait for
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=providers or ["CPUExecutionProvider"])
        except Exception as exc:
            raise CheckpointError(f"{self.path} is not a readable ONNX model ({str(exc).splitlines()[0][:120]}); "
                                  "export it again") from None
        props = self.session.get_modelmeta().custom_metadata_map
        if "ammcnet.model_config" not in props:
            raise CheckpointError(f"{self.path} was not written by `ammcnet export` (no ammcnet metadata); export it again")
        self.config = ModelConfig(**json.loads(props["ammcnet.model_config"]))
        self.size = tuple(json.loads(props.get("ammcnet.size", "[256, 256]")))
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.motion = True if "flows" in self.input_names else None
        #: ``float32``, or ``int8`` for a graph written by ``ammcnet export --int8``
        self.precision = props.get("ammcnet.precision", "float32")

    def _feed(self, frames: Any, target: Any, flows: Any, flow_target: Any) -> dict[str, np.ndarray]:
        def arr(x: Any) -> np.ndarray:
            return np.ascontiguousarray(x.detach().cpu().numpy() if isinstance(x, Tensor) else x, dtype=np.float32)

        f = arr(frames)
        if tuple(f.shape[2:]) != self.size:
            raise DataError(f"{self.path} was exported for {self.size[0]}x{self.size[1]} inputs, got "
                            f"{f.shape[2]}x{f.shape[3]}: prepare the data at the exported size or export again with --size")
        b, (h, w) = f.shape[0], f.shape[2:]
        feed = {"frames": f, "target": arr(target) if target is not None else np.zeros((b, 3, h, w), np.float32)}
        if self.motion is not None:
            if flows is None:
                raise DataError(f"{self.path} has a motion stream: pass flows as well as frames")
            feed["flows"] = arr(flows)
            feed["flow_target"] = arr(flow_target) if flow_target is not None else np.zeros((b, 2, h, w), np.float32)
        return feed

    def score(self, frames: Any, target: Any, flows: Any = None, flow_target: Any = None) -> dict[str, np.ndarray]:
        """Predictions and per-sample records, by output name, as float32 numpy arrays."""
        outs = self.session.run(None, self._feed(frames, target, flows, flow_target))
        return dict(zip(self.output_names, outs, strict=True))

    def __call__(self, frames: Any, flows: Any = None) -> AMMCOutput:
        r = self.score(frames, None, flows, None)

        def t(name: str) -> Tensor | None:
            return torch.from_numpy(r[name]) if name in r else None

        return AMMCOutput(
            frame_pred=t("frame_pred"),
            flow_pred=t("flow_pred"),
            frame_commit=t("rgb_commit").mean(),
            flow_commit=t("flow_commit").mean() if "flow_commit" in r else None,
            frame_commit_per_sample=t("rgb_commit"),
            flow_commit_per_sample=t("flow_commit"),
            frame_commit_map=t("frame_commit_map"),  # None in graphs exported before the maps were outputs
            flow_commit_map=t("flow_commit_map"),
        )


def make_backend(name: str, model: nn.Module | None = None, *, onnx_path: str | os.PathLike[str] | None = None,
                 device: str = "cpu", channels_last: bool = False) -> Any:
    """Build a backend by name: ``torch`` (fused), ``eager`` (the plain model) or ``onnx``.

    Raises:
        ConfigError: an unknown name, or ``onnx`` without a file.
    """
    if name == "onnx":
        if onnx_path is None:
            raise ConfigError("--backend onnx needs an exported graph: pass --onnx FILE (see `ammcnet export`)")
        return OnnxBackend(onnx_path)
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
    if model is None:
        raise ConfigError(f"backend {name!r} needs a model")
    return TorchBackend(model, fuse=name == "torch", channels_last=channels_last, device=device)
