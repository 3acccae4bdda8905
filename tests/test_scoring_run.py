"""Inference, calibration and `ammcnet test` end to end on a tiny generated dataset (32x32)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from ammcnet.cli import main
from ammcnet.errors import ConfigError, DataError

SIZE = 32
TEST_FRAMES = (12, 10)
ANOMALOUS = {"t1": range(6, 10), "t2": range(5, 8)}  # 0-based frames with a bright square


def _frames(n: int, seed: int, anomalous: range = range(0)) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.integers(0, 256, (SIZE, SIZE + n, 3), dtype=np.uint8), (5, 5), 1.5)
    frames, masks = [], []
    for i in range(n):
        f = np.ascontiguousarray(base[:, i : i + SIZE])
        m = np.zeros((SIZE, SIZE), np.uint8)
        if i in anomalous:
            f[8:16, 10:20] = 255
            m[8:16, 10:20] = 255
        frames.append(f)
        masks.append(m)
    return frames, masks


def _write(folder: Path, images: list[np.ndarray]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(images):
        cv2.imwrite(str(folder / f"{i:03d}.png"), im if im.ndim == 2 else cv2.cvtColor(im, cv2.COLOR_RGB2BGR))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A custom-layout dataset, its prepared cache, and a run folder with a random tiny model."""
    from ammcnet.data import ClipDataset, prepare_dataset
    from ammcnet.models import AMMCNet, ModelConfig, save_model_file
    from ammcnet.scoring import calibrate

    tmp = tmp_path_factory.mktemp("scoring")
    root = tmp / "tiny"
    _write(root / "train" / "v1", _frames(10, seed=1)[0])
    rows = []
    for j, (name, n) in enumerate(zip(ANOMALOUS, TEST_FRAMES, strict=True)):
        frames, masks = _frames(n, seed=10 + j, anomalous=ANOMALOUS[name])
        _write(root / "test" / name, frames)
        _write(root / "pixel_masks" / name, masks)
        rows.append(f"{name},{ANOMALOUS[name].start + 1},{ANOMALOUS[name].stop}")
    (root / "labels.csv").write_text("video,start,end\n" + "\n".join(rows) + "\n")
    prepared = prepare_dataset(root, size=(SIZE, SIZE), flow="farneback", cache_dir=tmp / "cache", progress=False)

    torch.manual_seed(0)
    model = AMMCNet(ModelConfig(features_root=4, embed_dim=8, n_embed=16)).eval()
    cal = calibrate(model, ClipDataset(prepared, "train"), batch_size=4)
    run = tmp / "run"
    save_model_file(run / "model.pt", model, calibration=cal,
                    train_config={"data": {"size": [SIZE, SIZE], "flow": "farneback"}})
    return {"root": root, "prepared": prepared, "model": model, "run": run, "tmp": tmp, "cal": cal}


def test_scores_do_not_depend_on_batch_size(tiny):
    from ammcnet.scoring import score_prepared

    a = score_prepared(tiny["model"], tiny["prepared"], batch_size=1, error_maps=True)
    b = score_prepared(tiny["model"], tiny["prepared"], batch_size=7, error_maps=True)
    assert list(a.records) == ["rgb_psnr", "rgb_commit", "flow_error", "flow_commit",
                              "rgb_error_local", "rgb_commit_local", "flow_error_local", "flow_commit_local"]
    assert a.num_frames.tolist() == list(TEST_FRAMES) and a.videos == list(ANOMALOUS)
    for name in a.records:
        for x, y in zip(a.records[name], b.records[name], strict=True):
            assert np.isfinite(x).all()
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7)
            assert np.all(x[:4] == x[4])  # warm-up entries copy the first scored frame
    for x, y in zip(a.maps, b.maps, strict=True):
        assert x.dtype == np.float16 and x.shape == (len(x), SIZE, SIZE)
        np.testing.assert_allclose(x.astype(np.float32), y.astype(np.float32), rtol=1e-2, atol=1e-6)


def test_psnr_record_matches_its_definition(tiny):
    """rgb_psnr of one clip recomputed by hand from the model's prediction."""
    from ammcnet.data import ClipDataset
    from ammcnet.scoring import score_prepared

    res = score_prepared(tiny["model"], tiny["prepared"], batch_size=4)
    item = ClipDataset(tiny["prepared"], "test")[3]  # video 0, t = 7
    with torch.inference_mode():
        out = tiny["model"](item["frames"][None], item["flows"][None])
    mse = (((out.frame_pred[0] + 1) / 2 - (item["target"] + 1) / 2) ** 2).mean().item()
    fmse = ((out.flow_pred[0] - item["flow_target"]) ** 2).mean().item()
    assert res.records["rgb_psnr"][0][7] == pytest.approx(10 * np.log10(1 / mse), rel=1e-5)
    assert res.records["flow_error"][0][7] == pytest.approx(fmse, rel=1e-4)


