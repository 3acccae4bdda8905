"""The scoring settings are stored once in a model file; test, detect and the API read one object."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ammcnet
from ammcnet.cli import main
from ammcnet.detect import Detector
from ammcnet.errors import ConfigError
from ammcnet.models import AMMCNet, ModelConfig, load_model_file, save_model_file
from ammcnet.scoring.calibration import calibration_from_records, threshold_for_fpr
from ammcnet.scoring.fusion import FusionWeights, Smoothing
from ammcnet.scoring.settings import scoring_settings

NAMES = ("rgb_psnr", "rgb_commit", "flow_error", "flow_commit")
DATA = {"size": [32, 32], "flow": "dis", "flow_preset": "ultrafast"}


def _calibration(weights: FusionWeights, smoothing: Smoothing) -> dict:
    rng = np.random.default_rng(0)
    return calibration_from_records([{k: rng.random(30) for k in NAMES}], weights, smoothing)


def _save(path, calibration, train_config) -> None:
    torch.manual_seed(0)
    save_model_file(path, AMMCNet(ModelConfig(features_root=4, embed_dim=8, n_embed=16)),
                    calibration=calibration, train_config=train_config)


def test_settings_are_stored_once_and_read_alike_everywhere(tmp_path) -> None:
    weights, smoothing = FusionWeights(rgb_commit=0.3), Smoothing(sigma=2.0)
    cal = _calibration(weights, smoothing)
    assert not any(k in cal["fused"] for k in ("weights", "smoothing"))  # a fingerprint only
    train_config = {"data": DATA, "scoring": {"weights": weights.to_dict(), "smoothing": smoothing.to_dict(),
                                              "honest": "frame_mean"}}
    _save(tmp_path / "model.pt", cal, train_config)
    settings = scoring_settings(train_config, cal)
    assert settings.weights == weights and settings.smoothing.sigma == 2.0 and settings.honest == "frame_mean"
    det = Detector.from_run(tmp_path, threshold="auto")
    assert det.weights == weights and det.smoothing.sigma == 2.0 and det.smoothing.causal
    causal = Smoothing(sigma=2.0, causal=True)
    # the online detector's threshold comes from the causally smoothed table of the same settings
    assert det.threshold == threshold_for_fpr(cal, 0.01, weights, causal) != threshold_for_fpr(cal, 0.01, weights, smoothing)
    assert ammcnet.load(tmp_path).settings == settings


def test_a_file_whose_settings_and_calibration_disagree_is_refused(tmp_path, capsys) -> None:
    cal = _calibration(FusionWeights(rgb_commit=0.3), Smoothing(sigma=2.0))
    edited = {"data": DATA, "scoring": {"weights": {"rgb_commit": 0.9}, "smoothing": {"sigma": 2.0}}}
    _save(tmp_path / "model.pt", cal, edited)
    with pytest.raises(ConfigError, match="recalibrate"):
        scoring_settings(edited, cal)
    assert main(["detect", "--model", str(tmp_path), str(tmp_path / "none.avi")]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "recalibrate with ammcnet calibrate" in errors[0]
    with pytest.raises(ConfigError, match="differ"):
        threshold_for_fpr(cal, 0.01, FusionWeights(rgb_commit=0.9), Smoothing(sigma=2.0))


def test_files_that_kept_a_copy_of_the_weights_still_load(tmp_path) -> None:
    weights, smoothing = FusionWeights(rgb_commit=0.3), Smoothing(sigma=2.0)
    cal = _calibration(weights, smoothing)
    for key in ("fused", "fused_causal"):  # the layout written before the settings were stored once
        table = cal[key]
        del table["settings"], table["causal"]
        table["weights"] = weights.to_dict()
        table["smoothing"] = Smoothing(sigma=2.0, causal=key == "fused_causal").to_dict()
    _save(tmp_path / "model.pt", cal, {"data": DATA, "scoring": {"weights": {"rgb_commit": 0.9}}})
    loaded = load_model_file(tmp_path)
    settings = scoring_settings(loaded.train_config, loaded.calibration)
    assert settings.weights == weights  # the thresholds belong to the calibration's copy, as before
    det = Detector.from_run(tmp_path, threshold="auto")
    assert det.weights == weights and det.threshold == threshold_for_fpr(cal, 0.01, weights, Smoothing(2.0, causal=True))


def test_the_model_file_reader_gives_typed_settings_and_calibration(tmp_path) -> None:
    """One reader below training: checked settings, the honest scoring, the scorer and a typed
    calibration whose dict is the stored one, unchanged."""
    from ammcnet.scoring.calibration import Calibration
    from ammcnet.scoring.model_file import read_model_file
    from ammcnet.scoring.settings import HonestScoring

    weights, smoothing = FusionWeights(rgb_commit=0.3), Smoothing(sigma=2.0)
    cal = _calibration(weights, smoothing)
    _save(tmp_path / "model.pt", cal, {"data": DATA, "scoring": {"weights": weights.to_dict(),
                                                                 "smoothing": smoothing.to_dict()}})
    mf = read_model_file(tmp_path)
    assert mf.settings.data.size == (32, 32) and mf.training_size == (32, 32) and mf.settings.data.flow == "dis"
    assert mf.scoring == HonestScoring(weights, smoothing, "region") == scoring_settings(mf.train_config, cal)
    assert isinstance(mf.calibration, Calibration) and mf.calibration.to_dict() == cal
    assert Calibration.from_dict(mf.calibration.to_dict()) == mf.calibration == cal
    assert mf.calibration.has_records and set(mf.calibration.record_names) == set(NAMES)
    assert mf.calibration.fused_table(causal=True) == cal["fused_causal"]
    assert mf.calibration.threshold(0.01, weights, smoothing) == threshold_for_fpr(cal, 0.01, weights, smoothing)
    assert mf.calibration.stored_thresholds == {float(k): v for k, v in cal["thresholds"].items()}
    assert len(mf.scorer.components) == 0 and smoothing.causal_copy() == Smoothing(sigma=2.0, causal=True)
