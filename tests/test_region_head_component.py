"""The region head's component in the model file: a baseline that is the head itself is stored once."""

from __future__ import annotations

import io

import numpy as np
import torch

from ammcnet.regions import RegionHead, RegionHeadConfig
from ammcnet.regions.head import features_of
from ammcnet.scoring.region_head import MOTION_MODE, SAME_AS_HEAD, RegionHeadComponent

H, W = 24, 32
CONFIG = RegionHeadConfig(window=0.25, flow_preset="ultrafast", height=H, weights={"speed": 1.0, "direction": 1.0})


def flows(seed: int, frames: int = 12) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.zeros((frames, H, W, 2), np.float32)
    out[:, 8:16, 8:16, 0] = 1.0 + rng.random((frames, 1, 1))
    return out + rng.normal(0, 0.05, out.shape).astype(np.float32)


def component() -> RegionHeadComponent:
    head = RegionHead.fit([flows(0), flows(1), flows(2), flows(3)], CONFIG)
    other = RegionHead.fit([flows(0), flows(1), flows(2), flows(3)], RegionHeadConfig(**{**CONFIG.as_dict(), "weights": {"speed": 1.0}}))
    return RegionHeadComponent(head, None, {"max-speed": other, MOTION_MODE: head})


def saved_and_loaded(data: dict) -> dict:
    """Through the model file's own round trip (``torch.load(weights_only=True)``)."""
    buffer = io.BytesIO()
    torch.save(data, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def test_the_motion_head_that_is_the_head_is_stored_once_and_loads_as_the_head():
    comp = component()
    data = comp.to_dict()
    assert data["baselines"][MOTION_MODE] == SAME_AS_HEAD and "parts" in data["baselines"]["max-speed"]
    loaded = RegionHeadComponent.from_dict(saved_and_loaded(data))
    assert loaded.head_for(MOTION_MODE) is loaded.head and loaded.head_for("max-speed") is not loaded.head
    assert loaded.modes == comp.modes  # the same modes, in the same order (their record columns)
    probe = flows(7)
    probe[5:8, 2:10, 20:30, 1] = 4.0
    f = features_of(probe, CONFIG)
    np.testing.assert_array_equal(loaded.head_for(MOTION_MODE).score_features(f).score,
                                  comp.head.score_features(f).score)
    full = len(_bytes({**data, "baselines": {**data["baselines"], MOTION_MODE: comp.head.to_state()}}))
    assert len(_bytes(data)) < 0.75 * full


def test_a_file_with_a_full_copy_still_loads():
    comp = component()
    data = comp.to_dict()
    data["baselines"][MOTION_MODE] = comp.head.to_state()  # how files were written before
    loaded = RegionHeadComponent.from_dict(saved_and_loaded(data))
    assert loaded.head_for(MOTION_MODE) is not loaded.head
    assert loaded.head_for(MOTION_MODE).config == loaded.head.config


def test_teaching_keeps_the_motion_head_the_head():
    taught = component().taught([flows(9)])
    assert taught.head_for(MOTION_MODE) is taught.head
    assert taught.head_for("max-speed") is not taught.head
    assert taught.to_dict()["baselines"][MOTION_MODE] == SAME_AS_HEAD


def _bytes(data: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(data, buffer)
    return buffer.getvalue()
