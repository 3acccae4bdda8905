"""The inference graph with its score heads: clips and targets in, predictions and records out.

:class:`ScoringGraph` runs the network and then the one scoring path
(:class:`ammcnet.scoring.scorer.Scorer`, in float32) inside one module, so an exported graph
(ONNX) returns the records directly and a runtime needs no PyTorch to score. Records are float32
here (float64 in ``ammcnet test``); the difference is below 1e-4 dB / 1e-7 in practice.

>>> import torch
>>> from ammcnet.models import AMMCNet, ModelConfig
>>> g = ScoringGraph(AMMCNet(ModelConfig(features_root=4, embed_dim=8, n_embed=16)).eval())
>>> out = g(torch.zeros(2, 12, 32, 32), torch.zeros(2, 3, 32, 32), torch.zeros(2, 6, 32, 32), torch.zeros(2, 2, 32, 32))
>>> [o.shape[0] for o in out][:6], g.output_names[:6]
([2, 2, 2, 2, 2, 2], ['frame_pred', 'flow_pred', 'frame_commit_map', 'flow_commit_map', 'rgb_psnr', 'rgb_commit'])
>>> out[2].shape, g.output_names[-4:]
(torch.Size([2, 4, 4]), ['rgb_error_local', 'rgb_commit_local', 'flow_error_local', 'flow_commit_local'])
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ammcnet.data.clips import ClipBatch
from ammcnet.scoring.scorer import Scorer


class ScoringGraph(nn.Module):
    """An ``AMMCNet`` plus the scorer's records (those that export to ONNX and need no extra input).

    Args:
        model: the network (eval mode; fused or not).
        scorer: the model file's scorer (its fitted components); default: the plain records.
    """

    def __init__(self, model: nn.Module, scorer: Scorer | None = None) -> None:
        super().__init__()
        self.model = model
        self.has_motion = getattr(model, "motion", None) is not None
        self.scorer = (scorer or Scorer()).with_dtype(torch.float32)
        self.record_names = [s.name for s in self.scorer.specs(self.has_motion, extras=(), onnx=True)]

    @property
    def input_names(self) -> list[str]:
        return ["frames", "target", "flows", "flow_target"] if self.has_motion else ["frames", "target"]

    @property
    def output_names(self) -> list[str]:
        return self._prediction_names + self.record_names

    @property
    def _prediction_names(self) -> list[str]:
        """The model's maps the graph returns besides records: predictions, then memory commitment maps
        (the local commitment records beside the graph need them)."""
        if self.has_motion:
            return ["frame_pred", "flow_pred", "frame_commit_map", "flow_commit_map"]
        return ["frame_pred", "frame_commit_map"]

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
            Tensors in :attr:`output_names` order: predictions (B, C, H, W), commitment maps
            (B, H/8, W/8) and (B,) records.
        """
        if not self.has_motion:
            flows = flow_target = None
        out = self.model(frames, flows)
        records = self.scorer.records(ClipBatch(frames, target, flows, flow_target), out, self.record_names)
        preds = [getattr(out, name) for name in self._prediction_names]
        return tuple(preds + [records[n] for n in self.record_names])
