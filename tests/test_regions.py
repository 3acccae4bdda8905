"""The region head: features, parts, leave-videos-out scales, the model-file state, synthetic anomalies."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from ammcnet.errors import ConfigError, DataError
from ammcnet.flow.backends import DISFlow
from ammcnet.metrics.alarms import alarm_report
from ammcnet.regions import RegionHead, RegionHeadConfig, window_features
from ammcnet.regions.features import octant
from ammcnet.regions.footage import cached_flows, flows_of_frames, resized_frames
from ammcnet.regions.head import features_of
from ammcnet.regions.online import RegionStream
from ammcnet.regions.selection.synthetic import (
    KINDS,
    footage_object_height,
    make_synthetic,
    make_validation_set,
)
from ammcnet.regions.selection.validate import (
    MIN_STRETCH,
    PART_SETS,
    FeatureCache,
    Footage,
    PartCache,
    ValidationResult,
    candidates,
    choose,
    choose_settings,
    merged,
    normal_footage_measures,
    object_window,
    split_footage,
    stretches,
    validate,
    validation_splits,
)
from ammcnet.utils.float16 import round_float16, to_float16

H, W = 48, 64


def walkers(frames: int, rng: np.random.Generator, u: float = 1.0, rows: tuple[int, int] = (8, 20)) -> np.ndarray:
    """Flows of a person-sized block walking right along a band of rows, plus flow noise."""
    f = rng.normal(0, 0.02, (frames, H, W, 2)).astype(np.float32)
    for t in range(frames):
        x = (t * 2) % (W - 8)
        f[t, rows[0]:rows[1], x:x + 8, 0] += u
    return f


@pytest.fixture(scope="module")
def normal_videos() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [walkers(30, rng, u=rng.uniform(0.8, 1.2)) for _ in range(4)]


def test_octant_matches_angles():
    ang = np.deg2rad(np.arange(5, 360, 45.0))
    assert octant(np.cos(ang), np.sin(ang)).tolist() == list(range(8))


def test_direction_histogram_bins_every_sector():
    ang = np.deg2rad(np.arange(5, 360, 45.0))
    flow = np.zeros((8, H, W, 2), np.float32)
    flow[..., 0], flow[..., 1] = np.cos(ang)[:, None, None], np.sin(ang)[:, None, None]
    f = window_features(flow, side=16, step=8)
    assert f.directions[:, 2, 3].argmax(1).tolist() == list(range(8))
    np.testing.assert_allclose(f.directions.sum(-1), 1.0, rtol=1e-6)


def test_resized_frames_give_the_footages_own_flow():
    """Synthetic anomalies are pasted into resized frames: their flow must be the footage's."""
    rng = np.random.default_rng(0)
    scene = cv2.GaussianBlur(rng.integers(0, 255, (120, 200, 3), dtype=np.uint8), (7, 7), 2)
    frames = np.stack([scene[:, 20 - 2 * t: 180 - 2 * t] for t in range(3)])  # the scene shifts right
    small = resized_frames(frames, (48, 64))
    assert small.shape == (3, 48, 64, 3) and np.array_equal(small[..., 0], small[..., 2])
    np.testing.assert_array_equal(flows_of_frames(small, (48, 64), "fast"), flows_of_frames(frames, (48, 64), "fast"))


def test_direction_part_distances_are_the_exact_nearest_neighbours(normal_videos):
    cfg = RegionHeadConfig(window=0.25, weights={"speed": 1, "direction": 1, "place": 0})
    head = RegionHead.fit(normal_videos, cfg)
    part = head.parts["direction"]
    f = features_of(normal_videos[0][:5] * 3.0, cfg)
    got = part.score(f)
    moving = f.speed >= part.threshold
    vectors = np.concatenate([f.directions, np.broadcast_to(f.positions(), f.speed.shape + (2,))], -1)[moving]
    brute = np.sort(np.linalg.norm(vectors[:, None] - part.bank[None], axis=-1), axis=1)[:, : part.neighbours].mean(1)
    assert moving.any() and not moving.all()
    np.testing.assert_allclose(got[moving], brute, rtol=1e-5)
    assert (got[~moving] == 0).all()


