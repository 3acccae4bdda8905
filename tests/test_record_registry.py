"""A record added in one place appears in `ammcnet test`, `ammcnet detect`, the bench pipeline and the ONNX
backend's output, with no change to those modules: also one that needs the source frames (a clip input)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from ammcnet.bench import score_stream
from ammcnet.cli import main
from ammcnet.data import open_prepared, prepare_dataset
from ammcnet.data.clips import ClipBatch
from ammcnet.data.video import open_video
from ammcnet.errors import ConfigError
from ammcnet.metrics import load_score_file
from ammcnet.models import AMMCNet, AMMCOutput, ModelConfig, save_model_file
from ammcnet.scoring import calibrate, score_prepared
from ammcnet.scoring.scorer import (
    Scorer,
    register_clip_input,
    register_record,
    registered_records,
    unregister_clip_input,
    unregister_record,
)

SIZE = (32, 32)
N = 10


def _brightness(r) -> torch.Tensor:
    """Toy record from the clip: mean brightness of frame t in [0, 1]."""
    return ((r.batch.target.to(r.dtype) + 1.0) * 0.5).flatten(1).mean(1)


class SourceBrightness:
    """Toy clip input that needs the *source* frames, not the model's clip: the mean brightness of
    frame t as read, from the video's source offline and from the frame as delivered online (a
    stream input, fed every frame in order like the region head's flow)."""

    def __call__(self, frames, flows, source) -> np.float64:
        prepared = open_prepared(source.dataset)
        return np.float64(open_video(prepared.source(source.split, source.video))[source.t].mean() / 255.0)

    def stream(self) -> _BrightnessStream:
        return _BrightnessStream()


class _BrightnessStream:
    def reset(self) -> None:
        pass

    def update(self, rgb: np.ndarray) -> np.float64:
        return np.float64(rgb.mean() / 255.0)


