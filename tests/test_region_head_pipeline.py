"""The region head inside the pipeline: fitted into the scorer, stored in the model file, the default
honest score of `ammcnet test`, and the alarm score of the online detector (equal to offline)."""

from __future__ import annotations

import copy
import json
import shutil
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from ammcnet.cli import main
from ammcnet.data import ClipDataset, prepare_dataset
from ammcnet.data import video as video_module
from ammcnet.data.video import decode_image, open_video
from ammcnet.detect import Detector
from ammcnet.errors import ConfigError, DataError
from ammcnet.metrics import load_score_file
from ammcnet.models import AMMCNet, ModelConfig, load_model_file, save_model_file
from ammcnet.models.info import format_info, model_info
from ammcnet.regions import RegionHeadConfig
from ammcnet.regions.config import APPEARANCE_DESCRIPTORS
from ammcnet.regions.footage import flows_of_frames
from ammcnet.regions.selection.validate import (
    APPEARANCE_WEIGHTS,
    MOVING_LOOK_WEIGHTS,
    OBJECT_WINDOW_RANGE,
    PART_SETS,
)
from ammcnet.scoring import FusionWeights, calibrate
from ammcnet.scoring.fusion import Smoothing, fuse_records, smooth
from ammcnet.scoring.region_head import FLOW_CACHE, RegionHeadComponent, fit_region_head
from ammcnet.scoring.scorer import fit_scorer, load_scorer

H, W = 48, 64
FAST = range(10, 16)  # frames of the test video where a block races across


def walk(n: int, seed: int, fast: range = range(0)) -> list[np.ndarray]:
    """Grey noise background; a dark block walks right 1 px per frame (normal), 5 px into the frames of ``fast``."""
    rng = np.random.default_rng(seed)
    bg = rng.integers(90, 140, (H, W, 3), dtype=np.uint8)
    frames, x = [], 2
    for t in range(n):
        x += 0 if t == 0 else 5 if t in fast else 1
        f = bg.copy()
        f[18:30, x:x + 10] = 20
        frames.append(f)
    return frames


