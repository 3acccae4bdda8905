"""The synthetic appearance anomalies (``still``, ``lying``, ``texture``, ``alongside``): what a motion-only head cannot see."""

from __future__ import annotations

import numpy as np
import pytest

from ammcnet.regions.footage import FlowSpeeds
from ammcnet.regions.selection.synthetic import (
    BLEND_PX,
    KINDS,
    TEXTURE_TRIES,
    iter_synthetic_edits,
    make_synthetic,
    synthetic_edit,
)

H, W, T = 40, 64, 50
APPEARANCE = ("still", "lying", "texture", "alongside")


def video(seed: int, frames: int = T) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (frames, H, W, 3), dtype=np.uint8)


def still_scene(seed: int, frames: int = T) -> np.ndarray:
    """One random image repeated: a scene where nothing moves."""
    return np.repeat(video(seed, 1), frames, axis=0)


def right_flows(step: float, grid: tuple[int, int] = (H // 2, W // 2), channels: int = 2) -> FlowSpeeds:
    """Flows on a grid half the frames' size where everything moves right by ``step`` px of that grid."""
    flows = np.zeros((T, *grid, channels), np.float32)
    flows[..., 0] = step
    return FlowSpeeds(flows)


def test_the_appearance_kinds_follow_the_motion_kinds():
    assert KINDS == ("patch", "fast", "backwards", "against", "still", "lying", "texture", "alongside")


@pytest.mark.parametrize("kind", APPEARANCE)
def test_an_appearance_anomaly_changes_only_its_stretch_and_is_seeded(kind):
    frames, donor = video(0), video(1)
    motion = right_flows(1.0)
    v = make_synthetic(frames, kind, np.random.default_rng(3), length=20, donor=donor, motion=motion)
    changed = (v.frames != frames).reshape(len(frames), -1).any(1)
    assert changed.any() and not (changed & ~v.labels).any()
    assert v.labels.sum() == 20 and v.kind == kind
    again = make_synthetic(frames, kind, np.random.default_rng(3), length=20, donor=donor, motion=motion)
    np.testing.assert_array_equal(v.frames, again.frames)
    assert again.box == v.box
    other = make_synthetic(frames, kind, np.random.default_rng(4), length=20, donor=donor, motion=motion)
    assert not np.array_equal(other.frames, v.frames)


def test_still_pastes_a_foreign_patch_that_does_not_move():
    frames = video(0)
    edit = synthetic_edit(frames, "still", np.random.default_rng(5), length=20, side=10, donor=video(1))
    x0, y0, x1, y1 = edit.box
    assert (x1 - x0, y1 - y0) == (10, 10)
    inside = edit.frames[:, y0:y1, x0:x1]
    assert (inside == inside[:1]).all()  # the same pixels in every frame of the stretch
    normal = frames[edit.start:edit.start + len(edit.frames), y0:y1, x0:x1]
    assert (inside != normal).any(-1).mean() > 0.9
    outside = edit.frames.copy()
    outside[:, y0:y1, x0:x1] = normal
    np.testing.assert_array_equal(outside, frames[edit.start:edit.start + len(edit.frames)])


def test_still_prefers_a_textured_donor_patch():
    """Three quarters of the donor are plain: one random cut of 10 px is plain 71 % of the time, the
    most textured of several much less often."""
    donor = video(1)
    donor[:, :, :48] = 128
    textured = 0
    for seed in range(8):
        edit = synthetic_edit(still_scene(0), "still", np.random.default_rng(seed), length=12, side=10, donor=donor)
        x0, y0, x1, y1 = edit.box
        textured += int(edit.frames[0, y0:y1, x0:x1].std() > 0)
    assert TEXTURE_TRIES > 1 and textured >= 5


def _blob_box(diff: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(diff)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def test_lying_walks_upright_then_lies_still_on_the_same_ground():
    frames = still_scene(0)
    edit = synthetic_edit(frames, "lying", np.random.default_rng(2), length=24, side=12, speed=2.0,
                          direction=(1.0, 0.0))
    normal = frames[0]
    assert edit.labels.sum() == 24 and edit.labels[edit.start:edit.start + 24].all()
    walk = 24 // 4
    np.testing.assert_array_equal(edit.frames[walk:], np.repeat(edit.frames[-1:], 24 - walk, axis=0))  # it lies still
    first = _blob_box((edit.frames[0] != normal).any(-1))
    last_up = _blob_box((edit.frames[walk - 1] != normal).any(-1))
    lying = _blob_box((edit.frames[-1] != normal).any(-1))
    assert first[3] - first[1] > first[2] - first[0]  # upright: taller than wide
    assert lying[2] - lying[0] > lying[3] - lying[1]  # lying: wider than tall
    assert last_up[0] > first[0]  # it walked right, along the footage's direction
    assert abs(lying[3] - last_up[3]) <= 1  # where its feet were
    assert abs((lying[0] + lying[2]) - (last_up[0] + last_up[2])) <= 3  # under where it stood


def _moved_by(before: np.ndarray, after: np.ndarray, shifts: range) -> int:
    """The horizontal shift (px) that best maps ``before`` onto ``after`` (mean absolute difference)."""
    pad = max(abs(s) for s in shifts)
    core = after[:, pad:-pad].astype(np.float32)
    costs = [np.abs(core - before[:, pad - s:before.shape[1] - pad - s]).mean() for s in shifts]
    return shifts[int(np.argmin(costs))]


@pytest.mark.parametrize("channels", [2, 3])
def test_texture_moves_with_the_flows_of_its_region_and_leaves_the_rest(channels):
    frames = video(0)
    # 1 px per frame on a grid half the frames' size: 2 px per frame of the frames
    edit = synthetic_edit(frames, "texture", np.random.default_rng(1), length=40, side=10, donor=video(1),
                          motion=right_flows(1.0, channels=channels))
    x0, y0, x1, y1 = edit.box
    assert (x1 - x0, y1 - y0) == (20, 20)
    stretch = frames[edit.start:edit.start + len(edit.frames)]
    outside = edit.frames.copy()
    outside[:, y0:y1, x0:x1] = stretch[:, y0:y1, x0:x1]
    np.testing.assert_array_equal(outside, stretch)
    b = BLEND_PX
    region = edit.frames[:, y0 + b:y1 - b, x0 + b:x1 - b, 0]
    moves = [_moved_by(region[k], region[k + 1], range(-4, 5)) for k in range(len(region) - 1)]
    assert moves == [2] * (len(region) - 1)
    # exactly the texture of the frame before, two pixels to the right (away from the wrapped columns)
    np.testing.assert_array_equal(region[1:, :, 2 + 2:], region[:-1, :, 2:-2])
    assert not (region[0] == stretch[0, y0 + b:y1 - b, x0 + b:x1 - b, 0]).all()  # its texture is foreign


def test_texture_without_flows_moves_along_the_footage_direction():
    frames = video(0)
    edit = synthetic_edit(frames, "texture", np.random.default_rng(1), length=12, side=10, donor=video(1),
                          speed=3.0, direction=(0.0, 2.0))
    x0, y0, x1, y1 = edit.box
    b = BLEND_PX
    region = edit.frames[:, y0 + b:y1 - b, x0 + b:x1 - b, 0]
    np.testing.assert_array_equal(region[1:, 3:], region[:-1, :-3])  # 3 px down each frame


def test_alongside_is_a_turned_object_moving_with_the_crowd_where_the_frames_move():
    """As tall as the footage's objects and as long, the donor's vertical stripes turned across,
    moving ``speed`` px a frame along the footage's direction, from the half of the frame where
    things move."""
    frames = still_scene(0, 60)
    donor = np.zeros((20, H, W, 3), np.uint8)
    donor[:, :, ::2] = 255  # vertical stripes: every column alternates
    moving = np.zeros((60, H, W), np.float32)
    moving[:, :, W // 2:] = 1.0  # only the right half moves
    edit = synthetic_edit(frames, "alongside", np.random.default_rng(4), length=12, side=16, speed=2.0,
                          direction=(0.0, 1.0), donor=donor, motion=moving)
    x0, y0, x1, y1 = edit.box
    assert (x1 - x0, y1 - y0) == (16, 16) and x0 >= W // 2 - 16  # object-sized, where things move
    b = BLEND_PX
    inner = edit.frames[0, y0 + b:y1 - b, x0 + b:x1 - b, 0].astype(int)
    assert (inner == inner[:, :1]).all() and (np.abs(np.diff(inner, axis=0)) == 255).all()  # stripes turned
    stretch = frames[edit.start:edit.start + len(edit.frames)]
    boxes = [_blob_box((f != n).any(-1)) for f, n in zip(edit.frames, stretch, strict=True)]
    assert [b[1] - boxes[0][1] for b in boxes] == list(range(0, 24, 2))  # 2 px down each frame
    assert {b[0] for b in boxes} == {boxes[0][0]}
    assert boxes[-1][3] <= H and edit.labels.sum() == 12  # the whole path is inside the frame


def test_alongside_draws_from_a_stream_of_its_own():
    """Adding the kind leaves every earlier kind's anomalies as they were."""
    videos = [video(0, 60), video(1, 60)]
    earlier = KINDS[:-1]
    before = list(iter_synthetic_edits(videos, seed=3, kinds=earlier))
    after = [(i, e) for i, e in iter_synthetic_edits(videos, seed=3) if e.kind in earlier]
    assert [(i, e.kind, e.start, e.box) for i, e in before] == [(i, e.kind, e.start, e.box) for i, e in after]
    for (_, e), (_, f) in zip(before, after, strict=True):
        np.testing.assert_array_equal(e.frames, f.frames)


class Counting:
    """Frames (or flows) read lazily, recording every read; reading the whole of it is an error."""

    def __init__(self, data: np.ndarray) -> None:
        self.data, self.reads = data, []

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, key):
        if isinstance(key, slice):
            a, b, _ = key.indices(len(self.data))
            self.reads.append((a, b))
        else:
            self.reads.append(int(key))
        return self.data[key]

    def __array__(self, dtype=None, copy=None):
        raise AssertionError("the whole video was read")


@pytest.mark.parametrize("kind", APPEARANCE)
def test_only_the_stretch_is_read(kind):
    frames, donor = Counting(video(0, 200)), Counting(video(1, 200))
    flows = np.zeros((200, H // 2, W // 2, 2), np.float32)
    flows[..., 0] = 1.0
    counted_flows = Counting(flows)
    edit = synthetic_edit(frames, kind, np.random.default_rng(0), length=20, donor=donor,
                          motion=FlowSpeeds(counted_flows))
    a, b = edit.start, edit.start + len(edit.frames)
    assert frames.reads == [(a, b)]
    assert all(isinstance(r, int) for r in donor.reads) and len(donor.reads) <= TEXTURE_TRIES
    assert all(isinstance(r, tuple) and a <= r[0] and r[1] <= b for r in counted_flows.reads)
    whole = make_synthetic(frames.data, kind, np.random.default_rng(0), length=20, donor=donor.data,
                           motion=FlowSpeeds(flows))
    np.testing.assert_array_equal(edit.apply(frames.data).frames, whole.frames)  # the same draws
