"""The region head's appearance part: what motion cannot see, scored like every other part."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from ammcnet.errors import DataError
from ammcnet.flow.analysis import GREY_CHANNEL, AnalysisFlow
from ammcnet.regions import RegionHead, RegionHeadConfig
from ammcnet.regions.features import APPEARANCE_VALUES, window_appearance, window_features
from ammcnet.regions.footage import flows_of_frames
from ammcnet.regions.head import features_of
from ammcnet.regions.online import RegionStream
from ammcnet.regions.parts import AppearancePart
from ammcnet.regions.selection.synthetic import MOTION_KINDS, iter_synthetic_edits
from ammcnet.regions.selection.validate import (
    APPEARANCE_WEIGHTS,
    PART_SETS,
    PartCache,
    SyntheticFlows,
    ValidationResult,
    candidates,
    choose_in_two_stages,
    validate_candidates,
)
from ammcnet.regions.store import FeatureStore
from ammcnet.regions.teach import teach_head

H, W = 48, 64
SIZE = (H, W)


def scene(n: int, seed: int, bag: bool = False) -> np.ndarray:
    """(n, 96, 128, 3) frames: a textured floor, a block walking right; ``bag``: a striped patch
    lying still in the upper left from frame n // 2 on."""
    rng = np.random.default_rng(seed)
    floor = np.clip(110 + rng.normal(0, 4, (96, 128)), 0, 255).astype(np.uint8)
    frames = np.repeat(np.repeat(floor[None, :, :, None], n, 0), 3, 3)
    for t in range(n):
        x = (4 * t + 8 * seed) % 100
        frames[t, 60:84, x:x + 12] = 200
    if bag:
        stripes = np.where((np.arange(16) // 2) % 2 == 0, 20, 240).astype(np.uint8)
        frames[n // 2:, 16:32, 20:36] = stripes[None, None, :, None]
    return frames


CONFIG = RegionHeadConfig(window=0.25, flow_preset="ultrafast", height=H, weights={"speed": 1, "appearance": 1})


@pytest.fixture(scope="module")
def normal():
    return [flows_of_frames(scene(16, s), SIZE, "ultrafast") for s in range(4)]


def test_the_analysis_records_carry_the_grey_frame_exactly():
    frames = scene(4, 0)
    flow = AnalysisFlow(SIZE, "ultrafast")
    flow.update(frames[0])
    record = flow.update(frames[1])
    assert record.shape == (H, W, 3)
    np.testing.assert_array_equal(record[..., GREY_CHANNEL], flow.grey(frames[1]))
    stored = flows_of_frames(frames, SIZE, "ultrafast")  # float16, as cached: whole grey levels are exact
    np.testing.assert_array_equal(stored[1, ..., GREY_CHANNEL].astype(np.float32), flow.grey(frames[1]))


def test_window_appearance_sees_edges_by_direction_and_tone():
    grey = np.full((1, 24, 24), 100.0, np.float32)
    grey[:, :, 12:] = 200.0  # a vertical edge: the gradient points along +x
    look = window_appearance(grey, step=4, per_side=2)  # 8-pixel windows every 4 pixels
    assert look.shape == (1, 5, 5, APPEARANCE_VALUES)
    flat, edge, bright = look[0, 0, 0], look[0, 0, 2], look[0, 0, 4]
    assert edge[:8].argmax() == 0 and edge[1:8].sum() == 0 and edge[0] > 0 and flat[:8].sum() == 0
    assert flat[8] == pytest.approx(100 / 255) and bright[8] == pytest.approx(200 / 255)
    turned = window_appearance(np.ascontiguousarray(grey.transpose(0, 2, 1)), step=4, per_side=2)
    assert turned[0, 2, 0, :8].argmax() == 1  # a horizontal edge: the gradient along +y, in the (45, 90] sector


def test_the_part_sees_a_still_bag_that_the_speed_part_cannot(normal):
    head = RegionHead.fit(normal, CONFIG)
    scored = head.score_flows(flows_of_frames(scene(16, 7, bag=True), SIZE, "ultrafast").astype(np.float32))
    look, speed = scored.parts["appearance"], scored.parts["speed"]
    assert look[8:].min() > 2 * look[1:8].max()  # the bag is far from every normal look of its place
    assert speed[8:].max() < 2 * speed[1:8].max()  # and does not move
    x0, y0, x1, y1 = scored.boxes[12]
    assert x0 < 18 and y0 < 16 and x1 > 10 and y1 > 8  # the winning window holds the bag (analysis pixels)


def test_a_loaded_part_scores_exactly_like_the_fitted_one(normal, tmp_path):
    head = RegionHead.fit(normal, CONFIG)
    torch.save(head.to_state(), tmp_path / "head.pt")
    loaded = RegionHead.from_state(torch.load(tmp_path / "head.pt", weights_only=True))
    f = features_of(flows_of_frames(scene(10, 9, bag=True), SIZE, "ultrafast").astype(np.float32), CONFIG)
    np.testing.assert_array_equal(loaded.score_features(f).score, head.score_features(f).score)
    with pytest.raises(DataError, match="appearance=True"):
        head.parts["appearance"].score(window_features(np.zeros((1, H, W, 2), np.float32), 12, 3))


def test_online_equals_offline_with_the_appearance_part(normal):
    head = RegionHead.fit(normal, CONFIG)
    frames = scene(12, 5, bag=True)
    offline = head.score_flows(flows_of_frames(frames, SIZE, "ultrafast").astype(np.float32))
    stream = RegionStream(head)
    online = [stream.update(f) for f in frames][1:]
    np.testing.assert_allclose([r.parts["appearance"] for r in online], offline.parts["appearance"][1:], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose([r.score for r in online], offline.score[1:], rtol=1e-5, atol=1e-6)


def test_teaching_a_look_as_normal_lowers_its_score(normal):
    head = RegionHead.fit(normal, CONFIG)
    bagged = features_of(flows_of_frames(scene(16, 6, bag=True), SIZE, "ultrafast").astype(np.float32), CONFIG)
    taught = teach_head(head, [bagged.frames(8, 16)])
    assert taught.parts["appearance"].bank.shape[2] > head.parts["appearance"].bank.shape[2]
    before, after = head.score_features(bagged).parts["appearance"], taught.score_features(bagged).parts["appearance"]
    assert after[10:].max() < 0.5 * before[10:].min()
    assert isinstance(taught.parts["appearance"], AppearancePart)


def test_the_choice_tries_the_part_and_shares_the_motion_parts(normal):
    assert len(list(candidates(RegionHeadConfig(), [0.25], PART_SETS[:2]))) == 3  # not tried unless asked
    base = RegionHeadConfig(window=0.25, flow_preset="ultrafast", height=H, try_appearance=True)
    configs = list(candidates(base, [0.25], PART_SETS[:2]))
    assert [c.weights["appearance"] for c, _ in configs[:1 + 2 * len(APPEARANCE_WEIGHTS)]] == [0.0, 0.5, 1.0, 0.5, 1.0]
    assert {c.appearance_descriptor for c, _ in configs} == {"edges", "edges+tone"}
    bag = flows_of_frames(scene(16, 3, bag=True), SIZE, "ultrafast")
    labels = np.zeros(16, bool)
    labels[8:] = True
    fitted: list[str] = []
    parts = PartCache()
    counted = parts.fit
    parts.fit = lambda name, feats, config: (fitted.append(name), counted(name, feats, config))[1]
    results = validate_candidates(configs, normal[:3], normal[3:], [SyntheticFlows(None, 0, bag, labels, "still")],
                                  cache=FeatureStore(), parts=parts)
    by_label = {r.label: r for r in results}
    assert by_label["window 60/240, parts speed, appearance (edges) x1"].auc["still"] > by_label["window 60/240, parts speed"].auc["still"]
    distinct = {(name, settings) for name, settings, _ in parts._parts}
    statics = len({c.static for c, _ in configs})  # the motion parts' own settings
    assert len([d for d in distinct if d[0] == "speed"]) == statics  # shared by candidates with and without looks
    assert len([d for d in distinct if d[0] == "appearance"]) == 2  # one per descriptor, whatever the weight


def _result(label: str, auc: dict[str, float], appearance: float = 0.0, false_alarm: float = 0.0) -> ValidationResult:
    config = RegionHeadConfig(weights={"speed": 1.0, "appearance": appearance})
    return ValidationResult(label, config, auc, float(np.mean(list(auc.values()))), false_alarm, 0.0)


def test_the_motion_parts_are_chosen_first_then_the_appearance_part_joins_only_when_it_pays():
    motion = {"patch": 0.9, "fast": 0.8, "backwards": 0.7, "against": 0.6}
    a = _result("a", {**motion, "still": 0.5, "lying": 0.5, "texture": 0.5})
    # b is worse on the motion kinds but better over all kinds: the motion stage still picks a
    b = _result("b", {**{k: v - 0.05 for k, v in motion.items()}, "still": 0.7, "lying": 0.7, "texture": 0.7})
    looks = _result("a, appearance (edges) x1", {**motion, "still": 0.9, "lying": 0.8, "texture": 0.6}, 1.0)
    best, first = choose_in_two_stages([a, b, looks])
    assert first.label == "a" and best.label == looks.label and best.auc == looks.auc  # the full numbers, not the view
    noisy = replace(looks, false_alarm=0.2)
    assert choose_in_two_stages([a, b, noisy])[0].label == "a"  # beyond the false-alarm bound
    costly = _result("a, appearance (edges) x1", {**{k: v - 0.02 for k, v in motion.items()}, "still": 0.95,
                                                   "lying": 0.95, "texture": 0.95}, 1.0)
    assert choose_in_two_stages([a, b, costly])[0].label == "a"  # it costs the motion kinds too much
    slight = _result("a, appearance (edges) x1", {**motion, "still": 0.52, "lying": 0.5, "texture": 0.5}, 1.0)
    assert choose_in_two_stages([a, b, slight])[0].label == "a"  # it gains too little
    other = _result("b, appearance (edges) x1", {**motion, "still": 1.0, "lying": 1.0, "texture": 1.0}, 1.0)
    assert choose_in_two_stages([a, b, other])[0].label == "a"  # only the motion winner's variants may join
    # another motion candidate whose label begins with the winner's is not the winner's variant
    sibling = _result("a, direction from 0.25 x static, moving look (added) x1",
                      {**motion, "still": 1.0, "lying": 1.0, "texture": 1.0}, 1.0)
    assert choose_in_two_stages([a, b, sibling])[0].label == "a"
    moving = replace(sibling, label="a, moving look (added) x1")
    assert choose_in_two_stages([a, b, moving])[0].label == moving.label


def test_both_look_parts_join_only_when_each_earns_its_place():
    motion = {"patch": 0.9, "fast": 0.8, "backwards": 0.7, "against": 0.6}
    a = _result("a", {**motion, "still": 0.5, "texture": 0.5, "alongside": 0.5})
    look = _result("a, appearance (edges) x1", {**motion, "still": 0.9, "texture": 0.6, "alongside": 0.6}, 1.0)
    moving = _result("a, moving look (added) x0.5", {**motion, "still": 0.5, "texture": 0.6, "alongside": 0.9}, 1.0)
    both = _result("a, appearance (edges) x1, moving look (added) x0.5",
                   {**motion, "still": 0.9, "texture": 0.6, "alongside": 0.9}, 1.0)
    assert choose_in_two_stages([a, look, moving, both])[0].label == both.label  # each part sees its own kind
    # the moving look adds nothing the appearance part had not seen: the appearance part alone
    echo = replace(both, auc={**look.auc, "alongside": 0.61}, mean_auc=look.mean_auc + 0.001)
    assert choose_in_two_stages([a, look, moving, echo])[0].label == look.label
    lonely = replace(both, label="a, appearance (edges+tone) x1, moving look (added) x0.5")
    assert choose_in_two_stages([a, moving, lonely])[0].label == moving.label  # its parts alone were not measured


def test_the_appearance_kinds_leave_the_motion_kinds_anomalies_as_they_were():
    rng = np.random.default_rng(0)
    videos = [rng.integers(0, 255, (50, 32, 40, 3), dtype=np.uint8) for _ in range(2)]
    alone = list(iter_synthetic_edits(videos, seed=3, kinds=MOTION_KINDS))
    mixed = [(i, e) for i, e in iter_synthetic_edits(videos, seed=3) if e.kind in MOTION_KINDS]
    assert len(alone) == len(mixed) == 2 * len(MOTION_KINDS)
    assert all(i == j and a.start == b.start and np.array_equal(a.frames, b.frames) for (i, a), (j, b) in zip(alone, mixed, strict=True))


def test_the_default_choice_computes_no_looks(normal):
    """Looks cost a pass over every frame and twice the stored features: only a choice that tries the part pays."""
    with FeatureStore() as store:
        plain = store.get(normal[0], RegionHeadConfig(window=0.25, height=H))
        tried = store.get(normal[0], RegionHeadConfig(window=0.25, height=H, try_appearance=True))
        weighed = store.get(normal[0], CONFIG)
        assert "appearance" not in plain.fields and "appearance" in tried.fields
        assert tried is weighed  # with and without the part, one set of features
        np.testing.assert_array_equal(plain.read(0, 5).speed, tried.read(0, 5).speed)
