"""ammcnet.export: inference-only rewrites, ONNX export and the inference backends.

>>> from ammcnet.export import optimize_for_inference, export_onnx, OnnxBackend, TorchBackend
"""

from ammcnet.export.backend import BACKENDS, OnnxBackend, TorchBackend, make_backend
from ammcnet.export.fuse import fuse_batchnorm, fuse_conv_bn, optimize_for_inference
from ammcnet.export.heads import ScoringGraph, psnr_f32
from ammcnet.export.onnx_export import DEFAULT_OPSET, ONNX_FORMAT, export_onnx, export_run

__all__ = [
    "BACKENDS",
    "DEFAULT_OPSET",
    "ONNX_FORMAT",
    "OnnxBackend",
    "ScoringGraph",
    "TorchBackend",
    "export_onnx",
    "export_run",
    "fuse_batchnorm",
    "fuse_conv_bn",
    "make_backend",
    "optimize_for_inference",
    "psnr_f32",
]
