"""Scoring videos on several processes gives the single-process result."""

from __future__ import annotations

import numpy as np
import torch

from ammcnet.data import prepare_dataset
from ammcnet.demo import SceneConfig, generate_scene_dataset
from ammcnet.models import AMMCNet, ModelConfig
from ammcnet.scoring.inference import score_prepared
from ammcnet.scoring.sharded import PreparedSubset, score_prepared_sharded, shard_videos


def test_shard_videos_balances_and_covers() -> None:
    counts = [30, 5, 22, 18, 9, 40]
    groups = shard_videos(counts, 3)
    assert sorted(i for g in groups for i in g) == list(range(6))
    loads = [sum(counts[i] for i in g) for g in groups]
    assert max(loads) - min(loads) <= max(counts)
    assert shard_videos(counts, 1) == [list(range(6))]
    assert len(shard_videos([3, 4], 5)) == 2


def test_sharded_scores_equal_single_process(tmp_path) -> None:
    cfg = SceneConfig(height=32, width=48, train_videos=1, test_videos=3, train_frames=8, test_frames=9)
    root = generate_scene_dataset(tmp_path / "scene", cfg, progress=False)
    prepared = prepare_dataset(root, size=(32, 32), flow_preset="ultrafast", cache_dir=tmp_path / "cache",
                               splits=("test",), progress=False)
    torch.manual_seed(0)
    model = AMMCNet(ModelConfig(features_root=4, embed_dim=8, n_embed=16)).eval()
    single = score_prepared(model, prepared, "test", batch_size=4)
    sub = PreparedSubset(prepared.root, "test", prepared.videos("test")[1:])
    assert sub.videos("test") == prepared.videos("test")[1:] and len(sub.num_frames("test")) == 2
    multi = score_prepared_sharded(model, prepared, "test", workers=2, threads_per_worker=1, batch_size=4)
    assert multi.videos == single.videos and np.array_equal(multi.num_frames, single.num_frames)
    assert list(multi.records) == list(single.records) == ["rgb_psnr", "rgb_commit", "flow_error", "flow_commit",
                                                           "rgb_error_local", "rgb_commit_local", "flow_error_local",
                                                           "flow_commit_local"]
    for k in single.records:
        for a, b in zip(single.records[k], multi.records[k], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9, err_msg=k)
    # different videos get different scores, so a mix-up of the merge order would show
    assert not np.allclose(single.records["rgb_psnr"][0][:9], single.records["rgb_psnr"][1][:9])
