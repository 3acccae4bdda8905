"""End-to-end tests of two-stage training on a tiny synthetic dataset (moving squares, 32x32)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ammcnet.errors import CheckpointError, DataError
from ammcnet.models import load_model_file
from ammcnet.scoring.scorer import load_scorer
from ammcnet.training import load_config_file, load_preset, train
from ammcnet.training.metrics_log import read_metrics
from helpers import write_square_video

LOSS_COLUMNS = ("g_loss", "int", "gd", "adv", "commit", "d_loss", "int_flow", "commit_flow", "adv_flow", "d_loss_flow")
# Batch = every training clip (2 videos x 10 clips, 2 held out each): a fixed batch, so the loss
# decrease is not at the mercy of which clips a step draws.
OVERRIDES = [
    "stage1.iterations=6",
    "stage2.iterations=6",
    "stage1.batch_size=16",
    "stage2.batch_size=16",
    "run.checkpoint_every=2",
    "run.log_every=1",
]


@pytest.fixture(scope="module")
def squares(tmp_path_factory) -> Path:
    """A dataset root of 2 training videos of 14 frames (moving squares)."""
    root = tmp_path_factory.mktemp("squares")
    for v in range(2):
        write_square_video(root / "train" / f"v{v}", 14, v)
    return root


@pytest.fixture(scope="module")
def prepared(squares, tmp_path_factory) -> Path:
    """A prepared 32x32 cache of the squares."""
    from ammcnet.data.cache import prepare_dataset

    root = squares
    cfg = load_preset("tiny")
    cache = tmp_path_factory.mktemp("cache")
    p = prepare_dataset(root, size=cfg.data.size, flow=cfg.data.flow, flow_preset=cfg.data.flow_preset,
                        cache_dir=cache, splits=("train",), progress=False)
    return p.root


@pytest.fixture(scope="module")
def reference_run(prepared, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "ref"
    train(prepared, load_preset("tiny", OVERRIDES), out, device="cpu", progress=False)
    return out


def _losses(run: Path) -> dict[tuple[int, int], dict[str, str]]:
    return {(int(r["stage"]), int(r["step"])): {k: r[k] for k in LOSS_COLUMNS} for r in read_metrics(run / "metrics.csv")}


def test_both_stages_reduce_the_training_loss(reference_run):
    rows = read_metrics(reference_run / "metrics.csv")
    for stage in (1, 2):
        g = [float(r["g_loss"]) for r in rows if r["stage"] == str(stage)]
        i = [float(r["int"]) for r in rows if r["stage"] == str(stage)]
        assert len(g) == 6
        assert g[-1] < 0.95 * g[0], (stage, g)
        assert i[-1] < i[0], (stage, i)
    s1 = [r for r in rows if r["stage"] == "1"]
    assert all(r["int_flow"] and r["adv_flow"] for r in s1)  # the motion stream has its own GAN in stage 1
    s2 = [r for r in rows if r["stage"] == "2"]
    assert all(r["int_flow"] and not r["adv_flow"] for r in s2)  # ... and none in stage 2 (authors)
    assert [r["val_loss"] != "" for r in s1] == [False, True, False, True, False, True]


def test_run_folder_contents_and_model_file(reference_run):
    run = reference_run
    for name in ("config.yaml", "metrics.csv", "model.pt", "stage1.pt"):
        assert (run / name).is_file(), name
    assert load_config_file(run / "config.yaml") == load_preset("tiny", OVERRIDES)
    ckpts = sorted(p.name for p in (run / "checkpoints").glob("stage*-0*.pt"))
    assert ckpts == ["stage1-0000004.pt", "stage1-0000006.pt", "stage2-0000004.pt", "stage2-0000006.pt"]
    assert not list(run.rglob("*.tmp*"))
    raw = torch.load(run / "model.pt", weights_only=True)
    assert raw["format"] == "ammcnet-model/1" and raw["train_config"]["name"] == "tiny"
    loaded = load_model_file(run)
    assert loaded.config.use_amft and loaded.config.features_root == 4
    assert loaded.meta["stage2"]["steps"] == 6 and loaded.meta["val_clips"] == 4
    # the final model is the last stage-2 step: its weights equal the last checkpoint's
    state = torch.load(run / "checkpoints" / "stage2-0000006.pt", weights_only=True)
    for k, v in loaded.model.state_dict().items():
        assert torch.equal(v, state["model"][k].to(v.dtype)), k
    # stage 2 started from stage 1's streams: the stage-1 file differs from the final one only by training
    s1 = load_model_file(run / "stage1.pt")
    assert not s1.config.use_amft and s1.model.amft is None
    assert set(state["rng"]) >= {"python", "numpy", "torch"} and state["sampler"] == {"epoch": 6, "batch": 0}
    out = loaded.model(torch.zeros(1, 12, 32, 32), torch.zeros(1, 6, 32, 32))
    assert torch.isfinite(out.frame_pred).all()


class _Stop(Exception):
    pass


@pytest.mark.parametrize("stop_at", [(1, 3), (2, 5)])
def test_resume_matches_uninterrupted_run(prepared, reference_run, tmp_path, stop_at):
    out = tmp_path / "run"
    cfg = load_preset("tiny", OVERRIDES)

    def hook(stage, step, logs):
        if (stage, step) == stop_at:
            raise _Stop

    with pytest.raises(_Stop):
        train(prepared, cfg, out, device="cpu", progress=False, hook=hook)
    with pytest.raises(CheckpointError, match="--resume"):
        train(prepared, cfg, out, device="cpu", progress=False)
    train(prepared, cfg, out, device="cpu", progress=False, resume=True)
    ref, got = _losses(reference_run), _losses(out)
    assert list(got) == list(ref)  # no duplicated or missing rows after the resume
    assert got == ref  # bit-exact on CPU, including the steps after the restart


def test_bad_inputs_give_clear_errors(prepared, reference_run, tmp_path):
    with pytest.raises(DataError, match="32x32 frames but the config wants 64x64"):
        train(prepared, load_preset("tiny", ["data.size=[64,64]"]), tmp_path / "a", device="cpu", progress=False)
    with pytest.raises(CheckpointError, match="stage1.pt not found"):
        train(prepared, load_preset("tiny"), tmp_path / "b", stage="2", device="cpu", progress=False)
    # resume with another architecture
    with pytest.raises(CheckpointError, match=r"change model.features_root \(4 -> 8\); only the schedule may change"):
        train(prepared, load_preset("tiny", OVERRIDES + ["model.features_root=8"]), reference_run, resume=True,
              device="cpu", progress=False)
    # a truncated checkpoint
    run = tmp_path / "trunc"
    cfg = load_preset("tiny", ["stage1.iterations=2", "stage2.iterations=0", "run.checkpoint_every=2"])
    train(prepared, cfg, run, stage="1", device="cpu", progress=False)
    ck = run / "checkpoints" / "stage1-0000002.pt"
    ck.write_bytes(ck.read_bytes()[:100])
    (run / "model.pt").unlink()
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        train(prepared, cfg, run, stage="1", resume=True, device="cpu", progress=False)


def test_stages_run_separately(prepared, tmp_path):
    cfg = load_preset("tiny", ["stage1.iterations=2", "stage2.iterations=2", "run.select=val"])
    out = tmp_path / "sep"
    train(prepared, cfg, out, stage="1", device="cpu", progress=False)
    assert not load_model_file(out).config.use_amft  # model.pt after stage 1 alone: the stage-1 model
    train(prepared, cfg, out, stage="2", device="cpu", progress=False)
    final = load_model_file(out)
    assert final.model.amft is not None
    assert final.meta["stage2"]["selected_step"] == final.meta["stage2"]["best_step"] == 2
    assert (out / "checkpoints" / "stage2-best.pt").is_file()
    rows = read_metrics(out / "metrics.csv")
    assert [(r["stage"], r["step"]) for r in rows] == [("1", "1"), ("1", "2"), ("2", "1"), ("2", "2")]
    with pytest.raises(CheckpointError, match="--resume"):
        train(prepared, cfg, out, stage="2", device="cpu", progress=False)


@pytest.mark.filterwarnings("ignore:video v0 has 4 frames")
def test_empty_training_set(tmp_path):
    root = tmp_path / "short"
    write_square_video(root / "train" / "v0", 4, 0)  # frames_in + 1 = 5 frames needed for one clip
    with pytest.raises(DataError, match="no training clips"):
        train(root, load_preset("tiny"), tmp_path / "run", cache_dir=tmp_path / "cache", device="cpu", progress=False)


def test_training_fits_the_motion_prior_on_training_clips_and_calibrates_it(reference_run: Path) -> None:
    loaded = load_model_file(reference_run)
    prior = load_scorer(loaded).components["motion_prior"]
    assert prior is not None and prior.size == tuple(load_preset("tiny").data.size)
    # fitted on the training clips' flows only: the held-out clips' target flows come after them
    assert 0 < prior.frames < 2 * 13
    assert "motion_prior" in loaded.calibration["records"]


def test_train_minutes_fits_the_schedule_from_timed_steps(prepared: Path, tmp_path: Path, capsys) -> None:
    import re

    from ammcnet.cli import main

    out = tmp_path / "budget"
    rc = main(["train", str(prepared), "--preset", "tiny", "--minutes", "0.05", "--out", str(out), "--no-progress",
               "--device", "cpu"])
    assert rc == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    m = re.search(r"stage 1 (\d+) x [\d.]+ s, stage 2 (\d+) x [\d.]+ s", printed)
    assert m, printed
    saved = load_config_file(out / "config.yaml")  # the schedule is a setting of the run, not the clock's
    assert (saved.stage1.iterations, saved.stage2.iterations) == (int(m.group(1)), int(m.group(2)))
    assert saved.stage1.iterations >= 1 and list(saved.optim.milestones) == [max(1, round(saved.stage1.iterations * 1400 / 1800))]
    assert (out / "model.pt").is_file()
    assert main(["train", str(prepared), "--preset", "tiny", "--minutes", "1", "--out", str(out), "--resume"]) == 2
    assert "resume without it" in capsys.readouterr().err


def _interrupted(monkeypatch, stop_at: tuple[int, int]) -> None:
    """Make the next training stop like a Ctrl-C at (stage, step), after that step's checkpoint."""
    from dataclasses import replace

    import ammcnet.training.api as api

    real = api.StageContext

    def hook(stage, step, logs):
        if (stage, step) == stop_at:
            raise KeyboardInterrupt

    def stopping_context(*args, **kwargs):
        monkeypatch.setattr(api, "StageContext", real)  # only the first run is stopped
        return replace(real(*args, **kwargs), hook=hook)

    monkeypatch.setattr(api, "StageContext", stopping_context)


