"""Integration on the real UCSD Ped2 in ../shared (skips with a reason where absent)."""

from __future__ import annotations

import numpy as np
import pytest

from ammcnet.data import ClipDataset, discover_dataset, open_video, prepare_dataset, verify_dataset
from ammcnet.flow import get_flow_backend, normalise_flow
from helpers import shared_path

pytestmark = pytest.mark.shared


def test_ped2_discovery_and_verify():
    root = shared_path("benchmarks", "ped2")
    lay = discover_dataset(root)
    assert (lay.kind, lay.name, len(lay.train), len(lay.test)) == ("frames", "ped2", 16, 12)
    rep = verify_dataset(root)
    assert rep.ok, rep.problems
    train, test = rep.rows
    assert (train.frames, test.frames) == (2550, 2010)
    assert (test.anomalous_frames, test.mask_frames) == (1648, 2010)
    assert train.resolutions == ["360x240"]


def test_ped2_prepared_clip_matches_direct_dis(tmp_path):
    root = shared_path("benchmarks", "ped2")
    ds = prepare_dataset(root, size=(64, 64), cache_dir=tmp_path, max_videos=1, progress=False)
    assert ds.videos("train") == ["01"] and ds.videos("test") == ["01"] and ds.num_frames("test") == [180]
    labels = ds.labels("01")
    assert labels.shape == (180,) and labels.sum() > 0
    assert ds.pixel_masks("01").shape == (180, 64, 64)
    # pixel masks mark exactly the labelled frames
    assert np.array_equal(np.asarray(ds.pixel_masks("01")).reshape(180, -1).any(1), labels.astype(bool))
    clips = ClipDataset(ds, "test")
    assert len(clips) == 176
    item = clips[10]  # t = 14
    assert item["frames"].shape == (12, 64, 64) and item["flow_target"].shape == (2, 64, 64)
    frames = open_video(root / "testing" / "frames" / "01").read_all((64, 64))
    direct = normalise_flow(get_flow_backend("dis").compute(frames[13], frames[14]))
    assert np.allclose(item["flow_target"].permute(1, 2, 0).numpy(), direct, atol=2e-3)
