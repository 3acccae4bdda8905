"""The authors' weights: golden outputs, key mapping, import command and model-file round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ammcnet.cli import main as cli_main
from ammcnet.errors import CheckpointError
from ammcnet.models import AMMCNet, ModelConfig, load_model_file, save_model_file
from ammcnet.models.checkpoint import MODEL_FORMAT
from ammcnet.models.official import (
    ammcnet_to_official_state_dict,
    official_model,
    official_to_ammcnet_state_dict,
    recipe_state_dict,
)
from helpers import shared_path

SMALL = ModelConfig(features_root=4, embed_dim=8, n_embed=16)


@pytest.fixture(scope="module")
def recipe() -> dict[str, torch.Tensor]:
    entries = json.loads(shared_path("benchmarks", "official_model", "state_dict_keys.json").read_text())
    assert entries["num_entries"] == 222
    return recipe_state_dict(entries["state_dict"])


@pytest.fixture(scope="module")
def golden() -> dict[str, dict[str, np.ndarray]]:
    root = shared_path("benchmarks", "official_model")
    return {name: dict(np.load(root / f"{name}.npz")) for name in ("golden_forward", "golden_train_step")}


def test_mapping_covers_every_official_key_both_ways(recipe: dict[str, torch.Tensor]) -> None:
    ours = official_to_ammcnet_state_dict(recipe)
    net = AMMCNet(ModelConfig())
    assert set(ours) == set(net.state_dict())
    assert all(tuple(ours[k].shape) == tuple(v.shape) for k, v in net.state_dict().items())
    assert list(ammcnet_to_official_state_dict(ours)) == list(recipe)


@pytest.mark.shared
def test_golden_forward_and_train_step(recipe: dict[str, torch.Tensor], golden: dict) -> None:
    model = official_model(recipe)
    fwd = golden["golden_forward"]
    frames, flows = torch.from_numpy(fwd["rgb_input"]), torch.from_numpy(fwd["flow_input"])
    with torch.no_grad():
        out = model.eval()(frames, flows)
    np.testing.assert_allclose(out.frame_pred.numpy(), fwd["rgb_output"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(out.flow_pred.numpy(), fwd["flow_output"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(out.frame_commit.numpy(), fwd["rgb_commit"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(out.flow_commit.numpy(), fwd["flow_commit"], rtol=0, atol=1e-5)

    step = golden["golden_train_step"]
    with torch.no_grad():
        out = model.train()(frames, flows)
    # Batch statistics of 2 samples amplify kernel rounding: measured max |diff| 1.13e-5 on outputs.
    np.testing.assert_allclose(out.frame_pred.numpy(), step["rgb_output"], rtol=1e-5, atol=2e-5)
    np.testing.assert_allclose(out.flow_pred.numpy(), step["flow_output"], rtol=1e-5, atol=2e-5)
    np.testing.assert_allclose(out.frame_commit.numpy(), step["rgb_commit"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(out.flow_commit.numpy(), step["flow_commit"], rtol=0, atol=1e-5)
    embed_a = model.appearance.memory.codebook.embed.numpy()
    embed_m = model.motion.memory.codebook.embed.numpy()
    np.testing.assert_allclose(embed_a, step["rgb_codebook_after"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(embed_m, step["flow_codebook_after"], rtol=1e-5, atol=1e-5)
    assert not np.allclose(embed_a, recipe["rgb.vq_down3.quan.quantize.embed"].numpy())


def _small_official() -> dict[str, torch.Tensor]:
    return ammcnet_to_official_state_dict(AMMCNet(SMALL).state_dict())


@pytest.mark.parametrize("wrap", ["plain", "state_dict", "model", "module"])
def test_import_official_round_trip(tmp_path, wrap: str) -> None:
    sd = _small_official()
    obj = {
        "plain": sd,
        "state_dict": {"state_dict": sd, "epoch": 3},
        "model": {"model": sd},
        "module": {f"module.{k}": v for k, v in sd.items()},
    }[wrap]
    torch.save(obj, tmp_path / "ped2.pth")
    rc = cli_main(
        ["import-official", str(tmp_path / "ped2.pth"), "--out", str(tmp_path / "run"), "--dataset", "ped2"]
    )
    assert rc == 0
    raw = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    assert raw["format"] == MODEL_FORMAT and raw["meta"]["source"] == "official"
    loaded = load_model_file(tmp_path / "run")
    assert loaded.config == SMALL and not loaded.model.training
    assert loaded.meta["dataset"] == "ped2"
    back = ammcnet_to_official_state_dict(loaded.model.state_dict())
    assert all(torch.equal(back[k], sd[k]) for k in sd)


def _refusal(tmp_path, sd, capsys) -> str:
    torch.save(sd, tmp_path / "bad.pth")
    rc = cli_main(["import-official", str(tmp_path / "bad.pth"), "--out", str(tmp_path / "run")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and "bad.pth" in err
    assert not (tmp_path / "run" / "model.pt").exists()
    return err


def test_import_refuses_missing_extra_and_misshaped_keys(tmp_path, capsys) -> None:
    sd = _small_official()
    missing = {k: v for k, v in sd.items() if k != "op.up2.up.bias"}
    assert "op.up2.up.bias" in _refusal(tmp_path, missing, capsys)
    extra = {**sd, "rgb.vq_down3.quan.extra": torch.zeros(1)}
    assert "rgb.vq_down3.quan.extra" in _refusal(tmp_path, extra, capsys)
    shaped = {**sd, "bridge.O2F.conv.1.bias": torch.zeros(3)}
    assert "bridge.O2F.conv.1.bias (3,) != (32,)" in _refusal(tmp_path, shaped, capsys)
    (tmp_path / "empty.pth").write_bytes(b"")
    assert cli_main(["import-official", str(tmp_path / "empty.pth"), "--out", str(tmp_path / "r2")]) == 2
    assert "empty" in capsys.readouterr().err


def test_model_file_round_trip_and_refusals(tmp_path) -> None:
    net = AMMCNet(SMALL)
    with torch.no_grad():
        net.train()(torch.randn(2, 12, 16, 16), torch.randn(2, 6, 16, 16))  # move codebooks and BN stats
    calibration = {"rgb_psnr": {"mean": np.float32(30.5), "q": np.arange(3.0)}}
    save_model_file(
        tmp_path / "model.pt", net, calibration=calibration, train_config={"lr": 1e-4}, meta={"seed": 1}
    )
    raw = torch.load(tmp_path / "model.pt", weights_only=True)
    assert raw["model_config"] == SMALL.to_dict()
    loaded = load_model_file(tmp_path / "model.pt")
    assert loaded.calibration == {"rgb_psnr": {"mean": 30.5, "q": [0.0, 1.0, 2.0]}}
    assert loaded.train_config == {"lr": 1e-4} and loaded.meta["seed"] == 1
    for k, v in net.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[k], v), k
    x, f = torch.randn(1, 12, 16, 16), torch.randn(1, 6, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x, f).frame_pred, net.eval()(x, f).frame_pred)
    assert not list(tmp_path.glob(".*tmp*"))

    data = (tmp_path / "model.pt").read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="trunc.pt.*corrupt"):
        load_model_file(tmp_path / "trunc.pt")
    torch.save({**raw, "format": "other/9"}, tmp_path / "fmt.pt")
    with pytest.raises(CheckpointError, match="fmt.pt.*format"):
        load_model_file(tmp_path / "fmt.pt")
    other = dict(raw, model_config={**raw["model_config"], "features_root": 8})
    other.pop("digest", None)  # a foreign file without a digest: the shapes are what refuses it
    torch.save(other, tmp_path / "arch.pt")
    with pytest.raises(CheckpointError, match="arch.pt.*mis-shaped"):
        load_model_file(tmp_path / "arch.pt")
    torch.save(_small_official(), tmp_path / "official.pth")
    with pytest.raises(CheckpointError, match="import-official"):
        load_model_file(tmp_path / "official.pth")
    with pytest.raises(CheckpointError, match="no model.pt"):
        load_model_file(
            tmp_path / "nothing_here" if (tmp_path / "nothing_here").mkdir() is None else tmp_path
        )
    with pytest.raises(CheckpointError, match="no such"):
        load_model_file(tmp_path / "missing.pt")