def write(folder, frames) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:03d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A custom dataset (4 normal training walks, one test walk with a racing stretch), a tiny model
    whose scorer holds a region head, saved like training saves it."""
    tmp = tmp_path_factory.mktemp("region")
    root = tmp / "walks"
    for i in range(4):
        write(root / "train" / f"v{i}", walk(24, seed=i))
    test = walk(24, seed=9, fast=FAST)
    write(root / "test" / "t1", test)
    (root / "labels.csv").write_text(f"video,start,end\nt1,{FAST.start + 1},{FAST.stop}\n")
    prepared = prepare_dataset(root, size=(32, 32), flow="dis", flow_preset="ultrafast", cache_dir=tmp / "cache",
                               progress=False)
    torch.manual_seed(0)
    model = AMMCNet(ModelConfig(features_root=4, embed_dim=8, n_embed=16)).eval()
    # the appearance part too, so the one scoring path (test, detect, ONNX) is checked with every kind of part
    regions = RegionHeadConfig(window=0.25, flow_preset="ultrafast", weights={"speed": 1, "direction": 1, "appearance": 1})
    scorer = fit_scorer(model, ClipDataset(prepared, "train"), None, regions, choose_regions=False)
    cal = calibrate(model, ClipDataset(prepared, "train"), batch_size=4, scorer=scorer)
    save_model_file(tmp / "run" / "model.pt", model, calibration=cal, scorer=scorer.state(),
                    train_config={"data": {"size": [32, 32], "flow": "dis", "flow_preset": "ultrafast"}})
    return {"tmp": tmp, "root": root, "prepared": prepared, "run": tmp / "run", "test_frames": test}


def test_model_file_keeps_the_fitted_head(run):
    scorer = load_scorer(load_model_file(run["run"]))
    head = scorer.components[RegionHeadComponent.component].head
    assert head.size == (H, W) and head.frames == 4 * 24
    assert set(head.parts) == {"speed", "direction", "appearance"}


def test_test_reports_the_region_head_as_the_honest_score(run, capsys):
    out = run["tmp"] / "out"
    cache = ["--cache-dir", str(run["tmp"] / "cache")]
    assert main(["test", str(run["run"]), str(run["root"]), "--out", str(out), "--no-progress", *cache]) == 0
    assert "region head" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["honest"]["name"].startswith("honest (region head")
    names = set(metrics["honest_variants"])
    assert {"honest (region head, causal)", "honest frame-mean (calibrated fusion, smoothed)"} <= names
    op = metrics["operator"]
    assert op["events"] == 1 and op["events_caught"] == 1 and op["smoothing"] == "causal"
    region = load_score_file(out / "scores.npz").records["region"][0]
    fast = np.isin(np.arange(len(region)), list(FAST))
    assert region[fast].min() > region[~fast][4:].max()  # the racing block outscores every normal frame
    # the analysis flows were kept with the prepared data; a second run reads them and scores alike
    cached = list(run["tmp"].rglob("region-flows/test/t1/analysis-flow-*.npy"))
    assert len(cached) == 1, cached
    stamp = cached[0].stat().st_mtime_ns
    assert main(["test", str(run["run"]), str(run["root"]), "--out", str(out / "again"), "--no-progress", "--quiet", *cache]) == 0
    assert cached[0].stat().st_mtime_ns == stamp  # read, not written again
    np.testing.assert_array_equal(load_score_file(out / "again" / "scores.npz").records["region"][0], region)


def test_test_decodes_each_test_source_once(run, tmp_path, monkeypatch):
    """`ammcnet test` on a dataset root with a head: preparing the test split feeds every decoded frame
    to the head's analysis flow too, so the head reads its flows from the cache, not the source again."""
    decoded: Counter = Counter()

    def counting(path):
        decoded[Path(path)] += 1
        return decode_image(path)

    monkeypatch.setattr(video_module, "decode_image", counting)
    out = tmp_path / "out"
    cache = ["--cache-dir", str(tmp_path / "cache")]  # a fresh cache: the test split is prepared by this command
    assert main(["test", str(run["run"]), str(run["root"]), "--out", str(out), "--no-progress", "--quiet", *cache]) == 0
    frames = sorted((run["root"] / "test" / "t1").glob("*.png"))
    counts = [decoded[f] for f in frames]
    assert set(decoded) == set(frames)  # the test split's frames only
    # every frame decoded once (it was twice: once prepared, once for the head); the first once more:
    # the region input reads the source's frame size from it
    assert counts == [2] + [1] * (len(frames) - 1), counts
    assert list((tmp_path / "cache").rglob("region-flows/test/t1/analysis-flow-*.json"))
    # the same flows and scores as when the head computes them from the source (a cache prepared without them)
    monkeypatch.undo()
    shutil.rmtree(run["prepared"].root / FLOW_CACHE / "test", ignore_errors=True)
    again = tmp_path / "again"
    assert main(["test", str(run["run"]), str(run["prepared"].root), "--out", str(again), "--no-progress", "--quiet"]) == 0
    [prepared_flows] = (tmp_path / "cache").rglob("region-flows/test/t1/analysis-flow-*.npy")
    [head_flows] = (run["prepared"].root / FLOW_CACHE / "test" / "t1").glob("analysis-flow-*.npy")
    np.testing.assert_array_equal(np.load(prepared_flows), np.load(head_flows))
    np.testing.assert_array_equal(load_score_file(out / "scores.npz").records["region"][0],
                                  load_score_file(again / "scores.npz").records["region"][0])


def test_detector_alarms_on_the_head_and_matches_offline(run):
    det = Detector.from_run(run["run"], threshold="auto")
    results = [det.update(f) for f in run["test_frames"]]
    offline = det.scorer.components[RegionHeadComponent.component].score_source(run["root"] / "test" / "t1").score
    scored = [r for r in results if r is not None]
    online = np.array([r.records["region"] for r in scored])
    np.testing.assert_allclose(online, offline[[r.index for r in scored]], rtol=1e-5, atol=1e-6)
    alarms = {r.index for r in scored if r.alarm}
    assert set(FAST) <= alarms  # every racing frame alarms (at the 1 % threshold of held-out normal walks)
    before = [r.records["region"] for r in scored if r.index < FAST.start]
    assert min(r.records["region"] for r in scored if r.index in FAST) > 3 * np.median(before)
    racing = [r for r in scored if r.index in FAST]
    assert all(r.box is not None and 0 <= r.box[0] < r.box[2] <= W for r in racing)


