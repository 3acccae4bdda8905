"""BatchNorm folding, the ONNX graph and the ONNX Runtime backend against the PyTorch model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ammcnet.cli import build_parser, main
from ammcnet.errors import CheckpointError, DataError
from ammcnet.export import (
    OnnxBackend,
    ScoringGraph,
    TorchBackend,
    export_onnx,
    fuse_batchnorm,
    optimize_for_inference,
)
from ammcnet.models import AMMCNet, ModelConfig, save_model_file
from ammcnet.scoring.scorer import local_max, mse, psnr, squared_error_map

TINY = ModelConfig(features_root=4, embed_dim=8, n_embed=16)


def _trained_like(cfg: ModelConfig = TINY) -> AMMCNet:
    """A tiny model whose BN statistics and codebooks are not at their initial values."""
    torch.manual_seed(0)
    net = AMMCNet(cfg)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.rand(2, 12, 32, 32) * 2 - 1, torch.randn(2, 6, 32, 32) * 0.1 if cfg.streams == "both" else None)
    return net.eval()


def _inputs(b: int = 3, seed: int = 1) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(b, 12, 32, 32, generator=g) * 2 - 1, torch.rand(b, 3, 32, 32, generator=g) * 2 - 1,
            torch.randn(b, 6, 32, 32, generator=g) * 0.1, torch.randn(b, 2, 32, 32, generator=g) * 0.1)


def test_fused_model_matches_and_memory_is_exact() -> None:
    net = _trained_like()
    fast = optimize_for_inference(net)
    n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    assert n_bn == 2 * 14 + 4
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())  # original untouched
    frames, _, flows, _ = _inputs()
    with torch.no_grad():
        a, b = net(frames, flows), fast(frames, flows)
    assert (a.frame_pred - b.frame_pred).abs().max() < 1e-5
    assert (a.flow_pred - b.flow_pred).abs().max() < 1e-5
    assert torch.equal(a.frame_codes, b.frame_codes) and torch.equal(a.flow_codes, b.flow_codes)
    assert (a.frame_commit_per_sample - b.frame_commit_per_sample).abs().max() < 1e-5
    for name in ("embed", "cluster_size", "embed_avg"):
        assert torch.equal(getattr(net.appearance.memory.codebook, name), getattr(fast.appearance.memory.codebook, name))


def test_fuse_counts_and_channels_last_copy() -> None:
    net = _trained_like()
    assert fuse_batchnorm(torch.nn.Sequential(torch.nn.Conv2d(2, 2, 3), torch.nn.BatchNorm2d(2))) == 1
    fast = optimize_for_inference(net, channels_last=True)
    frames, _, flows, _ = _inputs(2)
    with torch.no_grad():
        ref = net(frames, flows).frame_pred
        got = fast(frames.contiguous(memory_format=torch.channels_last), flows.contiguous(memory_format=torch.channels_last))
    assert (ref - got.frame_pred).abs().max() < 1e-5


def test_onnx_runtime_matches_pytorch(tmp_path) -> None:
    net = _trained_like()
    path = export_onnx(net, tmp_path / "m.onnx", size=(32, 32))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # nothing half-written left
    ort_b = OnnxBackend(path, threads=1)
    assert ort_b.config == TINY and ort_b.motion is not None
    frames, target, flows, flow_target = _inputs(3)  # batch 3 != export batch 2: dynamic axis
    got = ort_b.score(frames, target, flows, flow_target)
    with torch.no_grad():
        ref = net(frames, flows)
    exp = {
        "frame_pred": ref.frame_pred, "flow_pred": ref.flow_pred,
        "rgb_psnr": psnr(ref.frame_pred, target), "flow_error": mse(ref.flow_pred, flow_target),
        "rgb_commit": ref.frame_commit_per_sample, "flow_commit": ref.flow_commit_per_sample,
        "frame_commit_map": ref.frame_commit_map, "flow_commit_map": ref.flow_commit_map,
        "rgb_error_local": local_max(squared_error_map(ref.frame_pred, target) * 0.25),
        "flow_error_local": local_max(squared_error_map(ref.flow_pred, flow_target)),
        "rgb_commit_local": local_max(ref.frame_commit_map), "flow_commit_local": local_max(ref.flow_commit_map),
    }
    for k, v in exp.items():
        diff = np.abs(got[k].astype(np.float64) - v.double().numpy()).max()
        assert diff <= 1e-4, (k, diff)
    # the AMMCNet-style call, and the torch backend's records agree too
    out = ort_b(frames, flows)
    assert np.abs(out.frame_pred.numpy() - ref.frame_pred.numpy()).max() <= 1e-4
    tb = TorchBackend(net).score(frames, target, flows, flow_target)
    assert np.abs(tb["rgb_psnr"] - got["rgb_psnr"]).max() <= 1e-3
    with pytest.raises(DataError, match="exported for 32x32"):
        ort_b(torch.zeros(1, 12, 64, 64), torch.zeros(1, 6, 64, 64))


def test_appearance_only_graph(tmp_path) -> None:
    cfg = ModelConfig(features_root=4, embed_dim=8, n_embed=16, streams="appearance")
    net = _trained_like(cfg)
    b = OnnxBackend(export_onnx(net, tmp_path / "a.onnx", size=(32, 32)), threads=1)
    assert b.motion is None and b.input_names == ["frames", "target"]
    frames, target, _, _ = _inputs(2)
    got = b.score(frames, target)
    assert set(got) == {"frame_pred", "frame_commit_map", "rgb_psnr", "rgb_commit", "rgb_error_local", "rgb_commit_local"}
    graph = ScoringGraph(net)
    ref = dict(zip(graph.output_names, graph(frames, target), strict=True))
    assert np.abs(got["rgb_psnr"] - ref["rgb_psnr"].detach().numpy()).max() <= 1e-4


def test_export_cli_and_errors(tmp_path, capsys) -> None:
    run = tmp_path / "run"
    save_model_file(run / "model.pt", _trained_like(), train_config={"data": {"size": [32, 32]}})
    assert main(["export", str(run), "--onnx", str(tmp_path / "x.onnx")]) == 0
    assert OnnxBackend(tmp_path / "x.onnx").size == (32, 32)
    assert main(["export", str(tmp_path / "nope"), "--onnx", str(tmp_path / "y.onnx")]) == 2
    assert "error" in capsys.readouterr().err and not (tmp_path / "y.onnx").exists()
    with pytest.raises(CheckpointError, match="not found"):
        OnnxBackend(tmp_path / "missing.onnx")
    (tmp_path / "bad.onnx").write_bytes(b"not a graph")
    with pytest.raises(CheckpointError, match="not a readable ONNX"):
        OnnxBackend(tmp_path / "bad.onnx")


def test_export_int8_flags_and_their_old_names(capsys) -> None:
    """The int8 range data is ``--int8-data`` (``--calibrate`` named the score statistics too)."""
    parse = build_parser().parse_args
    args = parse(["export", "r", "--onnx", "x.onnx", "--int8", "--int8-data", "D", "--int8-clips", "4"])
    assert (args.int8_data, args.int8_clips) == ("D", 4) and capsys.readouterr().err == ""
    old = parse(["export", "r", "--onnx", "x.onnx", "--int8", "--calibrate", "D", "--calibration-clips", "4"])
    assert (old.int8_data, old.int8_clips) == ("D", 4)
    assert "--calibrate is now --int8-data" in capsys.readouterr().err
    assert "--calibrate" not in build_parser()._subparsers._group_actions[0].choices["export"].format_help()


def test_detector_runs_on_the_onnx_backend(tmp_path) -> None:
    from ammcnet.demo import SceneConfig, render_video
    from ammcnet.detect.detector import Detector, DetectorOptions
    from ammcnet.scoring.calibration import calibration_from_records

    net = _trained_like()
    rng = np.random.default_rng(0)
    cal = calibration_from_records([{k: rng.random(40) for k in ("rgb_psnr", "rgb_commit", "flow_error", "flow_commit")}])
    frames = list(render_video(SceneConfig(height=32, width=48), 7, seed=3).frames)
    opts = DetectorOptions(size=(32, 32), flow_preset="ultrafast", threshold=None)
    ref = Detector(net, cal, opts).process(frames)
    got = Detector(OnnxBackend(export_onnx(net, tmp_path / "d.onnx", size=(32, 32)), threads=1), cal, opts).process(frames)
    assert [r is None for r in got] == [r is None for r in ref] == [True] * 4 + [False] * 3
    for a, b in zip(ref[4:], got[4:], strict=True):
        assert abs(a.records["rgb_psnr"] - b.records["rgb_psnr"]) <= 1e-3
        assert abs(a.fused - b.fused) <= 1e-3


def test_detect_cli_backends_agree(tmp_path) -> None:
    """`ammcnet detect --backend torch|onnx` gives the eager model's scores (ONNX to 1e-3)."""
    import json

    import cv2

    from ammcnet.demo import SceneConfig, render_video
    from ammcnet.scoring.calibration import calibration_from_records

    net = _trained_like()
    rng = np.random.default_rng(0)
    cal = calibration_from_records([{k: rng.random(40) for k in ("rgb_psnr", "rgb_commit", "flow_error", "flow_commit")}])
    train_config = {"data": {"size": [32, 32], "flow": "dis", "flow_preset": "ultrafast"}}
    save_model_file(tmp_path / "run" / "model.pt", net, calibration=cal, train_config=train_config)
    folder = tmp_path / "clip"
    folder.mkdir()
    for i, frame in enumerate(render_video(SceneConfig(height=32, width=48), 9, seed=3).frames):
        cv2.imwrite(str(folder / f"{i:03d}.png"), frame[..., ::-1])
    onnx_path = tmp_path / "m.onnx"
    assert main(["export", str(tmp_path / "run"), "--onnx", str(onnx_path)]) == 0
    scores = {}
    for backend in ("eager", "torch", "onnx"):
        out = tmp_path / backend
        args = ["detect", str(folder), "--model", str(tmp_path / "run"), "--out", str(out), "--backend", backend,
                "--no-progress"] + (["--onnx", str(onnx_path)] if backend == "onnx" else [])
        assert main(args) == 0
        rows = [json.loads(line) for line in (out / "frames.jsonl").read_text().splitlines()]
        scores[backend] = np.array([r["fused"] for r in rows])
    assert len(scores["eager"]) == 5
    np.testing.assert_allclose(scores["torch"], scores["eager"], atol=1e-4)
    np.testing.assert_allclose(scores["onnx"], scores["eager"], atol=1e-3)
    assert main(["detect", str(folder), "--model", str(tmp_path / "run"), "--backend", "onnx", "--no-progress"]) == 2


def test_torch_backend_reduced_precision_autocast() -> None:
    """bf16 autocast (meant for GPUs) runs, returns float32 and stays near the float32 outputs."""
    from ammcnet.errors import ConfigError

    net = _trained_like()
    frames, target, flows, flow_target = _inputs(2)
    ref = TorchBackend(net).score(frames, target, flows, flow_target)
    half = TorchBackend(net, precision="bfloat16")
    got = half.score(frames, target, flows, flow_target)
    out = half(frames, flows)
    assert out.frame_pred.dtype == torch.float32 and out.flow_commit_per_sample.dtype == torch.float32
    assert all(v.dtype == np.float32 for v in got.values())
    assert np.abs(got["frame_pred"] - ref["frame_pred"]).max() < 0.05
    assert not np.array_equal(got["frame_pred"], ref["frame_pred"])  # really computed in bf16
    assert np.abs(got["rgb_psnr"] - ref["rgb_psnr"]).max() < 0.5
    with pytest.raises(ConfigError, match="unknown precision"):
        TorchBackend(net, precision="int4")
