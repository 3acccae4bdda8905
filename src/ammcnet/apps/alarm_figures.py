"""How often a model would call someone: its alarm figures on held-out normal footage.

``ammcnet info`` and ``ammcnet test`` report, for the model's region mode, what the thresholds
mean in events an hour on the held-out normal footage stored in the model file: at the per-frame
1 % threshold (``--fpr 0.01``), and the thresholds an alarm budget of 1 and 10 events an hour
(``--alarms-per-hour``) would set. Events are counted as ``detect`` raises them (a quiet gap of
one second, one alarmed frame at least) with the live, causal smoothing.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ammcnet.alarms.budget import alarm_budget_threshold, count_events
from ammcnet.errors import AmmcError
from ammcnet.scoring.fusion import Smoothing, smooth
from ammcnet.scoring.head_model import HeadModel, open_model
from ammcnet.scoring.region_head import RECORD, RegionHeadComponent
from ammcnet.scoring.scorer import Scorer

#: Frame rate assumed when the model file does not know its footage's.
ASSUMED_FPS = 25.0
#: Budgets reported, events an hour.
BUDGETS = (1.0, 10.0)
#: Quiet seconds inside one event (``ammcnet detect``'s default).
QUIET_S = 1.0


def alarm_figures(model: str | os.PathLike[str], fps: float | None = None) -> dict[str, Any] | None:
    """The alarm figures of a model file's region head (None when it has none or cannot be read)."""
    try:
        loaded = open_model(model)
    except AmmcError:
        return None
    known = loaded.fps if isinstance(loaded, HeadModel) else None
    return alarm_figures_of(loaded.scorer, loaded.scoring.smoothing, fps or known)


def alarm_figures_of(scorer: Scorer, smoothing: Smoothing, fps: float | None) -> dict[str, Any] | None:
    """:func:`alarm_figures` of a loaded scorer (its region head) and smoothing (made causal here);
    ``fps`` None: :data:`ASSUMED_FPS`, flagged as assumed."""
    if RegionHeadComponent.component not in scorer.components:
        return None
    component = scorer.components[RegionHeadComponent.component]
    causal = smoothing.causal_copy()
    normal = [smooth(np.asarray(s, np.float64), causal) for s in component.normal_scores(RECORD)]
    return figures_of(normal, float(fps or ASSUMED_FPS), fps_known=fps is not None)


def figures_of(normal: list[np.ndarray], fps: float, *, fps_known: bool = True) -> dict[str, Any]:
    """Events an hour at the 1 % threshold and at the budgets' thresholds, on smoothed normal scores."""
    gap = int(round(QUIET_S * fps))
    pooled = np.concatenate(normal)
    hours = len(pooled) / fps / 3600.0
    at_fpr = float(np.quantile(pooled, 0.99))
    per_hour = count_events(normal, at_fpr, gap) / hours if hours else 0.0
    budgets = {f"{b:g}": alarm_budget_threshold(normal, fps, b, min_gap=gap).to_dict() for b in BUDGETS}
    return {"fps": fps, "fps_known": fps_known, "held_out_minutes": hours * 60.0,
            "fpr_0.01": {"threshold": at_fpr, "events_per_hour": per_hour}, "budgets": budgets}
