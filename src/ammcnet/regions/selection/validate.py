"""Choosing the head's settings without test labels: held-out normal videos + synthetic anomalies.

The training videos are split into a fitting set and whole held-out videos. A candidate setting
is fitted on the fitting set and measured on (a) the held-out normal videos: the share of their
frames above the fitting set's 1 % threshold (false alarms on unseen normal footage), and (b)
synthetic anomalies made from the held-out videos (:mod:`ammcnet.regions.selection.synthetic`): the frame
AUC of each kind, pooled with the held-out normal videos. The candidate with the best mean AUC
among those whose false-alarm rate stays under a bound wins. Finer measures of the held-out normal
footage (:func:`normal_footage_measures`) are kept beside them for every candidate: they rank no
candidate, because on the design sets none of them foresaw a cost that the test footage showed
(docs/decisions.md D33).

Memory does not grow with the footage: window features wait on disk
(:class:`ammcnet.regions.store.FeatureStore`), parts keep their statistics' top values only, the
held-out videos are kept as per-frame maxima of each part (:meth:`RegionHead.fuse_maxima`), and
each synthetic video is made, scored by every candidate and dropped before the next, as the
stretch it changes: its other frames and flows are the held-out video's, and so are their scores.

>>> rank_key(ValidationResult("a", None, {"fast": 0.9}, 0.9, 0.02, 0.0))
(True, 0.9, -0.02)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter1d
from sklearn.metrics import roc_auc_score

from ammcnet.errors import DataError
from ammcnet.regions.config import APPEARANCE_DESCRIPTORS, RegionHeadConfig
from ammcnet.regions.features import WindowFeatures
from ammcnet.regions.footage import FlowSpeeds, flows_of_frames
from ammcnet.regions.head import PartFits, RegionHead, features_key, features_of, fit_part, frame_maxima
from ammcnet.regions.selection.synthetic import (
    KINDS,
    MOTION_KINDS,
    SyntheticEdit,
    SyntheticVideo,
    footage_motion,
    footage_object_height,
    iter_synthetic_edits,
    iter_validation_set,
)
from ammcnet.regions.store import FeatureStore, has_grey, wants_looks
from ammcnet.regions.teach import teach_head

#: Largest false-alarm rate on held-out normal videos (at the 1 % threshold) a winner may have.
MAX_FALSE_ALARM = 0.03
#: Temporal smoothing (centred Gaussian, frames) applied before measuring, as at test time.
SIGMA = 3.0


@dataclass
class ValidationResult:
    """How one candidate did on the validation set.

    Attributes:
        label: the candidate's name.
        config: its settings.
        auc: synthetic kind -> frame AUC (held-out normal videos pooled in as negatives).
        mean_auc: mean over kinds.
        false_alarm: share of held-out normal frames above the fitting set's 1 % threshold.
        spread: standard deviation of the per-video false-alarm rates.
        extra: finer measures of the held-out normal footage (:func:`normal_footage_measures`).
    """

    label: str
    config: RegionHeadConfig | None
    auc: dict[str, float]
    mean_auc: float
    false_alarm: float
    spread: float
    extra: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"label": self.label, "config": self.config.as_dict() if self.config else None, "auc": self.auc,
                "mean_auc": self.mean_auc, "false_alarm": self.false_alarm, "spread": self.spread, **self.extra}


def rank_key(r: ValidationResult) -> tuple[bool, float, float]:
    """Sort key, best last: within the false-alarm bound first, then mean AUC, then fewer alarms."""
    return (r.false_alarm <= MAX_FALSE_ALARM, round(r.mean_auc, 6), -r.false_alarm)


def _smoothed(scores: np.ndarray) -> np.ndarray:
    return gaussian_filter1d(np.asarray(scores, np.float64), SIGMA, mode="nearest") if SIGMA > 0 else scores


#: Window features per (flows, window geometry) for :func:`validate`: kept on disk now.
FeatureCache = FeatureStore


#: The settings only the appearance part reads (candidates that differ in them share their motion parts).
APPEARANCE_SETTINGS: tuple[str, ...] = ("appearance_descriptor", "appearance_frames", "try_appearance")


def part_settings(name: str, config: RegionHeadConfig) -> tuple:
    """The settings part ``name`` may depend on: all but the weights for a motion part, less the
    appearance part's own; for the appearance part, the window geometry and its own."""
    items = config.as_dict()
    if name == "appearance":
        keep = ("height", "window", "stride", "appearance_descriptor", "appearance_frames")
        return tuple((k, repr(items[k])) for k in keep)
    return tuple(sorted((k, repr(v)) for k, v in items.items() if k != "weights" and k not in APPEARANCE_SETTINGS))


