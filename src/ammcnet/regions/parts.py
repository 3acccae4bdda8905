"""The parts of the region head: each scores every window of every frame (high = unusual).

A part is fitted on the window features of normal videos and turned into plain arrays for the
model file (``state``/``from_state``), so a loaded head scores exactly like the fitted one.

Fitting reads the features a chunk of frames at a time (``f.chunks()``: from memory, or from disk
for :class:`ammcnet.regions.store.StoredFeatures`) and keeps only what its statistics need: the
top values its high quantiles read (:class:`ammcnet.regions.stats.TopK`) and the direction part's
bank. Memory then does not grow with the footage (but for those top values: 0.1 % or 1 % of a
stream of window speeds), and the numbers are those of the whole arrays, bit for bit.

>>> import numpy as np
>>> from ammcnet.regions.features import WindowFeatures
>>> still = WindowFeatures(np.zeros((3, 2, 2), np.float32), np.zeros((3, 2, 2, 8), np.float32), 4, 4, (8, 8))
>>> SpeedPart().score(still).shape
(3, 2, 2)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import cv2
import numpy as np
from sklearn.neighbors import KDTree

from ammcnet.errors import CheckpointError, DataError
from ammcnet.regions.config import RegionHeadConfig
from ammcnet.regions.features import APPEARANCE_VALUES, DIRECTIONS, WindowFeatures
from ammcnet.regions.stats import TopK, top_count

#: Moving training windows a row of windows needs to count in the perspective part's line.
MIN_ROW_WINDOWS = 50


class SpeedPart:
    """The window's mean speed: fast anywhere is unusual (nothing to fit)."""

    name = "speed"

    @classmethod
    def fit(cls, feats: Sequence[WindowFeatures], config: RegionHeadConfig) -> SpeedPart:
        return cls()

    def score(self, f: WindowFeatures) -> np.ndarray:
        return f.speed

    def state(self) -> dict[str, np.ndarray]:
        return {}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> SpeedPart:
        return cls()


class RelativePart(SpeedPart):
    """The fastest blob's speed over its own height: fast for its size, at any distance (nothing to fit).

    Where the speed part compares pixels per frame, which grow as people come closer to the
    camera, this one compares own heights per frame (:func:`ammcnet.regions.features.relative_speed`).
    """

    name = "relative"

    def score(self, f: WindowFeatures) -> np.ndarray:
        if f.relative is None:
            raise DataError("region head: the relative part needs window features with relative=True")
        return f.relative


class _SpeedOverScale:
    """A part that divides the window speed by a fitted normal-speed scale (per place, per row).

    The scale is stored as the part's whole state, so a loaded part scores exactly like the fitted one.
    """

    name = ""

    def __init__(self, scale: np.ndarray) -> None:
        self.scale = np.asarray(scale, np.float32)

    def scale_for(self, f: WindowFeatures) -> np.ndarray:
        """The scale broadcastable to ``f.speed`` ((T, R, C)); raises for another grid."""
        raise NotImplementedError

    def score(self, f: WindowFeatures) -> np.ndarray:
        return f.speed / self.scale_for(f)

    def state(self) -> dict[str, np.ndarray]:
        return {"scale": self.scale}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> _SpeedOverScale:
        return cls(state["scale"])


#: The quantile of normal window speeds a place's or row's scale is.
TOP = 0.999


def _chunks(feats: Sequence[Any]) -> Iterator[WindowFeatures]:
    """Every video's features, a chunk of frames at a time, in order."""
    for f in feats:
        yield from f.chunks()


def _frames(feats: Sequence[Any]) -> int:
    return sum(len(f) for f in feats)


def _top_speeds(feats: Sequence[Any]) -> TopK:
    """An empty :class:`TopK` for the 99.9th percentile of every window speed of ``feats``."""
    rows, cols = feats[0].grid
    return TopK(top_count(_frames(feats) * rows * cols, TOP))


def _floor(speeds: TopK, config: RegionHeadConfig) -> float:
    """The least scale: ``place_floor`` times the global 99.9th speed percentile (no division by ~0)."""
    return config.place_floor * max(float(speeds.quantile(TOP)), 1e-6)


