"""Alarm events with a lifecycle: ``new`` when one opens, ``update`` while it lasts, ``end`` after it.

Operators' tools (Home Assistant, Node-RED, a video management system) expect what Frigate NVR
publishes: one event per activity, announced once, updated now and then, ended once, each message
carrying the event ``before`` and ``after`` the change. :class:`EventLifecycle` turns the
detector's per-frame verdicts into those messages. The grouping of alarmed frames into events is
:class:`~ammcnet.alarms.events.EventTracker`'s (quiet gaps inside an event, a least length), so
the alarm budget (:mod:`ammcnet.alarms.budget`) counts events exactly as they are raised here.

>>> life = EventLifecycle(LifecycleOptions(camera="gate", min_gap=1, update_every_s=0.0))
>>> kinds = []
>>> for i, s in enumerate([0, 5, 6, 0, 7, 0, 0]):
...     kinds += [m["type"] for m in life.frame(FrameVerdict(i, float(s), s > 4, box=(1, 2, 3, 4)), wall=100.0 + i)]
>>> kinds
['new', 'update', 'update', 'end']
>>> life.ended[0].top_score, life.ended[0].peak_frame, life.ended[0].end_frame
(7.0, 4, 4)
"""

from __future__ import annotations

import secrets
import string
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ammcnet.alarms.events import Event, EventTracker
from ammcnet.errors import ConfigError

#: Seconds between two ``update`` messages of one event at most (Frigate sends a few a minute).
DEFAULT_UPDATE_EVERY_S = 5.0
#: The label every event carries (Frigate's ``label``: the object class; here, one class).
LABEL = "anomaly"
_ID_CHARS = string.ascii_lowercase + string.digits


