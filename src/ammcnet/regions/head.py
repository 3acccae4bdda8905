"""The region head: parts fitted on normal videos, scaled on normal videos they did not see.

Scaling: the training videos are split into ``folds`` groups; each part is fitted on all groups
but one and scores the held-out group, so the scale (the ``scale_quantile`` of those frame scores)
reflects *unseen* normal footage, as a camera's next day will be. Those held-out frame scores are
kept (``normal_scores``, in fold order; ``normal_videos`` says which training video each is a
stretch of): alarm thresholds at a false-alarm rate are read from them, and the calibrated fusion
z-scores the head's record with them. The parts used at test time are then fitted on every
training video.

Only frame scores are needed from the held-out videos: a frame's score is the largest weighted,
scaled part over its windows, and since a weight and a scale are positive, that is the largest
over parts of each part's largest raw window score (:meth:`RegionHead.fuse_maxima`). So fitting
keeps each part's per-frame maxima (T numbers a video), never its (T, R, C) window scores, and
reads the features a chunk at a time (``f.chunks()``): from memory, or from disk when the
footage is long (:mod:`ammcnet.regions.store`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ammcnet.errors import CheckpointError, DataError
from ammcnet.regions.config import ADDED_PARTS, PARTS, RegionHeadConfig
from ammcnet.regions.features import WindowFeatures, window_features
from ammcnet.regions.parts import PART_TYPES

FORMAT = "ammcnet-region-head/1"


def fit_part(name: str, feats: Sequence[WindowFeatures], config: RegionHeadConfig) -> Any:
    """The part ``name`` fitted on the window features of normal videos."""
    return PART_TYPES[name].fit(feats, config)


def frame_maxima(part: Any, f: Any) -> np.ndarray:
    """(T,) the largest raw window score of ``part`` in each frame of the features ``f``, read a
    chunk at a time: what the head's frame scores need of a part (see :meth:`RegionHead.fuse_maxima`)."""
    pieces = [s.reshape(len(s), -1).max(1) for s in map(part.score, f.chunks())]
    return np.concatenate(pieces) if pieces else np.zeros(0, np.float32)


class PartFits:
    """How a head gets each fitted part and its frame maxima: fitted and scored afresh here.
    Choosing settings passes a memoising one (:class:`ammcnet.regions.selection.validate.PartCache`), so
    candidates that share a part's settings share the part and its scores."""

    def fit(self, name: str, feats: Sequence[WindowFeatures], config: RegionHeadConfig) -> Any:
        return fit_part(name, feats, config)

    def maxima(self, part: Any, f: Any) -> np.ndarray:
        return frame_maxima(part, f)


@dataclass
class FrameScores:
    """Scores of T frames.

    Attributes:
        score: (T,) the head's score (max over windows of the weighted, scaled parts), before
            any smoothing in time; 1.0 = as high as unseen normal footage's top frames.
        parts: part name -> (T,) scaled frame score of that part alone (max over windows).
        boxes: (T, 4) the winning window (x0, y0, x1, y1) in analysis-grid pixels.
        winner: (T,) index into ``PARTS`` of the part that won the frame.
    """

    score: np.ndarray
    parts: dict[str, np.ndarray]
    boxes: np.ndarray
    winner: np.ndarray


