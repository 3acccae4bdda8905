"""``ammcnet watch``: one long-lived detector per camera, supervised, with one event log and a status file.

Every camera runs :func:`~ammcnet.fleet.camera.run_camera` in its own process: a local process
(``multiprocessing``, spawn) or, with ``ray``, a Ray actor (restarted by Ray if its process dies,
and its call run again). The supervisor here polls them:

* a camera whose source dropped or cannot be opened is started again after a backoff that doubles
  after every failed run (``restart.initial_delay_s`` .. ``restart.max_delay_s``; a run that lasted
  ``restart.healthy_s`` resets it);
* a detector that crashed (any other exit) is restarted the same way;
* a camera whose file ended (``loop: false``) is ``finished`` and left alone.

Files (``out`` of the config): ``events.jsonl`` (every camera's alarm events, append-only),
``status.json`` (each camera's state, fps, frames, last event, restarts; rewritten atomically every
``status_every_s``) and one folder per camera with its own ``events.jsonl`` and ``status.json``.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ammcnet.fleet.camera import FINISHED, SOURCE_LOST, STATUS_FILE, CameraActor, camera_process, now_iso
from ammcnet.fleet.cluster import connect
from ammcnet.fleet.watch_config import CameraConfig, WatchConfig
from ammcnet.utils.io import write_json_atomic

POLL_S = 0.2
#: Seconds a stopped camera gets to end its event, finish its clips and flush its sinks.
STOP_WAIT_S = 20.0


class _LocalRun:
    """A camera in a spawned local process."""

    def __init__(self, cam: CameraConfig, cfg: WatchConfig) -> None:
        ctx = mp.get_context("spawn")
        self.proc = ctx.Process(target=camera_process, args=(cam.model_dump_json(), cfg.out, cfg.status_every_s),
                                name=f"ammcnet-watch-{cam.name}", daemon=True)
        self.proc.start()

    def poll(self) -> int | None:
        return None if self.proc.is_alive() else self.proc.exitcode

    def stop(self) -> None:
        if self.proc.is_alive():
            self.proc.terminate()
        self.proc.join(timeout=STOP_WAIT_S)


class _RayRun:
    """A camera as a Ray actor (``max_restarts=-1``: Ray restarts a dead actor and re-runs ``run``)."""

    def __init__(self, ray: Any, cam: CameraConfig, cfg: WatchConfig) -> None:
        self.ray = ray
        remote = ray.remote(num_cpus=max(cam.threads, 1), max_restarts=-1, max_task_retries=-1)(CameraActor)
        self.actor = remote.remote(cam.model_dump_json(), cfg.out, cfg.status_every_s)
        self.ref = self.actor.run.remote()

    def poll(self) -> int | None:
        ready, _ = self.ray.wait([self.ref], timeout=0)
        if not ready:
            return None
        try:
            return int(self.ray.get(ready[0]))
        except self.ray.exceptions.RayError:
            return -1

    def stop(self) -> None:
        self.ray.kill(self.actor, no_restart=True)


@dataclass
class _Camera:
    cam: CameraConfig
    run: Any = None
    state: str = "starting"
    failures: int = 0
    restarts: int = 0
    started: float = 0.0
    next_start: float = 0.0
    last_exit: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


def _after_exit(c: _Camera, code: int, policy: Any, now: float) -> None:
    """Decide what a camera whose run ended does next (finished, or started again after a backoff)."""
    c.run, c.last_exit = None, code
    if code == FINISHED:
        c.state = "finished"
        return
    c.failures = 1 if now - c.started >= policy.healthy_s else c.failures + 1
    delay = policy.delay(c.failures)
    c.state = "reconnecting" if code == SOURCE_LOST else "restarting"
    c.next_start = now + delay
    c.history.append({"time": now_iso(), "exit": code, "state": c.state, "retry_in_s": round(delay, 3)})
    del c.history[:-20]


def _status(cams: list[_Camera], cfg: WatchConfig) -> dict[str, Any]:
    rows = {}
    for c in cams:
        path = Path(c.cam.out or Path(cfg.out) / c.cam.name) / STATUS_FILE
        try:
            own = json.loads(path.read_text()) if path.is_file() else {}
        except (OSError, ValueError):
            own = {}
        running = c.state == "running"
        rows[c.cam.name] = {
            "state": own.get("state", c.state) if running else c.state,
            "fps": own.get("fps", 0.0) if running else 0.0,
            "frames_total": own.get("frames_total", 0), "events": own.get("events", 0),
            "last_event": own.get("last_event"), "error": own.get("error"),
            "restarts": c.restarts, "starts": own.get("starts", 0), "last_exit": c.last_exit,
            "history": c.history,
        }
    return {"updated": now_iso(), "cameras": rows}


def _status_line(status: dict[str, Any]) -> str:
    parts = []
    for name, row in status["cameras"].items():
        last = row["last_event"]["time"][11:19] if row.get("last_event") else "-"
        parts.append(f"{name}: {row['state']} {row['fps']:.1f} fps, {row['events']} ev (last {last})")
    return " | ".join(parts)


def watch(
    config: WatchConfig,
    *,
    ray: str | None = None,
    seconds: float | None = None,
    stop: threading.Event | None = None,
    print_status: bool | None = None,
) -> dict[str, Any]:
    """Watch every camera of ``config`` until ``seconds`` pass, ``stop`` is set, or Ctrl-C / SIGTERM.

    Args:
        config: the cameras and the output folder.
        ray: None: local processes; ``""``: a local Ray instance; ``"auto"`` or an address: a cluster.
        seconds: stop after this long (None: run until stopped).
        stop: set it to stop from another thread.
        print_status: a status line on stderr (default: when stderr is a terminal).

    Returns:
        The final status (also in ``OUT/status.json``).
    """
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    ray_mod = None
    if ray is not None:
        ray_mod = connect(ray, purpose="ammcnet watch --ray")
    stop = stop or threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():  # SIGTERM stops the watch cleanly
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    show = sys.stderr.isatty() if print_status is None else print_status
    cams = [_Camera(c) for c in config.cameras]
    t_end = time.monotonic() + seconds if seconds is not None else None
    last_status = 0.0
    try:
        while not stop.is_set() and (t_end is None or time.monotonic() < t_end):
            now = time.monotonic()
            for c in cams:
                if c.run is None and c.state != "finished" and now >= c.next_start:
                    c.restarts += c.started > 0
                    c.run = _RayRun(ray_mod, c.cam, config) if ray_mod is not None else _LocalRun(c.cam, config)
                    c.state, c.started = "running", now
                elif c.run is not None and (code := c.run.poll()) is not None:
                    _after_exit(c, code, config.restart, now)
            if now - last_status >= config.status_every_s:
                status = _status(cams, config)
                write_json_atomic(out / STATUS_FILE, status)
                if show:
                    print("\r" + _status_line(status)[:200], end="", file=sys.stderr, flush=True)
                last_status = now
            if all(c.state == "finished" for c in cams):
                break
            stop.wait(POLL_S)
    except KeyboardInterrupt:
        pass
    finally:
        for c in cams:
            if c.run is not None:
                c.run.stop()
                c.run = None
                c.state = "stopped" if c.state == "running" else c.state
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    status = _status(cams, config)
    write_json_atomic(out / STATUS_FILE, status)
    if show:
        print(file=sys.stderr)
    return status
