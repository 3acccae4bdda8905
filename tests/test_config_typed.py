"""Typed configuration: presets that inherit, old files that still load, one-line errors on every path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ammcnet.errors import CheckpointError, ConfigError
from ammcnet.models import AMMCNet, ModelConfig, load_model_file, save_model_file
from ammcnet.scoring import FusionWeights, Smoothing
from ammcnet.scoring.motion_prior import MotionPriorConfig
from ammcnet.settings import load_settings
from ammcnet.training import TrainConfig, config_from_dict, list_presets, load_config_file, load_preset

DATA = Path(__file__).parent / "data"
#: Written by the loader of full presets (before ``base:``): every bundled preset, resolved.
RESOLVED = json.loads((DATA / "presets-resolved.json").read_text())
#: Presets that state every value; all the others start from one of them.
ROOTS = {"cpu-lite", "paper-ped2"}


@pytest.mark.parametrize("name", sorted(RESOLVED))
def test_every_bundled_preset_resolves_to_the_values_of_the_full_preset(name):
    old, new = RESOLVED[name], load_preset(name).to_dict()
    for section, values in old.items():
        if section != "scoring":
            assert new[section] == values, section
    # the old scoring mappings listed only some keys (the rest were defaults); the new one lists all
    for part in ("weights", "smoothing", "prior"):
        assert old["scoring"].get(part, {}).items() <= new["scoring"][part].items()
    assert old["scoring"]["batch_size"] == new["scoring"]["batch_size"]
    assert config_from_dict(old) == load_preset(name)


def test_presets_inherit_and_state_only_what_differs():
    assert set(list_presets()) == set(RESOLVED)  # a new preset gets its expected values added
    from ammcnet.training.presets import _preset_dir

    for name in list_presets():
        text = yaml.safe_load((_preset_dir() / f"{name}.yaml").read_text())
        assert ("base" in text) == (name not in ROOTS), name
        if name not in ROOTS:  # only what differs from the base
            base = load_preset(text["base"]).to_dict()
            for section, values in text.items():
                if isinstance(values, dict):
                    assert any(base[section].get(k) != v for k, v in values.items() if not isinstance(v, dict)) or \
                        section == "scoring", (name, section)


def test_inheritance_merges_mappings_and_never_inherits_the_name(tmp_path):
    (tmp_path / "mine.yaml").write_text("base: tiny\ndata: {size: [64, 64]}\noptim: {milestones: []}\n")
    (tmp_path / "more.yaml").write_text("name: longer\nbase: mine.yaml\nstage1: {iterations: 40}\n")
    cfg = load_preset(str(tmp_path / "more.yaml"), ["stage2.iterations=3"])
    tiny = load_preset("tiny")
    assert cfg.name == "longer" and load_preset(str(tmp_path / "mine.yaml")).name == "mine"
    assert cfg.data.size == (64, 64) and cfg.data.flow_preset == tiny.data.flow_preset  # merged key by key
    assert cfg.optim.milestones == () and cfg.optim.lr_g == tiny.optim.lr_g  # a list replaces the base's
    assert (cfg.stage1.iterations, cfg.stage2.iterations, cfg.model) == (40, 3, tiny.model)


def test_cycles_and_unknown_bases_are_one_line_errors(tmp_path):
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(ConfigError, match=r"cycle \(a -> b -> a\)") as exc:
        load_preset(str(tmp_path / "a.yaml"))
    assert "\n" not in str(exc.value)
    (tmp_path / "c.yaml").write_text("base: cpu-heavy\n")
    with pytest.raises(ConfigError, match="base 'cpu-heavy' is not a preset; choose one of: cpu-lite"):
        load_preset(str(tmp_path / "c.yaml"))
    (tmp_path / "d.yaml").write_text("base: missing.yaml\n")
    with pytest.raises(ConfigError, match="missing.yaml not found"):
        load_preset(str(tmp_path / "d.yaml"))


def test_a_run_config_written_before_typed_configs_still_loads():
    cfg = load_config_file(DATA / "run-config-v0.yaml")
    assert cfg.data.size == (64, 64) and cfg.stage1.iterations == 60
    # its scoring mappings named only what differed; the rest keep the defaults
    assert cfg.scoring.weights == FusionWeights(motion_prior=0.5)
    assert cfg.scoring.smoothing == Smoothing(causal=True)
    assert cfg.scoring.prior == MotionPriorConfig(rows=4)
    assert config_from_dict(cfg.to_dict()) == cfg
    # a config of an even older version, without keys added since, loads with their defaults
    old = yaml.safe_load((DATA / "run-config-v0.yaml").read_text())
    del old["run"]["sync_bn"], old["scoring"]["prior"]
    assert config_from_dict(old).run.sync_bn is False


def test_a_model_file_with_an_old_stored_config_loads_and_is_checked(tmp_path):
    from ammcnet.scoring.model_file import read_model_file
    from ammcnet.training.config import stored_config

    old = yaml.safe_load((DATA / "run-config-v0.yaml").read_text())
    cfg = config_from_dict(old)
    path = tmp_path / "model.pt"
    save_model_file(path, AMMCNet(cfg.model), train_config=old)
    loaded = load_model_file(path)
    assert loaded.config == cfg.model and stored_config(loaded.train_config, loaded.path) == cfg
    stored = read_model_file(path).settings  # the reader below training checks the sections it scores with
    assert (stored.data, stored.model, stored.scoring) == (cfg.data, cfg.model, cfg.scoring)
    bad = {**old, "stage1": {"iteration": 3}}
    with pytest.raises(ConfigError, match=r"model.pt \(stored training settings\): unknown config key 'stage1.iteration'"):
        stored_config(bad, path)
    save_model_file(path, AMMCNet(cfg.model))
    import torch

    from ammcnet.utils.digest import seal

    obj = torch.load(path, weights_only=False)
    obj["model_config"]["widht"] = 3
    torch.save(seal(obj), path)  # a sealed file of another format, not a damaged one
    with pytest.raises(CheckpointError, match="unknown config key 'widht'; allowed: ema_decay"):
        load_model_file(path)


@pytest.mark.parametrize("override, message", [
    ("stage1.iteration=5", "--set: unknown config key 'stage1.iteration'; allowed under stage1: batch_size, iterations"),
    ("scoring.prior.cells=4", "unknown config key 'scoring.prior.cells'; allowed under scoring.prior: alpha, rows"),
    ("stage1.iterations=true", "stage1.iterations=True: expected an integer"),
    ("stage1.iterations=-1", "stage1.iterations=-1: input should be greater than or equal to 0"),
    ("run.bf16=1", "run.bf16=1: expected true or false"),
    ("loss.lam_adv=abc", "loss.lam_adv='abc': expected a number"),
    ("data.size=64", "data.size=64: expected a list"),
    ("run.select=best", "run.select='best': input should be 'last' or 'val'"),
    ("model.streams=motion", "model.streams='motion'"),
    ("model.frames_in=5", "model.flows_in=3 must equal model.frames_in - 1 = 4"),
    ("scoring.smoothing.sigma=-1", "scoring.smoothing needs sigma >= 0"),
    ("scoring.prior.share=2", "an odd share"),
    ("scoring.weights.rgb_psnr=x", "scoring.weights.rgb_psnr='x': expected a number"),
    ("stage1.iterations.x=1", "'stage1.iterations' is not a section"),
])
def test_bad_values_give_one_line_config_errors_naming_the_key(override, message):
    with pytest.raises(ConfigError) as exc:
        load_preset("tiny", [override])
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_weighing_the_region_head_needs_one():
    # the demo preset fuses the head's record: switching the head off is refused before any training
    with pytest.raises(ConfigError, match="scoring.weights.region weighs the region head") as exc:
        load_preset("demo", ["scoring.region_head=false"])
    assert "\n" not in str(exc.value)
    assert load_preset("demo", ["scoring.region_head=false", "scoring.weights.region=0"]).scoring.region_head is False


def test_direct_construction_checks_too():
    with pytest.raises(ConfigError, match="ModelConfig: features_root=0"):
        ModelConfig(features_root=0)
    with pytest.raises(ConfigError, match="config: unknown config key 'stage2.speed'; allowed under stage2: batch_size"):
        load_settings(TrainConfig, {"stage2": {"speed": 1}})
    from dataclasses import replace

    with pytest.raises(ConfigError, match="batch_size=0"):
        replace(load_preset("tiny").stage1, batch_size=0)


def test_every_load_path_refuses_a_bad_stored_config(tmp_path):
    """test, export, calibrate, detect and the API read the model file's training settings through
    the same check (ammcnet.scoring.model_file, without the training package)."""
    import ammcnet
    from ammcnet.apps.calibrator import CalibrateOptions, recalibrate
    from ammcnet.apps.exporter import export_run
    from ammcnet.apps.tester import TestOptions, run_test
    from ammcnet.detect import Detector

    cfg = load_preset("tiny")
    stored = cfg.to_dict()
    stored["data"]["size"] = [30, 30]
    path = tmp_path / "model.pt"
    save_model_file(path, AMMCNet(cfg.model), train_config=stored, calibration={"records": {}})
    expected = r"model.pt \(stored training settings\): data.size=\[30, 30\]: height and width must be"
    with pytest.raises(ConfigError, match=expected):
        run_test(path, tmp_path / "nowhere", options=TestOptions(protocol="paper", progress=False))
    with pytest.raises(ConfigError, match=expected):
        export_run(path, tmp_path / "m.onnx")
    with pytest.raises(ConfigError, match=expected):
        recalibrate(path, tmp_path / "nowhere", CalibrateOptions(progress=False))
    with pytest.raises(ConfigError, match=expected):
        ammcnet.load(path)
    with pytest.raises(ConfigError, match=expected):
        Detector.from_run(path)
