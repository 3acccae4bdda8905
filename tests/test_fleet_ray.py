"""Archives on Ray: every video a task on actors, scores equal one process's, and a killed worker
is retried without duplicates or half-written folders (local instance, ``ray.init(num_cpus=2)``)."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from ammcnet.cli import main
from ammcnet.detect import DetectOptions, run_detection
from ammcnet.detect.sources import open_source
from ammcnet.fleet import cluster
from ammcnet.utils.optional import MissingDependencyError
from helpers import tiny_scene_run

SIZE = (32, 32)
NO_RAY = 'the ray extra is not installed: pip install -e ".[ray]"'


def test_ray_paths_name_the_extra_when_ray_is_missing(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError, as without the extra
    with pytest.raises(MissingDependencyError, match=r'ammcnet detect --ray needs .*pip install -e "\.\[ray\]"'):
        cluster.connect("", purpose="ammcnet detect --ray")


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray", reason=NO_RAY)
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # SlowCapture travels to the workers
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> dict:
    return tiny_scene_run(tmp_path_factory.mktemp("fleet"), SIZE)


def _rows(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "frames.jsonl").read_text().splitlines()]


def _assert_same_rows(got: list[dict], ref: list[dict], tol: float = 1e-6) -> None:
    assert [r["index"] for r in got] == [r["index"] for r in ref] and got
    for a, b in zip(got, ref, strict=True):
        assert abs(a["score"] - b["score"]) <= tol * max(1.0, abs(b["score"]))
        for k, v in b["records"].items():
            assert abs(a["records"][k] - v) <= tol * max(1.0, abs(v)), k


def test_score_prepared_ray_equals_single_process(ray_local, scene) -> None:
    from ammcnet.fleet.archive import score_prepared_ray

    got = score_prepared_ray(scene["model"], scene["prepared"], "test", workers=2, batch_size=4)
    ref = scene["single"]
    assert got.videos == ref.videos and np.array_equal(got.num_frames, ref.num_frames)
    for k in ref.records:
        for a, b in zip(ref.records[k], got.records[k], strict=True):
            np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-9, err_msg=k)


def test_detect_ray_cli_equals_single_process_and_indexes_each_once(ray_local, scene, tmp_path, capsys) -> None:
    folders = scene["folders"]
    out = tmp_path / "out"
    argv = ["detect", *map(str, folders), "--model", str(scene["run"]), "--out", str(out), "--ray", "--workers", "2",
            "--no-progress"]
    assert main(argv) == 0
    index = json.loads((out / "detections.json").read_text())
    assert index["engine"] == "ray" and [s["source"] for s in index["sources"]] == list(map(str, folders))
    assert all(s["error"] is None for s in index["sources"])
    assert not (out / ".partial").exists()
    for folder in folders:
        ref = run_detection(folder, scene["run"], DetectOptions(progress=False), out=tmp_path / "single" / folder.name)
        assert ref.frames_scored > 0
        _assert_same_rows(_rows(out / folder.name), _rows(tmp_path / "single" / folder.name))


class SlowCapture:
    """A frame folder read at a fixed pace (a camera's), so a worker can be killed mid-video."""

    def __init__(self, folder: Path, delay: float) -> None:
        self.folder, self.delay = Path(folder), delay
        self._cap = None

    def __str__(self) -> str:
        return str(self.folder)

    def read(self):
        if self._cap is None:
            self._cap, _ = open_source(self.folder)
        time.sleep(self.delay)
        return self._cap.read()

    def release(self) -> None:
        if self._cap is not None:
            self._cap.release()


def test_killed_worker_is_retried_without_duplicates(ray_local, scene, tmp_path) -> None:
    from ammcnet.fleet.archive import PARTIAL_DIR, detect_many_ray

    folders = scene["folders"]
    out = tmp_path / "out"
    sources = [SlowCapture(f, 0.05) for f in folders]  # 12 frames: ~0.6 s per video
    result: dict = {}
    job = threading.Thread(target=lambda: result.update(s=detect_many_ray(sources, scene["run"], out, workers=2)))
    job.start()
    killed = None
    deadline = time.monotonic() + 60
    while killed is None and time.monotonic() < deadline:
        # a worker that has written frames of a video but not published it is mid-video
        for partial in (out / PARTIAL_DIR).glob("*.*.*") if (out / PARTIAL_DIR).is_dir() else []:
            if (partial / "frames.jsonl").is_file() and (partial / "frames.jsonl").stat().st_size > 0:
                name, pid, _ = partial.name.rsplit(".", 2)
                os.kill(int(pid), signal.SIGKILL)
                killed = (name, int(pid))
                break
        time.sleep(0.01)
    job.join(timeout=120)
    assert killed is not None, "no worker was caught mid-video"
    assert not job.is_alive() and len(result["s"]) == 3 and all(s is not None for s in result["s"])
    index = json.loads((out / "detections.json").read_text())
    names = [Path(s["folder"]).name for s in index["sources"]]
    assert sorted(names) == sorted(f.name for f in folders) and len(set(names)) == 3  # each video once
    row = next(s for s in index["sources"] if Path(s["folder"]).name == killed[0])
    assert row["error"] is None and row["worker_pid"] != killed[1]  # redone by a restarted worker
    assert not (out / PARTIAL_DIR).exists() and sorted(p.name for p in out.iterdir()) == sorted(names + ["detections.json"])
    for folder in folders:  # every published folder complete and equal to one process's
        assert json.loads((out / folder.name / "summary.json").read_text())["frames_scored"] == 12 - 4
        ref = run_detection(folder, scene["run"], DetectOptions(progress=False), out=tmp_path / "single" / folder.name)
        assert ref.frames_scored == 8
        # the workers score in batches of 8, the reference one frame at a time: float32 convolutions of
        # a different batch size differ by a few 1e-6 with torch 2.13's CPU kernels
        _assert_same_rows(_rows(out / folder.name), _rows(tmp_path / "single" / folder.name), tol=1e-5)


def test_ray_test_cli_matches_workers_1(ray_local, scene, tmp_path) -> None:
    prepared_root = str(scene["prepared"].root)
    assert main(["test", str(scene["run"]), prepared_root, "--out", str(tmp_path / "one"), "--no-plots", "--quiet",
                 "--no-progress"]) == 0
    assert main(["test", str(scene["run"]), prepared_root, "--out", str(tmp_path / "ray"), "--no-plots", "--quiet",
                 "--no-progress", "--ray", "--workers", "2"]) == 0
    a, b = (np.load(tmp_path / d / "scores.npz") for d in ("one", "ray"))
    assert sorted(a.files) == sorted(b.files)
    for k in a.files:
        if np.issubdtype(a[k].dtype, np.floating):
            np.testing.assert_allclose(b[k], a[k], rtol=1e-6, atol=1e-9, err_msg=k)
        else:
            assert np.array_equal(a[k], b[k]), k


def test_watch_on_ray_restarts_a_killed_camera_actor(ray_local, scene, tmp_path) -> None:
    """``ammcnet watch --ray``: a camera is a Ray actor; when its process is killed Ray restarts it."""
    from ammcnet.fleet.watch import watch
    from ammcnet.fleet.watch_config import WatchConfig

    config = WatchConfig.model_validate({
        "out": str(tmp_path / "watch"), "status_every_s": 0.3,
        "cameras": [{"name": "cam", "source": str(scene["folders"][0]), "model": str(scene["run"]), "loop": True,
                     "fps": 25, "threshold": -1e9}]})
    own = tmp_path / "watch" / "cam" / "status.json"
    stop = threading.Event()
    job = threading.Thread(target=lambda: watch(config, ray="", stop=stop, print_status=False))
    job.start()

    def cam() -> dict:
        return json.loads(own.read_text()) if own.is_file() else {}

    try:
        t_end = time.monotonic() + 90
        while not (cam().get("state") == "running" and cam().get("events", 0) > 0) and time.monotonic() < t_end:
            time.sleep(0.1)
        first = cam()
        assert first.get("events", 0) > 0, "the camera actor never reported an event"
        os.kill(first["pid"], signal.SIGKILL)
        while not (cam().get("starts", 0) >= 2 and cam().get("state") == "running") and time.monotonic() < t_end:
            time.sleep(0.1)
        assert cam()["starts"] >= 2 and cam()["pid"] != first["pid"]
    finally:
        stop.set()
        job.join(timeout=30)
    lines = [json.loads(x) for x in (tmp_path / "watch" / "events.jsonl").read_text().splitlines()]
    assert lines and {e["camera"] for e in lines} == {"cam"}
