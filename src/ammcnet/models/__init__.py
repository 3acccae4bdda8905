"""ammcnet.models: the AMMC-Net networks (no I/O besides the model file helpers).

>>> import torch
>>> from ammcnet.models import AMMCNet, ModelConfig
>>> net = AMMCNet(ModelConfig(features_root=4, embed_dim=8, n_embed=16)).eval()
>>> net(torch.zeros(1, 12, 32, 32), torch.zeros(1, 6, 32, 32)).frame_pred.shape
torch.Size([1, 3, 32, 32])
"""

from ammcnet.models.amft import AMFT
from ammcnet.models.ammcnet import (
    SIZE_MULTIPLE,
    AMMCNet,
    AMMCOutput,
    appearance_stream,
    count_parameters,
    motion_stream,
)
from ammcnet.models.checkpoint import (
    MODEL_FORMAT,
    LoadedModel,
    load_model_file,
    resolve_model_path,
    save_model_file,
)
from ammcnet.models.config import ModelConfig
from ammcnet.models.discriminator import PatchDiscriminator
from ammcnet.models.init import init_weights_normal
from ammcnet.models.memory import EMACodebook, MemoryOutput, TopKMemory
from ammcnet.models.stream import StreamOutput, StreamUNet

__all__ = [
    "AMFT",
    "AMMCNet",
    "AMMCOutput",
    "EMACodebook",
    "LoadedModel",
    "MODEL_FORMAT",
    "MemoryOutput",
    "ModelConfig",
    "PatchDiscriminator",
    "SIZE_MULTIPLE",
    "StreamOutput",
    "StreamUNet",
    "TopKMemory",
    "appearance_stream",
    "count_parameters",
    "init_weights_normal",
    "load_model_file",
    "motion_stream",
    "resolve_model_path",
    "save_model_file",
]
