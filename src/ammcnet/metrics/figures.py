"""The figures a leaderboard row reports for one scoring mode, every mode on the same frames.

A camera scores causally: its smoothing may look back, never ahead. So the headline is the
**causal micro AUC**; the operator's figures at the 1 % threshold (false-alarm rate on normal
frames, events caught, median delay) are read from the causal score too. The centred (offline)
micro AUC and the macro AUC sit beside it, labelled.

Macro convention: the mean AUC over the test videos that hold **both classes**; a video with one
class only has no AUC of its own, so it is left out and the count of such videos is reported
(``macro_excluded``). The padded convention of AED-SSMTL (one 0 and one 1 appended to each
video) defines an AUC for them too, but on scores that are not min-max normalised per video it
depends on the score's scale, and with per-video min-max it rates a one-class video about 1.0 by
construction; it is kept in the figures as ``macro_padded`` for comparison only.

>>> import numpy as np
>>> y = [np.array([0, 0, 1, 1]), np.array([0, 0, 0, 0])]
>>> s = [np.array([0.1, 0.2, 0.9, 0.8]), np.array([0.3, 0.1, 0.2, 0.1])]
>>> macro_two_class(s, y)
(1.0, 1, 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from ammcnet.errors import DataError
from ammcnet.metrics.alarms import alarm_report
from ammcnet.metrics.auc import auc_macro, auc_micro

#: The primary macro convention, as the tables name it.
MACRO_CONVENTION = "mean over two-class test videos (one-class videos left out, their number given)"


def macro_two_class(scores: Sequence[np.ndarray], labels: Sequence[np.ndarray]) -> tuple[float | None, int, int]:
    """(mean AUC over the videos holding both classes, videos used, videos left out)."""
    aucs = [float(roc_auc_score(np.asarray(y) > 0, s)) for s, y in zip(scores, labels, strict=True)
            if 0 < int((np.asarray(y) > 0).sum()) < len(y)]
    left_out = len(labels) - len(aucs)
    return (float(np.mean(aucs)) if aucs else None), len(aucs), left_out


def mode_figures(offline: Sequence[np.ndarray], live: Sequence[np.ndarray], labels: Sequence[np.ndarray],
                 live_threshold: float | None, first: int) -> dict[str, Any]:
    """Every figure of one scoring mode, from frame ``first`` of each video on.

    Args:
        offline: per-video scores smoothed offline (centred: the smoothing looks ahead).
        live: the same scores smoothed causally, as a camera gets them.
        labels: per-video 0/1 frame labels.
        live_threshold: the alarm threshold of the live score at the 1 % false-alarm rate on held-out
            normal footage (None: the mode has none; the operator figures are then None).
        first: frames skipped at the start of every video (the same for every mode).
    """
    if not (len(offline) == len(live) == len(labels)):
        raise DataError(f"{len(offline)} offline, {len(live)} live and {len(labels)} label arrays: give one per video")
    ys = [np.asarray(y)[first:] > 0 for y in labels]
    on, li = [np.asarray(s, np.float64)[first:] for s in offline], [np.asarray(s, np.float64)[first:] for s in live]
    y = np.concatenate(ys).astype(int)
    macro, used, left_out = macro_two_class(on, ys)
    padded, _ = auc_macro([_unit(s) for s in on], [v.astype(int) for v in ys])
    out: dict[str, Any] = {
        "causal_micro": auc_micro(np.concatenate(li), y),
        "centred_micro": auc_micro(np.concatenate(on), y),
        "macro": macro, "macro_videos": used, "macro_excluded": left_out, "macro_padded": padded,
        "frames": int(len(y)), "first_frame": int(first), "operator": None,
    }
    if live_threshold is not None:
        out["operator"] = alarm_report(li, [v.astype(int) for v in ys], live_threshold).as_dict()
    return out


def _unit(s: np.ndarray) -> np.ndarray:
    """Per-video min-max to [0, 1], which the padded convention assumes (constant: zeros)."""
    lo, hi = float(np.min(s)), float(np.max(s))
    return (s - lo) / (hi - lo) if hi > lo else np.zeros_like(s)
