"""ammcnet.flow: optical flow backends, the analysis grid's flow, the one frame resize, ``.flo``
files and the normalisation rule.

>>> from ammcnet.flow import get_flow_backend, normalise_flow
>>> get_flow_backend("dis", preset="ultrafast").params()["preset"]
'ultrafast'
"""

from ammcnet.flow.analysis import AnalysisFlow, analysis_size
from ammcnet.flow.backends import (
    BACKENDS,
    DIS_PRESETS,
    DISFlow,
    FarnebackFlow,
    FloFileFlow,
    FlowBackend,
    TorchFlowBackend,
    get_flow_backend,
    grey_frame,
    rescale_flow,
)
from ammcnet.flow.flo import read_flo, write_flo
from ammcnet.flow.normalise import NORMALISATION_RULE, normalisation_info, normalise_flow
from ammcnet.flow.resize import ANALYSIS_INTERPOLATION, MODEL_INTERPOLATION, resize_frame, resize_image

normalise = normalise_flow  # the name docs/design.md uses

__all__ = [
    "ANALYSIS_INTERPOLATION",
    "AnalysisFlow",
    "BACKENDS",
    "DIS_PRESETS",
    "DISFlow",
    "FarnebackFlow",
    "FloFileFlow",
    "FlowBackend",
    "MODEL_INTERPOLATION",
    "NORMALISATION_RULE",
    "TorchFlowBackend",
    "analysis_size",
    "get_flow_backend",
    "grey_frame",
    "normalisation_info",
    "normalise",
    "normalise_flow",
    "read_flo",
    "rescale_flow",
    "resize_frame",
    "resize_image",
    "write_flo",
]
