"""Video sources: frame folders and video files, lazy RGB decoding, bad input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ammcnet.data import FrameFolderSource, VideoFileSource, open_video
from ammcnet.data.video import natural_key
from ammcnet.errors import DataError
from helpers import moving_frames, write_avi, write_frames


def test_natural_sort_and_rgb_order(tmp_path):
    d = tmp_path / "v"
    d.mkdir()
    for i in (10, 2, 1):
        img = np.zeros((4, 5, 3), np.uint8)
        img[..., 2] = i  # BGR red channel = i
        cv2.imwrite(str(d / f"f{i}.png"), img)
    (d / "notes.txt").write_text("ignored")
    src = open_video(d)
    assert isinstance(src, FrameFolderSource) and len(src) == 3
    assert [p.name for p in src.files] == ["f1.png", "f2.png", "f10.png"]
    assert src[2][0, 0].tolist() == [10, 0, 0]  # RGB: red first
    assert sorted(["a10", "a9", "b1"], key=natural_key) == ["a9", "a10", "b1"]


def test_grey_frames_expand_to_three_channels(tmp_path):
    d = tmp_path / "g"
    d.mkdir()
    cv2.imwrite(str(d / "0.bmp"), np.full((6, 6), 77, np.uint8))
    f = open_video(d)[0]
    assert f.shape == (6, 6, 3) and (f == 77).all()


def test_video_file_lazy_random_access(tmp_path):
    frames = moving_frames(7, seed=2)
    src = open_video(write_avi(tmp_path / "a.avi", frames))
    assert isinstance(src, VideoFileSource) and src.name == "a"
    assert len(src) == 7
    f5 = src[5]
    assert f5.shape == frames[5].shape and f5.dtype == np.uint8
    assert np.abs(f5.astype(int) - frames[5]).mean() < 12  # MJPG is lossy
    first_pass = list(open_video(tmp_path / "a.avi"))
    assert np.array_equal(src[1], first_pass[1])  # going back reopens the file
    assert len(src.read_all(size=(8, 10))) == 7


def test_read_all_resizes_bilinear(tmp_path):
    frames = moving_frames(3)
    src = open_video(write_frames(tmp_path / "v", frames, ext=".png"))
    out = src.read_all((16, 16))
    assert out.shape == (3, 16, 16, 3)
    assert np.array_equal(out[1], cv2.resize(frames[1], (16, 16), interpolation=cv2.INTER_LINEAR))


def test_bad_inputs_name_the_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        open_video(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty.*no frame images"):
        open_video(tmp_path / "empty")
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"not a video at all" * 10)
    with pytest.raises(DataError, match="junk.avi"):
        len(open_video(junk))
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(DataError, match="x.txt is not a supported video"):
        open_video(tmp_path / "x.txt")


def test_truncated_jpeg_in_the_middle(tmp_path):
    d = write_frames(tmp_path / "v", moving_frames(5))
    bad = d / "002.jpg"
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    src = open_video(d)
    assert src[1].shape[2] == 3
    with pytest.raises(DataError, match="002.jpg.*truncated"):
        src.read_all()


def test_frames_of_different_sizes(tmp_path):
    d = write_frames(tmp_path / "v", moving_frames(3), ext=".png")
    cv2.imwrite(str(d / "003.png"), np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(DataError, match="003.png is 10x10.*one size"):
        open_video(d).read_all((8, 8))


def test_zero_frame_video(tmp_path):
    p = tmp_path / "z.avi"
    vw = cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*"MJPG"), 10, (16, 16))
    vw.release()
    if not p.exists():
        p.write_bytes(b"")
    with pytest.raises(DataError, match="z.avi"):
        open_video(p).read_all()
