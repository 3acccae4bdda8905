"""ammcnet.flow: optical flow backends, ``.flo`` files and the normalisation rule.

>>> from ammcnet.flow import get_flow_backend, normalise_flow
>>> get_flow_backend("dis", preset="ultrafast").params()["preset"]
'ultrafast'
"""

from ammcnet.flow.backends import (
    BACKENDS,
    DIS_PRESETS,
    DISFlow,
    FarnebackFlow,
    FloFileFlow,
    FlowBackend,
    TorchFlowBackend,
    get_flow_backend,
    rescale_flow,
)
from ammcnet.flow.flo import read_flo, write_flo
from ammcnet.flow.normalise import NORMALISATION_RULE, normalisation_info, normalise_flow

normalise = normalise_flow  # the name docs/design.md uses

__all__ = [
    "BACKENDS",
    "DIS_PRESETS",
    "DISFlow",
    "FarnebackFlow",
    "FloFileFlow",
    "FlowBackend",
    "NORMALISATION_RULE",
    "TorchFlowBackend",
    "get_flow_backend",
    "normalisation_info",
    "normalise",
    "normalise_flow",
    "read_flo",
    "rescale_flow",
    "write_flo",
]
