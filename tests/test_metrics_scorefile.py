"""Score file round trip and validation."""

from __future__ import annotations

import numpy as np
import pytest

from ammcnet.errors import DataError
from ammcnet.metrics import ScoreFile, load_score_file, save_score_file


def test_round_trip_keeps_records_names_and_meta(tmp_path):
    p = tmp_path / "s.npz"
    recs = {"rgb_psnr": [np.arange(6.0), np.arange(4.0) * 2], "rgb_commit": [np.ones(6), np.zeros(4)]}
    save_score_file(p, recs, [6, 4], videos=["01", "02"], meta={"dataset": "ped2"})
    sf = load_score_file(p)
    assert sf.record_names == ["rgb_commit", "rgb_psnr"]
    assert sf.videos == ["01", "02"] and sf.num_frames.tolist() == [6, 4]
    assert sf.meta == {"dataset": "ped2"}
    np.testing.assert_array_equal(sf.records["rgb_psnr"][1], [0, 2, 4, 6])
    with np.load(p) as z:
        assert "rgb_psnr__001" in z.files and z["rgb_psnr__000"].dtype == np.float32
    assert not [f for f in tmp_path.iterdir() if f.name != "s.npz"]  # no temporary left behind


def test_save_rejects_length_mismatch_without_writing(tmp_path):
    p = tmp_path / "s.npz"
    with pytest.raises(DataError, match="video b has 3 scores but num_frames says 4"):
        save_score_file(p, {"x_error": [np.zeros(2), np.zeros(3)]}, [2, 4], videos=["a", "b"])
    assert not p.exists()


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_score_file(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    np.savez(bad, rgb_psnr__000=np.zeros(3))
    with pytest.raises(DataError, match="no 'num_frames'"):
        load_score_file(bad)
    np.savez(bad, num_frames=np.array([3, 2]), rgb_psnr__000=np.zeros(3))
    with pytest.raises(DataError, match="lacks video #001"):
        load_score_file(bad)
    np.savez(bad, num_frames=np.array([3]), rgb_psnr__000=np.zeros(2))
    with pytest.raises(DataError, match="has 2 scores but num_frames says 3"):
        load_score_file(bad)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable"):
        load_score_file(tmp_path / "junk.npz")


def test_from_records_infers_counts():
    sf = ScoreFile.from_records({"rgb_psnr": [np.zeros(5), np.zeros(7)]})
    assert sf.num_frames.tolist() == [5, 7] and sf.video_name(1) == "#001"