def _train_cli(*args: str) -> int:
    from ammcnet.cli import main

    return main(["train", *args, "--no-progress", "--device", "cpu"])


def _stage_steps(run: Path) -> dict[int, int]:
    rows = read_metrics(run / "metrics.csv")
    return {s: max((int(r["step"]) for r in rows if int(r["stage"]) == s), default=0) for s in (1, 2)}


def test_resume_after_minutes_keeps_the_fitted_schedule(prepared, tmp_path, monkeypatch, capsys):
    from ammcnet.training import budget

    # a fake step timer: 10 ms a step, so 0.01 minutes give about 27 + 18 steps (25 % kept for overheads)
    monkeypatch.setattr(budget, "time_steps", lambda config, stage, steps, warmup, device: [0.01] * steps)
    plan = budget.plan_iterations(0.01, 0.01, seconds=0.01 * 60)
    assert plan["stage1"] > 12 and plan["stage2"] > 6  # longer than the tiny preset's 6 + 6
    out = tmp_path / "budget"
    _interrupted(monkeypatch, (1, 12))
    assert _train_cli(str(prepared), "--preset", "tiny", "--minutes", "0.01", "--out", str(out)) == 130
    assert f"stage 1 {plan['stage1']} x 0.010 s, stage 2 {plan['stage2']} x 0.010 s" in capsys.readouterr().out
    assert _stage_steps(out)[1] == 12
    assert _train_cli(str(prepared), "--out", str(out), "--resume") == 0, capsys.readouterr().err
    saved = load_config_file(out / "config.yaml")
    assert (saved.stage1.iterations, saved.stage2.iterations) == (plan["stage1"], plan["stage2"])
    assert saved.optim.milestones == (plan["milestone"],)
    assert _stage_steps(out) == {1: plan["stage1"], 2: plan["stage2"]}  # the fitted schedule, not the preset's
    assert load_model_file(out).train_config["stage1"]["iterations"] == plan["stage1"]
    history = (out / "history.log").read_text().splitlines()
    assert [line.split()[1] for line in history] == ["start", "resume"]


