"""An alarm budget per hour: the threshold at which held-out normal footage opens at most N events an hour.

A per-frame false-alarm rate (``--fpr 0.01``) allows 900 alarmed frames an hour at 25 fps, which
says little about how often someone is called: operators budget *events*. The threshold here is
the lowest at which the held-out normal footage (the scores of normal video the model did not
see, stored in the model file) opens at most ``per_hour`` events an hour, counting events as
:class:`~ammcnet.alarms.lifecycle.EventLifecycle` raises them (the same quiet gap and least
length), with the live, causal smoothing.

Held-out footage is short (minutes), so the rate it can show is coarse: with ``h`` hours of it,
the budget can tell 0, 1/h, 2/h... events an hour apart; :class:`BudgetResult` says how much
footage the threshold rests on, and ``ammcnet info`` and ``ammcnet test`` print it.

>>> import numpy as np
>>> normal = [np.r_[np.zeros(90), [5.0] * 3, np.zeros(90), [3.0] * 3, np.zeros(174)]]
>>> r = alarm_budget_threshold(normal, fps=1.0, per_hour=10.0)
>>> r.threshold >= 3.0 and r.threshold < 5.0, r.events, round(r.hours, 3)
(True, 1, 0.1)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ammcnet.alarms.events import events_from_scores
from ammcnet.errors import ConfigError

#: Candidate thresholds tried between the held-out scores' median and maximum.
CANDIDATES = 400


@dataclass(frozen=True)
class BudgetResult:
    """The threshold of an alarm budget and what it gives on the held-out normal footage.

    Attributes:
        threshold: alarm threshold on the (causally smoothed) score.
        per_hour: the budget asked for.
        events: events the held-out footage opens at ``threshold``.
        hours: hours of held-out footage the threshold rests on.
        events_per_hour: ``events / hours``: the budget reached.
        frame_rate: the share of held-out frames above ``threshold``.
    """

    threshold: float
    per_hour: float
    events: int
    hours: float
    events_per_hour: float
    frame_rate: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    def describe(self) -> str:
        return (f"{self.events_per_hour:.2f} events/h on {self.hours * 60:.1f} min of held-out normal footage "
                f"(budget {self.per_hour:g}/h; {100 * self.frame_rate:.2f} % of frames above)")


def count_events(scores: Sequence[np.ndarray], threshold: float, min_gap: int = 0, min_frames: int = 1) -> int:
    """Events that score sequences (one per video) open at ``threshold`` (alarm = score > threshold)."""
    return sum(len(events_from_scores(s, threshold, min_gap=min_gap, min_frames=min_frames)) for s in scores)


def alarm_budget_threshold(scores: Sequence[np.ndarray], fps: float, per_hour: float, *, min_gap: int = 0,
                           min_frames: int = 1) -> BudgetResult:
    """The lowest threshold at which ``scores`` (held-out normal videos, causally smoothed, at
    ``fps``) open at most ``per_hour`` events an hour.

    Raising a threshold can split one event in two, so the count is not monotonic: candidates
    are tried from the top down and the lowest one whose count, and every higher candidate's,
    keeps within the budget is taken.
    """
    if per_hour < 0 or not np.isfinite(per_hour):
        raise ConfigError(f"--alarms-per-hour {per_hour}: give a number of events an hour, 0 or more")
    if fps <= 0:
        raise ConfigError(f"frame rate {fps}: the alarm budget needs the footage's frames per second")
    videos = [np.asarray(s, np.float64) for s in scores if len(s)]
    if not videos:
        raise ConfigError("the alarm budget needs held-out normal scores; refit the head (ammcnet fit or calibrate)")
    pooled = np.concatenate(videos)
    hours = len(pooled) / fps / 3600.0
    allowed = per_hour * hours
    top = float(pooled.max())
    candidates = np.unique(np.quantile(pooled, np.linspace(0.5, 1.0, CANDIDATES)))[::-1]
    chosen, events = top, 0
    for t in candidates:
        n = count_events(videos, float(t), min_gap, min_frames)
        if n > allowed:
            break
        chosen, events = float(t), n
    return BudgetResult(chosen, float(per_hour), events, hours, events / hours if hours else 0.0,
                        float((pooled > chosen).mean()))