def test_a_lowered_moving_threshold_lets_the_direction_part_see_a_small_figure():
    rng = np.random.default_rng(1)
    slow = [walkers(30, rng, u=0.1) for _ in range(4)]  # far walkers: 0.1 px per frame, all to the right
    flow = np.zeros((1, H, W, 2), np.float32)
    flow[0, 30:33, 40:43, 0] = -0.8  # a 3x3 px figure walking left, where everything walks right
    scores = {}
    for factor in (1.0, 0.25):
        cfg = RegionHeadConfig(window=0.25, weights={"speed": 0, "direction": 1, "place": 0},
                               static=RegionHeadConfig().static * factor)
        part = RegionHead.fit(slow, cfg).parts["direction"]
        f = features_of(flow, cfg)
        normal = max(float(part.score(features_of(v, cfg)).max()) for v in slow)
        scores[factor] = (float(part.score(f).max()), normal)
    assert scores[1.0][0] == 0.0  # its window's mean speed is under the default threshold
    assert scores[0.25][0] > scores[0.25][1]  # lowered: farther from the normal windows than any of them


def test_unrefined_dis_preset_skips_the_variational_refinement():
    assert DISFlow("medium-unrefined")._dis.getVariationalRefinementIterations() == 0
    assert DISFlow("medium")._dis.getVariationalRefinementIterations() > 0


def test_window_speed_in_frame_heights_and_boxes():
    flow = np.zeros((1, H, W, 2), np.float32)
    flow[0, :16, :16, 1] = 4.8  # 0.1 frame heights per frame, downwards, top-left corner only
    f = window_features(flow, side=16, step=8)
    assert f.speed.shape == (1, 5, 7)
    assert f.speed[0, 0, 0] == pytest.approx(0.1) and f.speed[0, -1, -1] == 0
    assert f.directions[0, 0, 0].argmax() == 1  # straight down (90 degrees, u = 0) is counted in sector 1
    assert f.box(0, 1, (96, 128)) == (16, 0, 48, 32)


def test_fast_wrong_way_and_misplaced_motion_score_above_normal(normal_videos):
    head = RegionHead.fit(normal_videos, RegionHeadConfig(window=0.33, weights={"speed": 1, "direction": 1, "place": 1}))
    rng = np.random.default_rng(5)
    normal = head.score_flows(walkers(30, rng)).score.mean()
    fast = head.score_flows(walkers(30, rng, u=4.0)).score.mean()
    wrong_way = head.score_flows(walkers(30, rng, u=-1.0)).parts["direction"].mean()
    misplaced = head.score_flows(walkers(30, rng, rows=(34, 46))).parts["place"].mean()
    normal_parts = head.score_flows(walkers(30, rng)).parts
    assert fast > 2 * normal
    assert wrong_way > 2 * normal_parts["direction"].mean()
    assert misplaced > 2 * normal_parts["place"].mean()


def test_scales_come_from_held_out_videos(normal_videos):
    head = RegionHead.fit(normal_videos, RegionHeadConfig(window=0.33, folds=2))
    assert len(head.normal_scores) == len(normal_videos)
    # scaled so that unseen normal videos' high frames sit near 1
    assert 0.5 < np.quantile(np.concatenate(head.normal_scores), 0.999) < 2.0
    assert head.threshold(0.01) <= head.threshold(0.001)


def test_single_training_video_is_cut_into_stretches(normal_videos):
    head = RegionHead.fit(normal_videos[:1], RegionHeadConfig(window=0.33, folds=3))
    assert len(head.normal_scores) == 3 and sum(map(len, head.normal_scores)) == 30


def test_held_out_scores_are_matched_back_to_their_videos():
    rng = np.random.default_rng(3)
    lengths = [14, 20, 26]  # distinct, so a video in the wrong place has the wrong length
    head = RegionHead.fit([walkers(n, rng) for n in lengths], RegionHeadConfig(window=0.33, folds=2))
    assert [len(s) for s in head.normal_scores] == [14, 26, 20]  # fold order: videos 0 and 2, then 1
    by_video = head.normal_scores_by_video(lengths)
    assert [len(s) for s in by_video] == lengths
    np.testing.assert_array_equal(by_video[1], head.normal_scores[2])
    assert head.normal_scores_by_video([14, 20, 27]) is None  # another training split: no match
    again = RegionHead.from_state(head.to_state())
    np.testing.assert_array_equal(np.concatenate(again.normal_scores_by_video(lengths)), np.concatenate(by_video))
    single = RegionHead.fit([walkers(30, rng)], RegionHeadConfig(window=0.33, folds=3))
    np.testing.assert_array_equal(single.normal_scores_by_video([30])[0], np.concatenate(single.normal_scores))


