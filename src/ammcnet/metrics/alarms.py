"""What a camera operator sees at a fixed alarm threshold: false alarms, caught events, delays.

AUC ranks frames; these say whether the alarms are usable. An *event* is one labelled anomalous
interval (a run of anomalous frames); it is caught when at least one of its frames alarms, and its
delay is the frames from its start to its first alarm. A *false-alarm run* is a run of alarming
normal frames.

>>> import numpy as np
>>> r = alarm_report([np.array([0, 0, 5, 5, 0, 0, 5, 0.])], [np.array([0, 0, 0, 1, 1, 1, 0, 0])], threshold=1.0)
>>> r.false_alarm_rate, r.events, r.events_caught, r.median_delay, r.false_alarm_runs
(0.4, 1, 1, 0.0, 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ammcnet.errors import DataError


@dataclass
class AlarmReport:
    """Alarm figures at one threshold, over every video.

    Attributes:
        threshold: the score above which a frame alarms.
        false_alarm_rate: share of normal frames that alarm.
        events: labelled anomalous intervals.
        events_caught: events with at least one alarming frame.
        event_recall: events_caught / events (nan without events).
        median_delay: median frames from an event's start to its first alarm (caught events; nan if none).
        false_alarm_runs: runs of consecutive alarming normal frames.
    """

    threshold: float
    false_alarm_rate: float
    events: int
    events_caught: int
    event_recall: float
    median_delay: float
    false_alarm_runs: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of every run of True."""
    padded = np.concatenate([[False], mask.astype(bool), [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def alarm_report(scores: Sequence[np.ndarray], labels: Sequence[np.ndarray], threshold: float) -> AlarmReport:
    """Alarm figures of per-video ``scores`` against per-video 0/1 ``labels`` at ``threshold``."""
    if len(scores) != len(labels):
        raise DataError(f"{len(scores)} score arrays but {len(labels)} label arrays: give one per video")
    normal = alarms_on_normal = runs = events = caught = 0
    delays: list[int] = []
    for s, y in zip(scores, labels, strict=True):
        s, y = np.asarray(s, np.float64), np.asarray(y).astype(bool)
        if len(s) != len(y):
            raise DataError(f"a video has {len(s)} scores but {len(y)} labels: score and label the same frames")
        alarm = s > threshold
        normal += int((~y).sum())
        alarms_on_normal += int((alarm & ~y).sum())
        runs += len(_runs(alarm & ~y))
        for a, b in _runs(y):
            events += 1
            hits = np.flatnonzero(alarm[a:b])
            if hits.size:
                caught += 1
                delays.append(int(hits[0]))
    return AlarmReport(
        threshold=float(threshold),
        false_alarm_rate=alarms_on_normal / normal if normal else float("nan"),
        events=events,
        events_caught=caught,
        event_recall=caught / events if events else float("nan"),
        median_delay=float(np.median(delays)) if delays else float("nan"),
        false_alarm_runs=runs,
    )
