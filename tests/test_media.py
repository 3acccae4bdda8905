"""Event media: H.264 encoder (and its mp4v fallback), frame ring, event clips, snapshots, retention.

Tiny inputs throughout: 64x48 frames at 10 fps, 0.5 s of pre- and post-capture. Frames are flat
grey images whose level encodes their index, so a decoded clip says exactly which frames it holds.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from ammcnet.errors import ConfigError, DataError
from ammcnet.media import encoder as encoder_mod
from ammcnet.media.clips import ClipOptions, ClipRecorder, clip_relpath
from ammcnet.media.encoder import VideoEncoder, probe
from ammcnet.media.retention import Retention
from ammcnet.media.ring import FrameRing
from ammcnet.media.snapshot import write_snapshot

av = pytest.importorskip("av", reason="PyAV is not installed: pip install 'ammcnet[media]'")

H, W, FPS = 48, 64, 10
LEVEL = 6  # grey level per frame index: frame i is filled with i * LEVEL


def frame(i: int, h: int = H, w: int = W) -> np.ndarray:
    return np.full((h, w, 3), (i * LEVEL) % 256, np.uint8)


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def decoded_indices(path: Path) -> list[int]:
    """The index of every frame in a clip, read back from its grey level."""
    return [int(round(float(f.mean()) / LEVEL)) for f in decode(path)]


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- encoder --------------------------------------------------------------------------------------

def test_encoder_writes_browser_playable_h264(tmp_path):
    p = tmp_path / "v.mp4"
    with VideoEncoder(p, fps=FPS) as enc:
        for i in range(6):
            enc.write(frame(i))
    assert enc.codec == "h264" and enc.fallback_reason is None
    info = probe(p)
    assert (info["codec"], info["pix_fmt"], info["width"], info["height"], info["frames"]) == ("h264", "yuv420p",
                                                                                             W, H, 6)
    assert info["duration_s"] == pytest.approx(0.6, abs=0.01)
    assert info["faststart"], "the moov atom must precede mdat so a browser can play while it downloads"
    assert files_in(tmp_path) == ["v.mp4"]  # no temporary left behind


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe is not installed (apt install ffmpeg)")
def test_ffprobe_agrees_it_is_h264_yuv420p(tmp_path):
    p = tmp_path / "v.mp4"
    with VideoEncoder(p, fps=FPS) as enc:
        for i in range(4):
            enc.write(frame(i, 47, 63))
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=codec_name,pix_fmt,width,height,nb_frames", "-of", "json", str(p)],
                         capture_output=True, text=True, check=True, timeout=30).stdout
    s = json.loads(out)["streams"][0]
    assert (s["codec_name"], s["pix_fmt"], s["width"], s["height"], s["nb_frames"]) == ("h264", "yuv420p", 64, 48, "4")


def test_odd_sizes_are_padded_and_colours_kept(tmp_path):
    p = tmp_path / "odd.mp4"
    red = np.zeros((47, 63, 3), np.uint8)
    red[..., 0] = 220
    with VideoEncoder(p, fps=FPS) as enc:
        enc.write(red)
        enc.write(np.zeros((100, 80, 3), np.uint8))  # another size: resized to the first
    info = probe(p)
    assert (info["width"], info["height"], info["frames"]) == (64, 48, 2)
    first = decode(p)[0].astype(int)
    assert first[..., 0].mean() > 180 and first[..., 2].mean() < 40, "RGB must not come out as BGR"
    assert first[-1, -1, 0] > 180, "the padded row/column repeats the edge, it is not black"


def test_encoder_rejects_bad_frames_and_codecs(tmp_path):
    with pytest.raises(ConfigError, match="codec"):
        VideoEncoder(tmp_path / "x.mp4", codec="vp9")
    enc = VideoEncoder(tmp_path / "x.mp4")
    with pytest.raises(DataError, match="RGB uint8"):
        enc.write(np.zeros((4, 4), np.float32))
    enc.abort()
    assert files_in(tmp_path) == []


def test_interrupted_write_leaves_no_partial_file(tmp_path):
    p = tmp_path / "clip.mp4"
    enc = VideoEncoder(p, fps=FPS)
    for i in range(3):
        enc.write(frame(i))
    # as after a crash: the frames so far sit under a hidden temporary name, never under the final one
    assert not p.exists() and all(n.startswith(".clip.") and ".tmp." in n for n in files_in(tmp_path))
    enc.abort()
    assert files_in(tmp_path) == []
    with pytest.raises(RuntimeError), VideoEncoder(p, fps=FPS) as enc:
        enc.write(frame(0))
        raise RuntimeError("the frame loop failed")
    assert files_in(tmp_path) == []
    assert VideoEncoder(p).close() == p and not p.exists()  # no frame: nothing is created


def test_mp4v_fallback_without_pyav_says_so(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(encoder_mod, "_WARNED", set())
    monkeypatch.setitem(sys.modules, "av", None)  # import av now fails, as when PyAV is not installed
    caplog.set_level(logging.WARNING, logger="ammcnet.media.encoder")
    paths = [tmp_path / "a.mp4", tmp_path / "b.mp4"]
    for p in paths:
        with VideoEncoder(p, fps=FPS) as enc:
            for i in range(5):
                enc.write(frame(i, 47, 63))
        assert enc.codec == "mp4v"
        assert "browsers may not play" in enc.fallback_reason and "ammcnet[media]" in enc.fallback_reason
    notices = [r for r in caplog.records if "mp4v" in r.getMessage()]
    assert len(notices) == 1, "the notice is given once per process, not once per video"
    assert files_in(tmp_path) == ["a.mp4", "b.mp4"]
    monkeypatch.undo()  # PyAV back, to read what OpenCV wrote
    info = probe(paths[0])
    assert (info["codec"], info["frames"], info["width"], info["height"]) == ("mpeg4", 5, 64, 48)


def test_mp4v_fallback_when_pyav_lacks_libx264(tmp_path, monkeypatch):
    monkeypatch.setattr(encoder_mod, "_WARNED", set())
    monkeypatch.setattr(av, "codecs_available", frozenset({"mpeg4"}))
    enc = VideoEncoder(tmp_path / "v.mp4", fps=FPS)
    assert enc.codec == "mp4v" and "libx264" in enc.fallback_reason
    enc.abort()


def test_probe_rejects_a_non_video(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(DataError, match="bad.mp4"):
        probe(bad)


def test_overlay_video_is_h264(tmp_path):
    from ammcnet.detect.overlay import OverlayWriter

    w = OverlayWriter(tmp_path / "o.mp4", fps=FPS, threshold=1.0)
    for i in range(3):
        w.write(frame(i), score=float(i), alarm=i == 2, index=i)
    info = probe(w.close())
    assert (info["codec"], info["frames"], w.fallback_reason) == ("h264", 3, None)
    assert files_in(tmp_path) == ["o.mp4"]


# -- ring -----------------------------------------------------------------------------------------

def test_ring_keeps_only_the_last_seconds_downscaled_copies():
    ring = FrameRing(seconds=0.5, fps=FPS, max_width=32)
    src = frame(0)
    for i in range(20):
        src[:] = i
        ring.push(i, src, timestamp=i / FPS)
    kept = ring.frames()
    assert [f.index for f in kept] == list(range(14, 20))  # 0.5 s at 10 fps plus the newest
    assert kept[0].timestamp == pytest.approx(1.4) and kept[0].rgb.shape == (24, 32, 3)
    assert [int(f.rgb[0, 0, 0]) for f in kept] == list(range(14, 20)), "frames are copies, not views"
    assert [f.index for f in ring.frames(since_index=18)] == [18, 19]
    assert ring.nbytes == 6 * 24 * 32 * 3
    assert FrameRing(3, 25, max_width=None).capacity == 76
    with pytest.raises(ConfigError):
        FrameRing(1.0, 0)


# -- clips ----------------------------------------------------------------------------------------

def test_clips_hold_pre_event_post_frames_overlap_and_end_of_stream(tmp_path):
    done: list[tuple[str, str, int]] = []
    rec = ClipRecorder(tmp_path, fps=FPS, pre_s=0.5, post_s=0.5,
                       on_done=lambda eid, rel: done.append((eid, rel, threading.get_ident())))
    for i in range(40):
        rec.push(i, frame(i), timestamp=i / FPS)
        if i == 10:
            assert rec.start("e1", i) == "clips/e1.mp4"
        if i == 12:
            rec.start("e2", i)  # overlaps e1
        if i == 14:
            assert rec.stop("e1", i)
        if i == 22:
            rec.stop("e2", i)
        if i == 35:
            rec.start("e3", i)  # never stopped: the stream ends first
    assert rec.active == ["e3"]
    rec.close()
    assert sorted(d[:2] for d in done) == [("e1", "clips/e1.mp4"), ("e2", "clips/e2.mp4"), ("e3", "clips/e3.mp4")]
    assert {d[2] for d in done} == {threading.get_ident()}, "on_done runs on the caller's thread"
    clips = tmp_path / "clips"
    assert decoded_indices(clips / "e1.mp4") == list(range(5, 20))  # 5 pre + 10..14 + 5 post
    assert decoded_indices(clips / "e2.mp4") == list(range(7, 28))
    assert decoded_indices(clips / "e3.mp4") == list(range(30, 40))
    assert probe(clips / "e1.mp4")["codec"] == "h264" and files_in(clips) == ["e1.mp4", "e2.mp4", "e3.mp4"]
    assert rec.completed == {e: f"clips/{e}.mp4" for e in ("e1", "e2", "e3")} and rec.dropped == 0
    assert rec.stop("e1", 40) is False


def test_clip_at_stream_start_and_max_length(tmp_path):
    rec = ClipRecorder(tmp_path, fps=FPS, pre_s=0.5, post_s=0.5, options=ClipOptions(max_clip_s=1.0))
    rec.start("early", 0)  # nothing in the ring yet: the clip starts with the event
    for i in range(30):
        rec.push(i, frame(i))
    assert rec.active == [] and rec.stop("early", 29) is False  # closed at 1 s even though it never stopped
    rec.close()
    assert decoded_indices(tmp_path / "clips" / "early.mp4") == list(range(10))


def test_wait_gives_the_clip_for_the_end_message(tmp_path):
    done = []
    rec = ClipRecorder(tmp_path, fps=FPS, pre_s=0.5, post_s=0.5, on_done=lambda e, rel: done.append(e))
    for i in range(12):
        rec.push(i, frame(i))
        if i == 2:
            rec.start("e", i)
        if i == 4:
            rec.stop("e", i)
            assert rec.wait("e") is None  # still recording its post-capture: no waiting for frames
    assert rec.wait("e", timeout_s=30) == "clips/e.mp4" and done == ["e"]
    assert (tmp_path / "clips" / "e.mp4").exists() and rec.wait("unknown") is None
    rec.close()
    assert done == ["e"], "on_done is called once per clip"
    assert decoded_indices(tmp_path / "clips" / "e.mp4") == list(range(0, 10))


def test_clip_ids_cannot_name_other_files(tmp_path):
    for bad in ("../x", ".hidden", "a/b", ""):
        with pytest.raises(ConfigError, match="event id"):
            clip_relpath(bad)
    assert clip_relpath("1733570000.123456-k3x9qa") == "clips/1733570000.123456-k3x9qa.mp4"


class _SlowEncoder:
    """Stands in for VideoEncoder: slow writes, so the queue between frame loop and encoder fills."""

    written: dict[str, int] = {}

    def __init__(self, path, fps, codec):
        self.path, self.frames_written = Path(path), 0

    def write(self, rgb):
        time.sleep(0.02)
        self.frames_written += 1

    def close(self):
        _SlowEncoder.written[self.path.stem] = self.frames_written
        return self.path


@pytest.mark.parametrize("block_s", [None, 0.0])
def test_full_queue_blocks_or_drops_and_counts(tmp_path, monkeypatch, block_s):
    monkeypatch.setattr("ammcnet.media.clips.VideoEncoder", _SlowEncoder)
    _SlowEncoder.written = {}
    rec = ClipRecorder(tmp_path, fps=FPS, pre_s=0.0, post_s=0.0,
                       options=ClipOptions(queue_frames=2, block_s=block_s))
    rec.start("e", 0)
    for i in range(20):
        rec.push(i, frame(i))
    rec.stop("e", 19)
    rec.close()
    if block_s is None:  # files: wait for the encoder, lose nothing
        assert rec.dropped == 0 and _SlowEncoder.written["e"] == 20
    else:  # live: never wait, count what was left out
        assert rec.dropped > 0 and _SlowEncoder.written["e"] + rec.dropped == 20


class _DiskFullForBad(VideoEncoder):
    """The real encoder, except that writing the clip named "bad" fails as on a full disk."""

    def write(self, rgb):
        if self.path.stem == "bad" and self.frames_written == 2:
            raise OSError(28, "No space left on device")
        super().write(rgb)


def test_a_failing_clip_is_reported_and_spares_the_others(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr("ammcnet.media.clips.VideoEncoder", _DiskFullForBad)
    done = []
    rec = ClipRecorder(tmp_path, fps=FPS, pre_s=0.0, post_s=0.0, on_done=lambda e, rel: done.append(e))
    rec.start("bad", 0)
    rec.start("good", 0)
    for i in range(6):
        rec.push(i, frame(i))
    rec.close()
    assert done == ["good"] and "No space left" in rec.errors["bad"] and "bad" not in rec.completed
    assert files_in(tmp_path / "clips") == ["good.mp4"], "no partial file of the failed clip"
    assert "clips/bad.mp4 was not written" in caplog.text
    assert decoded_indices(tmp_path / "clips" / "good.mp4") == list(range(6))


# -- snapshot -------------------------------------------------------------------------------------

def test_snapshot_draws_box_and_faint_zones(tmp_path):
    p = tmp_path / "snapshots" / "e1.jpg"
    rgb = np.zeros((H, W, 3), np.uint8)
    zone = [(2, 2), (60, 2), (60, 44), (2, 44)]
    assert write_snapshot(p, rgb, box=[10, 8, 40, 30], label="anomaly", zones={"door": zone}) == p
    assert not rgb.any(), "the caller's frame is not drawn on"
    img = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB).astype(int)
    edge, inside, zone_edge = img[20, 10], img[20, 25], img[30, 60]
    assert edge[0] > 180 and edge[1] < 90, f"the box edge is red, got {edge}"
    assert inside.max() < 40, f"inside the box the frame shows through, got {inside}"
    assert 40 < zone_edge[0] < 160 and zone_edge[2] < 60, f"zones are faint yellow, got {zone_edge}"
    assert files_in(p.parent) == ["e1.jpg"]


def test_snapshot_without_box_is_the_frame(tmp_path):
    p = write_snapshot(tmp_path / "s.jpg", frame(20))
    assert np.abs(cv2.imread(str(p)).astype(int) - 120).max() <= 3


# -- retention ------------------------------------------------------------------------------------

def _media(folder: Path, name: str, mtime: float, size: int = 100) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_bytes(b"x" * size)
    os.utime(p, (mtime, mtime))
    return p


def test_retention_by_size_oldest_first_across_folders(tmp_path):
    snaps, clips = tmp_path / "snapshots", tmp_path / "clips"
    a, b = _media(snaps, "a.jpg", 1000), _media(clips, "b.mp4", 1001)
    c, d = _media(snaps, "c.jpg", 1002), _media(clips, "d.mp4", 1003)
    removed = Retention(max_bytes=250).prune([snaps, clips])
    assert removed == [a, b] and c.exists() and d.exists()
    assert Retention(max_bytes=250).prune([snaps, clips]) == []


def test_retention_by_age(tmp_path):
    old, new = _media(tmp_path, "old.mp4", 1000), _media(tmp_path, "new.jpg", 1900)
    assert Retention(max_age_s=500).prune(tmp_path, now=2000) == [old] and new.exists()


def test_retention_never_touches_temporaries_others_or_outside(tmp_path):
    media, outside = tmp_path / "clips", tmp_path / "elsewhere"
    keep = [_media(media, ".e9.abc123.tmp.mp4", 1), _media(media, "events.jsonl", 1),
            _media(media / "sub", "deep.mp4", 1), _media(outside, "precious.mp4", 1)]
    (media / "link.mp4").symlink_to(outside / "precious.mp4")
    gone = _media(media, "e1.mp4", 1)
    assert Retention(max_bytes=0, max_age_s=0).prune(media, now=10_000) == [gone]
    assert all(p.exists() for p in keep) and (media / "link.mp4").is_symlink()
    with pytest.raises(ConfigError, match="refusing"):
        Retention(max_bytes=0).prune("/")
    with pytest.raises(ConfigError, match="not a folder"):
        Retention(max_bytes=0).prune(media / "events.jsonl")
    with pytest.raises(ConfigError):
        Retention(max_bytes=-1)
    assert Retention(max_bytes=0).prune(tmp_path / "missing") == []
