"""One camera's long-lived detector: read, score, group alarms into events, report status.

:func:`run_camera` loads the model once, then reads the camera until its source ends or drops.
Each closed alarm event is appended, as one JSON line written with a single ``write`` on a file
opened for appending, to the fleet's ``events.jsonl`` and to the camera's own ``events.jsonl``;
``status.json`` in the camera's folder is rewritten atomically about once a second (state, fps,
frames, last event, starts, reconnection gaps). URLs and camera indices are opened through
``detect``'s reconnecting source (:class:`~ammcnet.detect.reconnect.ReconnectingCapture`), so a
short drop is bridged inside the detector, with backoff, and recorded as a gap in the status; only
a source it gives up on ends the run. The return value tells the supervisor what happened:
:data:`FINISHED` (a file ended), :data:`SOURCE_LOST` (the source dropped or cannot be opened:
start again after a backoff). A crash is any other exit.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ammcnet.detect.detector import Detector
from ammcnet.detect.events import Event, EventTracker
from ammcnet.detect.sources import FrameReader, open_source
from ammcnet.errors import DataError
from ammcnet.fleet.watch_config import CameraConfig
from ammcnet.utils.io import write_json_atomic

#: Exit codes of a camera run (a process's exit status in local mode, the return value on Ray).
FINISHED, SOURCE_LOST = 0, 3
STATUS_FILE, EVENTS_FILE = "status.json", "events.jsonl"


def now_iso() -> str:
    """Current UTC time, ISO 8601 with milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def append_line(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line with one ``write`` (O_APPEND): lines from several processes never interleave."""
    data = (json.dumps(record, default=float) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


class CameraStatus:
    """The camera's ``status.json``: counts ``starts`` across restarts, throttles rewrites."""

    def __init__(self, folder: Path, cam: CameraConfig, every_s: float = 1.0) -> None:
        self.path = folder / STATUS_FILE
        prev: dict[str, Any] = {}
        if self.path.is_file():
            try:
                prev = json.loads(self.path.read_text())
            except (OSError, ValueError):
                prev = {}
        self.data: dict[str, Any] = {
            "camera": cam.name, "state": "starting", "pid": os.getpid(), "starts": int(prev.get("starts", 0)) + 1,
            "frames": 0, "frames_total": int(prev.get("frames_total", 0)), "fps": 0.0, "events": int(prev.get("events", 0)),
            "last_event": prev.get("last_event"), "error": None, "since": now_iso(), "updated": now_iso(),
        }
        self.every_s = every_s
        self.gaps: list[dict[str, Any]] = []  # appended by the reader thread, written with the next status
        self._last_write = 0.0
        self._window: tuple[float, int] = (time.monotonic(), 0)
        self.write()

    def write(self, **changes: Any) -> None:
        gaps = list(self.gaps)
        if gaps:
            changes.update(reconnects=len(gaps), last_gap=gaps[-1])
        self.data.update(changes, updated=now_iso())
        write_json_atomic(self.path, self.data)
        self._last_write = time.monotonic()

    def frame(self) -> None:
        """Count one frame; rewrite the file (with the fps of the last window) at most every ``every_s``."""
        self.data["frames"] += 1
        self.data["frames_total"] += 1
        now = time.monotonic()
        if now - self._last_write >= self.every_s:
            t0, n0 = self._window
            self.data["fps"] = round((self.data["frames"] - n0) / max(now - t0, 1e-9), 2)
            self._window = (now, self.data["frames"])
            self.write(state="running")


def _emit(event: Event, cam: CameraConfig, status: CameraStatus, fleet_events: Path, cam_events: Path) -> None:
    record = {"time": now_iso(), "camera": cam.name, **event.to_dict()}
    append_line(fleet_events, record)
    append_line(cam_events, record)
    status.data["events"] += 1
    status.write(last_event=record)


def _watch_stream(detector: Detector, cam: CameraConfig, status: CameraStatus, fleet_events: Path) -> str:
    """Read one opening of the source to its end; returns the reader's stop reason."""
    capture, info = open_source(cam.source, on_gap=status.gaps.append)  # URLs and cameras reconnect
    detector.reset()  # no clip spans two openings (a replayed file, a reconnected stream)
    reader = FrameReader(capture, info, max_failures=cam.max_failures, read_timeout=cam.read_timeout)
    tracker = EventTracker(cam.min_gap, cam.min_frames)
    cam_events = Path(cam.out or ".") / EVENTS_FILE
    pace = 1.0 / cam.fps if cam.fps else 0.0
    next_t = time.monotonic()
    status.write(state="running", error=None)
    for frame in reader:
        res = detector.update(frame.rgb, frame.timestamp)
        status.frame()
        if res is not None:
            closed = tracker.update(res.index, res.score, res.alarm, res.timestamp)
            if closed is not None:
                _emit(closed, cam, status, fleet_events, cam_events)
        if pace:
            next_t += pace
            time.sleep(max(0.0, next_t - time.monotonic()))
    before = len(tracker.events)
    for ev in tracker.finish()[before:]:
        _emit(ev, cam, status, fleet_events, cam_events)
    return reader.stop_reason or "end of stream"


def run_camera(cam: CameraConfig, fleet_out: str, status_every_s: float = 1.0) -> int:
    """Watch one camera until its source ends (:data:`FINISHED`) or drops (:data:`SOURCE_LOST`).

    Args:
        cam: the camera (``cam.out`` is its folder).
        fleet_out: the fleet's folder, holding the shared ``events.jsonl``.
        status_every_s: how often ``status.json`` is rewritten while frames flow.
    """
    import torch

    if cam.threads:
        torch.set_num_threads(cam.threads)
    folder = Path(cam.out or Path(fleet_out) / cam.name)
    folder.mkdir(parents=True, exist_ok=True)
    status = CameraStatus(folder, cam, status_every_s)
    detector = Detector.from_run(cam.model, threshold=cam.threshold, fpr=cam.fpr)
    fleet_events = Path(fleet_out) / EVENTS_FILE
    while True:
        try:
            reason = _watch_stream(detector, cam, status, fleet_events)
        except DataError as exc:  # cannot open (camera off, folder gone): the supervisor retries later
            status.write(state="source lost", error=str(exc), fps=0.0)
            return SOURCE_LOST
        if reason != "end of stream":
            status.write(state="source lost", error=reason, fps=0.0)
            return SOURCE_LOST
        if not cam.loop:
            status.write(state="finished", fps=0.0)
            return FINISHED


def camera_process(cam_json: str, fleet_out: str, status_every_s: float) -> None:
    """Entry point of a local camera process: exits with :func:`run_camera`'s code."""
    raise SystemExit(run_camera(CameraConfig.model_validate_json(cam_json), fleet_out, status_every_s))


class CameraActor:
    """A Ray actor (one per camera) whose ``run`` is :func:`run_camera`; Ray restarts it if it dies."""

    def __init__(self, cam_json: str, fleet_out: str, status_every_s: float) -> None:
        self.args = (CameraConfig.model_validate_json(cam_json), fleet_out, status_every_s)

    def run(self) -> int:
        return run_camera(*self.args)

    def pid(self) -> int:
        return os.getpid()
