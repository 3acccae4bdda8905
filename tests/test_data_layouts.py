"""Dataset layouts and `ammcnet verify` on tiny fixtures in every layout."""

from __future__ import annotations

import numpy as np
import pytest

from ammcnet.cli import main
from ammcnet.data import discover_dataset, verify_dataset
from ammcnet.errors import ConfigError, DataError
from helpers import (
    make_avenue_layout,
    make_custom_layout,
    make_frames_layout,
    make_shanghaitech_layout,
    make_ucsd_layout,
    write_frames,
)


def test_frames_layout(tmp_path):
    root = make_frames_layout(tmp_path / "mini")
    lay = discover_dataset(root)
    assert lay.kind == "frames" and lay.label_file.name == "mini.mat"
    assert [v.name for v in lay.train] == ["01", "02"] and lay.test_num_frames == [7, 10]
    assert lay.test_labels[0].tolist() == [0, 0, 1, 1, 1, 1, 0]
    masks = lay.pixel_masks[1].load(size=(12, 16))
    assert masks.shape == (10, 12, 16) and masks.dtype == bool
    assert masks.reshape(10, -1).any(1).tolist() == [False, False] + [True] * 7 + [False]


def test_ucsd_layout(tmp_path):
    lay = discover_dataset(make_ucsd_layout(tmp_path / "UCSDped2"))
    assert (lay.kind, lay.name) == ("ucsd", "ped2")
    assert [v.name for v in lay.test] == ["Test001", "Test002"]  # *_gt folders are masks, not videos
    assert lay.test_labels[1].tolist() == [0, 1, 1, 0, 0, 0, 0]
    assert lay.pixel_masks[0].count() == 6


def test_avenue_layout_labels_from_masks(tmp_path):
    lay = discover_dataset(make_avenue_layout(tmp_path / "avenue"))
    assert (lay.kind, lay.name) == ("avenue", "avenue") and lay.labels_from_masks
    assert lay.test_labels[0].tolist() == [0, 0, 0, 0, 0, 1, 1]
    assert lay.pixel_masks[0].load().shape[0] == 7


def test_shanghaitech_layout(tmp_path):
    lay = discover_dataset(make_shanghaitech_layout(tmp_path / "shanghaitech"))
    assert lay.kind == "shanghaitech" and lay.train[0].path.suffix == ".avi"
    assert lay.test_labels[0].tolist() == [0, 0, 0, 0, 1, 1]
    assert lay.pixel_masks[0].kind == "npy"


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_custom_layout(tmp_path, fmt):
    lay = discover_dataset(make_custom_layout(tmp_path / "c", labels=fmt))
    assert lay.kind == "custom" and [v.name for v in lay.train] == ["cam", "walk"]
    assert lay.test_labels[0].tolist() == [0, 0, 1, 1, 0, 0, 0, 0]


def test_layout_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        discover_dataset(tmp_path / "missing")
    (tmp_path / "odd").mkdir()
    with pytest.raises(DataError, match="odd matches no known layout"):
        discover_dataset(tmp_path / "odd")
    with pytest.raises(ConfigError, match="auto, frames"):
        discover_dataset(tmp_path, layout="nope")
    (tmp_path / "e" / "train").mkdir(parents=True)
    with pytest.raises(DataError, match="no videos found"):
        discover_dataset(tmp_path / "e")


def test_verify_clean_dataset_and_cli(tmp_path, capsys):
    root = make_frames_layout(tmp_path / "mini")
    rep = verify_dataset(root)
    assert rep.ok, rep.problems
    train, test = rep.rows
    assert (train.videos, train.frames, test.frames) == (2, 17, 17)
    assert (test.label_frames, test.anomalous_frames, test.mask_frames) == (17, 4 + 7, 17)
    assert train.resolutions == ["32x24"]
    assert main(["verify", str(root)]) == 0
    out = capsys.readouterr().out
    assert "no problems found" in out and "17/17" in out


def test_verify_reports_every_problem(tmp_path, capsys):
    root = make_frames_layout(tmp_path / "mini")
    bad = root / "training" / "frames" / "01" / "003.jpg"
    bad.write_bytes(bad.read_bytes()[:100])  # truncated JPEG in the middle
    write_frames(root / "testing" / "frames" / "02", [np.zeros((8, 8, 3), np.uint8)], start=10)  # 11 frames now, one small
    rep = verify_dataset(root)
    text = "\n".join(rep.problems)
    assert not rep.ok
    assert "003.jpg is a truncated JPEG" in text
    assert "010.jpg is 8x8" in text
    assert "11" in text and "02" in text  # the label count mismatch names the video
    assert main(["verify", str(root)]) == 1
    assert "problem(s)" in capsys.readouterr().out


def test_verify_published_totals(tmp_path):
    rep = verify_dataset(make_ucsd_layout(tmp_path / "UCSDped2"))
    assert any("published total is 2550" in p for p in rep.problems)


def test_verify_deep_and_video_files(tmp_path):
    rep = verify_dataset(make_avenue_layout(tmp_path / "avenue"), deep=True)
    assert rep.rows[0].frames == 6 and rep.rows[1].anomalous_frames == 2
    assert rep.rows[1].mask_frames == 7
    assert [p for p in rep.problems if "published" not in p] == []


def test_cli_error_exit_2(tmp_path, capsys):
    assert main(["verify", str(tmp_path / "none")]) == 2
    assert "does not exist" in capsys.readouterr().err
