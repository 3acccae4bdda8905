"""`ammcnet calibrate`: new fusion weights for a trained model, from its held-out training clips only."""

from __future__ import annotations

import pytest
import torch

from ammcnet.cli import main
from ammcnet.data import prepare_dataset
from ammcnet.models import AMMCNet, load_model_file, save_model_file
from ammcnet.scoring.scorer import load_scorer
from ammcnet.scoring.settings import scoring_settings
from ammcnet.training import load_preset
from helpers import moving_frames, write_frames


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("calibrate")
    root = tmp / "ds"
    for name, n in (("a", 20), ("b", 25)):
        write_frames(root / "train" / name, moving_frames(n, seed=len(name) + n), ext=".png")
    write_frames(root / "test" / "t", moving_frames(12, seed=9), ext=".png")
    prepared = prepare_dataset(root, size=(32, 32), flow_preset="ultrafast", cache_dir=tmp / "cache", progress=False)
    config = load_preset("tiny")
    torch.manual_seed(0)
    model = AMMCNet(config.model).eval()
    run = tmp / "run"
    save_model_file(run / "model.pt", model, train_config=config.to_dict())  # no calibration yet
    save_model_file(tmp / "imported.pt", model)  # no training settings either
    return {"tmp": tmp, "prepared": prepared.root, "run": run}


def test_calibrate_writes_new_weights_from_training_clips_only(setup, capsys):
    out = setup["tmp"] / "recal.pt"
    rc = main(["calibrate", str(setup["run"]), str(setup["prepared"]), "--set", "scoring.weights.flow_error=0.5",
               "--out", str(out), "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "alarm threshold at 1 % false alarms" in printed
    loaded = load_model_file(out)
    cal = loaded.calibration
    # the weights are stored once (the training settings); the tables keep their fingerprint only
    assert loaded.train_config["scoring"]["weights"]["flow_error"] == 0.5 and "weights" not in cal["fused"]
    assert scoring_settings(loaded.train_config, cal).weights.flow_error == 0.5
    # every record of the clips, and the region head's and its baselines' (their held-out scores at the
    # calibration frames)
    assert set(cal["records"]) == {"rgb_psnr", "rgb_commit", "flow_error", "flow_commit", "motion_prior",
                                   "rgb_error_local", "rgb_commit_local", "flow_error_local", "flow_commit_local",
                                   "region", "region_max_speed", "region_per_position", "region_motion_head"}
    # tiny holds out the last 20 % of each training video's clips: 9 of the 16 + 21 (split_train_val)
    assert load_model_file(out).meta["calibration_clips"] == 9
    assert load_model_file(setup["run"]).calibration is None  # the input is untouched with --out


def test_calibrate_refuses_model_changes_and_needs_settings(setup, capsys):
    assert main(["calibrate", str(setup["run"]), str(setup["prepared"]), "--set", "stage1.iterations=9"]) == 2
    assert "only scoring.* and data.val_fraction" in capsys.readouterr().err
    imported = setup["tmp"] / "imported.pt"
    assert main(["calibrate", str(imported), str(setup["prepared"]), "--no-progress"]) == 2
    assert "--preset NAME" in capsys.readouterr().err
    assert main(["calibrate", str(imported), str(setup["prepared"]), "--preset", "tiny", "--no-progress"]) == 0
    loaded = load_model_file(imported)
    assert scoring_settings(loaded.train_config, loaded.calibration).weights.rgb_psnr == 1.0


def test_calibrate_refits_the_motion_prior_with_its_settings(setup, capsys):
    out = setup["tmp"] / "recal-prior.pt"
    rc = main(["calibrate", str(setup["run"]), str(setup["prepared"]), "--set", "scoring.prior.rows=2",
               "--set", "scoring.weights.motion_prior=0.5", "--out", str(out), "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    loaded = load_model_file(out)
    prior = load_scorer(loaded).components["motion_prior"]
    assert prior.config.rows == 2 and prior.grid == (2, 2)
    assert scoring_settings(loaded.train_config, loaded.calibration).weights.motion_prior == 0.5
    rc = main(["calibrate", str(setup["run"]), str(setup["prepared"]), "--set", "scoring.prior.cells=3",
               "--out", str(out), "--no-progress"])
    assert rc == 2 and "unknown config key 'scoring.prior.cells'; allowed under scoring.prior: alpha" in capsys.readouterr().err
