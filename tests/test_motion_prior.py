"""The per-place flow prior: binning, what it flags, storage in the model file, graph and ONNX agreement."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ammcnet.export.heads import ScoringGraph
from ammcnet.models import AMMCNet, ModelConfig, load_model_file, save_model_file
from ammcnet.scoring.motion_prior import MotionPrior, MotionPriorConfig, flow_bins
from ammcnet.scoring.scorer import Scorer, load_scorer

SIZE = (32, 48)
CFG = MotionPriorConfig(rows=4)


def _flow(n: int, u_px: float = 0.0, v_px: float = 0.0, rows: slice = slice(None)) -> torch.Tensor:
    """(n, 2, H, W) normalised flow (u / W, v / H) moving (u_px, v_px) per frame in ``rows``."""
    f = torch.zeros(n, 2, *SIZE)
    f[:, 0, rows] = u_px / SIZE[1]
    f[:, 1, rows] = v_px / SIZE[0]
    return f


def test_bins_separate_directions_speeds_and_stillness() -> None:
    angles = np.deg2rad(np.arange(8) * 45 + 22.5)  # the middle of each 45-degree sector
    speed_px = 1.0 * SIZE[0] / 64  # 1 px per frame at 64 px high: the second speed bin
    flows = torch.stack([_flow(1, speed_px * np.cos(a), speed_px * np.sin(a))[0] for a in angles])
    bins = flow_bins(flows, SIZE, CFG)[:, 0, 0]
    assert len(set(bins.tolist())) == 8 and bins.min() >= 1
    still = flow_bins(_flow(1, 0.01, 0.0), SIZE, CFG)  # below the static threshold
    assert int(still.max()) == 0
    speeds = [float(flow_bins(_flow(1, s * SIZE[0] / 64, 0.0), SIZE, CFG)[0, 0, 0]) for s in (0.3, 1.0, 2.0, 5.0)]
    assert speeds == sorted(speeds) and len(set(speeds)) == 4  # faster = a higher speed bin
    assert CFG.num_bins == 1 + 8 * 4


def test_prior_flags_wrong_way_off_path_and_too_fast_but_not_normal_motion() -> None:
    # training: the top half moves right at walking pace, the bottom half never moves
    normal = [_flow(20, 0.8, 0.0, slice(0, 16))]
    prior = MotionPrior.fit(normal, size=SIZE, config=CFG)
    assert prior.frames == 20 and prior.grid == (4, 6)
    s = {
        "normal": prior.score(_flow(1, 0.8, 0.0, slice(0, 16))),
        "still": prior.score(_flow(1)),
        "wrong way": prior.score(_flow(1, -0.8, 0.0, slice(0, 16))),
        "off path": prior.score(_flow(1, 0.8, 0.0, slice(16, 32))),
        "too fast": prior.score(_flow(1, 4.0, 0.0, slice(0, 16))),
    }
    assert all(v.shape == (1,) and v.dtype == torch.float32 for v in s.values())
    for unusual in ("wrong way", "off path", "too fast"):
        assert float(s[unusual]) > float(s["normal"]) + 1.0, unusual
    assert float(s["still"]) < float(s["wrong way"])


def test_empty_fit_and_bad_settings_are_refused() -> None:
    from ammcnet.errors import ConfigError

    with pytest.raises(ConfigError, match="no training flows"):
        MotionPrior.fit([], size=SIZE)
    with pytest.raises(ConfigError, match="speed_edges"):
        MotionPriorConfig(speed_edges=(0.02, 0.01))
    with pytest.raises(ConfigError, match="share"):
        MotionPriorConfig(share=2)


def test_model_file_graph_and_onnx_carry_the_prior(tmp_path) -> None:
    torch.manual_seed(0)
    model = AMMCNet(ModelConfig(features_root=4, embed_dim=8, n_embed=16)).eval()
    fitted = MotionPrior.fit([_flow(10, 0.8, 0.0, slice(0, 16))], size=SIZE, config=CFG)
    save_model_file(tmp_path / "model.pt", model, scorer=Scorer({"motion_prior": fitted}).state())
    loaded = load_model_file(tmp_path / "model.pt")
    scorer = load_scorer(loaded)
    prior = scorer.components["motion_prior"]
    assert prior.size == SIZE and torch.equal(prior.nll, fitted.nll)
    assert not hasattr(loaded.model, "motion_prior")  # a scorer component, not an attribute of the network
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(3, 12, *SIZE, generator=g) * 2 - 1, torch.rand(3, 3, *SIZE, generator=g) * 2 - 1,
         torch.randn(3, 6, *SIZE, generator=g) * 0.02, torch.randn(3, 2, *SIZE, generator=g) * 0.02)
    graph = ScoringGraph(loaded.model, scorer)
    assert "motion_prior" in graph.output_names
    from_graph = dict(zip(graph.output_names, graph(*x), strict=True))["motion_prior"]
    torch.testing.assert_close(from_graph, prior.score(x[3]))
    # a model without a prior keeps the four records
    assert "motion_prior" not in ScoringGraph(AMMCNet(ModelConfig(features_root=4, embed_dim=8, n_embed=16))).output_names
    pytest.importorskip("onnxruntime")
    from ammcnet.export import OnnxBackend, export_onnx

    onnx = OnnxBackend(export_onnx(loaded.model, tmp_path / "m.onnx", size=SIZE, scorer=scorer))
    np.testing.assert_allclose(onnx.score(*x)["motion_prior"], from_graph.numpy(), rtol=1e-5, atol=1e-5)
    # the int8 graph quantises convolutions only: the prior's record is unchanged
    from ammcnet.export.quantize import quantize_onnx, synthetic_feeds

    q = quantize_onnx(tmp_path / "m.onnx", tmp_path / "q.onnx", synthetic_feeds(loaded.config, SIZE, 2, motion=True))
    np.testing.assert_allclose(OnnxBackend(q).score(*x)["motion_prior"], from_graph.numpy(), rtol=1e-5, atol=1e-5)