class PartCache(PartFits):
    """Fitted parts, and their frame maxima, shared between candidates.

    A part depends on its own settings and the features it is fitted on, not on which other
    parts a candidate weighs: the direction part of ``perspective+direction`` is the one of
    ``speed+direction+place``. Its kNN queries were most of the choice's time; sharing it makes
    the choice several times faster with the same numbers (tested).
    """

    def __init__(self) -> None:
        self._parts: dict[tuple, tuple[tuple[Any, ...], Any]] = {}
        self._maxima: dict[tuple[int, int], tuple[Any, Any, np.ndarray]] = {}

    def fit(self, name: str, feats: Sequence[WindowFeatures], config: RegionHeadConfig) -> Any:
        """:func:`ammcnet.regions.head.fit_part`, once per part, settings and features."""
        key = (name, part_settings(name, config), tuple(id(f) for f in feats))
        hit = self._parts.get(key)
        if hit is None or any(a is not b for a, b in zip(hit[0], feats, strict=True)):
            hit = self._parts[key] = (tuple(feats), fit_part(name, feats, config))
        return hit[1]

    def maxima(self, part: Any, f: Any) -> np.ndarray:
        """:func:`ammcnet.regions.head.frame_maxima`, once per part and features (both are held,
        so their ids are not reused meanwhile)."""
        hit = self._maxima.get((id(part), id(f)))
        if hit is None or hit[0] is not part or hit[1] is not f:
            hit = self._maxima[(id(part), id(f))] = (part, f, frame_maxima(part, f))
        return hit[2]


@dataclass
class SyntheticFlows:
    """A synthetic anomaly as validation scores it.

    Attributes:
        video: the held-out normal video it edits (an index into the normal flows), or None for a
            video of its own (``flows`` are then all of it).
        start: the first frame whose flow ``flows`` replace.
        flows: (t, H, W, 2) the flows that differ from the normal video's.
        labels: (T,) bool, the whole video's frame labels.
        kind: its kind.
    """

    video: int | None
    start: int
    flows: np.ndarray
    labels: np.ndarray
    kind: str


def validate(label: str, config: RegionHeadConfig, fit_flows: Sequence[np.ndarray], normal_flows: Sequence[np.ndarray],
             synthetic: Sequence[tuple[np.ndarray, np.ndarray, str]], fpr: float = 0.01,
             cache: FeatureStore | None = None, parts: PartCache | None = None) -> ValidationResult:
    """Fit ``config`` on ``fit_flows``; measure it on held-out normal and synthetic flows.

    Args:
        synthetic: (flows (T, H, W, 2), labels (T,) bool, kind) per synthetic video.
        cache: window features shared between calls (the flow arrays must stay alive).
        parts: fitted parts and their scores shared between calls (with the same ``cache``).
    """
    made = [SyntheticFlows(None, 0, f, lab, kind) for f, lab, kind in synthetic]
    return validate_candidates([(config, label)], fit_flows, normal_flows, made, fpr, cache=cache, parts=parts)[0]


def validate_candidates(configs: Sequence[tuple[RegionHeadConfig, str]], fit_flows: Sequence[Any],
                        normal_flows: Sequence[Any], synthetic: Iterable[SyntheticFlows], fpr: float = 0.01, *,
                        cache: FeatureStore | None = None, parts: PartCache | None = None) -> list[ValidationResult]:
    """:func:`validate` for each (settings, label) of ``configs`` at once: every candidate is fitted
    first, then each synthetic video (``synthetic`` may make them one at a time) is scored by all
    of them and dropped."""
    if not normal_flows:
        raise DataError("validation needs at least one held-out normal video")
    parts = parts or PartCache()
    with contextlib.nullcontext(cache) if cache is not None else FeatureStore() as store:
        fitted = [_fitted(label, cfg, fit_flows, normal_flows, store, parts) for cfg, label in configs]
    scores, labels = _synthetic_scores(fitted, synthetic)
    return [_result(c, s, labels, fpr) for c, s in zip(fitted, scores, strict=True)]


@dataclass
class _Fitted:
    """A candidate fitted on the fitting videos, and each held-out normal video's part maxima."""

    label: str
    head: RegionHead
    normal: list[dict[str, np.ndarray]]


def _fitted(label: str, config: RegionHeadConfig, fit_flows: Sequence[Any], normal_flows: Sequence[Any],
            store: FeatureStore, parts: PartCache) -> _Fitted:
    head = RegionHead.fit_features([store.get(f, config) for f in fit_flows], config, parts)
    normal = [{p: parts.maxima(part, store.get(f, config)) for p, part in head.parts.items()} for f in normal_flows]
    return _Fitted(label, head, normal)


