"""The moving-look part: the look of moving windows against every normal moving window's, added to the score."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ammcnet.errors import ConfigError, DataError
from ammcnet.regions import RegionHead, RegionHeadConfig
from ammcnet.regions.features import window_features
from ammcnet.regions.footage import flows_of_frames
from ammcnet.regions.head import features_of, frame_maxima
from ammcnet.regions.online import RegionStream
from ammcnet.regions.parts import MovingLookPart
from ammcnet.regions.selection.validate import (
    MOVING_LOOK_WEIGHTS,
    PART_SETS,
    PartCache,
    SyntheticFlows,
    candidates,
    validate_candidates,
)
from ammcnet.regions.store import FeatureStore
from ammcnet.regions.teach import teach_head

H, W = 48, 64
SIZE = (H, W)


def scene(n: int, seed: int, cart: bool = False) -> np.ndarray:
    """(n, 96, 128, 3) frames: a textured floor and a plain bright block walking right along one
    path; ``cart``: from frame n // 2 on, the walker is a striped block of the same size and speed."""
    rng = np.random.default_rng(seed)
    floor = np.clip(110 + rng.normal(0, 4, (96, 128)), 0, 255).astype(np.uint8)
    frames = np.repeat(np.repeat(floor[None, :, :, None], n, 0), 3, 3)
    stripes = np.where((np.arange(12) // 2) % 2 == 0, 20, 240).astype(np.uint8)
    for t in range(n):
        x = (4 * t + 8 * seed) % 100
        if cart and t >= n // 2:
            frames[t, 60:84, x:x + 12] = stripes[None, :, None]
        else:
            frames[t, 60:84, x:x + 12] = 200
    return frames


CONFIG = RegionHeadConfig(window=0.25, flow_preset="ultrafast", height=H, weights={"speed": 1, "moving_look": 1})


@pytest.fixture(scope="module")
def normal():
    return [flows_of_frames(scene(16, s), SIZE, "ultrafast") for s in range(4)]


@pytest.fixture(scope="module")
def carted():
    return flows_of_frames(scene(16, 7, cart=True), SIZE, "ultrafast").astype(np.float32)


def test_a_striped_cart_at_walking_speed_looks_unusual_where_speed_sees_nothing(normal, carted):
    head = RegionHead.fit(normal, CONFIG)
    assert isinstance(head.parts["moving_look"], MovingLookPart)
    scored = head.score_flows(carted)
    look, speed = scored.parts["moving_look"], scored.parts["speed"]
    assert look[9:].min() > 1.5 * look[1:8].max()  # the cart looks like nothing that moved in training
    assert speed[9:].max() < 1.5 * speed[1:8].max()  # at the walkers' speed
    raw = head.parts["moving_look"].score(features_of(carted, CONFIG))
    still = features_of(carted, CONFIG).speed < head.parts["moving_look"].threshold
    assert (raw[still] == 0).all() and still.any()  # still windows are not looked at


def test_the_part_is_added_to_the_score_and_fuse_maxima_agrees_bit_for_bit(normal, carted):
    head = RegionHead.fit(normal, CONFIG)
    f = features_of(carted, CONFIG)
    scored = head.score_features(f)
    np.testing.assert_array_equal(scored.score, scored.parts["speed"] + scored.parts["moving_look"])
    maxima = {p: frame_maxima(part, f) for p, part in head.parts.items()}
    np.testing.assert_array_equal(head.fuse_maxima(maxima), scored.score)
    assert (scored.winner == 0).all()  # the box and the winner stay the max's (speed: PARTS[0])
    # the held-out normal scores the thresholds come from are fused the same way
    assert all(len(s) for s in head.normal_scores)


def test_a_loaded_part_scores_exactly_and_online_equals_offline(normal, carted, tmp_path):
    head = RegionHead.fit(normal, CONFIG)
    torch.save(head.to_state(), tmp_path / "head.pt")
    loaded = RegionHead.from_state(torch.load(tmp_path / "head.pt", weights_only=True))
    f = features_of(carted, CONFIG)
    np.testing.assert_array_equal(loaded.score_features(f).score, head.score_features(f).score)
    frames = scene(12, 5, cart=True)
    offline = head.score_flows(flows_of_frames(frames, SIZE, "ultrafast").astype(np.float32))
    stream = RegionStream(head)
    online = [stream.update(fr) for fr in frames][1:]
    np.testing.assert_allclose([r.score for r in online], offline.score[1:], rtol=1e-5, atol=1e-6)
    with pytest.raises(DataError, match="appearance=True"):
        head.parts["moving_look"].score(window_features(np.ones((1, H, W, 2), np.float32), 12, 3))


def test_teaching_the_cart_as_normal_adds_its_looks(normal, carted):
    head = RegionHead.fit(normal, CONFIG)
    f = features_of(carted, CONFIG)
    taught = teach_head(head, [f.frames(8, 16)])
    part = taught.parts["moving_look"]
    assert isinstance(part, MovingLookPart) and len(part.bank) > len(head.parts["moving_look"].bank)
    before, after = head.score_features(f).parts["moving_look"], taught.score_features(f).parts["moving_look"]
    assert after[10:].max() < 0.6 * before[10:].min()


def test_the_part_alone_cannot_make_a_head():
    with pytest.raises(ConfigError, match="parts of the max"):
        RegionHeadConfig(weights={"moving_look": 1.0})
    assert CONFIG.reads_looks() and CONFIG.maxed_parts() == ("speed",)
    assert not RegionHeadConfig().reads_looks()


def test_the_choice_tries_it_at_each_weight_and_shares_it_between_them(normal, carted):
    base = RegionHeadConfig(window=0.25, flow_preset="ultrafast", height=H, try_appearance=True)
    configs = list(candidates(base, [0.25], PART_SETS[:1]))
    looks = [c for c, label in configs if "moving look" in label and "appearance" not in label]
    assert [c.weights["moving_look"] for c in looks] == list(MOVING_LOOK_WEIGHTS)
    both = [c for c, label in configs if "moving look" in label and "appearance" in label]
    assert len(both) == len(MOVING_LOOK_WEIGHTS) * len([label for _, label in configs if label.endswith(
        tuple(f"x{w:g}" for w in (0.5, 1.0))) and "appearance" in label and "moving" not in label])
    assert all(c.weights["appearance"] > 0 and c.weights["moving_look"] > 0 for c in both)
    labels = np.zeros(16, bool)
    labels[8:] = True
    parts = PartCache()
    results = validate_candidates(configs, normal[:3], normal[3:], [SyntheticFlows(None, 0, carted, labels, "texture")],
                                  cache=FeatureStore(), parts=parts)
    by_label = {r.label: r for r in results}
    assert by_label["window 60/240, parts speed, moving look (added) x1"].auc["texture"] > \
        by_label["window 60/240, parts speed"].auc["texture"]
    fits = [k[0] for k in parts._parts]  # per part: one fit a fold, and one on every fitting video
    assert fits.count("moving_look") == fits.count("speed")  # whatever the weight it is tried at