@pytest.mark.parametrize("weights", [{"speed": 1, "direction": 1, "place": 1}, {"row": 1, "direction": 1},
                                     {"relative": 1, "place": 1}])
def test_state_round_trip_scores_identically(normal_videos, weights):
    head = RegionHead.fit(normal_videos, RegionHeadConfig(window=0.33, weights=weights))
    again = RegionHead.from_state(head.to_state())
    probe = walkers(12, np.random.default_rng(9), u=-2.0)
    a, b = head.score_flows(probe), again.score_flows(probe)
    np.testing.assert_array_equal(a.score, b.score)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    np.testing.assert_array_equal(a.winner, b.winner)


def test_winning_box_is_where_the_anomaly_is(normal_videos):
    head = RegionHead.fit(normal_videos, RegionHeadConfig(window=0.25))
    probe = walkers(6, np.random.default_rng(1))
    probe[:, 36:44, 40:48, 0] += 6.0  # a fast object in the lower right
    boxes = head.score_flows(probe).boxes
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    assert ((np.abs(cx - 44) <= 8) & (np.abs(cy - 40) <= 8)).all()


def test_bad_settings_and_inputs_are_one_line_errors(normal_videos):
    with pytest.raises(ConfigError, match="unknown part"):
        RegionHeadConfig(weights={"speeed": 1.0})
    with pytest.raises(ConfigError, match="unknown key"):
        RegionHeadConfig.from_dict({"windw": 0.2})
    head = RegionHead.fit(normal_videos, RegionHeadConfig(window=0.33))
    with pytest.raises(DataError, match="fitted on"):
        head.score_flows(np.zeros((2, 32, 32, 2), np.float32))


@pytest.mark.parametrize("kind", KINDS)
def test_synthetic_anomaly_changes_only_its_stretch(kind):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (50, H, W, 3), dtype=np.uint8)
    v = make_synthetic(frames, kind, np.random.default_rng(3), length=20, speed=2.0)
    changed = (v.frames != frames).reshape(len(frames), -1).any(1)
    assert changed.any() and not (changed & ~v.labels).any()
    again = make_synthetic(frames, kind, np.random.default_rng(3), length=20, speed=2.0)
    np.testing.assert_array_equal(v.frames, again.frames)


@pytest.mark.parametrize("kind", ["fast", "backwards"])
def test_retimed_regions_go_where_the_footage_moves(kind):
    """A sped-up or reversed region is drawn over moving content when the footage's motion is given."""
    frames = np.random.default_rng(0).integers(0, 255, (60, 96, 128, 3), dtype=np.uint8)
    motion = np.zeros((60, 24, 32), np.float32)
    motion[:, 16:22, 24:30] = 3.0  # only the lower-right corner moves (flow grid a quarter of the frame)
    for seed in range(5):
        v = make_synthetic(frames, kind, np.random.default_rng(seed), length=20, side=12, motion=motion)
        x0, y0, x1, y1 = v.box
        assert x1 > 96 and y1 > 64, v.box  # the 24-px region overlaps the moving block (x 96-120, y 64-88)
    still = make_synthetic(frames, kind, np.random.default_rng(0), length=20, side=12, motion=np.zeros_like(motion))
    assert still.labels.any()  # nothing moves: drawn anywhere, as without motion


def test_object_height_is_measured_on_the_moving_blobs():
    flows = np.zeros((10, 96, 128, 2), np.float32)
    flows[:, 10:40, 20:30, 0] = 2.0  # a 30-px-tall walker
    flows[:, 60:72, 80:90, 1] = -1.5  # a 12-px one
    flows[:, 60:72, 100:110, 1] = -1.5  # and another
    assert footage_object_height([flows]) == 12.0  # the median of 30, 12, 12
    assert footage_object_height([np.zeros_like(flows)]) is None