def _synthetic_scores(fitted: Sequence[_Fitted], synthetic: Iterable[SyntheticFlows]
                      ) -> tuple[list[dict[str, list[np.ndarray]]], dict[str, list[np.ndarray]]]:
    """Each candidate's smoothed scores of each synthetic video, by kind, and the labels by kind.

    A synthetic video's frames outside its flows' stretch score as the held-out video's do, so
    only the stretch is scored, its part maxima spliced into the held-out video's. Features and
    part maxima of the stretch are shared by candidates with the same window and part.
    """
    scores: list[dict[str, list[np.ndarray]]] = [{} for _ in fitted]
    labels: dict[str, list[np.ndarray]] = {}
    for s in synthetic:
        feats: dict[tuple, WindowFeatures] = {}
        memo: dict[int, np.ndarray] = {}
        # looks for every candidate when any wants them: motion parts then share their maxima too
        look = any(wants_looks(s.flows, c.head.config) for c in fitted)
        for c, out in zip(fitted, scores, strict=True):
            cfg = c.head.config
            key = features_key(cfg, look)
            if key not in feats:
                feats[key] = features_of(np.asarray(s.flows, np.float32), cfg, look)
            for part in c.head.parts.values():
                if id(part) not in memo:
                    memo[id(part)] = frame_maxima(part, feats[key])
            maxima = {p: memo[id(part)] for p, part in c.head.parts.items()}
            if s.video is not None:
                maxima = {p: _spliced(c.normal[s.video][p], s.start, m) for p, m in maxima.items()}
            out.setdefault(s.kind, []).append(_smoothed(c.head.fuse_maxima(maxima)))
        labels.setdefault(s.kind, []).append(s.labels)
    return scores, labels


def _spliced(normal: np.ndarray, start: int, stretch: np.ndarray) -> np.ndarray:
    """A synthetic video's frame maxima: the held-out video's, ``stretch`` from ``start`` on. Frame
    0 takes frame 1's first: a synthetic video is a video of its own, whose flow 0 repeats its flow
    1, where a held-out stretch of a longer video has the flow from the frame before it."""
    out = normal.copy()
    out[:1] = out[1:2]
    out[start:start + len(stretch)] = stretch
    return out


def _result(c: _Fitted, scores: dict[str, list[np.ndarray]], labels: dict[str, list[np.ndarray]],
            fpr: float) -> ValidationResult:
    """One candidate's numbers: false alarms on the held-out normal videos at the threshold of the
    fitting set's held-out scores, and each kind's AUC with those videos pooled in as negatives."""
    threshold = float(np.quantile(np.concatenate([_smoothed(s) for s in c.head.normal_scores]), 1.0 - fpr))
    normal = [_smoothed(c.head.fuse_maxima(m)) for m in c.normal]
    per_video = np.array([(s > threshold).mean() for s in normal])
    pooled = np.concatenate(normal)
    auc = {}
    for kind, kind_scores in scores.items():
        y = np.concatenate([np.concatenate(labels[kind]), np.zeros(len(pooled), bool)])
        auc[kind] = float(roc_auc_score(y, np.concatenate([*kind_scores, pooled])))
    false_alarm = float((pooled > threshold).mean())
    return ValidationResult(c.label, c.head.config, auc, float(np.mean(list(auc.values()))), false_alarm,
                            float(per_video.std()), normal_footage_measures(c.head.normal_scores, normal))


#: Alarm rates on held-out normal footage measured beside the 1 % one: at a 1 % threshold a
#: held-out stretch of a hundred frames alarms on one frame or none, for every candidate alike.
LOOSE_FALSE_ALARM_RATES: tuple[float, ...] = (0.05, 0.1)


def normal_footage_measures(fold_scores: Sequence[np.ndarray], held_out: Sequence[np.ndarray]) -> dict[str, float]:
    """How the held-out normal videos' scores sit among the fitting set's own held-out scores.

    ``fold_scores``: the head's fold-held-out scores (what its thresholds are read from);
    ``held_out``: the smoothed scores of the validation's held-out normal videos. Returned:
    ``false_alarm_5`` / ``false_alarm_10``, the share of held-out frames above the fold scores'
    95th / 90th percentile, and ``normal_rank``, the mean percentile of a held-out frame among the
    fold scores (0.5 when unseen normal footage scores as the fitting set's own held-out footage).
    A part that reacts to what normal footage varies in (clothing, light) raises them.
    """
    reference = np.sort(np.concatenate([_smoothed(s) for s in fold_scores]))
    pooled = np.concatenate(held_out)
    out = {f"false_alarm_{round(100 * rate)}": float((pooled > np.quantile(reference, 1.0 - rate)).mean())
           for rate in LOOSE_FALSE_ALARM_RATES}
    out["normal_rank"] = float(np.searchsorted(reference, pooled, side="right").mean() / max(len(reference), 1))
    return out


def choose(results: Sequence[ValidationResult]) -> ValidationResult:
    """The best candidate by :func:`rank_key`."""
    if not results:
        raise DataError("no candidate settings to choose from")
    return max(results, key=rank_key)


def on_kinds(result: ValidationResult, kinds: Sequence[str]) -> ValidationResult:
    """``result`` as measured on the synthetic ``kinds`` alone (its mean AUC over those)."""
    auc = {k: v for k, v in result.auc.items() if k in kinds}
    return replace(result, auc=auc, mean_auc=float(np.mean(list(auc.values()))) if auc else result.mean_auc)


#: The appearance part joins the motion parts only when it lifts the mean synthetic AUC over every
#: kind by at least this much...
APPEARANCE_MIN_GAIN = 0.01
#: ...and lowers the motion kinds' mean AUC by no more than this (the motion parts' own work).
APPEARANCE_MOTION_TOLERANCE = 0.005