def test_calibration_comes_from_normal_clips(tiny):
    cal = tiny["cal"]
    assert cal["num_frames"] == 10 - 4 and cal["num_videos"] == 1
    assert set(cal["records"]) == {"rgb_psnr", "rgb_commit", "flow_error", "flow_commit",
                                   "rgb_error_local", "rgb_commit_local", "flow_error_local", "flow_commit_local"}
    st = cal["records"]["rgb_psnr"]
    assert st["min"] <= st["quantiles"]["0.5"] <= st["max"]
    json.dumps(cal)


def test_cli_test_end_to_end(tiny, capsys):
    out = tiny["tmp"] / "out"
    rc = main(["test", str(tiny["run"]), str(tiny["prepared"].root), "--out", str(out), "--maps",
               "--batch-size", "5", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "honest micro AUC" in printed and "pixel AUC" in printed
    for name in ("scores.npz", "honest_scores.npz", "metrics.json", "table.txt", "plots/roc.png",
                 "plots/heatmaps.png", "plots/curves/t1.png", "plots/curves/t2.png", "maps/t1.npy"):
        assert (out / name).is_file(), name
    m = json.loads((out / "metrics.json").read_text())
    # AUC on the test labels only: every test frame after the 4 warm-up frames, nothing else
    assert m["honest"]["n_frames"] == sum(n - 4 for n in TEST_FRAMES) == m["scored_frames"]
    assert 0.0 <= m["honest"]["auc_micro"] <= 1.0
    assert set(m["honest"]["per_video_auc"]) <= {"t1", "t2"}  # keyed by video name, like every other row
    assert any(r["name"] == "PSNR only" for r in m["protocols"])
    assert 0.0 <= m["pixel"]["pixel_auc"] <= 1.0 and m["pixel"]["tbdc"] is None
    assert m["pixel"]["rbdc"]["num_gt_regions"] == sum(len(r) for r in ANOMALOUS.values())
    from ammcnet.metrics import load_score_file

    sf = load_score_file(out / "scores.npz")
    assert sf.record_names == sorted(["rgb_psnr", "rgb_commit", "flow_error", "flow_commit",
                                      "rgb_error_local", "rgb_commit_local", "flow_error_local", "flow_commit_local"])
    assert load_score_file(out / "honest_scores.npz").record_names == ["anomaly"]
    assert not list(out.rglob("*.tmp*"))  # nothing half-written left behind


def test_dataset_root_is_prepared_at_the_model_size(tiny, monkeypatch):
    """A dataset root (not a cache folder) is prepared with the run's settings, test split only."""
    from ammcnet.apps.tester import TestOptions, run_test

    monkeypatch.setenv("AMMCNET_CACHE", str(tiny["tmp"] / "cache2"))
    m = run_test(tiny["run"], tiny["root"], tiny["tmp"] / "out2", TestOptions(plots=False, progress=False))
    assert m["size"] == [SIZE, SIZE] and m["honest"] is not None


def test_bad_inputs_are_one_line_errors(tiny, capsys):
    from ammcnet.apps.tester import TestOptions, run_test
    from ammcnet.data import prepare_dataset
    from ammcnet.models import save_model_file

    empty = tiny["tmp"] / "empty_run"
    empty.mkdir()
    assert main(["test", str(empty), str(tiny["prepared"].root), "--no-progress"]) == 2
    assert "model.pt" in capsys.readouterr().err
    # the model was trained at 32x32; a 40x40 cache does not match
    other = prepare_dataset(tiny["root"], size=(40, 40), flow="farneback", cache_dir=tiny["tmp"] / "cache40",
                            splits=("test",), progress=False)
    with pytest.raises(DataError, match="trained at 32x32"):
        run_test(tiny["run"], other.root, tiny["tmp"] / "bad", TestOptions(progress=False))
    # no calibration: the honest protocol says so; the paper protocol still works
    nocal = tiny["tmp"] / "nocal"
    save_model_file(nocal / "model.pt", tiny["model"], train_config={"data": {"size": [SIZE, SIZE]}})
    with pytest.raises(ConfigError, match="no calibration statistics"):
        run_test(nocal, tiny["prepared"].root, tiny["tmp"] / "bad", TestOptions(progress=False))
    m = run_test(nocal, tiny["prepared"].root, tiny["tmp"] / "paper", TestOptions(protocol="paper", plots=False, progress=False))
    assert m["honest"] is None and m["protocols"]


def test_int8_export_and_scoring_through_it(tiny, capsys):
    """`export --int8` calibrates on training clips; `test --onnx` scores with it, close to float32."""
    import onnx

    from ammcnet.apps.exporter import ExportOptions, export_run
    from ammcnet.data import ClipDataset
    from ammcnet.export import OnnxBackend
    from ammcnet.metrics import load_score_file
    from ammcnet.models import AMMCNet, ModelConfig, save_model_file
    from ammcnet.scoring import calibrate

    # He-initialised weights: signals keep their scale through the layers, so int8 rounding shows
    torch.manual_seed(1)
    model = AMMCNet(ModelConfig(features_root=4, embed_dim=8, n_embed=16)).eval()
    for mod in model.modules():
        if isinstance(mod, torch.nn.Conv2d | torch.nn.ConvTranspose2d):
            torch.nn.init.kaiming_normal_(mod.weight, nonlinearity="relu")
    run = tiny["tmp"] / "run-he"
    save_model_file(run / "model.pt", model, calibration=calibrate(model, ClipDataset(tiny["prepared"], "train"), batch_size=4),
                    train_config={"data": {"size": [SIZE, SIZE], "flow": "farneback"}})
    q = tiny["tmp"] / "m-int8.onnx"
    assert main(["export", str(run), "--onnx", str(q), "--int8"]) == 2
    assert "--int8-data TRAINING_DATA" in capsys.readouterr().err and not q.exists()
    assert main(["export", str(run), "--onnx", str(q), "--int8", "--int8-data", str(tiny["prepared"].root),
                 "--int8-clips", "4"]) == 0
    be = OnnxBackend(q)
    assert be.precision == "int8" and be.config == model.config
    ops = [n.op_type for n in onnx.load(str(q)).graph.node]
    assert ops.count("QLinearConv") >= 20 and "Conv" in ops  # bodies int8, score heads float32
    assert not [p for p in q.parent.iterdir() if p.name.startswith(".m-int8")]  # nothing half-written

    ref_out, q_out = tiny["tmp"] / "out-f32", tiny["tmp"] / "out-int8"
    for out, extra in ((ref_out, []), (q_out, ["--onnx", str(q)])):
        assert main(["test", str(run), str(tiny["prepared"].root), "--out", str(out), "--no-plots",
                     "--no-progress", "--quiet", *extra]) == 0
    m = json.loads((q_out / "metrics.json").read_text())
    assert m["backend"].startswith("onnx (int8)") and m["honest"] is not None
    a, b = load_score_file(ref_out / "scores.npz"), load_score_file(q_out / "scores.npz")
    def corr(sf, name):
        x, y = np.concatenate(a.records[name]), np.concatenate(sf.records[name])
        return float(np.corrcoef(x, y)[0, 1]), float(np.abs(x - y).max() / np.abs(x).max())

    for name in a.records:
        assert corr(b, name)[1] > 1e-5, name  # really another graph
    assert corr(b, "rgb_psnr")[0] > 0.99  # the PSNR record survives int8 nearly unchanged
    # float_motion keeps the motion encoder and memory float32: its commitment record is exact
    q2 = export_run(run, tiny["tmp"] / "m-int8-fm.onnx", ExportOptions(int8=True, int8_data=tiny["prepared"].root,
                                                                       int8_clips=4, float_motion=True, progress=False))
    assert main(["test", str(run), str(tiny["prepared"].root), "--out", str(tiny["tmp"] / "out-fm"), "--no-plots",
                 "--no-progress", "--quiet", "--onnx", str(q2)]) == 0
    c = load_score_file(tiny["tmp"] / "out-fm" / "scores.npz")
    assert corr(c, "flow_commit")[1] < 1e-5 and corr(b, "flow_commit")[1] > 1e-3
    assert corr(c, "rgb_commit")[1] > 1e-5  # the appearance stream is still int8


def test_onnx_graph_of_another_model_is_refused(tiny):
    from ammcnet.apps.tester import TestOptions, run_test
    from ammcnet.export import export_onnx
    from ammcnet.models import AMMCNet, ModelConfig

    other = export_onnx(AMMCNet(ModelConfig(features_root=4, embed_dim=8, n_embed=8)), tiny["tmp"] / "other.onnx",
                        size=(SIZE, SIZE))
    with pytest.raises(ConfigError, match="different model"):
        run_test(tiny["run"], tiny["prepared"].root, tiny["tmp"] / "out-other", TestOptions(onnx=other, progress=False, plots=False))