class PlacePart(_SpeedOverScale):
    """Speed over the normal speed of that place: motion where things are normally still or slow.

    The place's scale is the 99.9th percentile of the training windows' speed there, averaged
    over the 3x3 neighbouring windows and floored at ``place_floor`` times the global one.
    """

    name = "place"

    @classmethod
    def fit(cls, feats: Sequence[WindowFeatures], config: RegionHeadConfig) -> PlacePart:
        places, every = TopK(top_count(_frames(feats), TOP), feats[0].grid), _top_speeds(feats)
        for c in _chunks(feats):
            places.add(c.speed)
            every.add(c.speed.ravel())
        local = cv2.blur(places.quantile(TOP).astype(np.float32), (3, 3), borderType=cv2.BORDER_REPLICATE)
        return cls(np.maximum(local, _floor(every, config)))

    def scale_for(self, f: WindowFeatures) -> np.ndarray:
        if f.grid != self.scale.shape:
            raise DataError(f"region grid {f.grid} differs from the fitted {self.scale.shape}: frames of another size")
        return self.scale


class _PerRowScale(_SpeedOverScale):
    """A speed-over-scale part with one scale per row of windows (the camera's perspective)."""

    def __init__(self, scale: np.ndarray) -> None:
        super().__init__(np.asarray(scale, np.float32).ravel())

    def scale_for(self, f: WindowFeatures) -> np.ndarray:
        if f.grid[0] != len(self.scale):
            raise DataError(f"region grid {f.grid} has {f.grid[0]} rows, fitted on {len(self.scale)}: frames of another size")
        return self.scale[None, :, None]


class RowPart(_PerRowScale):
    """Speed over the normal speed of that row of windows: the camera's perspective, pooled widely.

    In a fixed camera, how fast normal things move in pixels depends mostly on the distance to
    the camera, hence on the image row: people near the bottom move more pixels per frame than
    the same people far away. A row pools every column and frame, so its scale (the 99.9th
    percentile of the training windows' speed in the row and its two neighbours, floored at
    ``place_floor`` times the global one) rests on far more windows than a single place.
    """

    name = "row"

    @classmethod
    def fit(cls, feats: Sequence[WindowFeatures], config: RegionHeadConfig) -> RowPart:
        (rows, cols), frames = feats[0].grid, _frames(feats)
        bands = [(max(0, r - 1), r + 2) for r in range(rows)]
        tops = [TopK(top_count(frames * (min(b, rows) - a) * cols, TOP)) for a, b in bands]
        every = _top_speeds(feats)
        for c in _chunks(feats):
            for top, (a, b) in zip(tops, bands, strict=True):
                top.add(c.speed[:, a:b].ravel())
            every.add(c.speed.ravel())
        scale = np.array([top.quantile(TOP) for top in tops], np.float32)
        return cls(np.maximum(scale, _floor(every, config)))


class PerspectivePart(_PerRowScale):
    """Speed over the normal speed a straight-line perspective expects at that row of windows.

    A fixed camera looking down at flat ground sees the same walker move more pixels per frame
    the lower it is in the image, about linearly in the row. The part fits that line to each
    row's 99th percentile of *moving* training windows' speeds (rows with at least
    ``MIN_ROW_WINDOWS`` of them, weighted by how many), so, unlike :class:`RowPart`'s table of
    rows, it extrapolates to rows where nothing moved in training: a person on a lawn nearer the
    camera than any path is scaled as a near walker, not as a fast one. The scale is floored at
    ``place_floor`` times the global one (a line falling to ~0 far away divides by nothing).
    """

    name = "perspective"

    @classmethod
    def fit(cls, feats: Sequence[WindowFeatures], config: RegionHeadConfig) -> PerspectivePart:
        ys = feats[0].positions()[:, 0, 0].astype(np.float64)
        (rows, cols), frames = feats[0].grid, _frames(feats)
        moving, every = [TopK(top_count(frames * cols, 0.99)) for _ in range(rows)], _top_speeds(feats)
        for c in _chunks(feats):
            for r, top in enumerate(moving):
                top.add(c.speed[:, r][c.speed[:, r] > config.static])
            every.add(c.speed.ravel())
        counts = np.array([top.count for top in moving])
        tops = np.array([top.quantile(0.99) if top.count else 0.0 for top in moving])
        ok = counts >= MIN_ROW_WINDOWS
        if ok.sum() >= 2:
            slope, offset = np.polyfit(ys[ok], tops[ok], 1, w=np.sqrt(counts[ok]))
            line = offset + slope * ys
        else:  # too little motion to fit a line: one scale for every row
            line = np.full(len(ys), _moving_quantile(feats, config.static, 0.99) if counts.sum() else 0.0)
        return cls(np.maximum(line, _floor(every, config)).astype(np.float32))