def test_choose_settings_sizes_the_window_and_the_synthetic_objects_by_the_footage():
    rng = np.random.default_rng(0)
    videos = [Footage(f"v{i}", walkers(60, rng), lambda i=i: np.random.default_rng(i).integers(0, 255, (60, H, W, 3), np.uint8))
              for i in range(4)]
    sel = choose_settings(videos, RegionHeadConfig(flow_preset="ultrafast"), per_kind=1)
    assert sel.object_px == 12  # the walkers are 12 rows tall; frames and flows share the grid here
    assert {r.config.window for r in sel.results} == {12 / H}
    with_direction = sum(1 for s in PART_SETS if s.get("direction"))
    assert len(sel.results) == len(PART_SETS) + with_direction  # the direction sets once more, lower threshold
    lowered = [r for r in sel.results if "direction from" in r.label]
    assert {r.config.static for r in lowered} == {RegionHeadConfig().static * 0.25} and len(lowered) == with_direction


def _scene_frames(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (n, H, W, 3), np.uint8)


def test_one_long_video_holds_out_every_stretch_in_turn():
    video = Footage("long", walkers(4 * MIN_STRETCH, np.random.default_rng(0)), lambda: _scene_frames(4 * MIN_STRETCH, 0))
    cut = [v.name for v in stretches([video])]
    splits = validation_splits([video])
    held = [[v.name for v in s.held_out] for s in splits]
    assert sorted(sum(held, [])) == sorted(cut) and all(len(h) == 1 for h in held)  # each stretch once
    assert all(not {v.name for v in s.fit} & set(h) for s, h in zip(splits, held, strict=True))
    assert len(validation_splits([video] * 4)) == 1  # whole videos: one split, every 4th held out
    short = Footage("short", video.flows[:2 * MIN_STRETCH], lambda: _scene_frames(2 * MIN_STRETCH, 0))
    assert len(validation_splits([short])) == 1  # two stretches: one split, half of it held out
    with pytest.raises(DataError, match="rotation 2 holds out nothing.*below 2"):
        split_footage([short], rotation=2)
    one = [PART_SETS[0], PART_SETS[2]]  # speed, speed+place: no kNN, so the test stays quick
    said: list[str] = []
    sel = choose_settings([video], RegionHeadConfig(flow_preset="ultrafast"), per_kind=1, part_sets=one, log=said.append)
    assert sel.rotations == 4 and sorted(sel.held_out) == sorted(cut)
    assert [m.split(":")[0] for m in said[:1]] == ["rotation 1/4"] and sum(m.startswith("rotation ") for m in said) == 4
    # each rotation on its own: the same stretches, the held-out one given last (held out by a single split)
    parts = stretches([video])
    alone = [choose_settings([p for j, p in enumerate(parts) if j != i] + [parts[i]], RegionHeadConfig(flow_preset="ultrafast"),
                             per_kind=1, part_sets=one, windows=[sel.best.config.window]) for i in range(len(parts))]
    for k, r in enumerate(sel.results):
        assert r.mean_auc == pytest.approx(np.mean([a.results[k].mean_auc for a in alone]), abs=1e-9)
        assert r.false_alarm == pytest.approx(np.mean([a.results[k].false_alarm for a in alone]), abs=1e-9)


def test_merged_results_average_the_splits():
    a = ValidationResult("x", None, {"fast": 0.6, "patch": 0.8}, 0.7, 0.0, 0.0)
    b = ValidationResult("x", None, {"fast": 1.0, "patch": 0.6}, 0.8, 0.04, 0.0)
    m = merged([a, b])
    assert m.auc == pytest.approx({"fast": 0.8, "patch": 0.7}) and m.mean_auc == pytest.approx(0.75)
    assert m.false_alarm == pytest.approx(0.02) and m.spread == pytest.approx(0.02)
    assert merged([a]) is a


