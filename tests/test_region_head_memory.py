"""Fitting the region head and choosing its settings streams the footage: memory does not grow with it.

The flows go to disk and are read a stretch at a time, window features wait in a scratch folder,
parts keep the top values of their statistics, and synthetic anomalies are made and scored one at
a time as the stretch they change. Before, every flow, feature array and synthetic copy was held:
an hour of 320x240 footage needed tens of GB (docs/honest-scoring.md).
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from ammcnet.regions import RegionHead, RegionHeadConfig, stats
from ammcnet.regions.footage import FlowFile, flow_file, flows_of_frames
from ammcnet.regions.head import features_of, frame_maxima
from ammcnet.regions.parts import PART_TYPES
from ammcnet.regions.selection.synthetic import make_synthetic, synthetic_edit
from ammcnet.regions.selection.validate import edit_flows
from ammcnet.regions.stats import TopK, stream_median, top_count
from ammcnet.regions.store import FeatureStore
from ammcnet.scoring.region_head import fit_region_head

H, W, CLIP = 48, 64, 60


def clip(frames: int = CLIP) -> np.ndarray:
    """A textured scene: one block walks right along the top, another left along the bottom."""
    rng = np.random.default_rng(0)
    scene = cv2.GaussianBlur(rng.integers(60, 200, (H, W, 3), dtype=np.uint8), (5, 5), 1.5)
    out = np.repeat(scene[None], frames, axis=0)
    for t in range(frames):
        x = (2 * t) % (W - 8)
        out[t, 8:20, x:x + 8] = 20
        out[t, 30:42, W - 8 - x:W - x] = 230
    return out


def write_video(folder: Path, frames: np.ndarray) -> Path:
    folder.mkdir(parents=True)
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:05d}.png"), f)
    return folder


def write_avi(path: Path, frames: np.ndarray) -> Path:
    path.parent.mkdir(parents=True)
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (W, H))
    for f in frames:
        out.write(f)
    out.release()
    return path


class Prepared:
    """What :func:`fit_region_head` reads of a prepared dataset: its root and training sources."""

    def __init__(self, root: Path, sources: dict[str, Path]) -> None:
        self.root, self.sources = root, sources

    def videos(self, split: str) -> list[str]:
        return list(self.sources)

    def source(self, split: str, video: str) -> Path:
        return self.sources[video]


#: A small kNN bank, so that it is full on both footages: its size is bounded, not the footage's.
BANK = 400


def peak_fitting_memory(root: Path, copies: int) -> int:
    """Peak traced bytes of fitting the head (settings chosen) on one video of ``copies`` loops of the clip."""
    source = write_avi(root / "source" / "loop.avi", np.concatenate([clip()] * copies))
    prepared = Prepared(root / "prepared", {"loop": source})
    tracemalloc.start()
    try:
        config = RegionHeadConfig(flow_preset="ultrafast", max_train_windows=BANK)
        comp = fit_region_head(prepared, config=config, choose=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert comp.head.frames == copies * CLIP and comp.selection["rotations"] == 4
    return peak


@pytest.mark.slow
def test_fitting_memory_does_not_grow_with_the_footage(tmp_path):
    """Four times the footage: peak traced memory grows by a small fraction (6.6 to 6.9 MB), where it
    grew fourfold before (21 to 82 MB: every flow, feature array and synthetic copy held), and
    to 324 MB for 64 loops (7.2 MB now)."""
    small, large = peak_fitting_memory(tmp_path / "small", 4), peak_fitting_memory(tmp_path / "large", 16)
    assert large < 1.4 * small, (small, large)
    assert not list((tmp_path / "large" / "prepared").glob("region-flows/.scratch-*"))  # the scratch folder is gone
    assert list((tmp_path / "large" / "prepared").glob("region-flows/train/loop/analysis-flow-*.npy"))  # the flows stay


def test_flow_file_is_the_cached_flows_read_a_stretch_at_a_time(tmp_path):
    frames = clip(12)
    source = write_video(tmp_path / "v", frames)
    flows = flow_file(tmp_path / "cache", source, (H, W), "ultrafast")
    expected = flows_of_frames(frames[..., ::-1], (H, W), "ultrafast")  # PNGs hold BGR; read back as RGB
    assert isinstance(flows, FlowFile) and flows.shape == expected.shape and len(flows[3:7]) == 4
    np.testing.assert_array_equal(np.asarray(flows), expected)
    np.testing.assert_array_equal(np.asarray(flows[3:7][1:]), expected[4:7])
    np.testing.assert_array_equal(flows[-1], expected[-1])
    stamp = next((tmp_path / "cache").glob("*.npy")).stat().st_mtime_ns
    assert flow_file(tmp_path / "cache", source, (H, W), "ultrafast").shape == expected.shape  # read, not written again
    assert next((tmp_path / "cache").glob("*.npy")).stat().st_mtime_ns == stamp


def test_stored_features_are_the_features_in_chunks():
    rng = np.random.default_rng(0)
    flows = rng.normal(0, 1, (150, H, W, 2)).astype(np.float16)
    config = RegionHeadConfig(window=0.25, weights={"speed": 1.0, "relative": 1.0})
    expected = features_of(flows.astype(np.float32), config)
    with FeatureStore() as store:
        stored = store.get(flows, config)
        assert store.get(flows, config) is stored and len(stored) == 150 and stored.grid == expected.grid
        got = stored.frames(10, 140).read(0, 130)
        np.testing.assert_array_equal(got.speed, expected.speed[10:140])
        np.testing.assert_array_equal(got.directions, expected.directions[10:140])
        np.testing.assert_array_equal(got.relative, expected.relative[10:140])
        assert [len(c) for c in stored.chunks(64)] == [64, 64, 22]


def test_exact_quantiles_and_median_from_bounded_memory():
    rng = np.random.default_rng(1)
    for n in (1, 2, 7, 1000, 25_000):
        x = np.round(rng.exponential(1.0, n), 2).astype(np.float32)  # ties included
        pieces = np.array_split(x, 5)
        assert stream_median(lambda p=pieces: p) == float(np.median(x))
        for q in (0.5, 0.99, 0.999):
            top = TopK(top_count(n + 10, q))
            for p in pieces:
                top.add(p)
            assert top.quantile(q) == np.quantile(x, q)
    per_place = rng.exponential(1.0, (3000, 4, 5)).astype(np.float32)
    top = TopK(top_count(3000, 0.999), (4, 5))
    for p in np.array_split(per_place, 9):
        top.add(p)
    np.testing.assert_array_equal(top.quantile(0.999), np.quantile(per_place, 0.999, axis=0))
    assert len(top.values) <= 3 + 1 and stream_median(lambda: [np.zeros(0, np.float32)]) is None


@pytest.mark.parametrize("kind", ["patch", "fast", "backwards", "against"])
def test_a_synthetic_edit_changes_the_flows_it_says(kind):
    """Scoring a synthetic video's stretch alone, spliced into the normal video's scores, is exact
    only if the flows outside the stretch are the normal video's: DIS flow depends on its two frames."""
    frames = clip(50)
    whole = make_synthetic(frames, kind, np.random.default_rng(3), length=12, speed=2.0)
    edit = synthetic_edit(frames, kind, np.random.default_rng(3), length=12, speed=2.0)
    np.testing.assert_array_equal(edit.apply(frames).frames, whole.frames)
    start, stretch = edit_flows(frames, edit, (H, W), "ultrafast")
    expected = flows_of_frames(whole.frames, (H, W), "ultrafast")
    np.testing.assert_array_equal(stretch, expected[start:start + len(stretch)])
    normal = flows_of_frames(frames, (H, W), "ultrafast")
    outside = np.ones(len(frames), bool)
    outside[start:start + len(stretch)] = False
    np.testing.assert_array_equal(expected[outside], normal[outside])


