"""Optical flow: .flo files, the normalisation rule, and each backend."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from ammcnet.data import video as data_video
from ammcnet.errors import CheckpointError, ConfigError, DataError
from ammcnet.flow import (
    NORMALISATION_RULE,
    AnalysisFlow,
    DISFlow,
    TorchFlowBackend,
    analysis_size,
    get_flow_backend,
    normalise_flow,
    read_flo,
    rescale_flow,
    resize_frame,
    resize_image,
    write_flo,
)
from helpers import moving_frames, texture


def test_flo_roundtrip_and_magic(tmp_path):
    flow = np.random.default_rng(0).normal(size=(5, 7, 2)).astype(np.float32)
    p = tmp_path / "a.flo"
    write_flo(p, flow)
    raw = p.read_bytes()
    assert raw[:4] == b"PIEH"  # 202021.25 as little-endian float32
    assert np.array_equal(read_flo(p), flow)
    assert not list(tmp_path.glob(".*"))  # no temp file left


def test_flo_bad_magic_and_size(tmp_path):
    good = tmp_path / "g.flo"
    write_flo(good, np.zeros((4, 4, 2), np.float32))
    raw = good.read_bytes()
    bad = tmp_path / "bad.flo"
    bad.write_bytes(b"XXXX" + raw[4:])
    with pytest.raises(DataError, match="bad.flo.*magic"):
        read_flo(bad)
    short = tmp_path / "short.flo"
    short.write_bytes(raw[:-8])
    with pytest.raises(DataError, match="short.flo.*truncated"):
        read_flo(short)
    null = tmp_path / "null.flo"
    null.write_bytes(raw[:4] + np.array([0, 0], "<i4").tobytes())
    with pytest.raises(DataError, match="invalid size 0x0"):
        read_flo(null)


def test_normalise_rule_keeps_v_and_clips():
    flow = np.zeros((4, 8, 2), np.float32)
    flow[..., 0] = 2.0  # 2 px right on an 8-wide grid
    flow[..., 1] = -1.0  # 1 px up on a 4-high grid
    flow[0, 0] = (100.0, -100.0)
    out = normalise_flow(flow)
    assert out.dtype == np.float32
    assert np.allclose(out[1:, :, 0], 0.25) and np.allclose(out[1:, :, 1], -0.25)
    assert out[0, 0].tolist() == [1.0, -1.0]
    # at 256x256 this is the authors' u / 256 scale
    assert normalise_flow(np.full((1, 1, 2), 64.0, np.float32), size=(256, 256))[0, 0, 0] == 0.25
    assert NORMALISATION_RULE


@pytest.mark.parametrize("name,params", [("dis", {"preset": "medium"}), ("dis", {"preset": "ultrafast"}), ("farneback", {})])
def test_backends_find_a_right_shift(name, params):
    a, b = moving_frames(2, seed=3, dx=2, h=48, w=64)
    flow = get_flow_backend(name, **params).compute(a, b)
    assert flow.shape == (48, 64, 2) and flow.dtype == np.float32
    centre = flow[12:-12, 12:-12]
    assert abs(np.median(centre[..., 0]) - 2.0) < 0.5  # u: 2 px right
    assert abs(np.median(centre[..., 1])) < 0.5  # v: no vertical motion


def test_dis_vertical_motion_kept():
    base = texture(5, 60, 48)
    a, b = base[4:52], base[2:50]  # content moves 2 px down
    flow = get_flow_backend("dis").compute(a, b)
    assert abs(np.median(flow[10:-10, 10:-10, 1]) - 2.0) < 0.5


def test_video_flows_equals_pairwise():
    frames = np.stack(moving_frames(4, seed=1))
    dis = get_flow_backend("dis", preset="fast")
    flows = list(dis.video_flows(frames))
    assert len(flows) == 3
    assert np.array_equal(flows[1], dis.compute(frames[1], frames[2]))


def test_unknown_backend_and_preset():
    with pytest.raises(ConfigError, match="dis, farneback, flo"):
        get_flow_backend("raft")
    with pytest.raises(ConfigError, match="ultrafast"):
        get_flow_backend("dis", preset="slow")
    with pytest.raises(ConfigError, match="flow-dir"):
        get_flow_backend("flo")


def test_rescale_flow_scales_displacements():
    flow = np.zeros((10, 20, 2), np.float32)
    flow[..., 0], flow[..., 1] = 4.0, 2.0
    out = rescale_flow(flow, (5, 40))
    assert out.shape == (5, 40, 2)
    assert np.allclose(out[..., 0], 8.0) and np.allclose(out[..., 1], 1.0)


def test_flo_backend_reads_and_rescales(tmp_path):
    vdir = tmp_path / "flows" / "testing" / "frames" / "flow" / "01"
    for j in range(3):
        write_flo(vdir / f"{j:04d}.flo", np.full((12, 16, 2), float(j + 1), np.float32))
    backend = get_flow_backend("flo", flow_dir=tmp_path / "flows")
    frames = np.zeros((4, 24, 32, 3), np.uint8)
    flows = list(backend.video_flows(frames, video="01", split="test"))
    assert len(flows) == 3 and flows[2].shape == (24, 32, 2)
    assert np.allclose(flows[2], 6.0)  # 3 px at 16 wide -> 6 px at 32 wide
    with pytest.raises(DataError, match="holds 3 .flo files.*needs 4"):
        list(backend.video_flows(np.zeros((5, 24, 32, 3), np.uint8), video="01", split="test"))
    with pytest.raises(DataError, match="no .flo folder for video '02'"):
        list(backend.video_flows(frames, video="02", split="test"))


class _ShiftNet(torch.nn.Module):
    """A stand-in learned estimator: predicts a constant flow held in one parameter."""

    def __init__(self) -> None:
        super().__init__()
        self.uv = torch.nn.Parameter(torch.zeros(2))

    def forward(self, a, b):
        return self.uv.view(1, 2, 1, 1).expand(a.shape[0], 2, a.shape[2], a.shape[3])


def test_torch_backend_loads_user_weights(tmp_path):
    net = _ShiftNet()
    with torch.no_grad():
        net.uv.copy_(torch.tensor([1.5, -0.5]))
    weights = tmp_path / "w.pt"
    torch.save(net.state_dict(), weights)
    backend = TorchFlowBackend(_ShiftNet, weights, name="shift")
    a, b = moving_frames(2)
    flow = backend.compute(a, b)
    assert flow.shape == (*a.shape[:2], 2)
    assert np.allclose(flow[..., 0], 1.5) and np.allclose(flow[..., 1], -0.5)
    assert len(backend.params()["sha256"]) == 64
    with pytest.raises(CheckpointError, match="not found"):
        TorchFlowBackend(_ShiftNet, tmp_path / "missing.pt")
    torch.save({"other": torch.zeros(1)}, tmp_path / "wrong.pt")
    with pytest.raises(CheckpointError, match="wrong.pt does not fit"):
        TorchFlowBackend(_ShiftNet, tmp_path / "wrong.pt")


@pytest.mark.parametrize("size", [(16, 24), (48, 40), (24, 32)])
def test_one_resize_serves_both_grids(size):
    """The model grid's resize is bilinear on RGB frames (as ``ammcnet.data.video.resize_frame``, bit for
    bit); the analysis grid's is area averaging on the grey frame. Both come from one function."""
    rgb = texture(3)
    model = resize_frame(rgb, size)
    assert model.shape == (*size, 3) and model.flags.c_contiguous
    assert np.array_equal(model, data_video.resize_frame(rgb, size))
    assert np.array_equal(model, cv2.resize(rgb, size[::-1], interpolation=cv2.INTER_LINEAR) if size != (24, 32) else rgb)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    flow = AnalysisFlow(size, "ultrafast")
    expected = grey if size == grey.shape else cv2.resize(grey, size[::-1], interpolation=cv2.INTER_AREA)
    assert np.array_equal(flow.grey(rgb), expected)
    assert resize_image(grey, grey.shape, cv2.INTER_AREA) is grey  # already on the grid: not copied


def test_analysis_flow_is_dis_on_the_grey_analysis_grid():
    frames = moving_frames(4, seed=5, h=48, w=64)
    flows = list(AnalysisFlow((24, 32), "fast").video(frames))
    dis = DISFlow("fast")
    grey = [cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), (32, 24), interpolation=cv2.INTER_AREA) for f in frames]
    pairs = [dis.compute_grey(a, b) for a, b in zip(grey, grey[1:], strict=False)]
    assert len(flows) == 4 and all(np.array_equal(a[..., :2], b) for a, b in zip(flows, [pairs[0], *pairs], strict=True))
    # the third channel is the grey frame the flow ends on (entry 0 repeats entry 1)
    assert all(np.array_equal(a[..., 2], g) for a, g in zip(flows, [grey[1], *grey[1:]], strict=True))
    assert analysis_size((576, 720), 240) == (240, 300) and analysis_size((480, 10), 240) == (240, 8)
