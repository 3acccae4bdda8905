"""`prepare`: the cache layout, flows against direct calls, keys, resuming and bad input."""

from __future__ import annotations

import json
import logging
import pickle

import cv2
import numpy as np
import pytest

from ammcnet.cli import main
from ammcnet.data import open_prepared, open_video, prepare_dataset
from ammcnet.data.analysis_flows import AnalysisFlowSpec, CachingSink, FlowWriter, cache_entry, write_flows
from ammcnet.data.cache import _Job
from ammcnet.errors import ConfigError, DataError, OutputError
from ammcnet.flow import get_flow_backend, normalise_flow, write_flo
from ammcnet.regions.footage import FlowFile, cached_flows, flows_of_frames
from helpers import make_custom_layout, make_frames_layout, moving_frames, write_frames

SIZE = (16, 24)


def _prep(root, cache, **kw):
    return prepare_dataset(root, size=SIZE, cache_dir=cache, progress=False, **kw)


def test_prepare_layout_and_contents(tmp_path):
    root = make_frames_layout(tmp_path / "mini")
    ds = _prep(root, tmp_path / "cache", flow_preset="fast")
    assert ds.root.parent == (tmp_path / "cache").resolve() and ds.root.name.startswith("mini-")
    assert ds.videos("train") == ["01", "02"] and ds.num_frames("test") == [7, 10]
    frames, flows = ds.frames("test", "02"), ds.flows("test", "02")
    assert frames.shape == (10, 16, 24, 3) and frames.dtype == np.uint8 and isinstance(frames, np.memmap)
    assert flows.shape == (9, 16, 24, 2) and flows.dtype == np.float16
    src = open_video(root / "testing" / "frames" / "02").read_all(SIZE)
    assert np.array_equal(frames, src)
    direct = normalise_flow(get_flow_backend("dis", preset="fast").compute(src[3], src[4]))
    assert np.allclose(flows[3], direct, atol=1e-3)
    assert ds.labels("01").tolist() == [0, 0, 1, 1, 1, 1, 0]
    pm = ds.pixel_masks("01")
    assert pm.shape == (7, 16, 24) and pm.dtype == bool and pm[3].any() and not pm[0].any()
    man = ds.manifest
    assert man["flow"]["preset"] == "fast" and man["normalisation"]["rule"] == "divide_by_grid_clip1/v1"
    assert man["splits"]["train"][0]["source"].endswith("01")
    assert not list(ds.root.rglob(".*"))  # no temp files


def test_same_settings_reuse_new_settings_new_key(tmp_path):
    root = make_custom_layout(tmp_path / "c", labels=None)
    a = _prep(root, tmp_path / "cache", flow_preset="ultrafast")
    mtime = (a.root / "manifest.json").stat().st_mtime_ns
    b = _prep(root, tmp_path / "cache", flow_preset="ultrafast")
    assert b.root == a.root and (a.root / "manifest.json").stat().st_mtime_ns == mtime
    c = _prep(root, tmp_path / "cache", flow_preset="fast")
    d = prepare_dataset(root, size=(16, 16), cache_dir=tmp_path / "cache", flow_preset="ultrafast", progress=False)
    assert len({a.root, c.root, d.root}) == 3
    write_frames(root / "train" / "walk", moving_frames(1, seed=9), ext=".png", start=50)  # sources changed
    e = _prep(root, tmp_path / "cache", flow_preset="ultrafast")
    assert e.root != a.root and e.num_frames("train") == [7, 7]


def test_resume_redoes_only_unfinished_videos(tmp_path):
    root = make_custom_layout(tmp_path / "c", labels=None)
    ds = _prep(root, tmp_path / "cache", flow_preset="ultrafast")
    (ds.root / "manifest.json").unlink()
    (ds.root / "train" / "walk" / "done.json").unlink()  # as if killed while writing "walk"
    keep = (ds.root / "train" / "cam" / "frames.npy").stat().st_mtime_ns
    ds2 = _prep(root, tmp_path / "cache", flow_preset="ultrafast")
    assert ds2.root == ds.root and ds2.videos("train") == ["cam", "walk"]
    assert (ds.root / "train" / "cam" / "frames.npy").stat().st_mtime_ns == keep
    assert (ds.root / "train" / "walk" / "done.json").is_file()