def walkers(frames: int, seed: int) -> np.ndarray:
    """Flows of two blocks walking along bands of rows at their own speeds, plus flow noise."""
    rng = np.random.default_rng(seed)
    f = rng.normal(0, 0.05, (frames, H, W, 2)).astype(np.float32)
    for t in range(frames):
        x = (2 * t) % (W - 8)
        f[t, 8:20, x:x + 8, 0] += 1.0 + 0.3 * seed
        f[t, 30:42, W - 8 - x:W - x, 0] -= 2.0
    return f.astype(np.float16)


def _old_scales(speeds: np.ndarray, ys: np.ndarray, config: RegionHeadConfig) -> dict[str, np.ndarray]:
    """The place, row and perspective scales as fitted on the whole (T, R, C) speed array before."""
    floor = config.place_floor * max(float(np.quantile(speeds, 0.999)), 1e-6)
    local = cv2.blur(np.quantile(speeds, 0.999, axis=0).astype(np.float32), (3, 3), borderType=cv2.BORDER_REPLICATE)
    rows = speeds.shape[1]
    row = np.array([np.quantile(speeds[:, max(0, r - 1):r + 2], 0.999) for r in range(rows)], np.float32)
    moving = [speeds[:, r][speeds[:, r] > config.static] for r in range(rows)]
    counts = np.array([len(m) for m in moving])
    tops = np.array([np.quantile(m, 0.99) if len(m) else 0.0 for m in moving])
    ok = counts >= 50
    slope, offset = np.polyfit(ys[ok], tops[ok], 1, w=np.sqrt(counts[ok]))
    perspective = np.maximum(offset + slope * ys, floor).astype(np.float32)
    return {"place": np.maximum(local, floor), "row": np.maximum(row, floor), "perspective": perspective}