def _motion(r) -> torch.Tensor:
    """Toy record from an extra clip input (computed by the data layer, not the model's inputs)."""
    return r.batch.extras["toy_motion"].to(r.dtype)


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory):
    """Two toy records registered (one needing a toy clip input), and a tiny calibrated run."""
    register_clip_input("toy_motion", lambda frames, flows, source: np.float64(np.abs(flows[-1].astype(np.float64)).mean()))
    register_clip_input("toy_where", lambda frames, flows, source: np.int64(source.t))
    register_clip_input("toy_source", SourceBrightness())
    register_record("toy_brightness", _brightness)
    register_record("toy_motion", _motion, motion=True, extras=("toy_motion",), onnx=False)
    register_record("toy_where", lambda r: r.batch.extras["toy_where"].to(r.dtype), extras=("toy_where",), onnx=False)
    register_record("toy_source", lambda r: r.batch.extras["toy_source"].to(r.dtype), extras=("toy_source",), onnx=False)
    try:
        tmp = tmp_path_factory.mktemp("registry")
        rng = np.random.default_rng(0)
        bg = cv2.GaussianBlur(rng.integers(0, 255, (36, 44, 3), dtype=np.uint8), (5, 5), 0)
        frames = []
        for i in range(N):
            img = bg.copy()
            img[10:20, 2 + 3 * i : 12 + 3 * i] = (240, 220, 60)
            frames.append(img)
        for split in ("train", "test"):
            d = tmp / "data" / split / "clip"
            d.mkdir(parents=True)
            for i, f in enumerate(frames):
                cv2.imwrite(str(d / f"{i:03d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        prepared = prepare_dataset(tmp / "data", size=SIZE, flow="dis", flow_preset="ultrafast",
                                   cache_dir=tmp / "cache", progress=False)
        torch.manual_seed(0)
        model = AMMCNet(ModelConfig(features_root=4, embed_dim=8, n_embed=16)).eval()
        from ammcnet.data import ClipDataset

        cal = calibrate(model, ClipDataset(prepared, "train"), batch_size=4)
        run = tmp / "run"
        save_model_file(run / "model.pt", model, calibration=cal,
                        train_config={"data": {"size": list(SIZE), "flow": "dis", "flow_preset": "ultrafast"}})
        yield {"tmp": tmp, "prepared": prepared, "run": run, "frames": frames, "model": model, "cal": cal}
    finally:
        unregister_record("toy_brightness")
        unregister_record("toy_motion")
        unregister_record("toy_where")
        unregister_record("toy_source")
        unregister_clip_input("toy_motion")
        unregister_clip_input("toy_where")
        unregister_clip_input("toy_source")


def test_registry_refuses_a_taken_name() -> None:
    with pytest.raises(ConfigError, match="already registered"):
        register_record("rgb_psnr", _brightness)
    assert registered_records()[:5] == ("rgb_psnr", "rgb_commit", "flow_error", "flow_commit", "motion_prior")


def test_toy_records_reach_test_detect_and_bench(toy, capsys) -> None:
    tmp = toy["tmp"]
    # calibration statistics: the records come from the same scorer
    assert {"toy_brightness", "toy_motion"} <= set(toy["cal"]["records"])
    # ammcnet test
    assert main(["test", str(toy["run"]), str(toy["prepared"].root), "--out", str(tmp / "test"), "--no-plots",
                 "--no-progress", "--quiet"]) == 0, capsys.readouterr().err
    sf = load_score_file(tmp / "test" / "scores.npz")
    offline = {k: np.asarray(sf.records[k][0]) for k in ("toy_brightness", "toy_motion", "toy_where", "toy_source")}
    assert offline["toy_where"][4:].tolist() == list(range(4, N))  # the clip's source: its target frame
    by_hand = np.asarray(toy["prepared"].frames("test", "clip"), np.float64)[4:].mean((1, 2, 3)) / 255.0
    np.testing.assert_allclose(offline["toy_brightness"][4:], by_hand, rtol=1e-6)
    assert np.all(offline["toy_motion"][4:] > 0)
    source = np.asarray(toy["frames"], np.float64)[4:].mean((1, 2, 3)) / 255.0  # 36x44 as read, not the 32x32 clip
    np.testing.assert_allclose(offline["toy_source"][4:], source, rtol=1e-6)
    # ammcnet detect
    assert main(["detect", str(tmp / "data" / "test" / "clip"), "--model", str(toy["run"]), "--out", str(tmp / "det"),
                 "--no-progress", "--threshold", "1e9"]) == 0, capsys.readouterr().err
    rows = [json.loads(x) for x in (tmp / "det" / "frames.jsonl").read_text().splitlines()]
    for name, values in offline.items():
        online = np.asarray([r["records"][name] for r in rows])
        np.testing.assert_allclose(online, values[[r["index"] for r in rows]], rtol=1e-6, err_msg=name)  # the score file is float32
    # the bench pipeline (what `ammcnet bench` times end to end)
    rec, _ = score_stream(toy["frames"], toy["model"], size=SIZE, flow="dis", flow_preset="ultrafast", batch_size=3,
                          calibration=toy["cal"])
    for name, values in offline.items():
        np.testing.assert_allclose(rec[name], values[rec["t"]], rtol=1e-6, err_msg=name)


def test_onnx_graph_carries_only_records_it_can_compute(toy, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from ammcnet.export import OnnxBackend, export_onnx

    be = OnnxBackend(export_onnx(toy["model"], tmp_path / "m.onnx", size=SIZE))
    assert "toy_brightness" in be.output_names and "toy_motion" not in be.output_names
    res = score_prepared(be, toy["prepared"], "test", batch_size=4)
    assert "toy_motion" in res.records  # the scorer computes it beside the graph from the clip input
    assert "toy_source" not in be.output_names and "toy_source" in res.records


def _output(frame_err: torch.Tensor, commit_map: torch.Tensor | None) -> tuple:
    """A batch whose prediction misses the target by ``frame_err`` (B, H, W) in [0, 1] units."""
    b = frame_err.shape[0]
    target = torch.zeros(b, 3, *frame_err.shape[1:])
    pred = target + 2.0 * frame_err.sqrt()[:, None].expand_as(target)  # [-1, 1] units: twice the [0, 1] error
    out = AMMCOutput(pred, None, torch.tensor(0.0), None, torch.zeros(b), None, frame_commit_map=commit_map)
    return ClipBatch(torch.zeros(b, 12, *frame_err.shape[1:]), target, None, None), out


def test_local_records_keep_a_small_error_the_frame_mean_dilutes() -> None:
    """Same frame mean: one small region wrong (an anomaly) vs a little wrong everywhere (a busy frame)."""
    err = torch.full((2, 48, 48), 0.01)
    err[0] = 0.0
    err[0, 8:16, 30:38] = 0.01 * 48 * 48 / 64  # the same total error in an 8x8 patch
    commit = torch.zeros(2, 6, 6)
    commit[0, 1, 4] = 36.0
    commit[1] = 1.0  # same mean, spread
    rec = Scorer().records(*_output(err, commit))
    np.testing.assert_allclose(rec["rgb_psnr"][0].item(), rec["rgb_psnr"][1].item(), rtol=1e-6)
    assert rec["rgb_error_local"][0] > 5 * rec["rgb_error_local"][1]
    assert rec["rgb_error_local"][1].item() == pytest.approx(0.01)  # a uniform map: the window mean is the mean
    assert rec["rgb_commit_local"][0] == 36.0 and rec["rgb_commit_local"][1] == 1.0  # 1x1 windows on a 6x6 map
    # a backend without commitment maps (a graph exported before they were outputs) skips that record only
    assert "rgb_commit_local" not in Scorer().records(*_output(err, None)) and "rgb_error_local" in rec