def choose_in_two_stages(results: Sequence[ValidationResult]) -> tuple[ValidationResult, ValidationResult]:
    """(chosen, motion): the motion parts first, then whether the appearance part joins them.

    1. Among the candidates without the appearance part, the best on the motion kinds alone
       (:data:`~ammcnet.regions.selection.synthetic.MOTION_KINDS`): the choice as it was before the
       appearance kinds existed, so adding them does not move it (their anomalies are drawn from a
       random stream of their own).
    2. That winner with look parts added (:func:`appearance_variants`: the appearance part at each
       weight and descriptor, the moving-look part at each weight, and both): the best of
       them on every kind, if it stays within the false-alarm bound, gains at least
       :data:`APPEARANCE_MIN_GAIN` of mean AUC over every kind, costs the motion kinds at most
       :data:`APPEARANCE_MOTION_TOLERANCE` and, with both look parts, gains that much over each
       alone (:func:`_each_look_earns`); else the motion winner alone.
    """
    motion_view = choose([on_kinds(r, MOTION_KINDS) for r in results if not _reads_looks(r)])
    motion = next(r for r in results if r.label == motion_view.label)
    floor = motion_view.mean_auc - APPEARANCE_MOTION_TOLERANCE
    by_label = {r.label: r for r in results}
    joined = [r for r in results if any(r.label.startswith(motion.label + suffix) for suffix in LOOK_LABELS)
              and r.false_alarm <= MAX_FALSE_ALARM and r.mean_auc >= motion.mean_auc + APPEARANCE_MIN_GAIN
              and on_kinds(r, MOTION_KINDS).mean_auc >= floor and _each_look_earns(r, by_label)]
    return (max(joined, key=rank_key) if joined else motion), motion


def _each_look_earns(result: ValidationResult, by_label: dict[str, ValidationResult]) -> bool:
    """Whether each look part of a candidate with both (appearance and moving look) lifts its mean
    synthetic AUC by :data:`APPEARANCE_MIN_GAIN` over the same candidate with the other look part
    alone: a part that adds nothing the other did not already see only adds its noise. True for a
    candidate with one look part or none."""
    label = result.label
    appearance, moving = label.rfind(LOOK_LABELS[0]), label.rfind(LOOK_LABELS[1])
    if appearance < 0 or moving < appearance:  # one look part (a combination labels appearance first)
        return True
    others = [by_label.get(label[:moving]), by_label.get(label[:appearance] + label[moving:])]
    return all(o is not None and result.mean_auc >= o.mean_auc + APPEARANCE_MIN_GAIN for o in others)


#: How :func:`appearance_variants` labels a look part added to a candidate (after its label): a
#: variant of the motion winner is its label followed by one of these, not any label it begins
#: (``..., direction from 0.25 x static`` begins with ``...``'s label too).
LOOK_LABELS: tuple[str, ...] = (", appearance (", ", moving look (")


def _reads_looks(result: ValidationResult) -> bool:
    return bool(result.config and result.config.reads_looks())


#: Window sides (fractions of the analysis height) tried when the footage's object size cannot be
#: measured (nothing moves in the normal flows), and part sets tried by default.
WINDOWS: tuple[float, ...] = (24 / 240, 32 / 240, 48 / 240)
#: Bounds of the object-sized window, in fractions of the analysis height.
OBJECT_WINDOW_RANGE: tuple[float, float] = (16 / 240, 64 / 240)
#: Part sets on the pixel speed (``speed``: fast anywhere is unusual).
SPEED_PART_SETS: tuple[dict[str, float], ...] = (
    {"speed": 1.0}, {"speed": 1.0, "direction": 1.0}, {"speed": 1.0, "place": 1.0},
    {"speed": 1.0, "direction": 1.0, "place": 1.0},
)


def _with_part(part: str) -> tuple[dict[str, float], ...]:
    """:data:`SPEED_PART_SETS` with ``part`` in place of ``speed``."""
    return tuple({(part if p == "speed" else p): w for p, w in s.items()} for s in SPEED_PART_SETS)


