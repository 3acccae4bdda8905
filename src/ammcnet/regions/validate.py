"""Choosing the head's settings without test labels: held-out normal videos + synthetic anomalies.

The training videos are split into a fitting set and whole held-out videos. A candidate setting
is fitted on the fitting set and measured on (a) the held-out normal videos: the share of their
frames above the fitting set's 1 % threshold (false alarms on unseen normal footage), and (b)
synthetic anomalies made from the held-out videos (:mod:`ammcnet.regions.synthetic`): the frame
AUC of each kind, pooled with the held-out normal videos. The candidate with the best mean AUC
among those whose false-alarm rate stays under a bound wins.

>>> rank_key(ValidationResult("a", None, {"fast": 0.9}, 0.9, 0.02, 0.0))
(True, 0.9, -0.02)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter1d
from sklearn.metrics import roc_auc_score

from ammcnet.errors import DataError
from ammcnet.regions.config import RegionHeadConfig
from ammcnet.regions.features import WindowFeatures
from ammcnet.regions.footage import flows_of_frames
from ammcnet.regions.head import RegionHead, features_of, fit_part
from ammcnet.regions.synthetic import (
    SyntheticVideo,
    footage_motion,
    footage_object_height,
    iter_validation_set,
)

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
                "mean_auc": self.mean_auc, "false_alarm": self.false_alarm, "spread": self.spread}


def rank_key(r: ValidationResult) -> tuple[bool, float, float]:
    """Sort key, best last: within the false-alarm bound first, then mean AUC, then fewer alarms."""
    return (r.false_alarm <= MAX_FALSE_ALARM, round(r.mean_auc, 6), -r.false_alarm)


def _smoothed(scores: np.ndarray) -> np.ndarray:
    return gaussian_filter1d(np.asarray(scores, np.float64), SIGMA, mode="nearest") if SIGMA > 0 else scores


class FeatureCache:
    """Window features per (flow array, window geometry): candidates that share a window share them."""

    def __init__(self) -> None:
        self._store: dict[tuple, object] = {}

    def get(self, flows: np.ndarray, config: RegionHeadConfig):
        key = (id(flows), config.window, config.stride, len(flows), config.weights["relative"] > 0, config.blob_floor)
        if key not in self._store:
            self._store[key] = features_of(flows, config)
        return self._store[key]


class _ScoredPart:
    """A fitted part that remembers its window scores of each feature set it has scored."""

    def __init__(self, part: Any) -> None:
        self.part = part
        self._scores: dict[int, tuple[WindowFeatures, np.ndarray]] = {}

    def score(self, f: WindowFeatures) -> np.ndarray:
        hit = self._scores.get(id(f))
        if hit is None or hit[0] is not f:  # the features are held, so their id is not reused meanwhile
            hit = self._scores[id(f)] = (f, self.part.score(f))
        return hit[1]


class PartCache:
    """Fitted parts, and their window scores, shared between candidates.

    A part depends on its own settings and the features it is fitted on, not on which other
    parts a candidate weighs: the direction part of ``perspective+direction`` is the one of
    ``speed+direction+place``. Its kNN queries were most of the choice's time; sharing it makes
    the choice several times faster with the same numbers (tested).
    """

    def __init__(self) -> None:
        self._parts: dict[tuple, tuple[tuple[WindowFeatures, ...], _ScoredPart]] = {}

    def fit(self, name: str, feats: Sequence[WindowFeatures], config: RegionHeadConfig) -> _ScoredPart:
        """:func:`ammcnet.regions.head.fit_part`, once per part, settings and features."""
        settings = tuple(sorted((k, repr(v)) for k, v in config.as_dict().items() if k != "weights"))
        key = (name, settings, tuple(id(f) for f in feats))
        hit = self._parts.get(key)
        if hit is None or any(a is not b for a, b in zip(hit[0], feats, strict=True)):
            hit = self._parts[key] = (tuple(feats), _ScoredPart(fit_part(name, feats, config)))
        return hit[1]


def validate(label: str, config: RegionHeadConfig, fit_flows: Sequence[np.ndarray], normal_flows: Sequence[np.ndarray],
             synthetic: Sequence[tuple[np.ndarray, np.ndarray, str]], fpr: float = 0.01,
             cache: FeatureCache | None = None, parts: PartCache | None = None) -> ValidationResult:
    """Fit ``config`` on ``fit_flows``; measure it on held-out normal and synthetic flows.

    Args:
        synthetic: (flows (T, H, W, 2), labels (T,) bool, kind) per synthetic video.
        cache: window features shared between calls (the flow arrays must stay alive).
        parts: fitted parts and their scores shared between calls (with the same ``cache``).
    """
    if not normal_flows:
        raise DataError("validation needs at least one held-out normal video")
    cache = cache or FeatureCache()
    parts = parts or PartCache()
    head = RegionHead.fit_features([cache.get(f, config) for f in fit_flows], config, parts.fit)
    threshold = float(np.quantile(np.concatenate([_smoothed(s) for s in head.normal_scores]), 1.0 - fpr))
    normal = [_smoothed(head.score_features(cache.get(f, config)).score) for f in normal_flows]
    per_video = np.array([(s > threshold).mean() for s in normal])
    pooled = np.concatenate(normal)
    auc = {}
    for kind in dict.fromkeys(k for _, _, k in synthetic):
        scores = [_smoothed(head.score_features(cache.get(f, config)).score) for f, _, k in synthetic if k == kind]
        labels = [lab for _, lab, k in synthetic if k == kind]
        y = np.concatenate([np.concatenate(labels), np.zeros(len(pooled), bool)])
        auc[kind] = float(roc_auc_score(y, np.concatenate([*scores, pooled])))
    false_alarm = float((pooled > threshold).mean())
    return ValidationResult(label, config, auc, float(np.mean(list(auc.values()))), false_alarm, float(per_video.std()))


def choose(results: Sequence[ValidationResult]) -> ValidationResult:
    """The best candidate by :func:`rank_key`."""
    if not results:
        raise DataError("no candidate settings to choose from")
    return max(results, key=rank_key)


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
    """One normal training video (or stretch) for validation: its analysis flows and frames."""

    name: str
    flows: np.ndarray
    frames: Callable[[], np.ndarray]


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


def _slice(frames: Callable[[], np.ndarray], a: int, b: int) -> Callable[[], np.ndarray]:
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

    def as_dict(self) -> dict:
        return {"chosen": self.best.label, "config": self.best.config.as_dict() if self.best.config else None,
                "held_out": self.held_out, "synthetic_videos": self.synthetic, "normal_speed_px": self.speed_px,
                "object_px": self.object_px, "rotations": self.rotations,
                "candidates": [r.as_dict() for r in self.results]}


def candidates(base: RegionHeadConfig, windows: Sequence[float],
               part_sets: Sequence[dict[str, float]]) -> Iterator[tuple[RegionHeadConfig, str]]:
    """Every candidate setting and its label: each window with each part set, and each set with the
    direction part once more per :data:`DIRECTION_STATIC_FACTORS` (its moving threshold lowered)."""
    for window in windows:
        for weights in part_sets:
            parts = f"window {window * 240:.0f}/240, parts {'+'.join(p for p, w in weights.items() if w)}"
            factors = DIRECTION_STATIC_FACTORS if weights.get("direction") else (1.0,)
            for factor in factors:
                label = parts if factor == 1.0 else f"{parts}, direction from {factor:g} x static"
                yield replace(base, window=window, weights=dict(weights), static=base.static * factor), label


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
        motions = [np.hypot(*np.moveaxis(v.flows.astype(np.float32), -1, 0)) for v in self.held_out]
        return iter_validation_set(frames, seed=seed, speed=self.speed_px, direction=self.direction, length=MIN_STRETCH,
                                   per_kind=per_kind, motions=motions, side=self.side(int(frames[0].shape[1])))


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
    fit32 = [v.flows.astype(np.float32) for v in fit]  # the stored flows are float16
    speed, direction = footage_motion(fit32)
    return ValidationFootage(fit, [videos[i] for i in held], speed, direction, footage_object_height(fit32))


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
    return ValidationResult(results[0].label, results[0].config, auc, float(np.mean(list(auc.values()))),
                            float(np.mean(alarms)), float(np.std(alarms)))


def choose_settings(videos: Sequence[Footage], base: RegionHeadConfig | None = None, *, seed: int = 0,
                    windows: Sequence[float] | None = None, part_sets: Sequence[dict[str, float]] = PART_SETS,
                    per_kind: int = SYNTHETIC_PER_KIND, rotation: int = 0,
                    log: Callable[[str], None] | None = None) -> Selection:
    """Choose the parts (and, if asked, the window) on normal footage alone: every 4th video held out whole.

    Synthetic anomalies are made from the held-out videos' frames; each candidate is fitted on
    the rest (see :func:`validate`). Few long videos are cut into stretches and every stretch is
    held out in turn (:func:`validation_splits`); each candidate's numbers are then averaged over
    the rotations. The window is object-sized by default: as tall as the median moving blob of
    the fitting videos' flows (:func:`ammcnet.regions.synthetic.footage_object_height`; the median
    over the rotations), a stand-in for the object boxes the strongest honest scorers use. The
    synthetic set does not choose it: on Ped2 every kind but the pasted patch scored higher with
    larger windows (BENCHMARKS.md), so a search drifts to the largest candidate. ``windows`` lists
    candidates to choose among instead (:data:`WINDOWS` when nothing moves). ``seed`` seeds the
    synthetic anomalies; ``rotation`` picks which whole videos are held out
    (:func:`validation_rotation`).
    """
    base = base or RegionHeadConfig()
    splits = validation_splits(videos, rotation)
    size = splits[0].grid
    heights = [s.object_px for s in splits if s.object_px is not None]
    if windows is None:
        windows = WINDOWS if not heights else (_window_for(float(np.median(heights)), size[0]),)
    configs = list(candidates(base, windows, part_sets))
    per_split, sides, synthetic = [], [], 0
    for i, split in enumerate(splits):  # one at a time: a split's synthetic flows are freed before the next
        if log and len(splits) > 1:
            log(f"rotation {i + 1}/{len(splits)}: held out {', '.join(v.name for v in split.held_out)}")
        frames = [v.frames() for v in split.held_out]
        synth_flows = [(flows_of_frames(v.frames, size, base.flow_preset), v.labels, v.kind)
                       for _, v in split.synthetic(frames, seed=seed, per_kind=per_kind)]
        fit, normal = [v.flows for v in split.fit], [v.flows for v in split.held_out]
        cache, shared = FeatureCache(), PartCache()
        per_split.append([validate(label, cfg, fit, normal, synth_flows, cache=cache, parts=shared) for cfg, label in configs])
        sides.append(split.side(int(frames[0].shape[1])))
        synthetic += len(synth_flows)
    results = [merged(rs) for rs in zip(*per_split, strict=True)]
    if log:
        for r in results:
            log(f"{r.label}: mean synthetic AUC {r.mean_auc:.3f}, false alarms {100 * r.false_alarm:.1f}%")
    known = [s for s in sides if s is not None]
    return Selection(choose(results), results, [v.name for s in splits for v in s.held_out], synthetic,
                     float(np.median([s.speed_px for s in splits])), int(np.median(known)) if known else None,
                     rotations=len(splits))