class DirectionPart:
    """kNN distance of a moving window's (direction histogram, position) to normal moving windows.

    Which way things move, where: a figure walking against the usual direction, or moving where
    nothing moved, is far from every normal window. Slow windows (below ``moving`` times the
    training windows' 99th speed percentile) score 0: their directions are mostly flow noise.
    """

    name = "direction"
    #: Values a window's vector has before its position (what the bank's rows hold, less 2).
    values = DIRECTIONS

    def __init__(self, bank: np.ndarray, threshold: float, position_weight: float, neighbours: int) -> None:
        self.bank = np.asarray(bank, np.float32)
        self.threshold = float(threshold)
        self.position_weight = float(position_weight)
        self.neighbours = int(min(neighbours, len(self.bank)))
        # the tree itself, not NearestNeighbors around it: the same exact search, without the
        # wrapper's checks and thread dispatch, which took half of a live frame's 1 ms query
        self._index = KDTree(self.bank) if len(self.bank) else None

    @staticmethod
    def vectors(f: WindowFeatures, position_weight: float) -> np.ndarray:
        """(T, R, C, values + 2) what the kNN compares: the direction histogram beside the position."""
        return _vectors(f, position_weight)

    @classmethod
    def fit(cls, feats: Sequence[WindowFeatures], config: RegionHeadConfig) -> DirectionPart:
        top = _moving_quantile(feats, config.static, 0.99)
        threshold = max(config.static, config.moving * float(top) if top is not None else config.static)
        return cls(_bank(feats, threshold, config, cls.vectors, cls.values), threshold, config.position_weight,
                   config.neighbours)

    def score(self, f: WindowFeatures) -> np.ndarray:
        out = np.zeros(f.speed.shape, np.float32)
        mask = f.speed >= self.threshold
        if self._index is None or not mask.any():
            return out
        dist, _ = self._index.query(self.vectors(f, self.position_weight)[mask], k=self.neighbours)
        out[mask] = dist.mean(1)
        return out

    def state(self) -> dict[str, np.ndarray]:
        meta = np.asarray([self.threshold, self.position_weight, self.neighbours], np.float64)
        return {"bank": self.bank, "meta": meta}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> DirectionPart:
        threshold, weight, k = (float(x) for x in np.asarray(state["meta"]).ravel())
        if state["bank"].ndim != 2 or state["bank"].shape[1] != cls.values + 2:
            raise CheckpointError(f"region head: {cls.name} bank of shape {state['bank'].shape}, expected (N, {cls.values + 2})")
        return cls(state["bank"], threshold, weight, int(k))


class MovingLookPart(DirectionPart):
    """kNN distance of a moving window's (look, position) to normal moving windows': what moves, where.

    The direction part's kNN with the window's look (its 8 gradient-direction energies,
    :func:`ammcnet.regions.features.window_appearance`) in place of its flow directions. Compared
    with every normal moving window, not with the looks kept at its place (the appearance part):
    a walker where nobody walked still looks like a walker, while a cart, a bicycle or a pram
    pushed at walking speed looks like nothing that moved in training. Still windows score 0.
    Its score is added to the head's rather than weighed in its max (:data:`~ammcnet.regions.config.ADDED_PARTS`).
    """

    name = "moving_look"
    values = DIRECTIONS

    @staticmethod
    def vectors(f: WindowFeatures, position_weight: float) -> np.ndarray:
        """(T, R, C, 10) the window's gradient energies beside its weighted position."""
        if f.appearance is None:
            raise DataError("region head: the moving-look part needs window features with appearance=True")
        return _beside_position(f.appearance[..., :DIRECTIONS], f, position_weight)