#: The same sets with the straight-line perspective part ``perspective`` in place of ``speed``:
#: speed over what a walker at that row normally moves, extrapolated to rows where nobody moved
#: in training (:class:`ammcnet.regions.parts.PerspectivePart`).
PERSPECTIVE_PART_SETS: tuple[dict[str, float], ...] = _with_part("perspective")
#: Part sets tried by default: the validation set chooses between pixel speed and perspective
#: (perspective among them: decided after test results, docs/decisions.md D27).
PART_SETS: tuple[dict[str, float], ...] = SPEED_PART_SETS + PERSPECTIVE_PART_SETS
#: The same sets with the perspective-free part ``relative`` (blob speed over blob height) in
#: place of ``speed``. The speed part alarms on people who walk nearer the camera than anyone
#: did in training (they move more pixels per frame); this one does not, but it also ranks
#: Ped2's anomalies far worse, and the synthetic set cannot tell the two cases apart
#: (BENCHMARKS.md). Not tried by default (decided after Ped2 and real-clip test results:
#: docs/decisions.md D20).
RELATIVE_PART_SETS: tuple[dict[str, float], ...] = _with_part("relative")
#: The same sets with the per-row part ``row`` (a table of each row's normal speed, no line) in
#: place of ``speed``. Not tried by default (decided after a Ped2 test result: docs/decisions.md
#: D19): the synthetic set preferred them on Ped2, whose test AUC then fell by 4.7 points.
ROW_PART_SETS: tuple[dict[str, float], ...] = _with_part("row")
#: Fewer training videos than this are cut into stretches so whole stretches can be held out.
MIN_VIDEOS = 4
#: Shortest stretch when cutting (frames).
MIN_STRETCH = 40
#: The direction part's moving threshold (``static``) is tried at these multiples: a window's mean
#: speed is diluted by its background, so a small or far figure (a walker on a far path) can stay
#: under the default, 0.5 px per frame at 240 rows, and its direction is never looked at
#: (decided after demo scenes 6-8's test videos: docs/decisions.md D23).
DIRECTION_STATIC_FACTORS: tuple[float, ...] = (1.0, 0.25)
#: Synthetic videos of each kind per held-out video. With one, the choice between two candidates
#: whose mean synthetic AUCs were within 0.01 flipped with the generator's seed (BENCHMARKS.md).
SYNTHETIC_PER_KIND = 3


def object_window(flows: Sequence[np.ndarray], default: float) -> float:
    """The object-sized window side (a fraction of the grid height) of normal flows: the median
    moving blob's height, within :data:`OBJECT_WINDOW_RANGE`; ``default`` when nothing moves."""
    height = footage_object_height(flows)
    return default if height is None else _window_for(height, int(np.shape(flows[0])[1]))


def _window_for(height: float, rows: int) -> float:
    return float(np.clip(height / rows, *OBJECT_WINDOW_RANGE))


@dataclass
class Footage:
    """One normal training video (or stretch) for validation: its analysis flows and frames.

    ``flows``: an array or a :class:`~ammcnet.regions.footage.FlowFile`; ``frames()``: the frames
    whose analysis flows they are (synthetic anomalies are made from them, and their unchanged
    frames are scored as these flows), an array or a lazy reader such as
    :class:`~ammcnet.regions.footage.AnalysisFrames`.
    """

    name: str
    flows: Any
    frames: Callable[[], Any]


