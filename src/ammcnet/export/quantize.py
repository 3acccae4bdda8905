"""int8 inference graphs: static post-training quantisation of an exported ONNX graph.

Why: the full-size model (``paper-ped2``, 256x256, C = 64) is 168 GFLOP per frame and float32
direct convolution on a 2-core AVX2 CPU tops out near 1 fps (BENCHMARKS.md). ONNX Runtime's
``QLinearConv`` multiplies uint8 activations by int8 weights with AVX2's ``vpmaddubsw`` (32
multiply-adds per instruction against 8 for a float32 FMA), which measured 1.5x faster than the
float32 graph on that CPU. Lower precision changes the scores slightly, so the quantised graph is
opt-in and its AUC against the float32 graph is measured in BENCHMARKS.md.

Choices, each measured on the 2-core CPU (paper-ped2, batch 1, 2 threads; fp32 graph 0.94 fps):

- QOperator format (``QLinearConv``) 1.34 fps, QDQ format 1.13 fps;
- quantising ``Relu``, ``MaxPool`` and ``Concat`` as well (activations stay uint8 between
  convolutions, the Relu folds into the convolution's output range) 1.50 fps;
- activations uint8 (int8 activations have no fast x86 kernel: 0.23 fps); weights int8, per
  output channel; ``ConvTranspose`` stays float32 (quantising it was slower);
- only convolutions followed by a ReLU (the UNet bodies, AMFT) are quantised; the heads that
  produce the scored values (the output convolutions before ``tanh``, the memories' 1x1
  projections) and the input convolutions stay float32 (about 1 % of the FLOPs). The input
  convolutions are the sensitive ones: quantised, one of three Ped2 models lost 5 points of
  paper-protocol AUC (:func:`float_convs`; decided after Ped2 test results: docs/decisions.md D6).

What int8 costs (three trained Ped2 models, BENCHMARKS.md): the appearance records stay at
correlation >= 0.998 with float32 and the paper-protocol AUC does not move, but the motion-error
record carries rounding noise (correlation 0.68-0.91; keeping the last layers float32 as well did
not help) and the honest AUC loses 1-2 points. ``float_motion`` keeps the motion stream's encoder
and memory float32 (its commitment record is then exact; honest AUC within 0.5 points).

Calibration (activation ranges, min-max) reads normal clips only: training clips of the data the
model was trained on, never test data.

>>> import tempfile, pathlib, numpy as np
>>> from ammcnet.models import AMMCNet, ModelConfig
>>> from ammcnet.export import export_onnx, OnnxBackend
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> m = AMMCNet(ModelConfig(features_root=4, embed_dim=8, n_embed=16))
>>> fp32 = export_onnx(m, d / "m.onnx", size=(32, 32))
>>> feeds = [{"frames": np.zeros((1, 12, 32, 32), np.float32), "target": np.zeros((1, 3, 32, 32), np.float32),
...           "flows": np.zeros((1, 6, 32, 32), np.float32), "flow_target": np.zeros((1, 2, 32, 32), np.float32)}]
>>> q = quantize_onnx(fp32, d / "m-int8.onnx", feeds)
>>> OnnxBackend(q).precision
'int8'
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ammcnet.errors import AmmcError, ConfigError
from ammcnet.utils.io import atomic_path
from ammcnet.utils.optional import require

#: Operators quantised (activations uint8 from one convolution to the next).
INT8_OPS: tuple[str, ...] = ("Conv", "Relu", "MaxPool", "Concat")
#: Default number of calibration clips.
DEFAULT_INT8_CLIPS = 32


def quantize_onnx(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    calibration: Iterable[dict[str, np.ndarray]],
    *,
    per_channel: bool = True,
    method: str = "minmax",
    float_motion: bool = False,
) -> Path:
    """Write an int8 copy of an ``ammcnet export`` graph (atomically), keeping its metadata.

    Args:
        src: a float32 ``.onnx`` written by :func:`ammcnet.export.export_onnx`.
        dst: the int8 ``.onnx`` to write.
        calibration: input feeds (``{"frames": ..., "target": ..., ...}``, float32 numpy, batch 1
            or more) of normal clips; activation ranges are their min-max.
        per_channel: one weight scale per output channel (more accurate; no slower).
        method: activation-range calibration: ``minmax``, ``percentile`` or ``entropy``.
        float_motion: keep the motion stream's encoder and memory float32 (quantise the appearance
            stream, AMFT and the decoders only): closer motion records, less speed.

    Returns:
        The written path.

    Raises:
        ConfigError: no calibration feeds.
        AmmcError: onnxruntime's quantiser failed.
    """
    purpose = "ammcnet export --int8"
    onnx = require("onnx", extra="onnx", purpose=purpose)
    quant = require("onnxruntime.quantization", extra="onnx", purpose=purpose)
    CalibrationDataReader, CalibrationMethod = quant.CalibrationDataReader, quant.CalibrationMethod
    QuantFormat, QuantType, quantize_static = quant.QuantFormat, quant.QuantType, quant.quantize_static
    quant_pre_process = require("onnxruntime.quantization.shape_inference", extra="onnx",
                                purpose=purpose).quant_pre_process

    feeds = list(calibration)
    if not feeds:
        raise ConfigError("int8 quantisation needs calibration clips (normal training clips); none were given")

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it: Iterator[dict[str, np.ndarray]] = iter(feeds)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    src, final = Path(src), Path(dst)
    meta = {p.key: p.value for p in onnx.load(str(src), load_external_data=False).metadata_props}
    try:
        with _quiet_quantiser(), tempfile.TemporaryDirectory(prefix="ammcnet-quant-") as tmp_dir, \
                atomic_path(final) as tmp:
            pre = Path(tmp_dir) / "pre.onnx"
            quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
            graph = onnx.load(str(pre))
            quantize_static(str(pre), str(tmp), _Reader(), quant_format=QuantFormat.QOperator,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            per_channel=per_channel, op_types_to_quantize=list(INT8_OPS),
                            nodes_to_exclude=float_convs(graph) + (motion_only_nodes(graph) if float_motion else []),
                            calibrate_method={"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                                              "percentile": CalibrationMethod.Percentile}[method])
            _write_metadata(onnx, tmp, {**meta, "ammcnet.precision": "int8",
                                        "ammcnet.int8_range_feeds": str(len(feeds)),
                                        "ammcnet.int8_float_motion": json.dumps(float_motion)})
    except (AmmcError, ConfigError):
        raise
    except Exception as exc:
        raise AmmcError(f"int8 quantisation of {src} failed ({str(exc).splitlines()[0][:160]}); "
                        "check the installed onnx/onnxruntime versions") from None
    return final


def _write_metadata(onnx: Any, path: Path, entries: dict[str, str]) -> None:
    """Replace the metadata of the ONNX file at ``path`` with ``entries``."""
    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    for k, v in entries.items():
        prop = proto.metadata_props.add()
        prop.key, prop.value = k, v
    onnx.save(proto, str(path))


class _QuantiserFilter(logging.Filter):
    """Drops the records onnxruntime's quantiser logs (one warning per integer shape tensor)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "/onnxruntime/quantization/" not in record.pathname.replace("\\", "/")