def test_bad_video_leaves_nothing_half_written(tmp_path):
    root = make_custom_layout(tmp_path / "c", labels=None)
    bad = write_frames(root / "train" / "zbad", moving_frames(5, seed=4))
    f = bad / "002.jpg"
    f.write_bytes(f.read_bytes()[:50])
    with pytest.raises(DataError, match="002.jpg.*truncated"):
        _prep(root, tmp_path / "cache")
    entry = next((tmp_path / "cache").iterdir())
    assert not (entry / "manifest.json").exists() and not (entry / "train" / "zbad").exists()
    ds = _prep(root, tmp_path / "cache", skip_bad=True)
    assert ds.videos("train") == ["cam", "walk"]
    assert ds.manifest["skipped"][0]["name"] == "zbad" and "truncated" in ds.manifest["skipped"][0]["error"]


def test_unlabelled_test_split_and_label_count_mismatch(tmp_path):
    root = make_frames_layout(tmp_path / "mini", with_masks=False)
    (root / "mini.mat").unlink()
    ds = _prep(root, tmp_path / "cache", splits=("test",))
    assert ds.videos("test") == ["01", "02"] and ds.labels("01") is None and ds.pixel_masks("01") is None
    bad = make_custom_layout(tmp_path / "c2", labels=None)
    (bad / "labels.json").write_text(json.dumps({"t0": [0] * 5}))  # 5-frame mask for an 8-frame video
    with pytest.raises(DataError, match="t0"):
        _prep(bad, tmp_path / "cache2")
    assert not any((tmp_path / "cache2").rglob("*.npy"))  # refused before any work


def test_flo_backend_in_prepare(tmp_path):
    root = make_custom_layout(tmp_path / "c", labels=None)
    fdir = tmp_path / "flo"
    for name, n in (("cam", 7), ("walk", 6), ("t0", 8)):
        split = "test" if name == "t0" else "train"
        for j in range(n - 1):
            write_flo(fdir / split / name / f"{j:03d}.flo", np.full((8, 12, 2), (1.0, -0.5), np.float32))
    ds = _prep(root, tmp_path / "cache", flow="flo", flow_dir=fdir)
    fl = np.asarray(ds.flows("train", "walk"), np.float32)
    assert np.allclose(fl[..., 0], 2.0 / SIZE[1], atol=1e-3)  # 1 px at 12 wide = 2 px at 24 wide
    assert np.allclose(fl[..., 1], -1.0 / SIZE[0], atol=1e-3)  # v kept: -0.5 px at 8 high = -1 px at 16 high


def test_workers_match_single_process(tmp_path):
    """Two worker processes give the same arrays, the region head's analysis flows on the way included."""
    root = make_custom_layout(tmp_path / "c", labels=None)
    one = _prep(root, tmp_path / "a", flow_preset="ultrafast")
    spec = AnalysisFlowSpec((12, 16), "ultrafast", "region-flows")
    two = _prep(root, tmp_path / "b", flow_preset="ultrafast", workers=2, analysis=spec)
    for s in ("train", "test"):
        for v in one.videos(s):
            assert np.array_equal(one.frames(s, v), two.frames(s, v))
            assert np.array_equal(one.flows(s, v), two.flows(s, v))
            assert cache_entry(two.root / "region-flows" / s / v, two.source(s, v), (12, 16), "ultrafast").ready()