def _old_bank(feats: list, config: RegionHeadConfig) -> tuple[float, np.ndarray]:
    """The direction part's threshold and bank as drawn from every moving window at once before."""
    speeds = np.concatenate([f.speed.ravel() for f in feats])
    moving = speeds[speeds > config.static]
    threshold = max(config.static, config.moving * float(np.quantile(moving, 0.99)))
    vectors = np.concatenate([np.concatenate([f.directions, np.broadcast_to(f.positions() * config.position_weight,
                                                                           f.speed.shape + (2,))], -1)[f.speed >= threshold]
                              for f in feats])
    keep = np.random.default_rng(config.seed).choice(len(vectors), config.max_train_windows, replace=False)
    return threshold, vectors[np.sort(keep)]


def test_parts_fitted_a_chunk_at_a_time_equal_the_whole_arrays(monkeypatch):
    """Bit for bit: top-value quantiles (with tiny buffers, so they drop values often) and the
    two-pass bank give what the whole arrays gave."""
    monkeypatch.setattr(stats, "BUFFER", 64)
    flows = [walkers(n, seed) for seed, n in enumerate((90, 130, 70))]
    config = RegionHeadConfig(window=0.25, max_train_windows=300, seed=7,
                              weights={"place": 1.0, "row": 1.0, "perspective": 1.0, "direction": 1.0})
    whole = [features_of(f.astype(np.float32), config) for f in flows]
    old = _old_scales(np.concatenate([f.speed for f in whole]), whole[0].positions()[:, 0, 0].astype(np.float64), config)
    with FeatureStore() as store:
        stored = [store.get(f, config) for f in flows]
        scaled = {p: PART_TYPES[p].fit(stored, config) for p in ("place", "row", "perspective")}
        direction = PART_TYPES["direction"].fit(stored, config)
    for p, part in scaled.items():
        np.testing.assert_array_equal(part.scale, old[p])
    threshold, bank = _old_bank(whole, config)
    assert direction.threshold == threshold
    np.testing.assert_array_equal(direction.bank, bank)
    head = RegionHead.fit_features(whole, config)
    probe = features_of(walkers(40, 5).astype(np.float32), config)
    maxima = {p: frame_maxima(part, probe) for p, part in head.parts.items()}
    np.testing.assert_array_equal(head.fuse_maxima(maxima), head.score_features(probe).score)


def test_a_seed_reproduces_the_head_and_cached_flows_change_nothing(tmp_path):
    source = write_avi(tmp_path / "source" / "loop.avi", np.concatenate([clip()] * 3))
    prepared = Prepared(tmp_path / "prepared", {"loop": source})
    config = RegionHeadConfig(flow_preset="ultrafast", max_train_windows=BANK, seed=2)
    first = fit_region_head(prepared, config=config)  # computes the flows
    again = fit_region_head(prepared, config=config)  # reads them from region-flows/
    a, b = first.to_dict(), again.to_dict()
    assert a["selection"] == b["selection"] and a["config"] == b["config"]
    for p in a["parts"]:
        for k in a["parts"][p]:
            assert torch.equal(a["parts"][p][k], b["parts"][p][k])
    assert all(torch.equal(x, y) for x, y in zip(a["normal_scores"], b["normal_scores"], strict=True))