def _moving_quantile(feats: Sequence[Any], static: float, q: float) -> Any:
    """The ``q`` quantile of the speeds of the windows faster than ``static`` (None: none is)."""
    rows, cols = feats[0].grid
    top = TopK(top_count(_frames(feats) * rows * cols, q))
    for c in _chunks(feats):
        top.add(c.speed[c.speed > static])
    return top.quantile(q) if top.count else None


def _bank(feats: Sequence[Any], threshold: float, config: RegionHeadConfig,
          vectors: Callable[[WindowFeatures, float], np.ndarray], values: int) -> np.ndarray:
    """The ``vectors`` ((values + 2) each: a description, then the position) of the windows at least
    ``threshold`` fast, in video order; beyond ``max_train_windows`` of them a seeded random subset
    of that many.

    The subset is the one drawing from all of them would give (the same ``rng.choice`` over their
    count), got in two passes: the first counts them and keeps them while they are few, the
    second picks the drawn ones; memory holds the bank and one chunk, not every moving window.
    """
    kept: list[np.ndarray] = []
    count = 0
    for c in _chunks(feats):
        moving = c.speed >= threshold
        count += int(moving.sum())
        if count <= config.max_train_windows:
            kept.append(vectors(c, config.position_weight)[moving])
    if count > config.max_train_windows:
        drawn = np.sort(np.random.default_rng(config.seed).choice(count, config.max_train_windows, replace=False))
        kept, start = [], 0
        for c in _chunks(feats):
            moving = c.speed >= threshold
            n = int(moving.sum())
            pick = drawn[np.searchsorted(drawn, start):np.searchsorted(drawn, start + n)] - start
            if len(pick):
                kept.append(vectors(c, config.position_weight)[moving][pick])
            start += n
    return np.concatenate(kept) if kept else np.zeros((0, values + 2), np.float32)


def _vectors(f: WindowFeatures, position_weight: float) -> np.ndarray:
    """(T, R, C, 10) direction histogram beside the weighted window position."""
    return _beside_position(f.directions, f, position_weight)


def _beside_position(values: np.ndarray, f: WindowFeatures, position_weight: float) -> np.ndarray:
    """(T, R, C, V + 2) each window's ``values`` (T, R, C, V) beside its weighted position: what the
    kNN parts compare."""
    pos = np.broadcast_to(f.positions() * position_weight, f.speed.shape + (2,))
    return np.concatenate([values, pos], -1)


#: Places on each side of a window whose normal looks it is also compared with (1: the 3 x 3
#: neighbourhood, so a camera that shakes by a step, or a person one step aside, is not unusual).
APPEARANCE_REACH = 1
#: Windows' looks compared at a time when scoring (bounds the distance matrix at ~25 MB).
APPEARANCE_BATCH = 8


def descriptor_values(descriptor: str) -> int:
    """How many of a window's appearance values (:func:`ammcnet.regions.features.window_appearance`)
    the descriptor ``descriptor`` compares: the 8 gradient energies, and the tone for ``edges+tone``."""
    return APPEARANCE_VALUES if descriptor == "edges+tone" else DIRECTIONS