def stretches(videos: Sequence[Footage], parts: int = MIN_VIDEOS) -> list[Footage]:
    """Cut few long videos into ``parts`` stretches overall, so whole stretches can be held out."""
    if len(videos) >= parts:
        return list(videos)
    out: list[Footage] = []
    per_video = max(1, -(-parts // len(videos)))
    for v in videos:
        n = len(v.flows)
        k = max(1, min(per_video, n // MIN_STRETCH))
        cuts = np.linspace(0, n, k + 1).astype(int)
        for a, b in zip(cuts, cuts[1:], strict=False):
            out.append(Footage(f"{v.name}[{a}:{b}]", v.flows[a:b], _slice(v.frames, a, b)))
    return out


def _slice(frames: Callable[[], Any], a: int, b: int) -> Callable[[], Any]:
    return lambda: frames()[a:b]


@dataclass
class Selection:
    """The chosen settings, every candidate's numbers, and what the validation set was."""

    best: ValidationResult
    results: list[ValidationResult]
    held_out: list[str]
    synthetic: int
    speed_px: float
    object_px: int | None = None
    rotations: int = 1
    motion: ValidationResult | None = None

    def as_dict(self) -> dict:
        return {"chosen": self.best.label, "config": self.best.config.as_dict() if self.best.config else None,
                "motion_chosen": self.motion.label if self.motion else self.best.label,
                "held_out": self.held_out, "synthetic_videos": self.synthetic, "normal_speed_px": self.speed_px,
                "object_px": self.object_px, "rotations": self.rotations,
                "candidates": [r.as_dict() for r in self.results]}


def candidates(base: RegionHeadConfig, windows: Sequence[float],
               part_sets: Sequence[dict[str, float]]) -> Iterator[tuple[RegionHeadConfig, str]]:
    """Every candidate setting and its label: each window with each part set, and each set with the
    direction part once more per :data:`DIRECTION_STATIC_FACTORS` (its moving threshold lowered).
    With ``base.try_appearance``, each of those once more per appearance descriptor and weight
    (:func:`appearance_variants`)."""
    for window in windows:
        for weights in part_sets:
            parts = f"window {window * 240:.0f}/240, parts {'+'.join(p for p, w in weights.items() if w)}"
            factors = DIRECTION_STATIC_FACTORS if weights.get("direction") else (1.0,)
            for factor in factors:
                label = parts if factor == 1.0 else f"{parts}, direction from {factor:g} x static"
                config = replace(base, window=window, weights=dict(weights), static=base.static * factor)
                yield config, label
                if base.try_appearance and not weights.get("appearance"):
                    yield from appearance_variants(config, label)


#: Weights the appearance part is tried at, beside the motion parts' 1: the synthetic set says
#: whether it joins, and how loudly (0.5: only looks twice as far from normal as held-out normal
#: footage's top frames count as much as a motion part at its scale).
APPEARANCE_WEIGHTS: tuple[float, ...] = (0.5, 1.0)
#: Weights the moving-look part is tried at: its frame score (1 = unseen normal footage's top
#: moving look) is added to the head's, so 0.25 moves a frame by a quarter of the head's scale
#: at most where a motion part alone would have to double.
MOVING_LOOK_WEIGHTS: tuple[float, ...] = (0.25, 0.5, 1.0)


def appearance_variants(config: RegionHeadConfig, label: str) -> Iterator[tuple[RegionHeadConfig, str]]:
    """``config`` with look parts added: the appearance part at each descriptor and each of
    :data:`APPEARANCE_WEIGHTS`, the moving-look part (added to the score) at each of
    :data:`MOVING_LOOK_WEIGHTS`, then both together at each pair of those. The two see different
    things (what is unusual *at a place*, and what is unusual *among moving things*), so the choice
    may want either, neither or both (:func:`choose_in_two_stages` asks each to earn its place)."""
    looks = [(replace(config, weights={**config.weights, "appearance": weight}, appearance_descriptor=descriptor),
              _appearance_label(label, descriptor, weight))
             for descriptor in APPEARANCE_DESCRIPTORS for weight in APPEARANCE_WEIGHTS]
    yield from looks
    for weight in MOVING_LOOK_WEIGHTS:
        yield replace(config, weights={**config.weights, "moving_look": weight}), _moving_look_label(label, weight)
    for look, look_label in looks:
        for weight in MOVING_LOOK_WEIGHTS:
            yield replace(look, weights={**look.weights, "moving_look": weight}), _moving_look_label(look_label, weight)


def _appearance_label(label: str, descriptor: str, weight: float) -> str:
    return f"{label}{LOOK_LABELS[0]}{descriptor}) x{weight:g}"


def _moving_look_label(label: str, weight: float) -> str:
    return f"{label}{LOOK_LABELS[1]}added) x{weight:g}"


@dataclass
class ValidationFootage:
    """Normal training footage split for validation, and what synthetic anomalies are made from it.

    Attributes:
        fit: the videos (or stretches) candidates are fitted on.
        held_out: whole normal videos held out (every 4th, counted from the last).
        speed_px: median moving speed of the fitting flows, px per frame of the flow grid.
        direction: their dominant (u, v) direction.
        object_px: median moving-blob height in px of the flow grid (None: nothing moves).
    """

    fit: list[Footage]
    held_out: list[Footage]
    speed_px: float
    direction: tuple[float, float]
    object_px: float | None

    @property
    def grid(self) -> tuple[int, int]:
        """(H, W) of the flow grid."""
        return int(self.fit[0].flows.shape[1]), int(self.fit[0].flows.shape[2])

    def side(self, frame_rows: int) -> int | None:
        """The synthetic objects' size in px of frames ``frame_rows`` tall (None: nothing moves)."""
        return None if self.object_px is None else max(8, int(round(self.object_px * frame_rows / self.grid[0])))

    def synthetic(self, frames: Sequence[np.ndarray], *, seed: int = 0,
                  per_kind: int = SYNTHETIC_PER_KIND) -> Iterator[tuple[int, SyntheticVideo]]:
        """Synthetic anomalies made from ``frames`` (the held-out videos' (T, H, W, 3) frames, in order,
        at any size), one at a time, with the index of the held-out video each copies."""
        motions = [FlowSpeeds(v.flows) for v in self.held_out]
        return iter_validation_set(frames, seed=seed, speed=self.speed_px, direction=self.direction, length=MIN_STRETCH,
                                   per_kind=per_kind, motions=motions, side=self.side(int(frames[0].shape[1])))

    def synthetic_edits(self, frames: Sequence[Any], *, seed: int = 0, per_kind: int = SYNTHETIC_PER_KIND,
                        kinds: Sequence[str] = KINDS) -> Iterator[tuple[int, SyntheticEdit]]:
        """:meth:`synthetic` as the stretches the anomalies change (the same draws), from frames
        read only where a stretch is (:class:`~ammcnet.regions.footage.AnalysisFrames`)."""
        motions = [FlowSpeeds(v.flows) for v in self.held_out]
        return iter_synthetic_edits(frames, seed=seed, speed=self.speed_px, direction=self.direction,
                                    length=MIN_STRETCH, per_kind=per_kind, motions=motions,
                                    side=self.side(int(frames[0].shape[1])), kinds=kinds)


def split_footage(videos: Sequence[Footage], rotation: int = 0) -> ValidationFootage:
    """Hold out every 4th video (stretches when there are few) and measure the fitting footage's motion.

    ``rotation`` r holds out the videos r, r + 4, ... places before the last one: rotations 0-3
    hold out each video once (:func:`validation_splits`).
    """
    videos = stretches(videos)
    if len(videos) < 2:
        raise DataError(f"choosing region settings needs at least {2 * MIN_STRETCH} training frames to hold some out")
    held = [i for i in range(len(videos)) if (len(videos) - 1 - i) % MIN_VIDEOS == rotation % MIN_VIDEOS]
    if not held:
        raise DataError(f"rotation {rotation} holds out nothing: the footage makes only {len(videos)} videos or "
                        f"stretches; use a rotation below {len(videos)}")
    fit = [v for i, v in enumerate(videos) if i not in held]
    speed, direction = footage_motion([v.flows for v in fit])  # read a stretch at a time
    return ValidationFootage(fit, [videos[i] for i in held], speed, direction, footage_object_height([v.flows for v in fit]))


def validation_rotation(seed: int) -> int:
    """Which quarter of several whole training videos a head of seed ``seed`` holds out (0-3): a
    seed varies the held-out videos as it varies the synthetic anomalies and the normal bank.

    >>> [validation_rotation(s) for s in (0, 1, 2, 5)]
    [0, 1, 2, 1]
    """
    return int(seed) % MIN_VIDEOS


def validation_splits(videos: Sequence[Footage], rotation: int = 0) -> list[ValidationFootage]:
    """The splits candidates are measured on: one for several whole videos (every 4th held out,
    ``rotation`` places before the last: :func:`validation_rotation`);
    for fewer than :data:`MIN_VIDEOS` videos long enough to be cut into :data:`MIN_VIDEOS`
    stretches, one split per rotation, so every stretch is held out once.

    A single held-out stretch is a quarter of one recording: on ``vtest.avi`` each of the four
    stretches held out in turn chose a different part set, and one candidate's mean synthetic AUC
    moved by up to 0.23 between rotations while the three best of their average were within 0.005
    (``benchmarks/probes/held_out_stretch_probe.py``). Averaged over the rotations, the choice
    rests on the whole recording. With several whole videos each split already holds out whole
    videos, and rotating would multiply the choice's time by four. Footage too short for four
    stretches (under ``4 * MIN_STRETCH`` frames) keeps one split too: it holds out a third or a
    half of the footage, and on tiny clips a rotation fitted on one short video with little fast
    motion puts the direction part's moving threshold near the static floor, so its kNN bank and
    queries take in most windows and the choice costs many times the single split.
    """
    if len(videos) >= MIN_VIDEOS:
        return [split_footage(videos, rotation)]
    if len(stretches(videos)) < MIN_VIDEOS:
        return [split_footage(videos)]
    return [split_footage(videos, r) for r in range(MIN_VIDEOS)]


def merged(results: Sequence[ValidationResult]) -> ValidationResult:
    """One candidate's results on several splits as one: AUCs and false alarms averaged over the
    splits, ``spread`` the standard deviation of the splits' false-alarm rates."""
    if len(results) == 1:
        return results[0]
    kinds = dict.fromkeys(k for r in results for k in r.auc)
    auc = {k: float(np.mean([r.auc[k] for r in results if k in r.auc])) for k in kinds}
    alarms = [r.false_alarm for r in results]
    extra = {k: float(np.mean([r.extra[k] for r in results])) for k in results[0].extra
             if all(k in r.extra for r in results)}
    return ValidationResult(results[0].label, results[0].config, auc, float(np.mean(list(auc.values()))),
                            float(np.mean(alarms)), float(np.std(alarms)), extra)


def choose_settings(videos: Sequence[Footage], base: RegionHeadConfig | None = None, *, seed: int = 0,
                    windows: Sequence[float] | None = None, part_sets: Sequence[dict[str, float]] = PART_SETS,
                    per_kind: int = SYNTHETIC_PER_KIND, rotation: int = 0,
                    log: Callable[[str], None] | None = None, scratch: str | Path | None = None) -> Selection:
    """Choose the parts (and, if asked, the window) on normal footage alone: every 4th video held out whole.

    Synthetic anomalies are made from the held-out videos' frames; each candidate is fitted on
    the rest (see :func:`validate`). Few long videos are cut into stretches and every stretch is
    held out in turn (:func:`validation_splits`); each candidate's numbers are then averaged over
    the rotations. The window is object-sized by default: as tall as the median moving blob of
    the fitting videos' flows (:func:`ammcnet.regions.selection.synthetic.footage_object_height`; the median
    over the rotations), a stand-in for the object boxes the strongest honest scorers use. The
    synthetic set does not choose it: on Ped2 every kind but the pasted patch scored higher with
    larger windows (BENCHMARKS.md), so a search drifts to the largest candidate. ``windows`` lists
    candidates to choose among instead (:data:`WINDOWS` when nothing moves). ``seed`` seeds the
    synthetic anomalies; ``rotation`` picks which whole videos are held out
    (:func:`validation_rotation`). ``scratch``: where window features wait on disk (default: the
    system's temporary folder; :class:`~ammcnet.regions.store.FeatureStore`).
    """
    base = base or RegionHeadConfig()
    splits = validation_splits(videos, rotation)
    size = splits[0].grid
    heights = [s.object_px for s in splits if s.object_px is not None]
    if windows is None:
        windows = WINDOWS if not heights else (_window_for(float(np.median(heights)), size[0]),)
    if base.try_appearance and not has_grey(splits[0].fit[0].flows):  # flows without their frames: motion only
        base = replace(base, try_appearance=False)
    configs = list(candidates(base, windows, part_sets))
    kinds = KINDS if base.try_appearance else MOTION_KINDS
    per_split, sides, synthetic = [], [], 0
    for i, split in enumerate(splits):  # one at a time: a split's stored features are removed before the next
        if log and len(splits) > 1:
            log(f"rotation {i + 1}/{len(splits)}: held out {', '.join(v.name for v in split.held_out)}")
        frames = [v.frames() for v in split.held_out]
        fit, normal = [v.flows for v in split.fit], [v.flows for v in split.held_out]
        with FeatureStore(scratch) as store:
            made = _synthetic_flows(split, frames, size, base.flow_preset, seed=seed, per_kind=per_kind, kinds=kinds)
            per_split.append(validate_candidates(configs, fit, normal, made, cache=store, parts=PartCache()))
        sides.append(split.side(int(frames[0].shape[1])))
        synthetic += len(split.held_out) * len(kinds) * per_kind
    results = [merged(rs) for rs in zip(*per_split, strict=True)]
    if log:
        for r in results:
            log(f"{r.label}: mean synthetic AUC {r.mean_auc:.3f}, false alarms {100 * r.false_alarm:.1f}%")
    known = [s for s in sides if s is not None]
    best, motion = choose_in_two_stages(results)
    return Selection(best, results, [v.name for s in splits for v in s.held_out], synthetic,
                     float(np.median([s.speed_px for s in splits])), int(np.median(known)) if known else None,
                     rotations=len(splits), motion=motion)


def _synthetic_flows(split: ValidationFootage, frames: Sequence[Any], size: tuple[int, int], preset: str, *,
                     seed: int, per_kind: int, kinds: Sequence[str] = KINDS) -> Iterator[SyntheticFlows]:
    """The split's synthetic anomalies of ``kinds``, one at a time, as the flows their stretch changes."""
    for i, edit in split.synthetic_edits(frames, seed=seed, per_kind=per_kind, kinds=kinds):
        start, flows = edit_flows(frames[i], edit, size, preset)
        yield SyntheticFlows(i, start, flows, edit.labels, edit.kind)


def edit_flows(frames: Any, edit: SyntheticEdit, size: tuple[int, int], preset: str) -> tuple[int, np.ndarray]:
    """(first frame, flows) of the analysis flows a synthetic edit of ``frames`` changes.

    Flow t is the motion from frame t - 1 to frame t (flow 0 repeats flow 1), and DIS flow depends
    on its two frames only, so changing frames a to b changes flows a to b (and flow 0 when a <= 1):
    these are the flows of the edited frames a - 1 to b, the same numbers as those of the whole
    edited video there (tested), at the cost of the stretch.
    """
    a, b, n = edit.start, edit.start + len(edit.frames), len(frames)
    lo, hi = max(a - 1, 0), min(b + 1, n)
    window = np.array(frames[lo:hi], np.uint8)
    window[a - lo:b - lo] = edit.frames
    flows = flows_of_frames(window, size, preset)
    return (0, flows) if lo == 0 else (lo + 1, flows[1:])


def taught_validation(footage: Sequence[Footage], config: RegionHeadConfig, taught_flows: Sequence[Any], *,
                      seed: int = 0, scratch: str | Path | None = None) -> tuple[ValidationResult, ValidationResult]:
    """The synthetic-anomaly validation of a head before and after teaching it ``taught_flows``.

    The head's own validation split of its normal footage (the videos or stretches its seed holds
    out) is used: a head of ``config`` is fitted on the rest, then taught; both are measured on the
    held-out videos and the synthetic anomalies made from them. A teach that makes the head blind
    to what it should catch shows as a drop of the mean synthetic AUC (``ammcnet teach`` refuses
    one beyond its margin).
    """
    split = validation_splits(footage, validation_rotation(seed))[0]
    frames = [v.frames() for v in split.held_out]
    with FeatureStore(scratch) as store:
        before = RegionHead.fit_features([store.get(v.flows, config) for v in split.fit], config)
        after = teach_head(before, [features_of(np.asarray(f, np.float32), config) for f in taught_flows])
        normal = [store.get(v.flows, config) for v in split.held_out]
        fitted = [_Fitted(label, h, [{p: frame_maxima(part, f) for p, part in h.parts.items()} for f in normal])
                  for label, h in (("before", before), ("after", after))]
        made = _synthetic_flows(split, frames, split.grid, config.flow_preset, seed=seed, per_kind=SYNTHETIC_PER_KIND)
        scores, labels = _synthetic_scores(fitted, made)
    first, second = (_result(c, s, labels, 0.01) for c, s in zip(fitted, scores, strict=True))
    return first, second
