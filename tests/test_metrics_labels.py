"""Every label reader (``ammcnet.data.labels``) on tiny generated files, and count validation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io

from ammcnet.data.labels import parse_ucsd_m, read_mat_intervals
from ammcnet.errors import DataError
from ammcnet.metrics import intervals_to_mask, load_labels

COUNTS = [8, 6]
EXPECTED = [[0, 0, 1, 1, 1, 0, 0, 1], [1, 1, 0, 0, 0, 0]]


def _check(masks):
    assert [m.tolist() for m in masks] == EXPECTED
    assert all(m.dtype == np.uint8 for m in masks)


def test_intervals_to_mask_is_one_based_inclusive():
    assert intervals_to_mask([[1, 2], [5, 5]], 6).tolist() == [1, 1, 0, 0, 1, 0]
    assert intervals_to_mask([[0, 1]], 3, one_based=False).tolist() == [1, 1, 0]
    with pytest.raises(DataError, match=r"video v interval \[5, 9\] is outside its 6 frames"):
        intervals_to_mask([[5, 9]], 6, video="v")


def test_mat_cell_layout(tmp_path):
    gt = np.empty((1, 2), dtype=object)
    gt[0, 0] = np.array([[3, 8], [5, 8]])  # 2xK: starts row, ends row
    gt[0, 1] = np.array([[1], [2]])  # 2x1
    scipy.io.savemat(tmp_path / "gt.mat", {"gt": gt})
    _check(load_labels(tmp_path / "gt.mat", COUNTS))
    intervals = read_mat_intervals(tmp_path / "gt.mat")
    assert intervals[1].tolist() == [[1, 2]]


def test_mat_squeezed_and_struct_variants(tmp_path):
    gt = np.empty((2,), dtype=object)
    gt[0] = np.array([[3, 8], [5, 8]])
    gt[1] = np.array([1, 2])  # a 2x1 array squeezed to a 2-vector
    scipy.io.savemat(tmp_path / "sq.mat", {"gt": gt})
    _check(load_labels(tmp_path / "sq.mat", COUNTS))
    struct = np.zeros((1, 2), dtype=[("frames", object)])
    struct[0, 0]["frames"] = np.array([[3, 8], [5, 8]])
    struct[0, 1]["frames"] = np.array([[1], [2]])
    scipy.io.savemat(tmp_path / "st.mat", {"gt": struct})
    _check(load_labels(tmp_path / "st.mat", COUNTS))


def test_ucsd_m_list(tmp_path):
    text = ("TestVideoFile = {};\n% comment [9:9]\n"
            "TestVideoFile{end+1}.gt_frame = [3:5, 8];\n"
            "TestVideoFile{end+1}.gt_frame = [1:2];\n")
    (tmp_path / "UCSDped2.m").write_text(text)
    _check(load_labels(tmp_path / "UCSDped2.m", COUNTS))
    assert parse_ucsd_m("gt_frame = [61:180];")[0].tolist() == [[61, 180]]
    assert parse_ucsd_m("x.gt_frame = [1:146, 150:160];")[0].tolist() == [[1, 146], [150, 160]]


def test_npy_folder_by_name_and_by_order(tmp_path):
    folder = tmp_path / "test_frame_mask"
    folder.mkdir()
    np.save(folder / "01_0014.npy", np.array(EXPECTED[0], dtype=np.int64))
    np.save(folder / "01_0015.npy", np.array(EXPECTED[1], dtype=np.uint8))
    _check(load_labels(tmp_path, COUNTS))  # parent folder holding test_frame_mask/
    _check(load_labels(folder, COUNTS, videos=["01_0014", "01_0015"]))
    with pytest.raises(DataError, match="no mask file for video 01_0099"):
        load_labels(folder, COUNTS, videos=["01_0014", "01_0099"])


def test_concatenated_npy_flat_and_row(tmp_path):
    flat = np.array(EXPECTED[0] + EXPECTED[1])
    np.save(tmp_path / "a.npy", flat)
    np.save(tmp_path / "b.npy", flat[None, :])
    _check(load_labels(tmp_path / "a.npy", COUNTS))
    _check(load_labels(tmp_path / "b.npy", COUNTS))
    with pytest.raises(DataError, match=r"14 frame labels but the scores' 2 videos have 15 frames"):
        load_labels(tmp_path / "a.npy", [8, 7])


def test_csv_and_json(tmp_path):
    (tmp_path / "l.csv").write_text("video,start,end\ncam1,3,5\ncam1,8,8\ncam2,1,2\n")
    _check(load_labels(tmp_path / "l.csv", COUNTS, videos=["cam1", "cam2"]))
    (tmp_path / "l.json").write_text(json.dumps({"cam1": [[3, 5], [8, 8]], "cam2": [1, 1, 0, 0, 0, 0]}))
    _check(load_labels(tmp_path / "l.json", COUNTS, videos=["cam1", "cam2"]))
    (tmp_path / "n.csv").write_text("cam1,3,5\n")  # no header; cam2 absent = all normal
    assert load_labels(tmp_path / "n.csv", COUNTS, videos=["cam1", "cam2"])[1].sum() == 0
    with pytest.raises(DataError, match="video 'cam3' is not among the scored videos"):
        (tmp_path / "u.csv").write_text("cam3,1,2\n")
        load_labels(tmp_path / "u.csv", COUNTS, videos=["cam1", "cam2"])
    with pytest.raises(DataError, match="store no 'videos' names"):
        load_labels(tmp_path / "l.csv", COUNTS)


def test_count_mismatch_names_video_counts_and_file(tmp_path):
    folder = tmp_path / "masks"
    folder.mkdir()
    np.save(folder / "a.npy", np.zeros(8, np.uint8))
    np.save(folder / "b.npy", np.zeros(5, np.uint8))
    with pytest.raises(DataError, match=r"masks/b.npy: video b has 5 labelled frames but the scores have 6"):
        load_labels(folder, COUNTS, videos=["a", "b"])
    gt = np.empty((1, 2), dtype=object)
    gt[0, 0], gt[0, 1] = np.array([[3], [9]]), np.array([[1], [2]])
    scipy.io.savemat(tmp_path / "gt.mat", {"gt": gt})
    with pytest.raises(DataError, match=r"gt.mat: video 01 interval \[3, 9\] is outside its 8 frames"):
        load_labels(tmp_path / "gt.mat", COUNTS, videos=["01", "02"])
    with pytest.raises(DataError, match="2 videos in gt but the scores have 3 videos"):
        load_labels(tmp_path / "gt.mat", [8, 6, 5])


def test_unknown_or_missing_label_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_labels(tmp_path / "nope.mat", COUNTS)
    (tmp_path / "x.txt").write_text("1")
    with pytest.raises(DataError, match="unknown format '.txt'"):
        load_labels(tmp_path / "x.txt", COUNTS)


def test_label_readers_live_in_data_and_metrics_reexports_them():
    import ammcnet.data.labels as data_labels
    import ammcnet.metrics as metrics

    names = [n for n in metrics.__all__ if n in vars(data_labels)]
    assert {"load_labels", "intervals_to_mask", "read_mat_labels"} <= set(names)
    for name in names:
        assert getattr(metrics, name) is getattr(data_labels, name)
        assert getattr(data_labels, name).__module__ == "ammcnet.data.labels"
