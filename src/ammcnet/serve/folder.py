"""What the review app reads from a ``detect`` or ``watch`` output folder: cameras, events, scores, reviews.

A watch folder has ``status.json`` with ``"cameras"`` (each row naming its ``"folder"``) and one
detect-like folder per camera; a detect folder has ``events.jsonl`` (and ``summary.json`` at the
end of a run, or a ``status.json`` of its one camera). The files are being written while they are
read: every read tolerates a missing file, a half-written last line and kinds of lines it does not
know. An event is the latest ``new``/``update``/``end`` line of its id. A camera folder that resolves
outside the served folder is listed but none of its files is read (see :func:`camera_folder`).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ammcnet.errors import ConfigError, DataError
from ammcnet.serve.jsonl import AppendedLines, read_rows, tail_rows
from ammcnet.utils.redact import mask_text

STATUS_FILE, SUMMARY_FILE, EVENTS_FILE = "status.json", "summary.json", "events.jsonl"
FRAMES_FILE, SCORES_FILE, REVIEWS_FILE = "frames.jsonl", "scores.jsonl", "reviews.jsonl"
#: Lines of ``events.jsonl`` that carry an event; other kinds (start, gap, stop, unknown) are not events.
EVENT_KINDS = ("new", "update", "end")
#: Review actions read back from ``reviews.jsonl``.
ACTIONS = ("acknowledge", "normal")


@dataclass(frozen=True)
class Camera:
    """One camera as the app shows it.

    Attributes:
        name: its name (the key of the watch status, or the detect folder's camera).
        status: its row of ``status.json`` (or one made from ``summary.json``), as read.
        folder: its folder, inside the served folder; None when missing or outside (see ``note``).
        rel: ``folder`` relative to the served folder, ``""`` for the folder itself.
        events_path: the ``events.jsonl`` its events are read from, or None.
        shared_log: ``events_path`` is the watch's log of every camera: lines are kept by camera.
        note: why its files are not read, or ``""``.
    """

    name: str
    status: dict[str, Any]
    folder: Path | None
    rel: str = ""
    events_path: Path | None = None
    shared_log: bool = False
    note: str = ""


@dataclass
class EventRecord:
    """An event as its latest line left it: ``kind`` is that line's (``end`` once it ended)."""

    camera: str
    id: str
    kind: str
    data: dict[str, Any]
    time: str | None = None

    @property
    def open(self) -> bool:
        return self.kind != "end"


@dataclass
class Review:
    """What the reviews of one event say (every line is kept in ``history``, oldest first)."""

    acknowledged: str | None = None
    normal: str | None = None
    taught: bool = False
    detail: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def camera_folder(root: Path, name: str, declared: Any) -> tuple[Path | None, str]:
    """The folder of camera ``name`` of a watch folder ``root`` (resolved) and, when there is none, why.

    ``declared`` (the status row's ``"folder"``) is tried as given, then under ``root``; without
    one, ``root/name``. A folder outside ``root`` is refused: the app reads nothing outside it.
    """
    tries = [root / name]
    if isinstance(declared, str) and declared:
        tries = [Path(declared)] if Path(declared).is_absolute() else [root / declared, Path(declared)]
    for path in tries:
        try:
            resolved = path.resolve()
        except (OSError, ValueError):
            continue
        if resolved.is_dir():
            if not resolved.is_relative_to(root):
                return None, f"its folder {mask_text(str(declared))} is outside {root}: its files are not served"
            return resolved, ""
    return None, "its folder was not found"


class EventLog:
    """The events of one ``events.jsonl``, read incrementally: the latest line of each id wins."""

    def __init__(self, path: Path) -> None:
        self.lines = AppendedLines(path)
        self.events: dict[str, tuple[str | None, EventRecord]] = {}  # id -> (the line's camera, event)
        self.starts: list[dict[str, Any]] = []
        self.stops: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def refresh(self) -> None:
        with self.lock:
            restarted, rows = self.lines.new_rows()
            if restarted:
                self.events, self.starts, self.stops = {}, [], []
            for row in rows:
                self._add(row)

    def _add(self, row: dict[str, Any]) -> None:
        kind, event = row.get("kind"), row.get("event")
        if kind == "start":
            self.starts = [*self.starts[-63:], row]
        elif kind == "stop":
            self.stops = [*self.stops[-63:], row]
        elif kind in EVENT_KINDS and isinstance(event, dict) and isinstance(event.get("id"), str):
            line_camera = row.get("camera", event.get("camera"))
            time = row.get("time") if isinstance(row.get("time"), str) else None
            self.events[event["id"]] = (str(line_camera) if line_camera is not None else None,
                                        EventRecord("", event["id"], kind, event, time))

    def records(self, camera: str, only_camera: bool) -> list[EventRecord]:
        """The events of ``camera`` (all of the file's, unless ``only_camera``), as :class:`EventRecord`."""
        self.refresh()
        with self.lock:
            return [EventRecord(camera, r.id, r.kind, r.data, r.time) for line_camera, r in self.events.values()
                    if not only_camera or line_camera == camera]

    def start(self, camera: str) -> dict[str, Any]:
        """The latest ``start`` line of ``camera`` (or of no camera in particular), else {}."""
        self.refresh()
        with self.lock:
            for row in reversed(self.starts):
                if row.get("camera") in (None, camera):
                    return row
        return {}


class ServeFolder:
    """A detect or watch output folder, read on every request (status) or incrementally (events)."""

    def __init__(self, root: str | Path) -> None:
        path = Path(root)
        if not path.is_dir():
            raise DataError(f"{root}: no such folder; give the --out folder of `ammcnet detect` or a watch folder")
        self.root = path.resolve()
        status = _read_json(self.root / STATUS_FILE)
        if isinstance(status.get("cameras"), dict):
            self.kind = "watch"
        elif any((self.root / n).is_file() for n in (EVENTS_FILE, SUMMARY_FILE, STATUS_FILE)):
            self.kind = "detect"
        else:
            raise ConfigError(f"{root} is neither a detect folder (events.jsonl, summary.json) nor a watch folder "
                              "(status.json with cameras): give the --out folder of `ammcnet detect` or `watch`")
        self._logs: dict[Path, EventLog] = {}
        self._lock = threading.Lock()
        self.detect_name = str(status.get("camera") or self._logged_camera() or self.root.name)

    def _logged_camera(self) -> str | None:
        """The camera a detect folder's log names (its start line's, else its first event's), or None."""
        if self.kind != "detect":
            return None
        log = self.log(self.root / EVENTS_FILE)
        log.refresh()
        named = [row.get("camera") for row in log.starts] + [camera for camera, _ in log.events.values()]
        return next((str(c) for c in named if c), None)

    # cameras

    def cameras(self) -> list[Camera]:
        """Every camera with its latest status (re-read on each call)."""
        status = _read_json(self.root / STATUS_FILE)
        if self.kind == "detect":
            return [self._detect_camera(status)]
        rows = status.get("cameras")
        return [self._watch_camera(str(name), row if isinstance(row, dict) else {})
                for name, row in (rows.items() if isinstance(rows, dict) else [])]

    def camera(self, name: str) -> Camera | None:
        return next((c for c in self.cameras() if c.name == name), None)

    def _detect_camera(self, status: dict[str, Any]) -> Camera:
        if not status:
            summary = _read_json(self.root / SUMMARY_FILE)
            stop = summary.get("stop_reason")
            status = {"state": (f"finished ({stop})" if stop else "finished") if summary else "running",
                      "fps": summary.get("fps"), "frames_total": summary.get("frames_read"),
                      "reconnects": summary.get("reconnects")}
        return Camera(self.detect_name, status, self.root, "", self.root / EVENTS_FILE)

    def _watch_camera(self, name: str, row: dict[str, Any]) -> Camera:
        folder, note = camera_folder(self.root, name, row.get("folder"))
        own = folder / EVENTS_FILE if folder is not None else None
        rel = "" if folder is None or folder == self.root else folder.relative_to(self.root).as_posix()
        if own is not None and own.is_file():
            return Camera(name, row, folder, rel, own)
        return Camera(name, row, folder, rel, self.root / EVENTS_FILE, shared_log=True, note=note)

    # events, scores, reviews

    def log(self, path: Path) -> EventLog:
        with self._lock:
            if path not in self._logs:
                self._logs[path] = EventLog(path)
            return self._logs[path]

    def events(self, cameras: list[Camera] | None = None) -> list[EventRecord]:
        """The events of ``cameras`` (default all), newest start first."""
        found = []
        for cam in cameras if cameras is not None else self.cameras():
            if cam.events_path is not None:
                found += self.log(cam.events_path).records(cam.name, cam.shared_log)
        return sorted(found, key=lambda r: as_number(r.data.get("start_time")) or 0.0, reverse=True)

    def start_line(self, cam: Camera) -> dict[str, Any]:
        """The ``start`` line of the camera's log (its source, threshold and model), or {}."""
        return self.log(cam.events_path).start(cam.name) if cam.events_path is not None else {}

    def scores(self, cam: Camera, count: int) -> list[tuple[int, float | None, bool]]:
        """The last ``count`` frames of the camera as ``(index, score or None when invalid, alarm)``."""
        if cam.folder is None:
            return []
        path = next((cam.folder / n for n in (SCORES_FILE, FRAMES_FILE) if (cam.folder / n).is_file()), None)
        points = []
        for i, row in enumerate(tail_rows(path, count) if path is not None else []):
            score = as_number(row.get("score")) if row.get("valid", True) is not False else None
            index = row.get("index")
            points.append((index if isinstance(index, int) else i, score, bool(row.get("alarm"))))
        return points

    def reviews(self, cam: Camera) -> dict[str, Review]:
        """The review state of each event id of the camera, from its ``reviews.jsonl``."""
        found: dict[str, Review] = {}
        for row in read_rows(cam.folder / REVIEWS_FILE) if cam.folder is not None else []:
            event_id, action = row.get("event_id"), row.get("action")
            if not isinstance(event_id, str) or action not in ACTIONS:
                continue
            review = found.setdefault(event_id, Review())
            review.history.append(row)
            if action == "acknowledge":
                review.acknowledged = review.acknowledged or str(row.get("time"))
            else:
                review.normal, review.taught = str(row.get("time")), row.get("taught") is True
                review.detail = str(row.get("detail") or "")
        return found


def as_number(value: Any) -> float | None:
    """``value`` as a finite float, or None (strings, bools, NaN and missing values are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if value == value and abs(value) != float("inf") else None