def test_settings_are_chosen_on_training_videos(run):
    comp = fit_region_head(run["prepared"], config=RegionHeadConfig(flow_preset="ultrafast", try_appearance=True),
                           choose=True)
    sel = comp.selection
    # the window is object-sized (measured on the training flows); the synthetic set picks the parts
    with_direction = sum(1 for s in PART_SETS if s.get("direction"))  # tried twice: the default and a lowered threshold
    motion = len(PART_SETS) + with_direction
    # each motion candidate once more per appearance descriptor and weight, per moving-look weight,
    # and per pair of the two (the records carry the frames)
    appearance = len(APPEARANCE_DESCRIPTORS) * len(APPEARANCE_WEIGHTS)
    looks = appearance + len(MOVING_LOOK_WEIGHTS) + appearance * len(MOVING_LOOK_WEIGHTS)
    assert sel is not None and len(sel["candidates"]) == motion * (1 + looks)
    assert sum("appearance" not in c["label"] and "look" not in c["label"] for c in sel["candidates"]) == motion
    # two stages: the motion parts, then a look part joins their winner or not
    assert "appearance" not in sel["motion_chosen"] and "look" not in sel["motion_chosen"]
    assert sel["chosen"] == sel["motion_chosen"] or sel["chosen"].startswith(sel["motion_chosen"] + ", ")
    assert sel["held_out"] and sel["object_px"] > 0
    lo, hi = OBJECT_WINDOW_RANGE
    assert len({c["config"]["window"] for c in sel["candidates"]}) == 1 and lo <= comp.head.config.window <= hi