@dataclass
class AlarmEvent:
    """One alarm event as it is published (see ``docs/alarms.md`` for the JSON).

    Attributes:
        id: unique id, ``<start wall time>-<6 random characters>`` (sorts by start).
        camera: the camera or source name.
        score: the latest smoothed score inside the event; ``top_score`` the highest.
        start_frame, end_frame: first and last alarmed frame (``end_frame`` None while open).
        peak_frame: the frame of ``top_score``.
        start_time, end_time: wall clock (Unix seconds) of the first and last alarmed frame.
        stream_time: seconds from the start of the stream at ``start_frame``, when known.
        box: (x0, y0, x1, y1) source pixels where the score came from at the peak (the region
            head's window), or None.
        zones: every zone the event touched; ``current_zones`` those of its latest alarmed frame.
        snapshot, clip: paths relative to the output folder, once written.
        alarmed_frames: frames above the threshold inside the event.
    """

    id: str
    camera: str
    score: float
    top_score: float
    start_frame: int
    peak_frame: int
    start_time: float
    end_frame: int | None = None
    end_time: float | None = None
    stream_time: float | None = None
    box: list[int] | None = None
    zones: list[str] = field(default_factory=list)
    current_zones: list[str] = field(default_factory=list)
    snapshot: str | None = None
    clip: str | None = None
    alarmed_frames: int = 0
    label: str = LABEL
    false_positive: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The event's JSON object, with Frigate's ``has_snapshot`` and ``has_clip``."""
        return {**asdict(self), "has_snapshot": self.snapshot is not None, "has_clip": self.clip is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlarmEvent:
        """The event written by :meth:`to_dict` (unknown keys ignored: files of later versions)."""
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class FrameVerdict:
    """What the lifecycle needs of one scored frame.

    Attributes:
        index: frame number in the stream.
        score: the smoothed alarm score (NaN for an invalid frame: never an alarm).
        alarm: whether the frame is alarmed (after masks and required zones).
        box: where the score came from (source pixels), or None.
        zones: the zones the box touches.
        timestamp: seconds from the start of the stream, when known.
    """

    index: int
    score: float
    alarm: bool
    box: tuple[int, int, int, int] | None = None
    zones: tuple[str, ...] = ()
    timestamp: float | None = None


@dataclass(frozen=True)
class LifecycleOptions:
    """How alarmed frames become events.

    Attributes:
        camera: the name every event carries.
        min_gap: quiet frames allowed inside one event, so a flicker stays one event.
        min_frames: alarmed frames an event needs before it is announced.
        update_every_s: least wall-clock seconds between two ``update`` messages of one event
            (0: one per change).
        keep_ended: remember only the last this many ended events (None: all; a camera watched
            for months keeps a bounded history, so its memory does not grow with its events).
    """

    camera: str = "camera"
    min_gap: int = 0
    min_frames: int = 1
    update_every_s: float = DEFAULT_UPDATE_EVERY_S
    keep_ended: int | None = None

    def __post_init__(self) -> None:
        if self.update_every_s < 0:
            raise ConfigError(f"update_every_s {self.update_every_s}: give 0 or more seconds")


def new_event_id(wall: float) -> str:
    """``<wall time>-<6 random characters>``: unique, and sorting ids sorts events by start."""
    return f"{wall:.6f}-" + "".join(secrets.choice(_ID_CHARS) for _ in range(6))


class EventLifecycle:
    """Turn frame verdicts into ``new`` / ``update`` / ``end`` messages (Frigate's shape).

    A message is ``{"type": ..., "before": <event dict or None>, "after": <event dict>}``.
    :meth:`attach` adds a snapshot or clip path to an event (open or ended) and gives the
    ``update`` message that announces it.
    """

    def __init__(self, options: LifecycleOptions = LifecycleOptions(),  # noqa: B008 - frozen
                 clock: Callable[[], float] = time.time) -> None:
        self.options = options
        self.clock = clock
        self.tracker = EventTracker(options.min_gap, options.min_frames, keep=options.keep_ended)
        self.current: AlarmEvent | None = None
        self.ended: deque[AlarmEvent] | list[AlarmEvent] = deque(maxlen=options.keep_ended) \
            if options.keep_ended else []
        #: events ended so far (``ended`` may hold only the last few)
        self.ended_count = 0
        self._published: dict[str, Any] | None = None  # the open event as last announced
        self._last_update = 0.0
        self._pending: AlarmEvent | None = None  # the open event (announced once long enough)
        self._last_alarm: tuple[int, float] = (-1, 0.0)  # frame and wall time of the latest alarmed frame

    def frame(self, verdict: FrameVerdict, wall: float | None = None) -> list[dict[str, Any]]:
        """Add one frame; the messages it causes (none, ``new``, ``update`` and/or ``end``)."""
        wall = self.clock() if wall is None else wall
        closed = self.tracker.update(verdict.index, verdict.score, verdict.alarm, verdict.timestamp)
        out: list[dict[str, Any]] = []
        if verdict.alarm:
            self._grow(verdict, wall)
        if closed is not None:
            out += self._end(closed)
        elif self.tracker.current is not None and self._pending is not None:
            out += self._announce(wall)
        elif not self.tracker.active:
            self._pending = None  # a flicker shorter than min_frames ended unreported
        return out

    def finish(self) -> list[dict[str, Any]]:
        """End the open event (end of stream); its ``end`` message, if any."""
        closed = self.tracker.end()
        return self._end(closed) if closed is not None else []

    def attach(self, event_id: str, **paths: str) -> dict[str, Any] | None:
        """Set ``snapshot`` and/or ``clip`` of an event; the ``update`` message announcing it (None
        when the event is unknown or not announced yet: it then carries them when announced)."""
        target = next((e for e in (self.current, self._pending, *reversed(self.ended)) if e and e.id == event_id), None)
        if target is None:
            return None
        before = target.to_dict()
        for key, value in paths.items():
            setattr(target, key, value)
        if target is self._pending and self.current is None:
            return None
        if target is self.current:
            self._published = target.to_dict()
        return {"type": "update", "before": before, "after": target.to_dict()}

    # ---- the open event ------------------------------------------------------------------
    def _grow(self, v: FrameVerdict, wall: float) -> None:
        ev = self._pending
        if ev is None:
            ev = self._pending = AlarmEvent(new_event_id(wall), self.options.camera, v.score, v.score, v.index,
                                            v.index, wall, stream_time=v.timestamp, box=_box(v.box))
        self._last_alarm = (v.index, wall)
        ev.score, ev.alarmed_frames, ev.current_zones = float(v.score), ev.alarmed_frames + 1, list(v.zones)
        ev.zones = sorted(set(ev.zones) | set(v.zones))
        ev.end_time = None
        if v.score > ev.top_score or ev.alarmed_frames == 1:
            ev.top_score, ev.peak_frame, ev.box = float(v.score), v.index, _box(v.box) or ev.box

    def _announce(self, wall: float) -> list[dict[str, Any]]:
        ev = self._pending
        assert ev is not None
        if self.current is None:
            self.current, self._published, self._last_update = ev, ev.to_dict(), wall
            return [{"type": "new", "before": None, "after": ev.to_dict()}]
        now = ev.to_dict()
        if wall - self._last_update < self.options.update_every_s or _same(now, self._published):
            return []
        before, self._published, self._last_update = self._published, now, wall
        return [{"type": "update", "before": before, "after": now}]

    def _end(self, closed: Event | None) -> list[dict[str, Any]]:
        ev, self._pending = self._pending, None
        if closed is None or ev is None:
            return []
        before = self._published if self.current is ev else None
        ev.end_frame, ev.end_time = closed.end, self._last_alarm[1]
        self.ended.append(ev)
        self.ended_count += 1
        self.current, self._published = None, None
        out = [] if before is not None else [{"type": "new", "before": None, "after": replace(ev, end_frame=None,
                                                                                             end_time=None).to_dict()}]
        return out + [{"type": "end", "before": before or out[0]["after"], "after": ev.to_dict()}]


def _box(box: Any) -> list[int] | None:
    return None if box is None else [int(v) for v in box]


def _same(a: dict[str, Any], b: dict[str, Any] | None) -> bool:
    """Whether two announcements of one event differ in nothing but the latest score."""
    if b is None:
        return False
    keys = ("top_score", "zones", "snapshot", "clip", "box")
    return all(a.get(k) == b.get(k) for k in keys)
