"""What the pages show, made from what the folder holds: plain dicts of strings and numbers.

Values come from files another program writes, so each is checked for its type here (a camera
name, a zone or a label is shown as text, a score only if it is a finite number) and the
templates escape every one of them. Times are shown in the server's time zone; the filter's
``since``/``until`` are read in it too (``YYYY-MM-DDTHH:MM`` as a browser's date picker sends,
any ISO 8601 time, or unix seconds).

>>> parse_time("1733570000")
1733570000.0
>>> parse_time("2024-12-07T11:13:20+00:00")
1733570000.0
>>> media_url("front", "clips/a b.mp4")
'/media/front/clips/a%20b.mp4'
"""

from __future__ import annotations

import posixpath
import time as _time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from ammcnet.serve.folder import Camera, EventRecord, Review, as_number
from ammcnet.utils.redact import mask_text

#: The most events one list page shows (the newest).
MAX_LISTED = 500


@dataclass(frozen=True)
class EventFilter:
    """The event list's filter; empty fields filter nothing.

    Attributes:
        camera: only this camera.
        zone: only events that touched this zone.
        since: only events still going on or ending at or after this unix time.
        until: only events that started at or before this unix time.
    """

    camera: str = ""
    zone: str = ""
    since: float | None = None
    until: float | None = None

    def keeps(self, camera: str, view: dict[str, Any]) -> bool:
        start, end = view["start_time"], view["end_time"]
        return ((not self.camera or camera == self.camera) and (not self.zone or self.zone in view["zones"])
                and (self.since is None or start is None or (end if end is not None else _time.time()) >= self.since)
                and (self.until is None or start is None or start <= self.until))


def parse_time(text: str) -> float:
    """Unix seconds from ``text`` (unix seconds or ISO 8601; a time without offset is local).

    Raises:
        ValueError: neither.
    """
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        return datetime.fromisoformat(text).timestamp()  # naive: local time, as the page shows


def parse_filter(query: dict[str, str]) -> tuple[EventFilter, str]:
    """The filter of the list page's query, and a line saying which value was not understood (or ``""``)."""
    times: dict[str, float | None] = {"since": None, "until": None}
    error = ""
    for key in times:
        if query.get(key, "").strip():
            try:
                times[key] = parse_time(query[key])
            except ValueError:
                error = f"{key}: {query[key]!r} is not a time; use YYYY-MM-DDTHH:MM (server time) or unix seconds"
    return EventFilter(query.get("camera", ""), query.get("zone", ""), times["since"], times["until"]), error


def fmt_time(value: Any) -> str:
    """Unix seconds as ``YYYY-MM-DD HH:MM:SS`` in the server's time zone, or ``""``."""
    seconds = as_number(value)
    return datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S") if seconds is not None else ""


def fmt_iso(value: Any) -> str:
    """An ISO 8601 time (as in ``reviews.jsonl``) shown like :func:`fmt_time`; other text as it is."""
    try:
        return datetime.fromisoformat(str(value)).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return str(value)


def fmt_num(value: Any, digits: int = 2) -> str:
    number = as_number(value)
    return f"{number:.{digits}f}" if number is not None else ""


def time_zone() -> str:
    """The server's time zone as the pages name it, e.g. ``CET (UTC+01:00)``."""
    now = datetime.now().astimezone()
    offset = now.strftime("%z")
    return f"{now.tzname()} (UTC{offset[:3]}:{offset[3:]})"


def media_url(rel: str, path: Any) -> str | None:
    """The app's URL of a snapshot or clip path of an event (relative to its camera folder ``rel``)."""
    if not isinstance(path, str) or not path:
        return None
    return "/media/" + quote(posixpath.join(rel, path) if rel else path, safe="/")


def event_url(camera: str, event_id: str) -> str:
    return "/event?" + urlencode({"camera": camera, "id": event_id})


def _texts(value: Any) -> list[str]:
    return [str(v) for v in value if isinstance(v, (str, int, float))] if isinstance(value, list) else []


def event_view(record: EventRecord, cam: Camera, review: Review | None) -> dict[str, Any]:
    """One event as the list and its page show it."""
    d = record.data
    start, end = as_number(d.get("start_time")), as_number(d.get("end_time"))
    frames = [d.get(k) if isinstance(d.get(k), int) else None for k in ("start_frame", "peak_frame", "end_frame")]
    box = d.get("box")
    return {
        "id": record.id, "camera": cam.name, "source_camera": str(d.get("camera", cam.name)),
        "label": str(d.get("label") or "anomaly"), "open": record.open, "kind": record.kind,
        "start_time": start, "end_time": end, "start": fmt_time(start), "end": fmt_time(end),
        "duration": fmt_num(end - start, 1) if start is not None and end is not None else "",
        "score": fmt_num(d.get("score")), "top_score": fmt_num(d.get("top_score")), "peak": as_number(d.get("top_score")),
        "zones": _texts(d.get("zones")), "current_zones": _texts(d.get("current_zones")),
        "start_frame": frames[0], "peak_frame": frames[1], "end_frame": frames[2],
        "alarmed_frames": d.get("alarmed_frames") if isinstance(d.get("alarmed_frames"), int) else None,
        "stream_time": fmt_num(d.get("stream_time"), 1),
        "box": [fmt_num(v, 0) for v in box] if isinstance(box, list) and len(box) == 4 else None,
        "snapshot_url": media_url(cam.rel, d.get("snapshot")) if d.get("has_snapshot", True) is not False else None,
        "clip_url": media_url(cam.rel, d.get("clip")) if d.get("has_clip", True) is not False else None,
        "clip_type": "video/webm" if str(d.get("clip", "")).lower().endswith(".webm") else "video/mp4",
        "url": event_url(cam.name, record.id), "review": review or Review(),
    }


def last_event(status: dict[str, Any], newest: dict[str, Any] | None) -> dict[str, Any] | None:
    """The camera's last event as ``{"time", "url"}``: from its status, else its newest event."""
    value = status.get("last_event")
    if isinstance(value, dict):
        event = value.get("event") if isinstance(value.get("event"), dict) else value
        shown = fmt_time(event.get("start_time")) or str(value.get("time") or "")
        event_id = event.get("id")
        if newest is not None and event_id == newest["id"]:
            return {"time": shown, "url": newest["url"]}
        return {"time": shown, "url": None} if shown else None
    if newest is not None:
        return {"time": newest["start"], "url": newest["url"]}
    return {"time": str(value), "url": None} if isinstance(value, str) and value else None


def camera_view(cam: Camera, events: list[dict[str, Any]]) -> dict[str, Any]:
    """One row of the cameras page (``events``: the camera's event views, newest first)."""
    s = cam.status
    count = s.get("events") if isinstance(s.get("events"), int) else len(events)
    reconnects = s.get("reconnects", s.get("restarts"))
    frames = s.get("frames_total", s.get("frames"))
    return {
        "name": cam.name, "state": str(s.get("state") or "unknown"), "fps": fmt_num(s.get("fps"), 1),
        "frames": frames if isinstance(frames, int) else "", "events": count,
        "reconnects": reconnects if isinstance(reconnects, int) else "",
        "last_event": last_event(s, events[0] if events else None),
        "error": mask_text(str(s["error"])) if s.get("error") else "", "updated": str(s.get("updated") or ""),
        "note": cam.note, "events_url": "/events?" + urlencode({"camera": cam.name}),
    }