def test_resume_refuses_conflicting_settings_unless_the_schedule_change_is_asked_for(prepared, tmp_path, capsys):
    out = tmp_path / "run"
    assert _train_cli(str(prepared), "--preset", "tiny", "--out", str(out), "--set", "stage2.iterations=2") == 0
    capsys.readouterr()
    before = (out / "config.yaml").read_text()
    # a schedule change without --change-schedule, a preset with other values, a model change: refused, one line
    for extra, named in ((["--set", "stage2.iterations=4"], "stage2.iterations (2 -> 4)"),
                         (["--preset", "cpu-lite"], "data.size ([32, 32] -> [96, 96])"),
                         (["--set", "model.embed_dim=4", "--change-schedule"], "model.embed_dim (8 -> 4)")):
        assert _train_cli(str(prepared), "--out", str(out), "--resume", *extra) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and named in err, err
    assert "--change-schedule" in _last_refusal(prepared, out, capsys, "--set", "stage2.iterations=4")
    assert (out / "config.yaml").read_text() == before
    # asked for: accepted, trained to the new end, and written down
    assert _train_cli(str(prepared), "--out", str(out), "--resume", "--change-schedule",
                      "--set", "stage2.iterations=4", "--workers", "0") == 0, capsys.readouterr().err
    assert load_config_file(out / "config.yaml").stage2.iterations == 4
    assert _stage_steps(out) == {1: 6, 2: 4}
    last = (out / "history.log").read_text().splitlines()[-1]
    assert "resume" in last and "changed stage2.iterations: 2 -> 4" in last
    assert _train_cli(str(prepared), "--out", str(out), "--change-schedule") == 2
    assert "add --resume" in capsys.readouterr().err