def test_candidates_share_fitted_parts_with_the_same_numbers(normal_videos, monkeypatch):
    rng = np.random.default_rng(3)
    wrong_way = walkers(30, rng, u=-1.0)
    labels = np.zeros(30, bool)
    labels[10:] = True
    wrong_way[:10] = normal_videos[3][:10]
    synthetic = [(wrong_way, labels, "against")]
    fit, held = normal_videos[:3], normal_videos[3:]
    fits: list[str] = []
    counted = PartCache.fit

    def counting(self, name, feats, config):
        fits.append(name)
        return counted(self, name, feats, config)

    configs = list(candidates(RegionHeadConfig(window=0.25, try_appearance=False), [0.25], PART_SETS))
    alone = [validate(label, cfg, fit, held, synthetic) for cfg, label in configs]  # nothing shared
    monkeypatch.setattr(PartCache, "fit", counting)
    cache, parts = FeatureCache(), PartCache()
    shared = [validate(label, cfg, fit, held, synthetic, cache=cache, parts=parts) for cfg, label in configs]
    assert [r.as_dict() for r in shared] == [r.as_dict() for r in alone]
    direction = [cfg for cfg, _ in configs if cfg.weights.get("direction")]
    assert fits.count("direction") == (3 + 1) * len(direction)  # asked for: 3 held-out folds + the final fit
    distinct = {(name, settings) for (name, settings, _) in parts._parts}
    assert len([d for d in distinct if d[0] == "direction"]) == 2  # but fitted once per moving threshold only


def test_object_window_follows_the_moving_blobs():
    """What ``ammcnet bench`` gives the head it fits itself: the window training would choose."""
    rng = np.random.default_rng(0)
    assert object_window([walkers(20, rng)], 0.1) == pytest.approx(12 / H)  # 12-row walkers
    assert object_window([np.zeros((5, H, W, 2), np.float32)], 0.1) == 0.1  # nothing moves: the default
    assert object_window([blocks(5, (0, 48), 2.0)], 0.1) == pytest.approx(64 / 240)  # taller than the bound


def test_row_part_measures_speed_against_the_rows_normal_speed():
    """Perspective: walkers near the camera (bottom rows) move 3 px, far ones (top rows) 1 px."""
    rng = np.random.default_rng(0)
    normal = [walkers(40, rng, u=1.0, rows=(4, 14)) + walkers(40, rng, u=3.0, rows=(32, 44)) for _ in range(2)]
    config = RegionHeadConfig(window=0.25, weights={"row": 1.0})
    head = RegionHead.fit(normal, config)
    fast_far = walkers(10, rng, u=3.0, rows=(4, 14))  # near-camera speed, far away
    near = walkers(10, rng, u=3.0, rows=(32, 44))  # as usual
    assert head.score_flows(fast_far).score.mean() > 2 * head.score_flows(near).score.mean()
    speed_only = RegionHead.fit(normal, RegionHeadConfig(window=0.25, weights={"speed": 1.0}))
    assert speed_only.score_flows(fast_far).score.mean() == pytest.approx(speed_only.score_flows(near).score.mean(), rel=0.2)


def test_perspective_part_extrapolates_the_rows_normal_speed():
    """Training walkers move faster the lower they are (1 px per frame at the top, 2 px at row 30);
    a near walker (bottom rows, where nothing moved in training) at the 2.5 px the line expects
    there is usual, a far one at 2.5 px is not."""
    bands = {(0, 12): 1.0, (8, 20): 4 / 3, (16, 28): 5 / 3, (24, 36): 2.0}
    normal = [blocks(40, rows, u, width=12) for rows, u in bands.items()]
    near_unseen, fast_far = blocks(10, (36, 48), 2.5, width=12), blocks(10, (0, 12), 2.5, width=12)
    usual = blocks(10, (24, 36), 2.0, width=12)
    head = RegionHead.fit(normal, RegionHeadConfig(window=0.25, weights={"perspective": 1.0}))
    assert head.score_flows(near_unseen).score.mean() < 1.5 * head.score_flows(usual).score.mean()
    # the line is fitted to windows that partly cover a walker too, so it rises less steeply than the walkers' speeds
    assert head.score_flows(fast_far).score.mean() > 1.3 * head.score_flows(near_unseen).score.mean()
    row = RegionHead.fit(normal, RegionHeadConfig(window=0.25, weights={"row": 1.0}))  # a table of rows: no line
    assert row.score_flows(near_unseen).score.mean() > 2 * row.score_flows(usual).score.mean()
    state = RegionHead.from_state(head.to_state())
    np.testing.assert_array_equal(state.score_flows(usual).score, head.score_flows(usual).score)