def test_prepare_feeds_the_decoded_frames_to_the_analysis_flows(tmp_path):
    """With ``analysis``, each source (frame folder and video file) is decoded once: its model-grid
    arrays are those of a plain preparation, and the cache entry the region head reads holds exactly
    the flows the head computes from the source itself."""
    root = make_custom_layout(tmp_path / "c", labels=None)
    plain = _prep(root, tmp_path / "a", flow_preset="ultrafast")
    for grid in ((12, 16), (24, 32)):  # resized (INTER_AREA on grey), and the source's own size
        spec = AnalysisFlowSpec(grid, "ultrafast", "region-flows")
        ds = _prep(root, tmp_path / f"b{grid[0]}", flow_preset="ultrafast", analysis=spec)
        assert ds.manifest["key"] == plain.manifest["key"]  # the spec does not change the entry
        for s in ("train", "test"):
            for v in ds.videos(s):
                assert np.array_equal(ds.frames(s, v), plain.frames(s, v))
                assert np.array_equal(ds.flows(s, v), plain.flows(s, v))
                source = ds.source(s, v)
                expected = flows_of_frames(open_video(source), grid, "ultrafast")

                def never():
                    raise AssertionError("the head computed flows that preparation cached")

                cached = cached_flows(ds.root / "region-flows" / s / v, source, grid, "ultrafast", never)
                assert cached.dtype == np.float16 and np.array_equal(cached, expected)
                entry = cache_entry(ds.root / "region-flows" / s / v, source, grid, "ultrafast")
                assert json.loads(entry.meta.read_text()) == entry.key
                assert np.array_equal(np.asarray(FlowFile(entry.data)), expected)
    assert not list(tmp_path.rglob(".*.tmp*"))  # no temporary files left


def test_prepare_job_with_an_analysis_target_pickles(tmp_path):
    spec = AnalysisFlowSpec([12, 16], "fast", "region-flows")
    assert spec.size == (12, 16)
    target = spec.target(tmp_path, "test", "t0")
    job = _Job("test", "t0", tmp_path / "t0", tmp_path / "out", (16, 24), "dis", {"preset": "fast"}, None, None, 1, target)
    assert pickle.loads(pickle.dumps(job)) == job
    assert target.folder == tmp_path / "region-flows" / "test" / "t0"
    with pytest.raises(ConfigError, match="unknown DIS preset 'slow'"):
        AnalysisFlowSpec((12, 16), "slow", "region-flows")


def test_the_flow_writer_is_atomic_and_counts_its_frames(tmp_path):
    frames = moving_frames(5, seed=3)
    path = tmp_path / "f" / "flows.npy"
    with FlowWriter(path, (12, 16), "ultrafast") as w:
        for f in frames:
            w.add(f)
        assert not path.exists()  # nothing appears before the end
    assert w.count == 5 and np.array_equal(np.load(path), flows_of_frames(frames, (12, 16), "ultrafast"))
    with pytest.raises(RuntimeError, match="stop"), FlowWriter(tmp_path / "g" / "flows.npy", (12, 16), "ultrafast") as w:
        w.add(frames[0])
        w.add(frames[1])
        raise RuntimeError("stop")
    assert not any((tmp_path / "g").iterdir())  # an error leaves nothing, not even a temporary file
    with pytest.raises(DataError, match="at least two frames"), FlowWriter(tmp_path / "h" / "f.npy", (12, 16), "fast") as w:
        w.add(frames[0])
    assert not any((tmp_path / "h").iterdir())
    with pytest.raises(DataError, match="5 frames counted but 4 read"):
        write_flows(tmp_path / "i" / "f.npy", _Short(frames), (12, 16), "ultrafast")
    assert not any((tmp_path / "i").iterdir())


class _Short(list):
    """A video whose length says one frame more than it yields (a damaged file)."""

    def __iter__(self):
        return iter(list.__getitem__(self, slice(0, -1)))


