"""ammcnet.export: inference-only rewrites, ONNX export and the inference backends.

>>> from ammcnet.export import optimize_for_inference, export_onnx, quantize_onnx, OnnxBackend, TorchBackend
"""

from ammcnet.export.backend import BACKENDS, PRECISIONS, OnnxBackend, TorchBackend, make_backend
from ammcnet.export.fuse import fuse_batchnorm, fuse_conv_bn, optimize_for_inference
from ammcnet.export.heads import ScoringGraph
from ammcnet.export.onnx_export import DEFAULT_OPSET, ONNX_FORMAT, export_model_file, export_onnx, export_size
from ammcnet.export.quantize import int8_range_feeds, quantize_onnx

__all__ = [
    "BACKENDS",
    "DEFAULT_OPSET",
    "ONNX_FORMAT",
    "OnnxBackend",
    "PRECISIONS",
    "ScoringGraph",
    "TorchBackend",
    "int8_range_feeds",
    "export_model_file",
    "export_onnx",
    "export_size",
    "fuse_batchnorm",
    "fuse_conv_bn",
    "make_backend",
    "optimize_for_inference",
    "quantize_onnx",
]