class RegionHead:
    """A fitted head: its settings, parts, part scales and held-out normal scores."""

    def __init__(self, config: RegionHeadConfig, parts: dict[str, Any], scales: dict[str, float],
                 normal_scores: list[np.ndarray], size: tuple[int, int], frames: int = 0,
                 normal_videos: Sequence[int] | None = None) -> None:
        self.config = config
        self.parts = parts
        self.scales = {k: float(v) for k, v in scales.items()}
        self.normal_scores = [np.asarray(s, np.float64) for s in normal_scores]
        self.size = (int(size[0]), int(size[1]))
        self.frames = int(frames)
        #: index of the training video each ``normal_scores`` entry belongs to (None: a file written before)
        self.normal_videos = None if normal_videos is None else [int(v) for v in normal_videos]
        #: scores of the spans taught as normal since fitting (:mod:`ammcnet.regions.teach`), one array each
        self.taught_scores: list[np.ndarray] = []

    # ---- fitting -------------------------------------------------------------------------
    @classmethod
    def fit(cls, flows: Sequence[np.ndarray], config: RegionHeadConfig | None = None) -> RegionHead:
        """Fit on the (T, H, W, 2) analysis-grid pixel flows of normal videos (one array each)."""
        config = config or RegionHeadConfig()
        return cls.fit_features([features_of(f, config) for f in flows], config)

    @classmethod
    def fit_features(cls, feats: Sequence[WindowFeatures], config: RegionHeadConfig,
                     fits: PartFits | None = None) -> RegionHead:
        """Fit on the window features of normal videos (one :class:`WindowFeatures` or
        :class:`~ammcnet.regions.store.StoredFeatures` per video); ``fits`` fits and scores each
        part (candidates that share a part's settings may share the part)."""
        fits = fits or PartFits()
        kept = [i for i, f in enumerate(feats) if len(f)]
        feats = [feats[i] for i in kept]
        if not feats:
            raise DataError("region head: no normal frames to fit on; give it at least one training video")
        if len({f.grid for f in feats}) != 1:
            raise DataError("region head: training videos of different sizes; resize them to one analysis grid")
        groups = _fold_groups(feats, config.folds)
        held_out = _held_out_part_maxima(groups, config, fits)
        scales = {p: _scale(np.concatenate([h[p] for h in held_out]), config.scale_quantile)
                  for p in config.active_parts()}
        parts = {p: fits.fit(p, feats, config) for p in config.active_parts()}
        head = cls(config, parts, scales, [], feats[0].size, sum(len(f) for f in feats),
                   [kept[i] for i in _fold_order(len(feats), len(groups))])
        head.normal_scores = [head.fuse_maxima(h) for h in held_out]
        return head

    # ---- scoring -------------------------------------------------------------------------
    def score_features(self, f: WindowFeatures, ignore: np.ndarray | None = None) -> FrameScores:
        """Scores of the frames whose window features are ``f``; windows where ``ignore`` ((R, C)
        bool, an operator's mask) is True score 0 in every part: they are never scored."""
        raw = {p: part.score(f) for p, part in self.parts.items()}
        if ignore is not None:
            raw = {p: np.where(ignore, np.float32(0), r) for p, r in raw.items()}
        maxed = self.config.maxed_parts()
        fused, winner_part = self._fuse({p: r for p, r in raw.items() if p in maxed})
        t = len(f.speed)
        flat = fused.reshape(t, -1)
        best = flat.argmax(1) if flat.size else np.zeros(t, np.int64)
        rows, cols = np.divmod(best, max(f.grid[1], 1))
        boxes = np.array([f.box(r, c, f.size) for r, c in zip(rows, cols, strict=True)], np.int32).reshape(t, 4)
        winner = winner_part.reshape(t, -1)[np.arange(t), best] if flat.size else np.zeros(t, np.int64)
        parts = {p: self.config.weights[p] * raw[p].reshape(t, -1).max(1) / self.scales[p] for p in raw}
        return FrameScores(_plus_added(flat.max(1) if flat.size else np.zeros(t), parts), parts, boxes, winner)

    def score_flows(self, flows: np.ndarray) -> FrameScores:
        """Scores of (T, H, W, 2) analysis-grid pixel flows."""
        if tuple(np.shape(flows)[1:3]) != self.size:
            raise DataError(f"region head: flows of size {tuple(np.shape(flows)[1:3])}, fitted on {self.size}")
        return self.score_features(features_of(flows, self.config))

    def fuse_maxima(self, maxima: dict[str, np.ndarray]) -> np.ndarray:
        """(T,) frame scores from each part's (T,) largest raw window score per frame: the same
        numbers as :meth:`score_features`' ``score``, bit for bit. A frame's score is the largest
        over windows and parts of weight * raw / scale; rounding is monotonic, so the largest raw
        score of a part gives its largest scaled one, and the two maxima (over windows, over parts)
        may be taken in either order. The added parts (:data:`~ammcnet.regions.config.ADDED_PARTS`)
        then add their own frame score, weight * largest raw / scale, in the same order."""
        scaled = {p: self.config.weights[p] * maxima[p] / self.scales[p] for p in PARTS if p in maxima}
        maxed = self.config.maxed_parts()
        return _plus_added(np.stack([v for p, v in scaled.items() if p in maxed]).max(0), scaled)

    def _fuse(self, raw: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Per-window max over parts of weight * raw / scale, and which part won (index in PARTS)."""
        names = [p for p in PARTS if p in raw]
        stack = np.stack([self.config.weights[p] * raw[p] / self.scales[p] for p in names])
        return stack.max(0), np.asarray([PARTS.index(p) for p in names])[stack.argmax(0)]

    def normal_scores_by_video(self, num_frames: Sequence[int]) -> list[np.ndarray] | None:
        """The held-out normal scores of each training video, in the order it was fitted on, or
        None when they cannot be matched to videos of these lengths (another training split, or
        a head written before the order was kept)."""
        if self.normal_videos is None or len(self.normal_videos) != len(self.normal_scores):
            return None
        pieces: list[list[np.ndarray]] = [[] for _ in num_frames]
        for v, s in zip(self.normal_videos, self.normal_scores, strict=True):
            if v >= len(pieces):
                return None
            pieces[v].append(s)
        out = [np.concatenate(p) if p else np.zeros(0) for p in pieces]
        matched = all(len(o) == int(n) for o, n in zip(out, num_frames, strict=True) if len(o))
        return out if matched else None

    def threshold_scores(self) -> list[np.ndarray]:
        """The normal scores thresholds are read from: held-out normal footage, then taught spans."""
        return [*self.normal_scores, *self.taught_scores]

    def threshold(self, fpr: float = 0.01) -> float:
        """Score that held-out normal frames exceed with rate ``fpr`` (unsmoothed scores)."""
        return float(np.quantile(np.concatenate(self.threshold_scores()), 1.0 - fpr))

    # ---- the model file ------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """Plain settings and tensors for the model file (``torch.load(weights_only=True)`` reads
        them); :meth:`from_state` restores a head that scores identically."""
        return {
            "format": FORMAT,
            "config": self.config.as_dict(),
            "size": list(self.size),
            "frames": self.frames,
            "normal_videos": self.normal_videos,
            "scales": dict(self.scales),
            "normal_scores": [torch.from_numpy(np.asarray(s, np.float64)) for s in self.normal_scores],
            "taught_scores": [torch.from_numpy(np.asarray(s, np.float64)) for s in self.taught_scores],
            "parts": {p: {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in part.state().items()}
                      for p, part in self.parts.items()},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RegionHead:
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise CheckpointError(f"region head: unknown format {state.get('format') if isinstance(state, dict) else type(state)}")
        config = RegionHeadConfig.from_dict(state["config"])
        parts = {p: PART_TYPES[p].from_state({k: _array(v) for k, v in s.items()}) for p, s in state["parts"].items()}
        head = cls(config, parts, state["scales"], [_array(s) for s in state["normal_scores"]],
                   tuple(state["size"]), int(state.get("frames", 0)), state.get("normal_videos"))
        head.taught_scores = [_array(s) for s in state.get("taught_scores") or []]
        return head


def _plus_added(score: np.ndarray, frame_parts: dict[str, np.ndarray]) -> np.ndarray:
    """``score`` (the max over the other parts) plus each added part's weighted, scaled frame score
    (:data:`~ammcnet.regions.config.ADDED_PARTS`, in that order): the one place both the window
    path (:meth:`RegionHead.score_features`) and the maxima path (:meth:`RegionHead.fuse_maxima`)
    add them, so the two stay equal bit for bit."""
    for p in ADDED_PARTS:
        if p in frame_parts:
            score = score + frame_parts[p]
    return score


def _array(value: Any) -> np.ndarray:
    return value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def features_of(flows: np.ndarray, config: RegionHeadConfig, appearance: bool | None = None) -> WindowFeatures:
    """Window features of analysis-grid records with the head's window side and step, and the
    features its parts read (relative speed, appearance) only when it weighs them; ``appearance``
    asks for the windows' looks whatever the weights (features shared by heads with and without
    the appearance part)."""
    side = max(2, int(round(config.window * np.shape(flows)[1])))
    look = config.reads_looks() if appearance is None else appearance
    return window_features(flows, side, max(1, int(round(config.stride * side))), relative=config.weights["relative"] > 0,
                           blob_floor=config.blob_floor, appearance=look)


def features_key(config: RegionHeadConfig, appearance: bool | None = None) -> tuple:
    """What :func:`features_of` (with the same ``appearance``) depends on in ``config``: heads with
    the same key share features (the choice's candidates, a component's baselines, a stream's modes)."""
    look = config.reads_looks() if appearance is None else appearance
    return (config.window, config.stride, config.weights["relative"] > 0, config.blob_floor, look)


def _fold_groups(feats: Sequence[WindowFeatures], folds: int) -> list[list[WindowFeatures]]:
    """Whole videos into ``folds`` groups (round robin); a single video is cut into stretches."""
    if len(feats) == 1:
        f, n = feats[0], len(feats[0])
        cuts = np.linspace(0, n, min(folds, n) + 1).astype(int)
        return [[f.frames(a, b)]
                for a, b in zip(cuts, cuts[1:], strict=False) if b > a]
    k = min(folds, len(feats))
    return [list(feats[i::k]) for i in range(k)]


def _fold_order(videos: int, groups: int) -> list[int]:
    """Which video each entry of the held-out scores is (:func:`_fold_groups`' order): a single
    video's stretches are all video 0; several videos go round robin into the groups."""
    if videos == 1:
        return [0] * groups
    return [i for g in range(groups) for i in range(g, videos, groups)]


def _held_out_part_maxima(groups: list[list[WindowFeatures]], config: RegionHeadConfig,
                          fits: PartFits) -> list[dict[str, np.ndarray]]:
    """Per held-out video: part name -> (T,) frame maxima of raw window scores from parts fitted without it."""
    out = []
    for i, group in enumerate(groups):
        rest = [f for j, g in enumerate(groups) if j != i for f in g]
        parts = {p: fits.fit(p, rest, config) for p in config.active_parts()}
        out += [{p: fits.maxima(part, f) for p, part in parts.items()} for f in group]
    return out


def _scale(frame_maxima: np.ndarray, q: float) -> float:
    """The ``q`` quantile of per-frame maxima of window scores (floored away from 0)."""
    return max(float(np.quantile(frame_maxima, q)), 1e-9)