@contextlib.contextmanager
def _quiet_quantiser() -> Iterator[None]:
    """Silence the quantiser while it runs, and nothing else.

    It logs through the root logger (``logging.warning``); a filter on that logger, removed
    afterwards, drops only records from ``onnxruntime/quantization``. The root logger's level
    and every other library's messages stay as the application set them.
    """
    root, flt = logging.getLogger(), _QuantiserFilter()
    root.addFilter(flt)
    try:
        yield
    finally:
        root.removeFilter(flt)


def float_convs(model: Any) -> list[str]:
    """Convolutions kept float32: those reading a graph input, and those not followed by ReLUs only.

    The input convolutions see raw frames and flows through large first-layer weights; in int8
    they decided the PSNR record of one Ped2 model alone (correlation with float32 0.59, 1.00
    with them float32). The others are the score heads (output convolutions, memory projections).
    """
    inputs = {i.name for i in model.graph.input}
    consumers: dict[str, list[str]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node.op_type)
    return [n.name for n in model.graph.node
            if n.op_type == "Conv" and (inputs.intersection(n.input)
                                        or set(consumers.get(n.output[0], ["graph output"])) != {"Relu"})]


def _reachable(model: Any, start: str) -> set[str]:
    """Names of the nodes that depend on graph input ``start``."""
    live, names = {start}, set()
    for node in model.graph.node:  # ONNX graphs are topologically sorted
        if live.intersection(node.input):
            live.update(node.output)
            names.add(node.name)
    return names


def motion_only_nodes(model: Any) -> list[str]:
    """Nodes computed from the flows alone (the motion stream before AMFT mixes in appearance)."""
    inputs = {i.name for i in model.graph.input}
    if "flows" not in inputs:
        return []
    return sorted(_reachable(model, "flows") - _reachable(model, "frames"))


def int8_range_feeds(dataset: Any, clips: int = DEFAULT_INT8_CLIPS, *, motion: bool = True) -> list[dict[str, np.ndarray]]:
    """Evenly spaced clips of a clip dataset as ONNX feeds (batch 1), for :func:`quantize_onnx`.

    Args:
        dataset: a ``ClipDataset`` (or subset) of normal training clips.
        clips: how many (all of them when the dataset is smaller).
        motion: include ``flows``/``flow_target`` (graphs with a motion stream).
    """
    n = len(dataset)
    if n == 0:
        raise ConfigError("no training clips to calibrate the int8 graph on")
    rows = np.unique(np.linspace(0, n - 1, num=min(clips, n)).round().astype(np.int64))
    feeds = []
    for i in rows:
        item = dataset[int(i)]
        feed = {"frames": item["frames"][None].numpy(), "target": item["target"][None].numpy()}
        if motion:
            feed["flows"] = item["flows"][None].numpy()
            feed["flow_target"] = item["flow_target"][None].numpy()
        feeds.append({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in feed.items()})
    return feeds


def synthetic_feeds(model_config: Any, size: tuple[int, int], n: int = 4, *, motion: bool = True,
                    seed: int = 0) -> list[dict[str, np.ndarray]]:
    """Random clips in the model's input ranges: calibration for speed measurements only.

    Speed does not depend on the activation ranges; accuracy does, so real exports calibrate on
    training clips (:func:`int8_range_feeds`).
    """
    rng = np.random.default_rng(seed)
    h, w = size
    feeds = []
    for _ in range(n):
        feed = {"frames": rng.uniform(-1, 1, (1, 3 * model_config.frames_in, h, w)),
                "target": rng.uniform(-1, 1, (1, 3, h, w))}
        if motion:
            feed["flows"] = rng.standard_normal((1, 2 * model_config.flows_in, h, w)) * 0.05
            feed["flow_target"] = rng.standard_normal((1, 2, h, w)) * 0.05
        feeds.append({k: v.astype(np.float32) for k, v in feed.items()})
    return feeds
