"""Alarm events: runs of alarmed frames, merged across short gaps, with their peak.

An event opens at the first alarmed frame and closes once ``min_gap + 1`` consecutive frames
are quiet (so gaps of up to ``min_gap`` quiet frames do not split it); events shorter than
``min_frames`` alarmed frames are dropped as flicker.

>>> events_from_scores([0, 5, 6, 0, 7, 0, 0, 0, 9], threshold=4, min_gap=1)
[Event(start=1, end=4, peak_frame=4, peak_score=7.0, alarmed_frames=3, start_time=None, end_time=None), \
Event(start=8, end=8, peak_frame=8, peak_score=9.0, alarmed_frames=1, start_time=None, end_time=None)]
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ammcnet.errors import ConfigError


@dataclass
class Event:
    """One alarm event; ``start`` and ``end`` are the first and last alarmed frame (inclusive)."""

    start: int
    end: int
    peak_frame: int
    peak_score: float
    alarmed_frames: int
    start_time: float | None = None
    end_time: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class EventTracker:
    """Group alarms into :class:`Event` objects online, one frame at a time.

    Args:
        min_gap: quiet frames allowed inside one event (0 = every quiet frame ends it).
        min_frames: alarmed frames an event needs to be reported.
        keep: remember only the last ``keep`` reported events (None: all of them).
    """

    def __init__(self, min_gap: int = 0, min_frames: int = 1, keep: int | None = None) -> None:
        if min_gap < 0 or min_frames < 1:
            raise ConfigError(f"min_gap must be >= 0 and min_frames >= 1, got {min_gap}, {min_frames}")
        self.min_gap = int(min_gap)
        self.min_frames = int(min_frames)
        #: the reported events, the last ``keep`` of them when given (a camera watched for months)
        self.events: deque[Event] | list[Event] = deque(maxlen=keep) if keep else []
        self._open: Event | None = None
        self._quiet = 0

    def update(self, index: int, score: float, alarm: bool, timestamp: float | None = None) -> Event | None:
        """Add one frame; returns the event that this frame closed, if any."""
        closed = None
        if alarm:
            if self._open is None:
                self._open = Event(index, index, index, float(score), 0, timestamp, timestamp)
            ev = self._open
            ev.end, ev.end_time = index, timestamp
            ev.alarmed_frames += 1
            if score > ev.peak_score:
                ev.peak_score, ev.peak_frame = float(score), index
            self._quiet = 0
        elif self._open is not None:
            self._quiet += 1
            if self._quiet > self.min_gap:
                closed = self._close()
        return closed

    def _close(self) -> Event | None:
        ev, self._open, self._quiet = self._open, None, 0
        if ev is not None and ev.alarmed_frames >= self.min_frames:
            self.events.append(ev)
            return ev
        return None

    def end(self) -> Event | None:
        """Close the open event (end of stream); returns it when it is long enough to be reported."""
        return self._close()

    def finish(self) -> list[Event]:
        """Close an open event (end of stream) and return every reported event."""
        self._close()
        return list(self.events)

    def snapshot(self) -> list[Event]:
        """Events so far, including the open one if it is long enough (for interim files)."""
        out = list(self.events)
        if self._open is not None and self._open.alarmed_frames >= self.min_frames:
            out.append(Event(**asdict(self._open)))
        return out

    @property
    def current(self) -> Event | None:
        """The open event once it is long enough to be reported (``min_frames``), else None."""
        ev = self._open
        return ev if ev is not None and ev.alarmed_frames >= self.min_frames else None

    @property
    def active(self) -> bool:
        """True while an event is open."""
        return self._open is not None


def events_from_scores(
    scores: Sequence[float],
    threshold: float,
    *,
    frames: Sequence[int] | None = None,
    min_gap: int = 0,
    min_frames: int = 1,
) -> list[Event]:
    """Offline form of :class:`EventTracker` for a whole score sequence (alarm = score > threshold)."""
    tracker = EventTracker(min_gap, min_frames)
    idx = list(frames) if frames is not None else list(range(len(scores)))
    for i, s in zip(idx, scores, strict=True):
        tracker.update(i, float(s), float(s) > threshold)
    return tracker.finish()


class EventLog:
    """The events file: one JSON object per line, appended and flushed to disk as each happens.

    Unlike ``events.json`` (rewritten atomically), this log is what an operator tails. Each line
    is written with one ``write`` call, flushed and ``fsync``-ed before the next, so a ``kill -9``
    or a power cut loses at most the line being written and every complete line is valid JSON.
    Kinds: ``start``, ``alarm`` (a closed alarm event), ``gap`` (the source dropped and came back,
    or was given up), ``invalid`` (the model's output was NaN or inf for a frame) and ``stop``.
    Every line carries ``time``, the wall clock in UTC (ISO 8601).

    >>> import tempfile, pathlib, json
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "events.jsonl"
    >>> with EventLog(p) as log:
    ...     _ = log.write("gap", start_time=1.0, end_time=3.5)
    >>> json.loads(p.read_text())["kind"]
    'gap'
    """

    def __init__(self, path: str | os.PathLike[str], *, sync: bool = True) -> None:
        self.path = Path(path)
        self.sync = sync
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("a", encoding="utf-8")
        self._lock = threading.Lock()  # gaps are reported from the reader's thread
        self.lines = 0

    def write(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Append one event (``kind`` plus JSON-able fields; NaN/inf become null) and flush it."""
        row = {"kind": kind, "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
               **{k: _plain(v) for k, v in fields.items()}}
        line = json.dumps(row, allow_nan=False) + "\n"
        with self._lock:
            if self._fh.closed:
                return row
            self._fh.write(line)
            self._fh.flush()
            if self.sync:
                os.fsync(self._fh.fileno())
            self.lines += 1
        return row

    def close(self) -> None:
        with self._lock:
            if not self._fh.closed:
                self._fh.close()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _plain(value: Any) -> Any:
    """JSON-able form of a value: NaN/inf as null, numpy scalars as Python numbers, dicts and lists walked."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