def test_frame_mean_can_stay_the_default_with_the_head_reported_beside(run):
    loaded = load_model_file(run["run"])
    config = {**loaded.train_config, "scoring": {"honest": "frame_mean"}}
    other = run["tmp"] / "frame-mean"
    save_model_file(other / "model.pt", loaded.model, calibration=loaded.calibration, scorer=loaded.scorer_state,
                    train_config=config)
    out = run["tmp"] / "out-fm"
    assert main(["test", str(other), str(run["root"]), "--out", str(out), "--no-progress"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["honest"]["name"].startswith("honest frame-mean")
    assert "honest (region head, smoothed)" in metrics["honest_variants"]
    # the operator's view of the frame-mean score: its live threshold comes from the causal table
    assert "alarm_note" not in metrics and metrics["operator"]["smoothing"] == "causal"
    det = Detector.from_run(other, threshold="auto")
    assert det.alarm_record is None and RegionHeadComponent.component not in det.scorer.components  # nothing reads it
    scored = [r for r in map(det.update, run["test_frames"]) if r is not None]
    assert "region" not in scored[0].records and scored[0].box is None


@pytest.fixture(scope="module")
def fused(run):
    """The same model file recalibrated so that the honest score is the fusion, weighing the head."""
    loaded = load_model_file(run["run"])
    scorer, train = load_scorer(loaded), ClipDataset(run["prepared"], "train")
    weights = FusionWeights(region=2.0, rgb_error_local=0.5)
    cal = calibrate(loaded.model, train, batch_size=4, scorer=scorer, weights=weights)
    folder = run["tmp"] / "fused-region"
    config = {**loaded.train_config, "scoring": {"honest": "fusion", "weights": weights.to_dict()}}
    save_model_file(folder / "model.pt", loaded.model, calibration=cal, scorer=loaded.scorer_state, train_config=config)
    out = run["tmp"] / "out-fused-region"
    assert main(["test", str(folder), str(run["root"]), "--out", str(out), "--no-progress"]) == 0
    records = {k: v[0] for k, v in load_score_file(out / "scores.npz").records.items()}
    return {"run": folder, "out": out, "cal": cal, "weights": weights, "offline": fuse_records(records, cal, weights),
            "records": records, "scorer": scorer, "train": train, "frames_in": loaded.model.config.frames_in}


def test_the_fusion_can_weigh_the_head_and_online_equals_offline(run, fused):
    # on the calibration clips the head's record is each video's score by the head fitted without it
    head = fused["scorer"].components[RegionHeadComponent.component].head
    held_out = np.concatenate([s[fused["frames_in"]:] for s in head.normal_scores_by_video(fused["train"].num_frames)])
    assert fused["cal"]["records"]["region"]["mean"] == pytest.approx(held_out.mean())
    metrics = json.loads((fused["out"] / "metrics.json").read_text())
    assert metrics["honest"]["name"].startswith("honest fusion (calibrated records and region head")
    assert "alarm_note" not in metrics and metrics["operator"]["events_caught"] == 1
    without_head = fuse_records({k: v for k, v in fused["records"].items() if k != "region"}, fused["cal"], fused["weights"])
    assert not np.allclose(fused["offline"], without_head)  # the head's record counts
    det = Detector.from_run(fused["run"], threshold="auto")
    assert det.alarm_record is None and RegionHeadComponent.component in det.scorer.components  # the fusion weighs it
    scored = [r for r in map(det.update, run["test_frames"]) if r is not None]
    np.testing.assert_allclose([r.fused for r in scored], fused["offline"][[r.index for r in scored]], rtol=1e-5, atol=1e-5)
    assert all(r.box is not None for r in scored if r.index in FAST)


def test_weighing_the_head_without_one_is_a_one_line_error(run):
    loaded = load_model_file(run["run"])
    with pytest.raises(DataError, match="scoring.weights.region is set"):
        calibrate(loaded.model, ClipDataset(run["prepared"], "train"), batch_size=4, weights=FusionWeights(region=1.0))


def test_info_shows_the_honest_score_and_the_fitted_components(fused):
    info = model_info(fused["run"])
    assert info["scoring"] == {"honest": "fusion", "weights": {**{k: v for k, v in FusionWeights().to_dict().items() if v},
                                                               "region": 2.0, "rgb_error_local": 0.5}}
    assert info["scorer"] == {"components": ["motion_prior", "region_head"], "region_head": "settings given, not chosen"}
    text = format_info(info)
    assert "honest score  fusion (fusion weights: rgb_psnr 1, rgb_commit 0.1" in text and "region 2" in text
    assert "region head   settings given, not chosen" in text


def test_info_says_when_one_recording_chose_over_rotations(run):
    loaded = load_model_file(run["run"])
    state = copy.deepcopy(loaded.scorer_state)
    for rotations, shown in ((4, "window 9/240, parts speed (chosen on 4 held-out stretches in turn)"),
                             (1, "window 9/240, parts speed")):
        state["components"]["region_head"]["selection"] = {"chosen": "window 9/240, parts speed", "rotations": rotations}
        out = run["tmp"] / f"rotations-{rotations}" / "model.pt"
        save_model_file(out, loaded.model, calibration=loaded.calibration, scorer=state, train_config=loaded.train_config)
        assert model_info(out.parent)["scorer"]["region_head"] == shown


def test_the_onnx_backend_fuses_the_head_too(run, fused):
    onnx = run["tmp"] / "fused-region.onnx"
    assert main(["export", str(fused["run"]), "--onnx", str(onnx)]) == 0
    det = Detector.from_run(fused["run"], threshold="auto", backend="onnx", onnx=onnx)
    scored = [r for r in det.process(run["test_frames"]) if r is not None]
    assert "region" in scored[0].records
    np.testing.assert_allclose([r.fused for r in scored], fused["offline"][[r.index for r in scored]], atol=1e-3)


def test_every_scoring_mode_is_reported_on_the_same_frames_and_score_picks_the_headline(run, capsys):
    """`ammcnet test --score MODE` makes MODE the honest score without editing the model file; every
    mode's figures sit in metrics.json on the same frames, and the baselines were fitted beside the head
    at its window, each with its own held-out threshold."""
    comp = load_scorer(load_model_file(run["run"])).components[RegionHeadComponent.component]
    assert comp.modes == ("region", "max-speed", "per-position", "motion-head")
    assert all(b.config.window == comp.head.config.window for b in comp.baselines.values())
    assert set(comp.baselines["max-speed"].parts) == {"speed"} and set(comp.baselines["per-position"].parts) == {"place"}
    # settings given, not chosen: the motion head is the head less its appearance part
    assert set(comp.baselines["motion-head"].parts) == {"speed", "direction"}
    before = (run["run"] / "model.pt").read_bytes()
    results = {}
    for mode in ("region", "max-speed", "per-position", "motion-head", "fusion"):
        out = run["tmp"] / f"out-score-{mode}"
        assert main(["test", str(run["run"]), str(run["root"]), "--out", str(out), "--no-progress", "--score", mode]) == 0
        results[mode] = json.loads((out / "metrics.json").read_text())
    assert "scoring modes (causal micro AUC" in capsys.readouterr().out
    assert (run["run"] / "model.pt").read_bytes() == before  # the model file is not edited
    modes = results["region"]["scoring_modes"]
    assert set(modes["modes"]) == {"region", "max-speed", "per-position", "motion-head", "fusion", "records"}
    assert len({m["frames"] for m in modes["modes"].values()}) == 1  # every mode scores the same frames
    assert all(m["first_frame"] == 4 for m in modes["modes"].values())
    for mode, metrics in results.items():
        assert metrics["score_mode"] == mode
        # the headline of --score MODE is that mode's row of every other test's table
        assert metrics["scoring_modes"]["modes"][mode] == modes["modes"][mode]
        assert metrics["operator"]["threshold"] == pytest.approx(modes["modes"][mode]["operator"]["threshold"])
    assert results["max-speed"]["honest"]["name"] == "honest (baseline max-speed, smoothed)"
    # the baselines' thresholds are their own, not the head's
    ops = {m: modes["modes"][m]["operator"]["threshold"] for m in ("region", "max-speed", "per-position", "motion-head")}
    assert len(set(ops.values())) == 4
    # the racing block is fast: the speed baseline catches it too
    assert modes["modes"]["max-speed"]["operator"]["events_caught"] == 1


def test_an_unknown_scoring_mode_is_a_one_line_error(run, capsys):
    assert main(["test", str(run["run"]), str(run["root"]), "--out", str(run["tmp"] / "bad"), "--score", "fastest"]) == 2
    err = capsys.readouterr().err.strip()
    assert "scoring mode 'fastest': choose one of region, fusion, records, max-speed, per-position, motion-head" in err
    assert len(err.splitlines()) == 1


def test_the_detector_alarms_on_a_baseline_mode(run):
    loaded = load_model_file(run["run"])
    other = run["tmp"] / "max-speed"
    save_model_file(other / "model.pt", loaded.model, calibration=loaded.calibration, scorer=loaded.scorer_state,
                    train_config={**loaded.train_config, "scoring": {"honest": "max-speed"}})
    det = Detector.from_run(other, threshold="auto")
    comp = det.scorer.components[RegionHeadComponent.component]
    assert det.alarm_record == "region_max_speed"
    scored = [r for r in map(det.update, run["test_frames"]) if r is not None]
    flows = flows_of_frames(open_video(run["root"] / "test" / "t1"), comp.head.size, comp.head.config.flow_preset)
    offline = comp.baselines["max-speed"].score_flows(flows.astype(np.float32)).score
    np.testing.assert_allclose([r.records["region_max_speed"] for r in scored], offline[[r.index for r in scored]],
                               rtol=1e-5, atol=1e-6)
    assert det.threshold == pytest.approx(comp.threshold(0.01, lambda x: smooth(x, Smoothing().causal_copy()), "max-speed"))


def test_a_live_mode_without_an_honest_threshold_is_refused(run):
    with pytest.raises(ConfigError, match="scoring mode 'records' has no calibrated live threshold"):
        Detector.from_run(run["run"], threshold="auto", honest="records")
