"""One camera's long-lived detector: read, score, group alarms into events, report status.

:func:`run_camera` loads the model once, then reads the camera until its source ends or drops.
Alarms go through the same pipeline as ``ammcnet detect``'s (:class:`~ammcnet.alarms.pipeline.AlarmPipeline`:
zones, the event lifecycle, snapshots, clips, webhook and MQTT): each lifecycle message is a line
of the camera's ``events.jsonl`` and, written with a single ``write`` on a file opened for
appending, of the fleet's ``events.jsonl``; ``scores.jsonl`` keeps each frame's score;
``status.json`` in the camera's folder is rewritten atomically about once a second (state, fps,
frames, last event, starts, reconnection gaps). URLs and camera indices are opened through
``detect``'s reconnecting source (:class:`~ammcnet.detect.reconnect.ReconnectingCapture`), so a
short drop is bridged inside the detector, with backoff, and recorded as a gap in the status; only
a source it gives up on ends the run. The return value tells the supervisor what happened:
:data:`FINISHED` (a file ended), :data:`SOURCE_LOST` (the source dropped or cannot be opened:
start again after a backoff). A crash is any other exit.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ammcnet.alarms.events import EventLog
from ammcnet.alarms.lifecycle import LifecycleOptions
from ammcnet.alarms.pipeline import AlarmPipeline
from ammcnet.alarms.sinks_config import check_env
from ammcnet.detect.detector import Detector
from ammcnet.detect.run import DEFAULT_QUIET_S
from ammcnet.detect.sources import FrameReader, open_source
from ammcnet.errors import DataError
from ammcnet.fleet.watch_config import CameraConfig
from ammcnet.utils.io import write_json_atomic
from ammcnet.utils.redact import mask_url

#: Exit codes of a camera run (a process's exit status in local mode, the return value on Ray).
FINISHED, SOURCE_LOST = 0, 3
STATUS_FILE, EVENTS_FILE, SCORES_FILE = "status.json", "events.jsonl", "scores.jsonl"
#: Ended events a camera remembers (for late clips and the status); the log has them all.
KEEP_ENDED = 100
#: Size at which ``scores.jsonl`` is rotated (about 25,000 frames).
SCORES_MAX_BYTES = 2_000_000


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


def _fleet_line(fleet_events: Path, status: CameraStatus) -> Any:
    """The pipeline callback that copies each lifecycle message to the fleet's ``events.jsonl``."""
    def write(message: dict[str, Any]) -> None:
        after = message["after"]
        append_line(fleet_events, {"kind": message["type"], "time": now_iso(), "camera": after["camera"], "event": after})
        if message["type"] in ("new", "end"):
            status.data["events"] += int(message["type"] == "new")
            status.write(last_event=after)
    return write


class ScoreTail:
    """``scores.jsonl``: each scored frame's score, for the review page's sparkline; rotated to
    ``scores.1.jsonl`` past :data:`SCORES_MAX_BYTES`, so a camera watched for months keeps two files."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / SCORES_FILE
        self._fh = self.path.open("a", encoding="utf-8")

    def write(self, index: int, score: float, alarm: bool) -> None:
        score_out = round(score, 5) if score == score and abs(score) != float("inf") else None
        self._fh.write(json.dumps({"index": index, "time": round(time.time(), 3), "score": score_out,
                                   "alarm": alarm}) + "\n")
        self._fh.flush()
        if self._fh.tell() > SCORES_MAX_BYTES:
            self._fh.close()
            os.replace(self.path, self.path.with_name("scores.1.jsonl"))
            self._fh = self.path.open("a", encoding="utf-8")

    def close(self) -> None:
        self._fh.close()


def _watch_stream(detector: Detector, cam: CameraConfig, status: CameraStatus, pipeline: AlarmPipeline,
                  scores: ScoreTail) -> str:
    """Read one opening of the source to its end; returns the reader's stop reason."""
    capture, info = open_source(cam.source, on_gap=status.gaps.append)  # URLs and cameras reconnect
    detector.reset()  # no clip spans two openings (a replayed file, a reconnected stream)
    reader = FrameReader(capture, info, max_failures=cam.max_failures, read_timeout=cam.read_timeout)
    pace = 1.0 / cam.fps if cam.fps else 0.0
    next_t = time.monotonic()
    status.write(state="running", error=None)
    try:
        for frame in reader:
            res = detector.update(frame.rgb, frame.timestamp)
            status.frame()
            alarm = pipeline.frame(frame.rgb, frame.index if res is None else res.index, frame.timestamp, res)
            if res is not None:
                scores.write(res.index, res.score, alarm)
            if pace:
                next_t += pace
                time.sleep(max(0.0, next_t - time.monotonic()))
    finally:
        pipeline.end_stream()
    return reader.stop_reason or "end of stream"


def _pipeline(cam: CameraConfig, detector: Detector, folder: Path, fps: float | None, elog: EventLog) -> AlarmPipeline:
    """The camera's alarm pipeline (events, media, sinks), its threshold set by the budget if asked."""
    fps = cam.fps or fps or 25.0
    gap = cam.min_gap if cam.min_gap is not None else int(round(DEFAULT_QUIET_S * fps))
    lifecycle = LifecycleOptions(camera=cam.name, min_gap=gap, min_frames=cam.min_frames,
                                 update_every_s=cam.update_every_s, keep_ended=KEEP_ENDED)
    options = cam.alarm_options()
    detector.set_zones(options.zones)
    if cam.alarms_per_hour is not None:
        budget = detector.use_alarm_budget(cam.alarms_per_hour, fps, gap, cam.min_frames)
        elog.write("budget", **budget.to_dict())
    return AlarmPipeline(options, lifecycle, folder, fps, elog)


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
    check_env(cam.alarm_options().sinks)
    with EventLog(folder / EVENTS_FILE) as elog, contextlib.closing(ScoreTail(folder)) as scores:
        elog.write("start", source=mask_url(cam.source), camera=cam.name, threshold=detector.threshold,
                   model=str(detector.model_path))
        pipeline = _pipeline(cam, detector, folder, cam.fps, elog)
        pipeline.on_message.append(_fleet_line(Path(fleet_out) / EVENTS_FILE, status))
        try:
            return _watch_until_done(detector, cam, status, pipeline, scores)
        finally:
            pipeline.finish()
            elog.write("stop", camera=cam.name, reason=status.data.get("state"))


def _watch_until_done(detector: Detector, cam: CameraConfig, status: CameraStatus, pipeline: AlarmPipeline,
                      scores: ScoreTail) -> int:
    while True:
        try:
            reason = _watch_stream(detector, cam, status, pipeline, scores)
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
    """Entry point of a local camera process: exits with :func:`run_camera`'s code. SIGTERM (the
    supervisor stopping the watch) ends it like Ctrl-C, so the open event is ended, the clips
    finished and the sinks flushed before it exits."""
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        code = run_camera(CameraConfig.model_validate_json(cam_json), fleet_out, status_every_s)
    except KeyboardInterrupt:
        code = FINISHED  # stopped on purpose: its files are complete
    raise SystemExit(code)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


class CameraActor:
    """A Ray actor (one per camera) whose ``run`` is :func:`run_camera`; Ray restarts it if it dies."""

    def __init__(self, cam_json: str, fleet_out: str, status_every_s: float) -> None:
        self.args = (CameraConfig.model_validate_json(cam_json), fleet_out, status_every_s)

    def run(self) -> int:
        return run_camera(*self.args)

    def pid(self) -> int:
        return os.getpid()
