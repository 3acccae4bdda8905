"""Per-region motion features on an analysis grid near the source resolution.

The flows come from :class:`ammcnet.flow.analysis.AnalysisFlow` (the grid:
:func:`ammcnet.flow.analysis.analysis_size`), the module that gives the network its flows too.

A region is a square window of side ``window * height`` pixels, placed every ``stride * side``
pixels. For every window and frame: the mean flow speed (in frame heights per frame, so the
numbers mean the same at any resolution) and the histogram of the pixels' flow directions,
weighted by speed and normalised to sum 1 (which way the window's content moves). Sums come
from one integral image per frame, so all windows cost about as much as one box filter.

On request, a third feature: the speed of the fastest moving blob in the window relative to
that blob's own height (:func:`relative_speed`). A person near a fixed camera looks taller and
moves more pixels per frame than the same person far away; their ratio does not depend on the
distance, so one scale serves every depth, including depths where nothing moved in training.

On request, a fourth: what the window looks like (:func:`window_appearance`), from the grey level
the analysis records carry beside the flow (:data:`ammcnet.flow.analysis.GREY_CHANNEL`): the
energy of the grey-level gradients in each of 8 directions (edges and texture, the idea of HOG)
and the mean grey level (tone). Whatever does not move unusually (a bag left behind, a person
lying down, a cart pushed at walking speed) shows there, not in the flow.

>>> import numpy as np
>>> flow = np.zeros((2, 40, 40, 2), np.float32); flow[:, :, :, 0] = 4.0   # all moving right, 4 px
>>> f = window_features(flow, side=20, step=10)
>>> f.speed.shape, round(float(f.speed.max()), 3), int(f.directions[0, 0, 0].argmax())
((2, 3, 3), 0.1, 0)
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from ammcnet.errors import DataError
from ammcnet.flow.analysis import GREY_CHANNEL

#: Direction sectors of the histogram (45 degrees each, counted from +u towards +v).
DIRECTIONS = 8
#: Sector of (u >= 0, v >= 0, |v| > |u|) packed as 4a + 2b + c: comparisons instead of atan2,
#: which costs more than the rest of the features together.
_OCTANT = np.array([4, 5, 3, 2, 7, 6, 0, 1], np.int32)


def octant_code(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The packed comparisons 4a + 2b + c (uint8) of each flow vector; ``_OCTANT[code]`` is its sector."""
    code = np.greater_equal(u, 0).view(np.uint8) << 2
    code |= np.greater_equal(v, 0).view(np.uint8) << 1
    code |= np.greater(np.abs(v), np.abs(u)).view(np.uint8)
    return code


