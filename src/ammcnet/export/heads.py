"""The inference graph with its score heads: clips and targets in, predictions and records out.

``ammcnet test`` computes four records per clip from the model's outputs; :class:`ScoringGraph`
computes them inside one module so that an exported graph (ONNX) returns them directly and a
runtime needs no PyTorch to score. Records are float32 here (float64 in
``ammcnet.scoring.inference``); the difference is below 1e-4 dB / 1e-7 in practice.

>>> import torch
>>> from ammcnet.models import AMMCNet, ModelConfig
>>> g = ScoringGraph(AMMCNet(ModelConfig(features_root=4, embed_dim=8, n_embed=16)).eval())
>>> out = g(torch.zeros(2, 12, 32, 32), torch.zeros(2, 3, 32, 32), torch.zeros(2, 6, 32, 32), torch.zeros(2, 2, 32, 32))
>>> [o.shape[0] for o in out], g.output_names
([2, 2, 2, 2, 2, 2], ['frame_pred', 'rgb_psnr', 'rgb_commit', 'flow_pred', 'flow_error', 'flow_commit'])
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

#: Smallest MSE in the PSNR, as ``ammcnet.scoring.inference.PSNR_EPS``.
PSNR_EPS = 1e-10


def psnr_f32(pred: Tensor, target: Tensor) -> Tensor:
    """PSNR (dB) of [-1, 1] images mapped to [0, 1]; (B, C, H, W) -> (B,) float32."""
    mse = ((pred - target) * 0.5).pow(2).flatten(1).mean(1)
    return 10.0 * torch.log10(1.0 / mse.clamp_min(PSNR_EPS))


class ScoringGraph(nn.Module):
    """An ``AMMCNet`` plus the per-sample score heads of ``ammcnet test``.

    Args:
        model: the network (eval mode; fused or not).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.has_motion = getattr(model, "motion", None) is not None
        prior = getattr(model, "motion_prior", None) if self.has_motion else None
        if prior is not None:
            from ammcnet.scoring.motion_prior import MotionPriorHead

            self.prior: nn.Module | None = MotionPriorHead(prior)
        else:
            self.prior = None

    @property
    def input_names(self) -> list[str]:
        return ["frames", "target", "flows", "flow_target"] if self.has_motion else ["frames", "target"]

    @property
    def output_names(self) -> list[str]:
        names = ["frame_pred", "rgb_psnr", "rgb_commit"]
        names += ["flow_pred", "flow_error", "flow_commit"] if self.has_motion else []
        return names + (["motion_prior"] if self.prior is not None else [])

    def forward(
        self, frames: Tensor, target: Tensor, flows: Tensor | None = None, flow_target: Tensor | None = None
    ) -> tuple[Tensor, ...]:
        """Predict and score one batch of clips.

        Args:
            frames: (B, 3F, H, W) past frames in [-1, 1].
            target: (B, 3, H, W) frame t.
            flows: (B, 2P, H, W) past normalised flows (motion models only).
            flow_target: (B, 2, H, W) flow t-1 (motion models only).

        Returns:
            Tensors in :attr:`output_names` order: predictions (B, C, H, W) and (B,) records.
        """
        out = self.model(frames, flows if self.has_motion else None)
        res = [out.frame_pred, psnr_f32(out.frame_pred, target), out.frame_commit_per_sample]
        if self.has_motion:
            err = (out.flow_pred - flow_target).pow(2).flatten(1).mean(1)
            res += [out.flow_pred, err, out.flow_commit_per_sample]
            if self.prior is not None:
                res.append(self.prior(flow_target))
        return tuple(res)