def test_an_analysis_flow_cache_that_cannot_be_written_never_stops_the_work(tmp_path, caplog):
    src = write_frames(tmp_path / "v", moving_frames(4, seed=1))
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    caplog.set_level(logging.INFO, logger="ammcnet.data.analysis_flows")
    sink = CachingSink(cache_entry(blocked / "x", src, (12, 16), "ultrafast"))
    for f in open_video(src):
        sink(f)
    assert sink.commit() is False and "not cached" in caplog.text
    one = CachingSink(cache_entry(tmp_path / "one", src, (12, 16), "ultrafast"))
    one(moving_frames(1)[0])
    assert one.commit() is False and not any((tmp_path / "one").iterdir())  # a one-frame video: no entry
    with pytest.raises(OutputError, match="cannot write"):
        FlowWriter(blocked / "y" / "f.npy", (12, 16), "ultrafast")
    # a one-frame video prepares as before; only its analysis flows are left out
    root = make_custom_layout(tmp_path / "c", labels=None)
    write_frames(root / "test" / "t9", moving_frames(1, seed=7))
    ds = _prep(root, tmp_path / "cache", flow_preset="ultrafast",
               analysis=AnalysisFlowSpec((12, 16), "ultrafast", "region-flows"))
    assert ds.num_frames("test") == [8, 1]
    assert not (ds.root / "region-flows" / "test" / "t9").exists() or not any((ds.root / "region-flows" / "test" / "t9").iterdir())


def test_prepare_cli_and_open_prepared(tmp_path, capsys):
    root = make_custom_layout(tmp_path / "c")
    rc = main(["prepare", str(root), "--size", "16", "24", "--flow-preset", "ultrafast", "--cache",
               str(tmp_path / "cache"), "--no-progress"])
    assert rc == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0] == "train: 2 videos, 13 frames"
    ds = open_prepared(out[-1])
    assert ds.size == (16, 24) and ds.labels("t0").sum() == 2
    with pytest.raises(DataError, match="not a prepared dataset"):
        open_prepared(tmp_path)
    assert main(["prepare", str(root), "--flow", "flo"]) == 2
    assert "--flow-dir" in capsys.readouterr().err


def test_grey_tif_frames_prepare(tmp_path):
    d = tmp_path / "g" / "train" / "v"
    d.mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(d / f"{i}.tif"), np.full((10, 10), 30 * i, np.uint8))
    ds = prepare_dataset(tmp_path / "g", size=(16, 16), cache_dir=tmp_path / "cache", progress=False, splits=("train",))
    f = ds.frames("train", "v")
    assert f.shape == (3, 16, 16, 3) and (f[2] == 60).all()


def test_a_second_process_waits_for_the_one_preparing_the_same_entry(tmp_path):
    import subprocess
    import sys
    import time

    from ammcnet.data.cache import _entry_lock

    root = make_frames_layout(tmp_path / "mini")
    name = _prep(root, tmp_path / "first", flow_preset="fast").root.name  # the entry's name does not depend on the cache
    entry = (tmp_path / "second").resolve() / name
    cmd = [sys.executable, "-m", "ammcnet", "prepare", str(root), "--size", "16", "24", "--flow-preset", "fast",
           "--cache-dir", str(tmp_path / "second"), "--no-progress"]
    with _entry_lock(entry):  # this process "is preparing" the entry
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first_line = proc.stderr.readline()  # blocks until the other process has reached the lock
        assert "waiting for another process" in first_line, first_line + proc.stderr.read()
        time.sleep(0.5)
        assert proc.poll() is None and not (entry / "manifest.json").exists()  # it waits, writes nothing
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    first, second = open_prepared(tmp_path / "first" / name), open_prepared(entry)
    assert np.array_equal(first.flows("test", "02"), second.flows("test", "02"))


def test_relative_and_absolute_roots_share_one_entry(tmp_path, monkeypatch):
    root = make_frames_layout(tmp_path / "mini")
    absolute = _prep(root, tmp_path / "cache", flow_preset="ultrafast")
    monkeypatch.chdir(tmp_path)
    relative = _prep("mini", tmp_path / "cache", flow_preset="ultrafast")
    assert relative.root == absolute.root
