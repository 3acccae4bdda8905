"""The parts of the region head: each scores every window of every frame (high = unusual).

A part is fitted on the window features of normal videos and turned into plain arrays for the
model file (``state``/``from_state``), so a loaded head scores exactly like the fitted one.

>>> import numpy as np
>>> from ammcnet.regions.features import WindowFeatures
>>> still = WindowFeatures(np.zeros((3, 2, 2), np.float32), np.zeros((3, 2, 2, 8), np.float32), 4, 4, (8, 8))
>>> SpeedPart().score(still).shape
(3, 2, 2)
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from sklearn.neighbors import KDTree

from ammcnet.errors import CheckpointError, DataError
from ammcnet.regions.config import RegionHeadConfig
from ammcnet.regions.features import DIRECTIONS, WindowFeatures

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


def _floor(speeds: np.ndarray, config: RegionHeadConfig) -> float:
    """The least scale: ``place_floor`` times the global 99.9th speed percentile (no division by ~0)."""
    return config.place_floor * max(float(np.quantile(speeds, 0.999)), 1e-6)


class PlacePart(_SpeedOverScale):
    """Speed over the normal speed of that place: motion where things are normally still or slow.

    The place's scale is the 99.9th percentile of the training windows' speed there, averaged
    over the 3x3 neighbouring windows and floored at ``place_floor`` times the global one.
    """

    name = "place"

    @classmethod
    def fit(cls, feats: Sequence[WindowFeatures], config: RegionHeadConfig) -> PlacePart:
        speeds = np.concatenate([f.speed for f in feats])
        local = np.quantile(speeds, 0.999, axis=0).astype(np.float32)
        local = cv2.blur(local, (3, 3), borderType=cv2.BORDER_REPLICATE)
        return cls(np.maximum(local, _floor(speeds, config)))

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
        speeds = np.concatenate([f.speed for f in feats])  # (T, R, C)
        rows = speeds.shape[1]
        scale = np.array([np.quantile(speeds[:, max(0, r - 1):r + 2], 0.999) for r in range(rows)], np.float32)
        return cls(np.maximum(scale, _floor(speeds, config)))


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
        speeds = np.concatenate([f.speed for f in feats])  # (T, R, C)
        ys = feats[0].positions()[:, 0, 0].astype(np.float64)
        moving = [speeds[:, r][speeds[:, r] > config.static] for r in range(speeds.shape[1])]
        counts = np.array([len(m) for m in moving])
        tops = np.array([np.quantile(m, 0.99) if len(m) else 0.0 for m in moving])
        ok = counts >= MIN_ROW_WINDOWS
        if ok.sum() >= 2:
            slope, offset = np.polyfit(ys[ok], tops[ok], 1, w=np.sqrt(counts[ok]))
            line = offset + slope * ys
        else:  # too little motion to fit a line: one scale for every row
            line = np.full(len(ys), np.quantile(np.concatenate(moving), 0.99) if counts.sum() else 0.0)
        return cls(np.maximum(line, _floor(speeds, config)).astype(np.float32))


class DirectionPart:
    """kNN distance of a moving window's (direction histogram, position) to normal moving windows.

    Which way things move, where: a figure walking against the usual direction, or moving where
    nothing moved, is far from every normal window. Slow windows (below ``moving`` times the
    training windows' 99th speed percentile) score 0: their directions are mostly flow noise.
    """

    name = "direction"

    def __init__(self, bank: np.ndarray, threshold: float, position_weight: float, neighbours: int) -> None:
        self.bank = np.asarray(bank, np.float32)
        self.threshold = float(threshold)
        self.position_weight = float(position_weight)
        self.neighbours = int(min(neighbours, len(self.bank)))
        # the tree itself, not NearestNeighbors around it: the same exact search, without the
        # wrapper's checks and thread dispatch, which took half of a live frame's 1 ms query
        self._index = KDTree(self.bank) if len(self.bank) else None

    @classmethod
    def fit(cls, feats: Sequence[WindowFeatures], config: RegionHeadConfig) -> DirectionPart:
        speeds = np.concatenate([f.speed.ravel() for f in feats])
        moving = speeds[speeds > config.static]
        threshold = max(config.static, config.moving * float(np.quantile(moving, 0.99)) if moving.size else config.static)
        vectors = np.concatenate([_vectors(f, config.position_weight)[f.speed >= threshold] for f in feats])
        if len(vectors) > config.max_train_windows:
            keep = np.random.default_rng(config.seed).choice(len(vectors), config.max_train_windows, replace=False)
            vectors = vectors[np.sort(keep)]
        return cls(vectors, threshold, config.position_weight, config.neighbours)

    def score(self, f: WindowFeatures) -> np.ndarray:
        out = np.zeros(f.speed.shape, np.float32)
        mask = f.speed >= self.threshold
        if self._index is None or not mask.any():
            return out
        dist, _ = self._index.query(_vectors(f, self.position_weight)[mask], k=self.neighbours)
        out[mask] = dist.mean(1)
        return out

    def state(self) -> dict[str, np.ndarray]:
        meta = np.asarray([self.threshold, self.position_weight, self.neighbours], np.float64)
        return {"bank": self.bank, "meta": meta}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> DirectionPart:
        threshold, weight, k = (float(x) for x in np.asarray(state["meta"]).ravel())
        if state["bank"].ndim != 2 or state["bank"].shape[1] != DIRECTIONS + 2:
            raise CheckpointError(f"region head: direction bank of shape {state['bank'].shape}, expected (N, {DIRECTIONS + 2})")
        return cls(state["bank"], threshold, weight, int(k))


def _vectors(f: WindowFeatures, position_weight: float) -> np.ndarray:
    """(T, R, C, 10) direction histogram beside the weighted window position."""
    pos = np.broadcast_to(f.positions() * position_weight, f.speed.shape + (2,))
    return np.concatenate([f.directions, pos], -1)


#: Part classes by name.
PART_TYPES: dict[str, type] = {p.name: p for p in (SpeedPart, PlacePart, DirectionPart, RowPart, RelativePart,
                                                   PerspectivePart)}