def _last_refusal(prepared: Path, out: Path, capsys, *extra: str) -> str:
    assert _train_cli(str(prepared), "--out", str(out), "--resume", *extra) == 2
    return capsys.readouterr().err


def test_resume_alone_keeps_the_size_and_schedule_set_at_the_start(squares, tmp_path, monkeypatch, capsys):
    """Started with --set data.size=[64,64] --set stage1.iterations=60, killed, resumed with --resume alone."""
    out, cache = tmp_path / "run64", tmp_path / "cache"
    start = ["--preset", "tiny", "--out", str(out), "--cache", str(cache)]
    _interrupted(monkeypatch, (1, 9))
    assert _train_cli(str(squares), *start, "--set", "data.size=[64,64]", "--set", "stage1.iterations=60",
                      "--set", "stage2.iterations=2") == 130
    assert _train_cli(str(squares), "--out", str(out), "--cache", str(cache), "--resume") == 0, capsys.readouterr().err
    saved = load_config_file(out / "config.yaml")
    assert saved.data.size == (64, 64) and saved.stage1.iterations == 60
    assert _stage_steps(out) == {1: 60, 2: 2}
    final = load_model_file(out)
    assert final.train_config["data"]["size"] == [64, 64]
    assert load_scorer(final).components["motion_prior"].size == (64, 64)