def octant(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """45-degree sector (0..7) of each flow vector; 0 = [0, 45) degrees from +u towards +v."""
    return _OCTANT[octant_code(u, v)]


#: Histogram bins by code, reordered into sectors: sums binned by code need no per-pixel lookup.
_SECTOR_OF_CODE_BIN = np.argsort(_OCTANT)


#: Frames of window features a part fits on or scores at a time (an hour at 10 fps is 36,000).
FEATURE_CHUNK = 64


@dataclass
class WindowFeatures:
    """Features of T frames' windows.

    Attributes:
        speed: (T, R, C) mean speed per window, frame heights per frame.
        directions: (T, R, C, 8) speed-weighted direction histogram, rows sum to 1 (0 when still).
        side: window side in analysis pixels.
        step: window step in analysis pixels.
        size: (H, W) of the analysis grid.
        relative: (T, R, C) blob speed over blob height (:func:`relative_speed`), or None when
            not asked for.
        appearance: (T, R, C, 9) what the window looks like (:func:`window_appearance`), or None
            when not asked for.
    """

    speed: np.ndarray
    directions: np.ndarray
    side: int
    step: int
    size: tuple[int, int]
    relative: np.ndarray | None = None
    appearance: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.speed)

    def frames(self, a: int, b: int) -> WindowFeatures:
        """The features of frames ``a`` to ``b`` (exclusive)."""
        rel = None if self.relative is None else self.relative[a:b]
        look = None if self.appearance is None else self.appearance[a:b]
        return WindowFeatures(self.speed[a:b], self.directions[a:b], self.side, self.step, self.size, rel, look)

    def chunks(self, size: int = FEATURE_CHUNK) -> Iterator[WindowFeatures]:
        """The features ``size`` frames at a time: what fitting reads, from memory here or from disk
        (:class:`ammcnet.regions.store.StoredFeatures`), so one loop serves both."""
        for a in range(0, len(self), size):
            yield self.frames(a, a + size)

    @property
    def grid(self) -> tuple[int, int]:
        return int(self.speed.shape[1]), int(self.speed.shape[2])

    def positions(self) -> np.ndarray:
        """(R, C, 2) window centres as (row, column) fractions of the grid in [0, 1]."""
        rows, cols = self.grid
        h, w = self.size
        ys = (np.arange(rows) * self.step + self.side / 2) / h
        xs = (np.arange(cols) * self.step + self.side / 2) / w
        yy, xx = np.meshgrid(ys, xs, indexing="ij")
        return np.stack([yy, xx], -1).astype(np.float32)

    def box(self, row: int, col: int, frame_hw: tuple[int, int]) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of window (row, col) in pixels of a frame of size ``frame_hw``."""
        sy, sx = frame_hw[0] / self.size[0], frame_hw[1] / self.size[1]
        y0, x0 = row * self.step, col * self.step
        return (int(x0 * sx), int(y0 * sy), int((x0 + self.side) * sx), int((y0 + self.side) * sy))


#: Frames whose integral images are built at once (bounds memory at ~100 MB for 240x360).
CHUNK = 16


def window_features(flows: np.ndarray, side: int, step: int, relative: bool = False,
                    blob_floor: float = 1.0, appearance: bool = False) -> WindowFeatures:
    """Window features of (T, H, W, 2 or 3) analysis records: pixel flows, then (for
    ``appearance``) the frames' grey levels.

    The side is rounded to a whole number of steps: speeds are summed per ``step`` x ``step``
    block in one ``bincount`` pass, and each window adds up its blocks. ``relative`` adds the
    blob speed over blob height (:func:`relative_speed`), heights floored at ``blob_floor`` sides;
    ``appearance`` the window's look (:func:`window_appearance`).
    """
    flows = np.asarray(flows, np.float32)
    if appearance and flows.shape[-1] <= GREY_CHANNEL:
        raise DataError(f"the appearance part needs analysis records with the frame's grey level (shape {flows.shape}); "
                        "delete the analysis flow cache to recompute it")
    t, h, w, _ = flows.shape
    step = max(1, min(int(step), h, w))
    per_side = max(1, min(int(round(side / step)), h // step, w // step))
    hb, wb = h // step, w // step
    parts = [_chunk_features(flows[i:i + CHUNK, : hb * step, : wb * step], step, per_side, h) for i in range(0, max(t, 1), CHUNK)]
    speed = np.concatenate([p[0] for p in parts])
    hist = np.concatenate([p[1] for p in parts])
    rel = relative_speed(flows, step, per_side, blob_floor * per_side * step) if relative else None
    look = None
    if appearance:
        look = np.concatenate([window_appearance(flows[i:i + CHUNK, ..., GREY_CHANNEL], step, per_side)
                               for i in range(0, max(t, 1), CHUNK)])
    return WindowFeatures(speed, hist, per_side * step, step, (h, w), rel, look)


#: Values of a window's appearance: 8 gradient-direction energies, then the tone.
APPEARANCE_VALUES = DIRECTIONS + 1
#: Gradient energy (grey levels per pixel, in one direction) that counts 1 in the descriptor:
#: the square root of energy over it keeps textured and plain windows on one scale.
EDGE_SCALE = 16.0


def window_appearance(grey: np.ndarray, step: int, per_side: int) -> np.ndarray:
    """(T, R, C, 9) what each window of (T, H, W) grey frames (0-255) looks like.

    Values 0-7: the square root of the window's mean gradient magnitude (grey levels per pixel)
    in each 45-degree direction, over :data:`EDGE_SCALE`: where edges run and how strong they are
    (a person's outline, a bag's rim, a floor's texture). Value 8: the mean grey level over 255.
    Gradients are central differences, so the grid's rows and columns sum alike in blocks of
    ``step`` pixels, as the flow features do (:func:`_chunk_features`: the same ``bincount``
    pass, with the gradient in place of the flow); windows are ``per_side`` blocks a side.
    """
    grey = np.asarray(grey, np.float32)
    t, h, w = grey.shape
    hb, wb = h // step, w // step
    gx, gy = np.zeros_like(grey), np.zeros_like(grey)
    gx[:, :, 1:-1] = (grey[:, :, 2:] - grey[:, :, :-2]) / 2
    gy[:, 1:-1] = (grey[:, 2:] - grey[:, :-2]) / 2
    grad = np.stack([gx, gy], -1)[:, : hb * step, : wb * step]
    strength, hist = _chunk_features(grad, step, per_side, 1.0)
    edges = np.sqrt(hist * strength[..., None] / EDGE_SCALE)
    blocks = grey[:, : hb * step, : wb * step].reshape(t, hb, step, wb, step).sum((2, 4), dtype=np.float64)
    integral = np.zeros((t, hb + 1, wb + 1), np.float64)
    integral[:, 1:, 1:] = blocks.cumsum(1).cumsum(2)
    k = per_side
    tone = (integral[:, k:, k:] - integral[:, :-k, k:] - integral[:, k:, :-k] + integral[:, :-k, :-k])
    tone = tone / (255.0 * (k * step) ** 2)
    return np.concatenate([edges, tone[..., None]], -1).astype(np.float32)


#: Moving pixels (for blobs): faster than this many pixels per frame per 240 rows of the grid.
BLOB_STATIC = 0.5 / 240
#: Smallest blob, as a fraction of the grid's height on each side (16 px at 240 rows).
BLOB_MIN_SIDE = 1 / 60
_CLOSE = np.ones((3, 3), np.uint8)


def moving_blobs(flow: np.ndarray, static: float) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """Connected moving pixels of one (H, W, 2) flow: (count, labels, stats, speed) as OpenCV's
    ``connectedComponentsWithStats`` gives them (label 0 = still), and the pixel speeds.

    Moving = faster than ``static`` pixels per frame; the mask is closed by a 3x3 kernel first so
    a walker's limbs and body join.
    """
    speed = np.hypot(flow[..., 0], flow[..., 1])
    moving = cv2.morphologyEx((speed > static).astype(np.uint8), cv2.MORPH_CLOSE, _CLOSE)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(moving, connectivity=8)
    return count, labels, stats, speed


def relative_speed(flows: np.ndarray, step: int, per_side: int, floor: float) -> np.ndarray:
    """(T, R, C): per window, the largest relative speed among the moving blobs that touch it.

    A blob is a connected set of moving pixels (:func:`moving_blobs`) of at least ``BLOB_MIN_SIDE``
    squared of the grid; its relative speed is its mean speed over its bounding-box height, in
    own heights per frame. Height, not area: a car or a group is wider than a person but about
    as tall at the same depth. Heights are floored at ``floor`` pixels (an object's size): a slow
    person's flow breaks into small fragments (Ped2's walkers move about 0.7 px per frame), and a
    fragment's own height would make it look fast.
    """
    t, h, w, _ = flows.shape
    hb, wb = h // step, w // step
    out = np.zeros((t, hb - per_side + 1, wb - per_side + 1), np.float32)
    least = max(2.0, BLOB_MIN_SIDE * h)
    floor = max(float(floor), least)
    window = np.ones((per_side, per_side), np.uint8)
    for i in range(t):
        count, labels, stats, speed = moving_blobs(flows[i], BLOB_STATIC * h)
        if count <= 1:
            continue
        area = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
        ratio = np.bincount(labels.ravel(), weights=speed.ravel(), minlength=count) / np.maximum(area, 1.0)
        ratio /= np.maximum(stats[:, cv2.CC_STAT_HEIGHT], floor)
        ratio[0] = 0.0
        ratio[area < least * least] = 0.0
        blocks = ratio.astype(np.float32)[labels[: hb * step, : wb * step]].reshape(hb, step, wb, step).max(axis=(1, 3))
        spread = cv2.dilate(blocks, window, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT, borderValue=0)
        out[i] = spread[: hb - per_side + 1, : wb - per_side + 1]
    return out


@functools.lru_cache(maxsize=8)
def _block_bins(h: int, w: int, step: int) -> np.ndarray:
    """(h, w) int32: the first histogram bin of each pixel's ``step`` x ``step`` block (kept: the
    same grid every live frame)."""
    wb = w // step
    bins = ((np.arange(h) // step)[:, None] * wb + (np.arange(w) // step)[None, :]) * DIRECTIONS
    bins = bins.astype(np.int32)
    bins.flags.writeable = False
    return bins


def _chunk_features(flows: np.ndarray, step: int, per_side: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    t, h, w, _ = flows.shape
    u, v = flows[..., 0] / height, flows[..., 1] / height  # frame heights per frame
    speed = np.sqrt(u * u + v * v)
    hb, wb = h // step, w // step
    index = _block_bins(h, w, step) + octant_code(u, v)
    if t > 1:
        index += (np.arange(t, dtype=np.int32) * (hb * wb * DIRECTIONS))[:, None, None]
    sums = np.bincount(index.ravel(), weights=speed.ravel(), minlength=t * hb * wb * DIRECTIONS)
    blocks = sums.reshape(t, hb, wb, DIRECTIONS)[..., _SECTOR_OF_CODE_BIN]
    integral = np.zeros((t, hb + 1, wb + 1, DIRECTIONS), np.float64)
    integral[:, 1:, 1:] = blocks.cumsum(1).cumsum(2)
    k = per_side
    win = integral[:, k:, k:] - integral[:, :-k, k:] - integral[:, k:, :-k] + integral[:, :-k, :-k]
    win = np.maximum(win, 0.0).astype(np.float32)
    total = win.sum(-1)
    hist = win / np.maximum(total[..., None], 1e-12)
    return total / float((k * step) ** 2), hist
