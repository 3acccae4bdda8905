"""One reader of a model file's fusion settings: test, detect and the API agree on them."""

from __future__ import annotations

import numpy as np
import torch

from ammcnet.detect import Detector
from ammcnet.models import AMMCNet, ModelConfig, save_model_file
from ammcnet.scoring.calibration import calibration_from_records
from ammcnet.scoring.fusion import FusionWeights, Smoothing
from ammcnet.scoring.settings import scoring_settings


def test_calibrated_settings_win_everywhere(tmp_path) -> None:
    calibrated = FusionWeights(rgb_commit=0.3)
    rng = np.random.default_rng(0)
    cal = calibration_from_records([{k: rng.random(30) for k in ("rgb_psnr", "rgb_commit", "flow_error", "flow_commit")}],
                                   calibrated, Smoothing(sigma=2.0))
    # the training request says otherwise (e.g. a file edited by hand): the calibrated table decides,
    # because the stored alarm thresholds belong to it
    train_config = {"data": {"size": [32, 32], "flow": "dis", "flow_preset": "ultrafast"},
                    "scoring": {"weights": {"rgb_commit": 0.9}, "smoothing": {"sigma": 5.0}}}
    torch.manual_seed(0)
    save_model_file(tmp_path / "model.pt", AMMCNet(ModelConfig(features_root=4, embed_dim=8, n_embed=16)),
                    calibration=cal, train_config=train_config)
    settings = scoring_settings(train_config, cal)
    assert settings.weights == calibrated and settings.smoothing.sigma == 2.0
    det = Detector.from_run(tmp_path, threshold=None)
    assert det.weights == calibrated and det.smoothing.sigma == 2.0 and det.smoothing.causal
    import ammcnet

    assert ammcnet.load(tmp_path).settings == settings
    # without a fused table the training settings apply
    assert scoring_settings(train_config, {"records": cal["records"]}).weights.rgb_commit == 0.9
