"""Unit tests of ammcnet.training: loss definitions, config/presets, sampler and split."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ammcnet.cli import main as cli_main
from ammcnet.errors import ConfigError
from ammcnet.scoring import FusionWeights
from ammcnet.training import (
    TrainConfig,
    adversarial_loss,
    discriminator_loss,
    gradient_loss,
    intensity_loss,
    list_presets,
    load_preset,
)
from ammcnet.training.sampling import StepBatchSampler, split_train_val


def test_intensity_loss_is_mean_unsquared_channel_norm():
    pred = torch.zeros(2, 3, 2, 2)
    target = torch.zeros(2, 3, 2, 2)
    target[0, :, 0, 0] = torch.tensor([3.0, 4.0, 0.0])  # norm 5 at one of 8 pixels
    assert intensity_loss(pred, target).item() == pytest.approx(5.0 / 8)


def test_gradient_loss_sums_channels_before_differencing():
    # Two channels whose horizontal gradients cancel: the authors' definition sees no gradient.
    img = torch.zeros(1, 2, 1, 3)
    img[0, 0, 0] = torch.tensor([0.0, 1.0, 2.0])
    img[0, 1, 0] = torch.tensor([0.0, -1.0, -2.0])
    assert gradient_loss(img, torch.zeros_like(img)).item() == pytest.approx(0.0)
    # One channel: dx = [1, 1, 1] (left zero pad), dy = [1, 2, 3] (top zero pad) -> mean(|dx| + |dy|) = 3.
    one = torch.tensor([[[[1.0, 2.0, 3.0]]]])
    assert gradient_loss(one, torch.zeros_like(one)).item() == pytest.approx((3 + 6) / 3)


def test_lsgan_losses():
    real, fake = torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)
    assert discriminator_loss(real, fake).item() == 0.0
    assert adversarial_loss(fake).item() == pytest.approx(0.5)
    assert discriminator_loss(fake, real).item() == pytest.approx(1.0)


def test_presets_load_and_state_the_paper_values():
    names = list_presets()
    for name in ("paper-ped2", "paper-avenue", "paper-shanghaitech", "cpu-lite", "tiny"):
        assert name in names
    ped2 = load_preset("paper-ped2")
    assert ped2.data.size == (256, 256) and ped2.model.features_root == 64
    assert (ped2.stage1.batch_size, ped2.stage2.batch_size) == (16, 8)
    assert ped2.stage1.iterations == ped2.stage2.iterations == 80000
    assert (ped2.loss.lam_int, ped2.loss.lam_gd, ped2.loss.lam_adv, ped2.loss.lam_flow) == (1.0, 1.0, 0.05, 0.0)
    assert (ped2.optim.lr_g, ped2.optim.lr_d, ped2.optim.gamma) == (1e-4, 1e-5, 0.5)
    assert load_preset("paper-avenue").loss.lam_int == 0.001
    lite, hour = load_preset("cpu-lite"), load_preset("cpu-ped2")  # same model, longer schedule
    assert hour.model == lite.model and hour.data == lite.data and hour.loss == lite.loss
    assert (hour.stage1.iterations, hour.stage2.iterations) == (4000, 2000)


def test_overrides_types_and_errors():
    cfg = load_preset("tiny", ["optim.milestones=[5, 9]", "data.size=[64,64]", "run.select=val"])
    assert cfg.optim.milestones == (5, 9) and cfg.data.size == (64, 64) and cfg.run.select == "val"
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        load_preset("nope")
    with pytest.raises(ConfigError, match="loss.lam_bogus"):
        load_preset("tiny", ["loss.lam_bogus=1"])
    with pytest.raises(ConfigError, match="expected a number"):
        load_preset("tiny", ["loss.lam_adv=abc"])
    # the fusion weights are typed fields: one can be set, the others keep their defaults, a wrong name cannot
    assert load_preset("tiny", ["scoring.weights.flow_error=0.5"]).scoring.weights == FusionWeights(flow_error=0.5)
    with pytest.raises(ConfigError, match="unknown config key 'scoring.weights.bogus'; allowed under scoring.weights: flow_commit"):
        load_preset("tiny", ["scoring.weights.bogus=1"])
    with pytest.raises(ConfigError, match="key=value"):
        load_preset("tiny", ["stage1.iterations"])
    with pytest.raises(ConfigError, match="multiples of 8"):
        load_preset("tiny", ["data.size=[30,30]"])
    with pytest.raises(ConfigError, match="lam_flow"):
        load_preset("tiny", ["loss.lam_flow=2"])


def test_config_round_trips_through_dict():
    from ammcnet.training import config_from_dict

    cfg = load_preset("cpu-lite")
    assert config_from_dict(cfg.to_dict()) == cfg
    assert TrainConfig().validate().stage2.batch_size == 8


def test_cli_unknown_preset_exits_2_with_one_line(capsys, tmp_path):
    rc = cli_main(["train", str(tmp_path), "--preset", "nope"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "unknown preset 'nope'" in err and len(err.splitlines()) == 1
    rc = cli_main(["train", str(tmp_path), "--preset", "tiny", "--set", "foo.bar=1"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "foo.bar" in err and len(err.splitlines()) == 1


def test_split_holds_out_last_clips_of_every_video():
    index = np.array([[v, t] for v in range(3) for t in range(4, 14)])  # 10 clips per video
    train, val = split_train_val(index, 0.1)
    assert len(val) == 3 and len(train) == 27
    assert set(map(tuple, index[val].tolist())) == {(0, 13), (1, 13), (2, 13)}
    assert not set(train) & set(val)


def test_sampler_order_depends_only_on_seed_stage_and_step():
    full = list(StepBatchSampler(10, 3, seed=5, stage=1, start=0, stop=9))
    tail = list(StepBatchSampler(10, 3, seed=5, stage=1, start=4, stop=9))
    assert full[4:] == tail
    assert full[:3] != full[3:6]  # a new permutation each epoch
    assert all(len(b) == 3 for b in full)
    assert sorted(i for b in full[:3] for i in b) == sorted(set(i for b in full[:3] for i in b))  # no repeats in an epoch
    other = list(StepBatchSampler(10, 3, seed=6, stage=1, start=0, stop=9))
    assert other != full