def blocks(frames: int, rows: tuple[int, int], u: float, width: int = 8) -> np.ndarray:
    """Flows of one block of the given rows moving right by ``u`` px per frame (no noise)."""
    f = np.zeros((frames, H, W, 2), np.float32)
    for t in range(frames):
        x = int(t * 2) % (W - width)
        f[t, rows[0]:rows[1], x:x + width, 0] = u
    return f


def test_relative_speed_is_the_blobs_speed_over_its_height():
    """A person twice as near looks twice as tall and moves twice the pixels: the same relative speed."""
    far = window_features(blocks(3, (4, 14), 1.0), side=16, step=4, relative=True, blob_floor=0.5)
    near = window_features(blocks(3, (20, 40), 2.0, width=16), side=16, step=4, relative=True, blob_floor=0.5)
    assert far.relative.max() == pytest.approx(1.0 / 10) and near.relative.max() == pytest.approx(2.0 / 20)
    assert near.speed.max() > 3 * far.speed.max()  # pixels per frame do depend on the distance
    r, c = np.unravel_index(far.relative[0].argmax(), far.grid)
    x0, y0, x1, y1 = far.box(r, c, (H, W))
    assert y0 < 14 and y1 > 4 and x0 < 8 and x1 > 0  # the window overlaps the blob (columns 0-7 in frame 0)
    assert window_features(blocks(3, (4, 14), 1.0), side=16, step=4).relative is None  # only on request
    floored = window_features(blocks(3, (4, 14), 1.0), side=16, step=4, relative=True, blob_floor=1.0)
    assert floored.relative.max() == pytest.approx(1.0 / 16)  # shorter than the floor: counted as 16 px tall


def test_relative_part_ignores_perspective_and_catches_fast_blobs():
    """Trained on far walkers only: a near walker is not an alarm for ``relative`` but is for ``speed``."""
    normal = [blocks(30, (4, 14), 1.0) + np.random.default_rng(i).normal(0, 0.02, (30, H, W, 2)).astype(np.float32)
              for i in range(4)]
    near = blocks(10, (20, 40), 2.0, width=16)
    fast = blocks(10, (4, 14), 4.0)
    relative = RegionHead.fit(normal, RegionHeadConfig(window=0.33, weights={"relative": 1.0}, blob_floor=0.5))
    speed = RegionHead.fit(normal, RegionHeadConfig(window=0.33, weights={"speed": 1.0}))
    assert relative.score_flows(near).score.max() < 1.2 < 3 < relative.score_flows(fast).score.min()
    assert speed.score_flows(near).score.min() > 2


def test_float16_rounding_is_numpys_bit_for_bit():
    """The live flow is rounded like the stored one: torch's conversion must equal NumPy's."""
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(0, 5, 100_000), rng.normal(0, 1e-6, 1000), [0.0, -0.0, 65504.0, 65520.0, 1e9,
                             np.inf, -np.inf, 6e-8, 3e-8]]).astype(np.float32)
    with np.errstate(over="ignore"):  # NumPy warns on the values beyond float16's range
        expected = values.astype(np.float16)
    np.testing.assert_array_equal(to_float16(values).view(np.uint16), expected.view(np.uint16))
    np.testing.assert_array_equal(round_float16(values), expected.astype(np.float32))


def test_validation_set_has_every_kind_per_video():
    frames = [np.random.default_rng(i).integers(0, 255, (30, H, W, 3), dtype=np.uint8) for i in range(2)]
    assert [v.kind for v in make_validation_set(frames, seed=1)] == list(KINDS) * 2


def test_choose_prefers_candidates_within_the_false_alarm_bound():
    good = ValidationResult("ok", None, {}, 0.80, 0.02, 0.0)
    noisy = ValidationResult("noisy", None, {}, 0.95, 0.20, 0.0)
    assert choose([noisy, good]).label == "ok"


def test_alarm_report_counts_events_delays_and_runs():
    scores = [np.array([0, 2, 0, 0, 0, 0, 2, 2, 0.0]), np.array([0, 0, 0, 0.0])]
    labels = [np.array([0, 0, 0, 1, 1, 1, 1, 0, 0]), np.array([0, 1, 1, 0])]
    r = alarm_report(scores, labels, threshold=1.0)
    assert (r.events, r.events_caught, r.median_delay) == (2, 1, 3.0)
    assert r.false_alarm_runs == 2 and r.false_alarm_rate == pytest.approx(2 / 7)


