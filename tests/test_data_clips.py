"""ClipDataset: counts by hand, same video and target frame for both streams, workers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ammcnet.data import ClipDataset, prepare_dataset
from ammcnet.data.clips import ClipBatches, unpack_batch
from ammcnet.data.tensors import frames_to_tensor, keep_freed_memory, split_channels
from helpers import moving_frames, write_frames


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips") / "ds"
    for name, n in (("a", 10), ("b", 15), ("short", 4)):
        write_frames(root / "train" / name, moving_frames(n, seed=len(name)), ext=".png")
    return prepare_dataset(root, size=(16, 16), flow_preset="ultrafast", cache_dir=root.parent / "cache",
                           splits=("train",), progress=False)


def test_count_by_hand(prepared):
    with pytest.warns(UserWarning, match="short has 4 frames"):
        ds = ClipDataset(prepared, "train", frames_in=4, flows_in=3)
    assert len(ds) == 6 + 11 == 17
    assert ds.index[:, 1].min() == 4 and ds.index[5].tolist() == [0, 9] and ds.index[6].tolist() == [1, 4]
    assert ClipDataset.count_clips([10, 15, 4], 4) == 17


def test_item_content_matches_cache(prepared):
    ds = ClipDataset(prepared, "train", videos=["b"])
    item = ds[3]  # video b, t = 7
    assert (item["video"], item["t"]) == (0, 7)
    frames = np.asarray(prepared.frames("train", "b"), np.float32) / 127.5 - 1
    flows = np.asarray(prepared.flows("train", "b"), np.float32)
    assert item["frames"].shape == (12, 16, 16) and item["frames"].dtype == torch.float32
    assert torch.allclose(item["frames"][9:12], torch.from_numpy(frames[6]).permute(2, 0, 1), atol=1e-6)  # t-1 last
    assert torch.allclose(item["frames"][0:3], torch.from_numpy(frames[3]).permute(2, 0, 1), atol=1e-6)  # t-F first
    assert torch.allclose(item["target"], torch.from_numpy(frames[7]).permute(2, 0, 1), atol=1e-6)
    assert item["flows"].shape == (6, 16, 16)
    assert torch.equal(item["flows"][0:2], torch.from_numpy(flows[3]).permute(2, 0, 1))  # flow t-F
    assert torch.equal(item["flows"][4:6], torch.from_numpy(flows[5]).permute(2, 0, 1))  # flow t-2
    assert torch.equal(item["flow_target"], torch.from_numpy(flows[6]).permute(2, 0, 1))  # flow t-1 -> t
    assert item["frames"].min() >= -1 and item["frames"].max() <= 1


def test_other_history_lengths_and_bad_args(prepared):
    ds = ClipDataset(prepared, "train", frames_in=2, flows_in=1, videos=[0])
    assert len(ds) == 8 and ds[0]["frames"].shape == (6, 16, 16) and ds[0]["flows"].shape == (2, 16, 16)
    with pytest.raises(Exception, match="flows_in must be"):
        ClipDataset(prepared, "train", frames_in=4, flows_in=4)
    with pytest.raises(Exception, match="zz"):
        ClipDataset(prepared, "train", videos=["zz"])


def test_dataloader_workers_deterministic(prepared):
    ds = ClipDataset(prepared, "train", videos=["a", "b"])
    ds[0]  # open maps in the parent first: workers must not reuse them
    loader = torch.utils.data.DataLoader(ds, batch_size=5, num_workers=2, shuffle=False)
    got = torch.cat([b["t"] for b in loader])
    assert got.tolist() == ds.index[:, 1].tolist()
    batch = next(iter(loader))
    assert torch.equal(batch["target"][2], ds[2]["target"])


def test_get_batch_equals_collated_items(prepared):
    ds = ClipDataset(prepared, "train", videos=["a", "b"])
    idx = [16, 0, 7, 3, 7]  # any order, repeats allowed
    got = ds.get_batch(idx)
    want = torch.utils.data.default_collate([ds[i] for i in idx])
    assert set(got) == set(want)
    for k in want:
        assert torch.equal(got[k], want[k]), k
    packed = ds.get_batch(idx, packed=True)
    assert packed["rgb"].dtype == torch.uint8 and packed["rgb"].shape == (5, 5, 3, 16, 16)
    assert packed["flow"].dtype == torch.float16 and packed["flow"].shape == (5, 4, 2, 16, 16)
    unpacked = unpack_batch(packed)
    assert all(torch.equal(unpacked[k], want[k]) for k in want)
    assert unpack_batch(want) is want  # already unpacked: unchanged


def test_batched_loader_with_workers_matches_single_process(prepared):
    ds = ClipDataset(prepared, "train", videos=["a", "b"])
    sampler = torch.utils.data.BatchSampler([5, 1, 9, 2, 12, 0, 3], 3, drop_last=False)
    loaders = [torch.utils.data.DataLoader(ClipBatches(ds), sampler=sampler, batch_size=None, num_workers=n) for n in (0, 2)]
    single, multi = ([unpack_batch(b) for b in loader] for loader in loaders)
    assert [len(b["t"]) for b in multi] == [3, 3, 1]
    for a, b in zip(single, multi, strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_split_channels_and_conversions():
    rng = np.random.default_rng(0)
    for arr in (rng.integers(0, 256, (2, 5, 7, 3), dtype=np.uint8), rng.random((3, 5, 7, 2)).astype(np.float16),
                rng.random((5, 7, 3)).astype(np.float32)):
        assert np.array_equal(split_channels(arr), np.moveaxis(arr, -1, -3))
    u8 = rng.integers(0, 256, (2, 4, 4, 3), dtype=np.uint8)
    ref = torch.from_numpy(u8.astype(np.float32) * np.float32(2 / 255) - np.float32(1)).permute(0, 3, 1, 2)
    assert torch.equal(frames_to_tensor(u8), ref)  # the same arithmetic as the detector's numpy path had
    assert isinstance(keep_freed_memory(), bool)


def test_allocator_tuning_can_be_turned_off(monkeypatch):
    import ammcnet.data.tensors as tensors

    monkeypatch.setattr(tensors, "_tuned_pid", None)
    monkeypatch.setenv("AMMCNET_MALLOC_TUNING", "0")
    assert tensors.keep_freed_memory() is False and tensors._tuned_pid is None
