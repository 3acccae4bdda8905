"""A resume continues from the newest intact checkpoint when the newest one is damaged."""

from __future__ import annotations

import logging

import pytest
import torch

from ammcnet.errors import CheckpointError
from ammcnet.training import load_preset, train
from ammcnet.training.state import list_checkpoints

from .damage import flip_weight_bits, truncate

OVERRIDES = ["stage1.iterations=4", "stage2.iterations=4", "stage1.batch_size=8", "stage2.batch_size=8",
             "run.checkpoint_every=1", "run.log_every=1"]


class _Stop(Exception):
    pass


def _weights(run):
    return torch.load(run / "model.pt", weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def reference(squares_cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    train(squares_cache, load_preset("tiny", OVERRIDES), out, device="cpu", progress=False)
    return out


def test_keeps_two_checkpoints_by_default(reference):
    assert [s for s, _ in list_checkpoints(reference, 2)] == [3, 4]


@pytest.mark.parametrize("damage", [truncate, flip_weight_bits], ids=["truncated", "bit-flipped"])
def test_resume_skips_damaged_newest(squares_cache, reference, tmp_path, damage, caplog):
    out = tmp_path / "run"
    cfg = load_preset("tiny", OVERRIDES)

    def hook(stage, step, logs):
        if (stage, step) == (2, 3):
            raise _Stop

    with pytest.raises(_Stop):
        train(squares_cache, cfg, out, device="cpu", progress=False, hook=hook)
    newest = list_checkpoints(out, 2)[-1][1]
    assert newest.name == "stage2-0000003.pt"
    damage(newest)
    with caplog.at_level(logging.WARNING, logger="ammcnet"):
        train(squares_cache, cfg, out, device="cpu", progress=False, resume=True)
    warnings = [r.getMessage() for r in caplog.records if "set aside" in r.getMessage()]
    assert len(warnings) == 1 and "stage2-0000003.pt" in warnings[0] and "\n" not in warnings[0]
    assert (out / "checkpoints" / "stage2-0000003.pt.damaged").is_file()
    ref, got = _weights(reference), _weights(out)
    assert all(torch.equal(ref[k], got[k]) for k in ref)  # bit for bit, as if never interrupted


def test_no_intact_checkpoint_is_one_line(squares_cache, tmp_path):
    out = tmp_path / "run"
    cfg = load_preset("tiny", ["stage1.iterations=1", "stage2.iterations=0", "run.checkpoint_every=1"])
    train(squares_cache, cfg, out, stage="1", device="cpu", progress=False)
    for _, path in list_checkpoints(out, 1):
        truncate(path)
    with pytest.raises(CheckpointError, match="none of the 1 stage-1 checkpoints is intact"):
        train(squares_cache, cfg, out, stage="1", resume=True, device="cpu", progress=False)
    assert list_checkpoints(out, 1)  # left in place for the user to judge


def test_cache_heals_a_truncated_video(squares_root, tmp_path, caplog):
    import numpy as np

    from ammcnet.data.cache import prepare_dataset

    kw = dict(size=(32, 32), flow="dis", flow_preset="ultrafast", cache_dir=tmp_path, splits=("train",), progress=False)
    first = prepare_dataset(squares_root, **kw)
    frames = np.load(first.root / "train" / "v1" / "frames.npy")
    truncate(first.root / "train" / "v1" / "frames.npy", 0.6)
    stamp = (first.root / "train" / "v0" / "done.json").stat().st_mtime_ns
    with caplog.at_level(logging.WARNING, logger="ammcnet"):
        again = prepare_dataset(squares_root, **kw)
    assert any("train/v1 are missing or damaged" in r.getMessage() for r in caplog.records)
    assert np.array_equal(np.load(again.root / "train" / "v1" / "frames.npy"), frames)
    assert (again.root / "train" / "v0" / "done.json").stat().st_mtime_ns == stamp  # the intact video is kept
