"""``ammcnet watch``: three looped-folder cameras in local processes; one loses its source and
recovers, one detector is killed and restarted; events of all cameras in one JSONL log."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest
import yaml

from ammcnet.errors import ConfigError
from ammcnet.fleet.watch import watch
from ammcnet.fleet.watch_config import load_watch_config
from helpers import tiny_scene_run

SIZE = (32, 32)


@pytest.fixture(scope="module")
def cameras(tmp_path_factory) -> dict:
    run = tiny_scene_run(tmp_path_factory.mktemp("watch"), SIZE)
    return {"root": run["root"], "folders": run["folders"], "model": run["run"]}


def _config(cameras: dict, tmp_path: Path) -> Path:
    cams = [{"name": f"cam{i}", "source": str(f), "model": str(cameras["model"]), "loop": True, "fps": 25,
             "threshold": -1e9,  # every frame alarmed: each replay of the folder closes one event
             "max_failures": 2, "read_timeout": 3} for i, f in enumerate(cameras["folders"])]
    cfg = {"out": "out", "status_every_s": 0.3, "restart": {"initial_delay_s": 0.3, "max_delay_s": 1.0},
           "cameras": cams}
    path = tmp_path / "cameras.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _wait(pred, what: str, timeout: float = 90.0) -> None:
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        try:
            if pred():
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_three_cameras_one_drops_and_recovers_one_crashes(cameras, tmp_path) -> None:
    config = load_watch_config(_config(cameras, tmp_path))
    out = Path(config.out)
    assert out == tmp_path / "out"  # relative to the config file
    stop = threading.Event()
    result: dict = {}
    job = threading.Thread(target=lambda: result.update(s=watch(config, stop=stop, print_status=False)))
    job.start()

    def status() -> dict:
        return json.loads((out / "status.json").read_text())["cameras"]

    def own(cam: str) -> dict:
        return json.loads((out / cam / "status.json").read_text())

    try:
        _wait(lambda: all(r["state"] == "running" and r["frames_total"] > 0 for r in status().values()), "3 cameras")
        # camera 2 loses its source (folder gone), is retried with backoff, and recovers when it is back
        src = cameras["folders"][2]
        away = src.with_name(src.name + ".off")
        os.replace(src, away)
        _wait(lambda: status()["cam2"]["state"] in ("reconnecting", "source lost"), "cam2 to lose its source")
        frames_before = status()["cam2"]["frames_total"]
        time.sleep(1.0)
        os.replace(away, src)
        _wait(lambda: status()["cam2"]["state"] == "running" and status()["cam2"]["frames_total"] > frames_before + 5,
              "cam2 to recover")
        # camera 0's detector process dies: it is restarted
        pid = own("cam0")["pid"]
        os.kill(pid, signal.SIGKILL)
        _wait(lambda: own("cam0")["pid"] != pid and own("cam0")["state"] == "running", "cam0 restarted")
        _wait(lambda: all(r["events"] > 0 for r in status().values()), "events from every camera")
    finally:
        stop.set()
        job.join(timeout=30)
        if away.exists() and not src.exists():
            shutil.move(str(away), str(src))
    final = result["s"]["cameras"]
    assert final["cam2"]["restarts"] >= 1 and any(h["exit"] == 3 for h in final["cam2"]["history"])
    assert final["cam0"]["restarts"] >= 1 and any(h["state"] == "restarting" for h in final["cam0"]["history"])
    assert own("cam0")["starts"] >= 2
    lines = [json.loads(x) for x in (out / "events.jsonl").read_text().splitlines()]  # every line whole
    assert {e["camera"] for e in lines} == {"cam0", "cam1", "cam2"}
    for cam in ("cam0", "cam1", "cam2"):
        mine = [json.loads(x) for x in (out / cam / "events.jsonl").read_text().splitlines()]
        mine = [e for e in mine if e["kind"] in ("new", "update", "end")]
        assert mine and all(e["camera"] == cam and e["event"]["camera"] == cam for e in mine)
        ends = [e["event"] for e in mine if e["kind"] == "end"]
        assert ends and all(e["alarmed_frames"] >= 1 and e["end_frame"] >= e["start_frame"] for e in ends)


def test_watch_config_errors_are_one_line(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"cameras": [{"name": "a", "source": "x.mp4", "model": "run", "fps_limit": 3}]}))
    with pytest.raises(ConfigError, match=r"bad\.yaml: cameras\.0\.fps_limit: Extra inputs"):
        load_watch_config(bad)
    bad.write_text(yaml.safe_dump({"cameras": [{"name": "a", "source": "x", "model": "m"}] * 2}))
    with pytest.raises(ConfigError, match="repeated: a"):
        load_watch_config(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_watch_config(tmp_path / "missing.yaml")
