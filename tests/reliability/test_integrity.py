"""Model files and checkpoints carry a content digest; damage is refused in one line."""

from __future__ import annotations

import logging

import pytest
import torch

from ammcnet.cli import main
from ammcnet.errors import CheckpointError
from ammcnet.models import load_model_file
from ammcnet.models.info import model_info
from ammcnet.utils.digest import DIGEST_KEY, content_digest

from .damage import flip_weight_bits


def test_fresh_file_verifies(tiny_model_file):
    loaded = load_model_file(tiny_model_file)
    assert loaded.verified is True and loaded.digest.startswith("sha256:")


def test_flipped_weight_bits_refused(tiny_model_file, capsys):
    before = torch.load(tiny_model_file, weights_only=True)
    flip_weight_bits(tiny_model_file)
    after = torch.load(tiny_model_file, weights_only=True)  # torch itself does not notice
    assert any(not torch.equal(before["state_dict"][k], after["state_dict"][k]) for k in before["state_dict"])
    with pytest.raises(CheckpointError, match="damaged or changed outside ammcnet"):
        load_model_file(tiny_model_file)
    assert main(["info", str(tiny_model_file)]) == 2
    assert "MISMATCH" in capsys.readouterr().out


def test_detect_refuses_damaged_model(tiny_model_file, tmp_path, capsys):
    flip_weight_bits(tiny_model_file)
    code = main(["detect", "--model", str(tiny_model_file), str(tmp_path / "nothing.mp4"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert str(tiny_model_file) in err and "damaged or changed outside ammcnet" in err


def test_changed_setting_refused(tiny_model_file):
    obj = torch.load(tiny_model_file, weights_only=True)
    obj["meta"]["preset"] = "other"  # an edit that keeps the stored digest
    torch.save(obj, tiny_model_file)
    with pytest.raises(CheckpointError, match="damaged or changed outside ammcnet"):
        load_model_file(tiny_model_file)


def test_file_without_digest_loads_with_notice(tiny_model_file, caplog):
    obj = torch.load(tiny_model_file, weights_only=True)
    del obj[DIGEST_KEY]
    torch.save(obj, tiny_model_file)
    with caplog.at_level(logging.WARNING, logger="ammcnet"):
        loaded = load_model_file(tiny_model_file)
    assert loaded.verified is None
    notes = [r.getMessage() for r in caplog.records if "no content digest" in r.getMessage()]
    assert len(notes) == 1 and "\n" not in notes[0]


def test_non_finite_weights_refused(tiny_model_file):
    obj = torch.load(tiny_model_file, weights_only=True)
    key = next(k for k, v in obj["state_dict"].items() if v.is_floating_point() and v.numel() > 1)
    obj["state_dict"][key][0] = float("nan")
    obj[DIGEST_KEY] = content_digest(obj)  # sealed, but NaN: still refused
    torch.save(obj, tiny_model_file)
    with pytest.raises(CheckpointError, match=r"NaN or inf \(first: "):
        load_model_file(tiny_model_file)


def test_info_reports_everything(tiny_model_file, capsys):
    info = model_info(tiny_model_file.parent)
    assert info["digest_ok"] is True and info["preset"] == "tiny"
    assert info["training_data"] == {"root": "/data/x", "videos": 2, "frames": 40, "clips": None}
    assert info["parameters"] == sum(p.numel() for p in load_model_file(tiny_model_file).model.parameters()) + sum(
        b.numel() for b in load_model_file(tiny_model_file).model.buffers() if b.is_floating_point())
    assert main(["info", str(tiny_model_file)]) == 0
    out = capsys.readouterr().out
    for word in ("format", "digest check  ok", "parameters", "training data", "calibration"):
        assert word in out


def test_training_checkpoint_damage_detected(tmp_path):
    from ammcnet.training.state import load_train_state, save_train_state

    path = tmp_path / "stage1-0000003.pt"
    save_train_state(path, {"stage": 1, "step": 3, "model": {"w": torch.randn(64, 64)}})
    assert load_train_state(path)["step"] == 3
    flip_weight_bits(path)
    with pytest.raises(CheckpointError, match="damaged or changed outside ammcnet"):
        load_train_state(path)
