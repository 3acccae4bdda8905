"""``ammcnet synthesize``: a validation dataset (held-out normal videos, synthetic anomalies) any command reads."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from ammcnet.cli import main
from ammcnet.data.cache import prepare_dataset
from ammcnet.data.layouts import discover_dataset
from ammcnet.data.video import open_video
from ammcnet.demo import SceneConfig, generate_scene_dataset
from ammcnet.regions.selection.dataset import safe_name, write_frames, write_validation_dataset
from ammcnet.regions.selection.synthetic import KINDS


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    cfg = SceneConfig(height=48, width=64, train_videos=4, test_videos=1, train_frames=50, test_frames=12)
    return generate_scene_dataset(tmp_path_factory.mktemp("scene") / "scene", cfg, seed=3, progress=False)


@pytest.fixture(scope="module")
def made(scene, tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "validation"
    assert main(["synthesize", str(scene), "--out", str(out), "--per-kind", "1", "--no-progress"]) == 0
    return out


def _frames(folder):
    return np.stack([cv2.imread(str(p)) for p in sorted(folder.iterdir())])


def test_layout_labels_and_manifest_agree(made):
    ds = discover_dataset(made)
    info = json.loads((made / "validation-set.json").read_text())
    assert ds.kind == "custom" and [v.name for v in ds.train] == info["train"] == ["01", "02", "03"]
    assert info["held_out"] == ["04"]
    assert sorted(v.name for v in ds.test) == sorted(["normal-04", *(f"{k}-04-1" for k in KINDS)])
    labels = dict(zip((v.name for v in ds.test), ds.test_labels, strict=True))
    assert not labels["normal-04"].any()
    for entry in info["test"][1:]:
        y = labels[entry["name"]]
        a, b = entry["anomalous"]
        assert y.sum() == b - a + 1 and y[a:b + 1].all(), entry  # one contiguous stretch, as recorded
    assert info["anomalous_frames"] == sum(int(y.sum()) for y in labels.values())
    assert {e["kind"] for e in info["test"]} == {"normal", *KINDS}


def test_synthetic_videos_change_only_their_stretch(made):
    info = json.loads((made / "validation-set.json").read_text())
    normal = _frames(made / "test" / "normal-04")
    for entry in info["test"][1:]:
        frames = _frames(made / "test" / entry["name"])
        a, b = entry["anomalous"]
        changed = np.flatnonzero((frames != normal).any(axis=(1, 2, 3)))
        assert changed.size and a <= changed.min() and changed.max() <= b, entry["name"]  # lossless, outside untouched


def test_same_seed_same_dataset_and_the_folder_is_replaced_only_when_asked(scene, made, tmp_path, capsys):
    again = write_validation_dataset(scene, tmp_path / "again", per_kind=1, progress=False)
    assert (again.root / "labels.json").read_text() == (made / "labels.json").read_text()
    other = write_validation_dataset(scene, tmp_path / "other", per_kind=1, seed=1, progress=False)
    assert (other.root / "labels.json").read_text() != (made / "labels.json").read_text()
    assert main(["synthesize", str(scene), "--out", str(again.root), "--no-progress"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["synthesize", str(scene), "--out", str(again.root), "--per-kind", "2", "--overwrite", "--no-progress"]) == 0
    assert len(discover_dataset(again.root).test) == 1 + 2 * len(KINDS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again", "other"]  # no temporary folder left behind


def test_a_rotation_holds_out_another_quarter(scene, tmp_path, capsys):
    turned = write_validation_dataset(scene, tmp_path / "r1", per_kind=1, rotation=1, progress=False)
    info = json.loads((turned.root / "validation-set.json").read_text())
    assert info["held_out"] == ["03"] and info["train"] == ["01", "02", "04"] and info["rotation"] == 1
    assert "normal-03" in {v.name for v in discover_dataset(turned.root).test}
    assert main(["synthesize", str(scene), "--out", str(tmp_path / "r4"), "--rotation", "4", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "rotation must be 0 to 3" in err and not (tmp_path / "r4").exists()


def test_the_dataset_prepares_like_any_other(made, tmp_path):
    prepared = prepare_dataset(made, size=(32, 32), flow_preset="ultrafast", cache_dir=tmp_path, progress=False)
    assert prepared.videos("train") == ["01", "02", "03"] and len(prepared.videos("test")) == 1 + len(KINDS)


def test_too_little_footage_is_a_one_line_error(tmp_path, capsys):
    cfg = SceneConfig(height=32, width=48, train_videos=1, test_videos=1, train_frames=20, test_frames=8)
    tiny = generate_scene_dataset(tmp_path / "tiny", cfg, progress=False)
    assert main(["synthesize", str(tiny), "--out", str(tmp_path / "v"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "training frames" in err
    assert not (tmp_path / "v").exists()


def test_names_are_safe_folder_names():
    assert safe_name("vtest.avi[0:119]") == "vtest_avi_0_119" and safe_name("***") == "video"


def test_grey_videos_are_written_with_one_channel_and_read_back_alike(tmp_path):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 255, (3, 16, 24, 1), dtype=np.uint8).repeat(3, -1)
    colour = rng.integers(0, 255, (3, 16, 24, 3), dtype=np.uint8)
    write_frames(tmp_path / "grey", grey)
    write_frames(tmp_path / "colour", colour)
    assert cv2.imread(str(tmp_path / "grey" / "000000.png"), cv2.IMREAD_UNCHANGED).ndim == 2
    np.testing.assert_array_equal(open_video(tmp_path / "grey").read_all(), grey)
    np.testing.assert_array_equal(open_video(tmp_path / "colour").read_all(), colour)


def test_force_never_deletes_the_dataset_or_a_folder_it_did_not_write(scene, tmp_path, capsys):
    for out in (scene, scene / "validation", scene.parent):
        assert main(["synthesize", str(scene), "--out", str(out), "--force", "--no-progress"]) == 2
        assert "overlaps the dataset" in capsys.readouterr().err
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    assert main(["synthesize", str(scene), "--out", str(other), "--force", "--no-progress"]) == 2
    assert "not a validation set" in capsys.readouterr().err and (other / "notes.txt").read_text() == "keep me"
    assert (scene / "scene.json").is_file()