class AppearancePart:
    """Distance of a window's look to the nearest normal look at that place or next to it.

    At each place the part keeps the window's look (:func:`ammcnet.regions.features.window_appearance`)
    in ``appearance_frames`` training frames spread evenly over the footage: the background, and
    whatever passes there as often as it passes. A window scores the Euclidean distance to the
    nearest look kept at its place and its 8 neighbouring places. A density per place, where the
    direction part has one bank for every window: what is normal to see depends on where (a bag on
    a bench, not on the road), and a few dozen looks a place describe a fixed camera's background
    far better than a shared sample of the same size. A left bag, a person lying down or a cart's
    outline is far from every look kept there, whether or not it moves.

    The looks are kept as float16 (what the model file stores), so a loaded part scores exactly
    like the fitted one; the descriptor is the looks' length (:func:`descriptor_values`).
    """

    name = "appearance"

    def __init__(self, bank: np.ndarray) -> None:
        self.bank = np.asarray(bank, np.float16)  # (R, C, S, D)
        rows, cols, kept, values = self.bank.shape
        pool = _neighbourhood(self.bank.astype(np.float32)).reshape(rows * cols, -1, values)
        self._pool_t = np.ascontiguousarray(pool.transpose(0, 2, 1))  # (R*C, D, 9S) for one matmul
        self._pool_sq = np.einsum("pkd,pkd->pk", pool, pool)[:, None, :]

    @classmethod
    def fit(cls, feats: Sequence[WindowFeatures], config: RegionHeadConfig) -> AppearancePart:
        return cls(_looks(feats, config.appearance_frames, descriptor_values(config.appearance_descriptor)))

    def with_looks(self, feats: Sequence[WindowFeatures], count: int) -> AppearancePart:
        """This part with ``count`` more looks a place, spread over ``feats`` (taught as normal)."""
        return AppearancePart(np.concatenate([self.bank, _looks(feats, count, self.bank.shape[-1])], 2))

    def score(self, f: WindowFeatures) -> np.ndarray:
        if f.appearance is None:
            raise DataError("region head: the appearance part needs window features with appearance=True")
        t, rows, cols = f.speed.shape
        if (rows, cols) != self.bank.shape[:2]:
            raise DataError(f"region grid {(rows, cols)} differs from the fitted {self.bank.shape[:2]}: frames of another size")
        looks = f.appearance[..., : self.bank.shape[-1]].reshape(t, rows * cols, -1).transpose(1, 0, 2)
        out = np.empty((rows * cols, t), np.float32)
        for a in range(0, t, APPEARANCE_BATCH):
            x = np.ascontiguousarray(looks[:, a:a + APPEARANCE_BATCH])
            d2 = np.einsum("ptd,ptd->pt", x, x)[..., None] - 2 * np.matmul(x, self._pool_t) + self._pool_sq
            out[:, a:a + APPEARANCE_BATCH] = np.sqrt(np.maximum(d2.min(-1), 0.0))
        return out.T.reshape(t, rows, cols)

    def state(self) -> dict[str, np.ndarray]:
        return {"bank": self.bank}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> AppearancePart:
        bank = np.asarray(state["bank"])
        if bank.ndim != 4 or bank.shape[-1] not in (DIRECTIONS, APPEARANCE_VALUES):
            raise CheckpointError(f"region head: appearance bank of shape {bank.shape}, expected (R, C, S, 8 or 9)")
        return cls(bank)


def _looks(feats: Sequence[Any], count: int, values: int) -> np.ndarray:
    """(R, C, S, values) float16: every window's look in up to ``count`` frames spread evenly over ``feats``."""
    total = _frames(feats)
    picks = np.unique(np.linspace(0, max(total - 1, 0), max(1, min(count, total))).round().astype(np.int64))
    kept, start = [], 0
    for c in _chunks(feats):
        if c.appearance is None:
            raise DataError("region head: the appearance part needs window features with appearance=True")
        chosen = picks[(picks >= start) & (picks < start + len(c))] - start
        if len(chosen):
            kept.append(c.appearance[chosen, ..., :values])
        start += len(c)
    if not kept:
        raise DataError("region head: no normal frames for the appearance part")
    return np.moveaxis(np.concatenate(kept), 0, 2).astype(np.float16)


def _neighbourhood(bank: np.ndarray) -> np.ndarray:
    """(R, C, 9S, D): each place's looks beside its neighbours' (edges repeat the border places)."""
    r = APPEARANCE_REACH
    rows, cols = bank.shape[:2]
    padded = np.pad(bank, ((r, r), (r, r), (0, 0), (0, 0)), mode="edge")
    shifted = [padded[dy:dy + rows, dx:dx + cols] for dy in range(2 * r + 1) for dx in range(2 * r + 1)]
    return np.concatenate(shifted, 2)


#: Part classes by name.
PART_TYPES: dict[str, type] = {p.name: p for p in (SpeedPart, PlacePart, DirectionPart, RowPart, RelativePart,
                                                   PerspectivePart, AppearancePart, MovingLookPart)}
