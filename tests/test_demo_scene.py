"""The procedural walkway scene: determinism, anomalies, and the frame-folder dataset on disk."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import scipy.io

from ammcnet.demo import (
    ANOMALY_KINDS,
    SceneConfig,
    build_scene,
    generate_scene_dataset,
    intervals,
    render_video,
)
from ammcnet.demo.scene import ground
from ammcnet.errors import AmmcError, ConfigError
from ammcnet.settings import load_settings

SMALL = SceneConfig(height=64, width=96, train_videos=2, test_videos=3, train_frames=20, test_frames=30,
                    anomaly_kinds=("cyclist", "vehicle", "against"))


@pytest.fixture(scope="module")
def scene():
    return build_scene(SMALL, seed=3)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return generate_scene_dataset(tmp_path_factory.mktemp("d") / "walk", SMALL, seed=3, progress=False)


def test_same_seed_same_video_other_seed_differs(scene):
    a = render_video(SMALL, 12, anomalies=[("runner", 2)], seed=3, stream=(2, 0), scene=scene)
    b = render_video(SMALL, 12, anomalies=[("runner", 2)], seed=3, stream=(2, 0))
    c = render_video(SMALL, 12, anomalies=[("runner", 2)], seed=4, stream=(2, 0))
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.masks, b.masks)
    assert not np.array_equal(a.frames, c.frames)
    d = render_video(SMALL, 12, seed=3, stream=(2, 1), scene=scene)
    assert not np.array_equal(a.frames, d.frames)  # another video of the same seed


def test_normal_video_has_people_and_no_anomaly(scene):
    v = render_video(SMALL, 30, seed=3, stream=(1, 0), scene=scene)
    assert v.labels.sum() == 0 and not v.masks.any() and v.events == []
    assert not any(t.anomalous for t in v.tracks)
    # pedestrians are in view: frames differ from the empty background well beyond the sensor noise
    diff = np.abs(v.frames.astype(np.float32) - scene.background).max(axis=-1)
    assert (diff > 40).sum(axis=(1, 2)).min() > 10


@pytest.mark.parametrize("kind", ANOMALY_KINDS)
def test_every_kind_is_visible_and_labels_match_masks(scene, kind):
    v = render_video(SMALL, 40, anomalies=[(kind, 5)], seed=3, stream=(2, 9), scene=scene)
    ev = v.events[0]
    assert ev["kind"] == kind and 5 <= ev["start"] <= ev["end"]
    assert np.array_equal(v.labels.astype(bool), v.masks.any(axis=(1, 2)))
    assert v.labels[:5].sum() == 0  # nothing anomalous before it enters
    assert v.masks[ev["start"]:ev["end"] + 1].sum() > 0


def _speed(track):
    return float(np.median(np.hypot(*np.diff(track.xy, axis=0).T)))


@pytest.mark.parametrize("kind", ["cyclist", "runner"])
def test_fast_anomalies_move_three_to_five_times_walking_speed(scene, kind):
    cfg = SceneConfig(height=64, width=96, density=10.0)
    v = render_video(cfg, 40, anomalies=[(kind, 2)], seed=5, scene=scene)
    fast = next(t for t in v.tracks if t.anomalous)
    vertical = fast.direction[0] == 0
    peers = [_speed(t) for t in v.tracks if t.kind == "walker" and (t.direction[0] == 0) == vertical]
    walk = float(np.median(peers))
    assert _speed(fast) > 2.4 * walk, (_speed(fast), walk)
    # and in the pixels: while the object is fully in view its mask's centroid moves that fast too
    area = v.masks.sum(axis=(1, 2))
    full = np.flatnonzero(area >= 0.7 * area.max())
    cy, cx = np.array([np.argwhere(v.masks[t]).mean(axis=0) for t in full]).T
    step = np.hypot(np.diff(cx), np.diff(cy)) / np.diff(full)
    assert len(full) >= 3 and np.median(step) > 2.4 * walk


def test_motion_anomalies_leave_the_normal_paths(scene):
    _, paved = ground(SMALL, np.random.default_rng(0))
    lawn = render_video(SMALL, 40, anomalies=[("lawn", 0)], seed=8, scene=scene)
    tr = next(t for t in lawn.tracks if t.anomalous)
    inside = (tr.xy[:, 0] >= 0) & (tr.xy[:, 0] < SMALL.width) & (tr.xy[:, 1] < SMALL.height)
    xy = tr.xy[inside].astype(int)
    on_grass = ~paved[xy[:, 1], xy[:, 0]]
    assert on_grass.mean() > 0.7
    against = render_video(SMALL, 30, anomalies=[("against", 0)], seed=8, scene=scene)
    up = next(t for t in against.tracks if t.anomalous)
    normal_vertical = [t for t in against.tracks if not t.anomalous and t.direction[1] != 0 and t.direction[0] == 0]
    assert up.direction[1] < 0 and np.diff(up.xy[:, 1]).max() < 0
    assert all(t.direction[1] > 0 for t in normal_vertical)


def test_appearance_anomalies_are_unlike_pedestrians(scene):
    v = render_video(SMALL, 40, anomalies=[("vehicle", 0)], seed=2, scene=scene)
    t = int(np.argmax(v.masks.sum(axis=(1, 2))))
    pix = v.frames[t][v.masks[t]].astype(np.float32)
    saturation = (pix.max(axis=1) - pix.min(axis=1)).mean()
    assert v.masks[t].sum() > 60 and saturation > 80  # a big, loud object; clothes are muted


def test_dataset_layout_matches_ped2(dataset):
    train = sorted(p.name for p in (dataset / "training" / "frames").iterdir())
    test = sorted(p.name for p in (dataset / "testing" / "frames").iterdir())
    assert train == ["01", "02"] and test == ["01", "02", "03"]
    names = sorted(p.name for p in (dataset / "testing" / "frames" / "02").iterdir())
    assert names[0] == "000.jpg" and names[-1] == "029.jpg" and len(names) == 30
    assert len(list((dataset / "training" / "frames" / "01").glob("*.jpg"))) == 20
    assert not (dataset / "training" / "pixel_masks").exists()
    img = cv2.imread(str(dataset / "testing" / "frames" / "01" / "007.jpg"))
    assert img.shape == (64, 96, 3)
    mask = cv2.imread(str(dataset / "testing" / "pixel_masks" / "01" / "007.png"), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (64, 96) and mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}
    assert not list(dataset.parent.glob(".walk.*"))  # no temporary folder left behind


def test_mat_labels_equal_frames_with_mask_pixels(dataset):
    gt = scipy.io.loadmat(dataset / "walk.mat")["gt"]
    assert gt.shape == (1, 3) and gt.dtype == object
    info = json.loads((dataset / "scene.json").read_text())
    total = 0
    for v in range(3):
        iv = np.asarray(gt[0, v])
        assert iv.shape[0] == 2 and iv.shape[1] >= 1
        labels = np.zeros(30, bool)
        for s, e in iv.T:
            labels[s - 1:e] = True  # 1-based inclusive
        folder = dataset / "testing" / "pixel_masks" / f"{v + 1:02d}"
        has_pixels = np.array([cv2.imread(str(folder / f"{i:03d}.png"), cv2.IMREAD_UNCHANGED).any() for i in range(30)])
        assert np.array_equal(labels, has_pixels)
        ev = [e for e in info["events"] if e["video"] == f"{v + 1:02d}"]
        assert ev and labels[ev[0]["start"]] and labels[ev[0]["end"]]
        total += labels.sum()
    assert info["anomalous_frames"] == total and info["seed"] == 3
    assert "cyclist" in (dataset / "README.txt").read_text()


def test_data_package_discovers_the_scene(dataset):
    data = pytest.importorskip("ammcnet.data")
    layout = data.discover_dataset(dataset)
    assert [v.name for v in layout.train] == ["01", "02"] and len(layout.test) == 3
    masks = [cv2.imread(str(p), cv2.IMREAD_UNCHANGED).any()
             for v in ("01", "02", "03") for p in sorted((dataset / "testing" / "pixel_masks" / v).glob("*.png"))]
    labels = np.concatenate([np.asarray(lab) for lab in layout.test_labels])
    assert len(labels) == 90 and np.array_equal(labels.astype(bool), np.array(masks))


def test_second_call_reuses_and_foreign_folder_is_refused(dataset):
    stamp = (dataset / "scene.json").stat().st_mtime_ns
    assert generate_scene_dataset(dataset, SMALL, seed=3, progress=False) == dataset
    assert (dataset / "scene.json").stat().st_mtime_ns == stamp
    with pytest.raises(AmmcError, match="remove it or choose another folder"):
        generate_scene_dataset(dataset, SMALL, seed=4, progress=False)


def test_bad_settings_name_the_fix():
    with pytest.raises(ConfigError, match="choose one or more of"):
        SceneConfig(anomaly_kinds=("ufo",)).validate()
    with pytest.raises(ConfigError, match="at least 8 frames"):
        SceneConfig(test_frames=3).validate()
    assert load_settings(SceneConfig, SMALL.to_dict()) == SMALL
    with pytest.raises(ConfigError, match="unknown config key 'fps'; allowed: anomalies_per_video"):
        load_settings(SceneConfig, {**SMALL.to_dict(), "fps": 25})


def test_intervals_are_one_based_inclusive():
    assert intervals(np.array([1, 1, 0, 0, 1])).tolist() == [[1, 5], [2, 5]]
    assert intervals(np.zeros(4)).shape == (2, 0)