def test_online_stream_equals_offline_scores(tmp_path):
    frames = np.full((12, 96, 128, 3), 90, np.uint8)
    for t in range(12):
        frames[t, 30:50, 4 + 6 * t: 20 + 6 * t] = 230  # a bright block moving right, 6 px per frame
    cfg = RegionHeadConfig(window=0.25, flow_preset="ultrafast", height=48,
                           weights={"speed": 1, "direction": 1, "place": 1, "relative": 1})
    size = (48, 64)
    normal = [flows_of_frames(np.roll(frames, s, axis=2)[:8], size, "ultrafast") for s in range(3)]
    head = RegionHead.fit(normal, cfg)
    torch.save(head.to_state(), tmp_path / "head.pt")
    head = RegionHead.from_state(torch.load(tmp_path / "head.pt", weights_only=True))
    offline = head.score_flows(flows_of_frames(frames, size, "ultrafast").astype(np.float32)).score
    stream = RegionStream(head)
    online = [stream.update(f) for f in frames]
    assert online[0] is None
    np.testing.assert_allclose([r.score for r in online[1:]], offline[1:], rtol=1e-5, atol=1e-6)
    assert all(0 <= r.box[0] < r.box[2] <= 128 for r in online[1:])


def test_analysis_flows_are_cached_per_source_grid_and_preset(tmp_path):
    src = tmp_path / "frames"
    src.mkdir()
    for i in range(3):
        cv2.imwrite(str(src / f"{i:03d}.png"), np.full((8, 8, 3), 40 * i, np.uint8))
    calls = []

    def compute(value: float = 1.0):
        calls.append(value)
        return np.full((3, 8, 8, 3), value, np.float16)

    cache = tmp_path / "cache" / "test" / "01"
    first = cached_flows(cache, src, (8, 8), "medium", compute)
    again = cached_flows(cache, src, (8, 8), "medium", lambda: compute(2.0))
    assert calls == [1.0] and np.array_equal(first, again)  # read back, not recomputed
    cached_flows(cache, src, (8, 8), "fast", lambda: compute(3.0))  # another preset: its own entry
    cv2.imwrite(str(src / "003.png"), np.zeros((8, 8, 3), np.uint8))  # the footage changed
    assert cached_flows(cache, src, (8, 8), "medium", lambda: compute(4.0))[0, 0, 0, 0] == 4.0
    assert calls == [1.0, 3.0, 4.0]
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    assert cached_flows(blocked / "x", src, (8, 8), "medium", lambda: compute(5.0))[0, 0, 0, 0] == 5.0  # unwritable: still scores


def test_normal_footage_measures_place_held_out_scores_among_the_fold_scores():
    """Held-out normal footage scored like the fitting set's own held-out footage sits at the middle
    (rank 0.5, about 5 % and 10 % above those percentiles); scored higher, every measure rises; and
    they are averaged over splits like the AUCs."""
    from scipy.ndimage import gaussian_filter1d

    rng = np.random.default_rng(0)
    fold = [rng.normal(0, 1, 20000)]  # raw: the function smooths them as the threshold is read

    def held(shift: float) -> list[np.ndarray]:  # already smoothed, as validation passes them
        return [gaussian_filter1d(rng.normal(shift, 1, 20000), 3.0, mode="nearest")]

    alike = normal_footage_measures(fold, held(0.0))
    assert abs(alike["normal_rank"] - 0.5) < 0.03
    assert abs(alike["false_alarm_5"] - 0.05) < 0.02 and abs(alike["false_alarm_10"] - 0.10) < 0.02
    shifted = normal_footage_measures(fold, held(0.5))
    assert shifted["normal_rank"] > 0.75 and shifted["false_alarm_10"] > 0.3 > alike["false_alarm_10"]
    a = ValidationResult("a", None, {"fast": 0.8}, 0.8, 0.0, 0.0, alike)
    b = ValidationResult("a", None, {"fast": 0.6}, 0.6, 0.0, 0.0, shifted)
    both = merged([a, b])
    assert both.extra["normal_rank"] == pytest.approx((alike["normal_rank"] + shifted["normal_rank"]) / 2)
    assert both.as_dict()["false_alarm_10"] == both.extra["false_alarm_10"]
