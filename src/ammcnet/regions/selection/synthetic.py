"""Synthetic anomalies made from normal footage: a validation set that needs no test label.

Each synthetic video is a copy of a held-out *normal* video with one anomalous stretch of
``length`` frames, of one of four kinds:

* ``patch``: a foreign patch (cut from another place and time of the footage) pasted and moved
  across the frame, faster than most normal motion;
* ``fast``: a region played at :data:`SPEEDUP` times the frame rate (its content moves faster);
* ``backwards``: a region played backwards (its content moves the other way);

  both placed where the frames they play move, when the footage's motion is given (a region of
  still background, sped up, is no anomaly at all and only adds noise to the choice);
* ``against``: a person-sized blob moving against the footage's dominant direction.

Settings of the region head are chosen on these and on held-out normal videos (false alarms),
never on a test label. The generator is seeded, so a validation set is reproducible.

A synthetic video differs from its normal video only in its stretch, so the generator makes the
stretch alone (:class:`SyntheticEdit`, :func:`synthetic_edit`) from frames it reads as it needs
them (an array, or :class:`ammcnet.regions.footage.AnalysisFrames` that decodes them): choosing
settings on an hour of footage never holds a whole video's frames. :func:`make_synthetic` applies
the edit to a copy of the frames, with the same random draws.

>>> import numpy as np
>>> frames = np.random.default_rng(0).integers(0, 255, (40, 48, 64, 3), dtype=np.uint8)
>>> v = make_synthetic(frames, "against", np.random.default_rng(1), direction=(1.0, 0.0), speed=2.0)
>>> v.frames.shape == frames.shape, 0 < int(v.labels.sum()) < len(frames)
(True, True)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ammcnet.errors import ConfigError
from ammcnet.regions.features import moving_blobs
from ammcnet.regions.footage import flow_chunks
from ammcnet.regions.stats import stream_median

#: The kinds of synthetic anomaly, in report order.
KINDS: tuple[str, ...] = ("patch", "fast", "backwards", "against")
#: Frame-rate factor of the ``fast`` region.
SPEEDUP = 3


@dataclass
class SyntheticEdit:
    """One synthetic anomaly as the stretch it changes in a normal video of ``len(labels)`` frames.

    Attributes:
        start: the first frame changed; ``frames`` replace frames ``start`` to ``start + len(frames)``.
        frames: (t, H, W, 3) uint8 RGB, the changed stretch (frames outside it are the normal video's).
        labels: (T,) bool over the whole video, True on the anomalous frames.
        kind: one of :data:`KINDS`.
        box: (x0, y0, x1, y1) of the edited region at the stretch's start.
    """

    start: int
    frames: np.ndarray
    labels: np.ndarray
    kind: str
    box: tuple[int, int, int, int]

    def apply(self, frames: np.ndarray) -> SyntheticVideo:
        """The whole synthetic video: a copy of the normal video's ``frames`` with the stretch replaced."""
        out = np.array(frames, np.uint8)
        out[self.start:self.start + len(self.frames)] = self.frames
        return SyntheticVideo(out, self.labels, self.kind, self.box)


@dataclass
class SyntheticVideo:
    """A normal video with one synthetic anomalous stretch.

    Attributes:
        frames: (T, H, W, 3) uint8 RGB.
        labels: (T,) bool, True on the anomalous frames.
        kind: one of :data:`KINDS`.
        box: (x0, y0, x1, y1) of the edited region at the stretch's start.
    """

    frames: np.ndarray
    labels: np.ndarray
    kind: str
    box: tuple[int, int, int, int]


def _stretch(n: int, length: int, rng: np.random.Generator) -> tuple[int, int]:
    length = max(2, min(length, n - 2))
    start = int(rng.integers(1, max(2, n - length)))
    return start, min(n, start + length)


def _region(h: int, w: int, side: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    side = max(4, min(side, h, w))
    y0, x0 = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    return x0, y0, x0 + side, y0 + side


def _moving_region(motion: np.ndarray | None, a: int, b: int, h: int, w: int, side: int,
                   rng: np.random.Generator) -> tuple[int, int, int, int]:
    """A ``side`` square drawn with probability proportional to the motion inside it over frames a..b
    (uniform where nothing moves or no motion is given)."""
    side = max(4, min(side, h, w))
    if motion is None or len(motion) == 0:
        return _region(h, w, side, rng)
    mass = np.asarray(motion[min(a, len(motion) - 1):max(a + 1, min(b, len(motion)))], np.float32).sum(0)
    mass = cv2.resize(mass, (w, h), interpolation=cv2.INTER_AREA)
    # sum of motion inside the square whose top-left corner is (y, x), for every valid corner
    inside = cv2.boxFilter(mass, -1, (side, side), normalize=False, anchor=(0, 0),
                           borderType=cv2.BORDER_CONSTANT)[:h - side + 1, :w - side + 1]
    weights = np.clip(inside.astype(np.float64).ravel(), 0.0, None)
    if not np.isfinite(weights).all() or weights.sum() <= 1e-9:
        return _region(h, w, side, rng)
    corner = int(rng.choice(weights.size, p=weights / weights.sum()))
    y0, x0 = divmod(corner, w - side + 1)
    return x0, y0, x0 + side, y0 + side


def _source_frame(order: str, a: int, t: int, n: int) -> int:
    """The frame shown at ``t`` in a retimed stretch starting at ``a``: three source frames per frame
    ('fast'), or time running back from the stretch's start ('backwards')."""
    return min(n - 1, a + SPEEDUP * (t - a)) if order == "fast" else max(0, 2 * a - t)


def _retime(frames: Any, rng: np.random.Generator, length: int, side: int, order: str,
            motion: Any = None) -> SyntheticEdit:
    """A region whose content is played faster (order 'fast') or backwards.

    A reversed stretch starts late enough to have ``length`` frames to play back (when the video
    allows): a region that runs out of past would freeze, which is no longer the anomaly asked for.
    The region is drawn where the *source* frames move (see :func:`_moving_region`).
    """
    n, h, w = frames.shape[:3]
    if order == "backwards" and n > 2 * length + 2:
        a = int(rng.integers(length, n - length))
        b = a + length
    else:
        a, b = _stretch(n, length, rng)
    sources = [_source_frame(order, a, t, n) for t in range(a, b)]
    x0, y0, x1, y1 = _moving_region(motion, min(sources), max(sources) + 1, h, w, side, rng)
    lo = min(a, *sources)
    read = np.asarray(frames[lo:max(b, max(sources) + 1)], np.uint8)  # every frame the stretch shows
    out = read[a - lo:b - lo].copy()
    for t, src in zip(range(a, b), sources, strict=True):
        out[t - a, y0:y1, x0:x1] = read[src - lo, y0:y1, x0:x1]
    labels = np.zeros(n, bool)
    labels[a:b] = True
    return SyntheticEdit(a, out, labels, order, (x0, y0, x1, y1))


def _moving_sprite(frames: Any, sprite: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
                   length: int, velocity: tuple[float, float], kind: str) -> SyntheticEdit:
    """Paste ``sprite`` (where ``mask``) moving by ``velocity`` px per frame over a stretch."""
    n, h, w = frames.shape[:3]
    sh, sw = sprite.shape[:2]
    a, b = _stretch(n, length, rng)
    out = np.array(frames[a:b], np.uint8)
    vx, vy = velocity
    span_x, span_y = abs(vx) * (b - a), abs(vy) * (b - a)
    x = float(rng.uniform(0, max(1.0, w - sw - span_x))) + (span_x if vx < 0 else 0.0)
    y = float(rng.uniform(0, max(1.0, h - sh - span_y))) + (span_y if vy < 0 else 0.0)
    first = (int(x), int(y), int(x) + sw, int(y) + sh)
    labels = np.zeros(n, bool)
    for t in range(a, b):
        xi, yi = int(round(x)), int(round(y))
        xa, ya, xb, yb = max(0, xi), max(0, yi), min(w, xi + sw), min(h, yi + sh)
        if xb > xa and yb > ya:
            m = mask[ya - yi:yb - yi, xa - xi:xb - xi, None]
            region = out[t - a, ya:yb, xa:xb]
            out[t - a, ya:yb, xa:xb] = np.where(m, sprite[ya - yi:yb - yi, xa - xi:xb - xi], region)
            labels[t] = True
        x, y = x + vx, y + vy
    return SyntheticEdit(a, out, labels, kind, first)


def make_synthetic(frames: np.ndarray, kind: str, rng: np.random.Generator, *, length: int = 40, side: int | None = None,
                   speed: float = 2.0, direction: tuple[float, float] = (1.0, 0.0),
                   donor: np.ndarray | None = None, motion: np.ndarray | None = None) -> SyntheticVideo:
    """One synthetic anomaly of ``kind`` in a copy of ``frames`` ((T, H, W, 3) uint8).

    Args:
        length: frames in the anomalous stretch.
        side: region / patch side in pixels (default: a fifth of the frame height).
        speed: normal moving speed in pixels per frame (the blob moves at it, the patch at 3x).
        direction: the footage's dominant (u, v) direction; the blob moves against it.
        donor: frames to cut the foreign patch from (default: ``frames`` itself).
        motion: (T, h, w) flow speed of ``frames`` on any grid: ``fast`` and ``backwards`` regions
            are drawn where it is large (default: anywhere).
    """
    frames = np.asarray(frames, np.uint8)
    edit = synthetic_edit(frames, kind, rng, length=length, side=side, speed=speed, direction=direction,
                          donor=donor, motion=motion)
    return edit.apply(frames)


def synthetic_edit(frames: Any, kind: str, rng: np.random.Generator, *, length: int = 40, side: int | None = None,
                   speed: float = 2.0, direction: tuple[float, float] = (1.0, 0.0),
                   donor: Any = None, motion: Any = None) -> SyntheticEdit:
    """:func:`make_synthetic`'s anomaly as the stretch it changes: ``frames`` (and ``donor``) may be
    anything with ``shape``, ``len``, ``[t]`` and ``[a:b]`` (read as arrays), ``motion`` anything
    with ``len`` and ``[a:b]`` (:class:`ammcnet.regions.footage.FlowSpeeds`): only the frames the
    stretch shows are read."""
    n, h, w = frames.shape[:3]
    side = int(side or max(8, h // 5))
    if kind in ("fast", "backwards"):
        return _retime(frames, rng, length, 2 * side, kind, motion)
    if kind == "patch":
        donor = frames if donor is None else donor
        t = int(rng.integers(0, len(donor)))
        x0, y0, x1, y1 = _region(donor.shape[1], donor.shape[2], side, rng)
        sprite = np.asarray(donor[t], np.uint8)[y0:y1, x0:x1].copy()
        angle = float(rng.uniform(0, 2 * np.pi))
        v = 3.0 * max(speed, 0.5)
        return _moving_sprite(frames, sprite, np.ones(sprite.shape[:2], bool), rng, length,
                              (v * np.cos(angle), v * np.sin(angle)), kind)
    if kind == "against":
        sh, sw = side, max(4, side // 2)
        mask = np.zeros((sh, sw), np.uint8)
        cv2.ellipse(mask, (sw // 2, sh // 2), (max(1, sw // 2 - 1), max(1, sh // 2 - 1)), 0, 0, 360, 1, -1)
        tone = int(rng.integers(20, 236))
        texture = np.clip(tone + rng.normal(0, 25, (sh, sw, 1)), 0, 255).astype(np.uint8).repeat(3, 2)
        du, dv = direction
        norm = max(float(np.hypot(du, dv)), 1e-9)
        vel = (-du / norm * max(speed, 0.5), -dv / norm * max(speed, 0.5))
        return _moving_sprite(frames, texture, mask.astype(bool), rng, length, vel, kind)
    raise ConfigError(f"unknown synthetic anomaly kind {kind!r}; choose one of {', '.join(KINDS)}")


def footage_motion(flows: Sequence[Any], static: float = 0.5) -> tuple[float, tuple[float, float]]:
    """Median moving speed (px per frame) and dominant (u, v) direction of normal flows (arrays or
    :class:`~ammcnet.regions.footage.FlowFile` objects, read a stretch at a time).

    The median is exact in two passes (:func:`~ammcnet.regions.stats.stream_median`): an hour of
    240x320 flows has billions of pixel speeds. The direction's sums are float64 over stretches
    (they were float32 over whole videos: the same direction to about 1e-7).
    """
    sums = [0.0, 0.0]

    def moving() -> Iterator[np.ndarray]:  # one pass: the moving speeds, and the direction's sums
        u = v = 0.0
        for f in flows:
            for c in flow_chunks(f):
                sp = np.hypot(c[..., 0], c[..., 1])
                m = sp > static
                u += float(c[..., 0][m].sum(dtype=np.float64))
                v += float(c[..., 1][m].sum(dtype=np.float64))
                yield sp[m]
        sums[:] = [u, v]

    median = stream_median(moving)
    u, v = sums
    return (1.0 if median is None else median), ((u, v) if (u or v) else (1.0, 0.0))


def footage_object_height(flows: Sequence[Any], static: float = 0.5, every: int = 5,
                          min_area: int = 16) -> float | None:
    """Median height (px of the flow grid) of the moving blobs in normal flows, or None if nothing moves.

    Synthetic anomalies are sized by it: a "person-sized" blob is as tall as what moves in this
    footage, not a fixed share of the frame (a fixed share favours windows of that size, whatever
    the footage's objects are). Blobs are connected moving pixels (speed above ``static``, closed
    by a 3x3 kernel) of at least ``min_area`` pixels, in every ``every``-th frame of each video.
    Heights are counted per value, so the median is exact at any footage length.
    """
    counts = np.zeros(1, np.int64)
    for f in flows:
        for t in range(0, len(f), every):
            count, _, stats, _ = moving_blobs(np.asarray(f[t], np.float32), static)
            heights = [int(st[cv2.CC_STAT_HEIGHT]) for st in stats[1:count] if st[cv2.CC_STAT_AREA] >= min_area]
            if heights:
                found = np.bincount(heights)
                counts = np.pad(counts, (0, max(0, len(found) - len(counts))))
                counts[:len(found)] += found
    n = int(counts.sum())
    if not n:
        return None
    cum = np.cumsum(counts)
    middle = [int(np.searchsorted(cum, r, side="right")) for r in ((n - 1) // 2, n // 2)]
    return float(np.median(np.array(middle, np.float64)))


def make_validation_set(videos: Sequence[np.ndarray], *, seed: int = 0, per_kind: int = 1, length: int = 40,
                        speed: float = 1.0, direction: tuple[float, float] = (1.0, 0.0),
                        kinds: Sequence[str] = KINDS, motions: Sequence[np.ndarray] | None = None,
                        side: int | None = None) -> list[SyntheticVideo]:
    """``per_kind`` synthetic videos of every kind from each normal video (seeded); ``motions``: the
    flow speed of each video, ``side``: the object size in frame pixels (see :func:`make_synthetic`)."""
    return [v for _, v in iter_validation_set(videos, seed=seed, per_kind=per_kind, length=length, speed=speed,
                                              direction=direction, kinds=kinds, motions=motions, side=side)]


def iter_validation_set(videos: Sequence[np.ndarray], *, seed: int = 0, per_kind: int = 1, length: int = 40,
                        speed: float = 1.0, direction: tuple[float, float] = (1.0, 0.0),
                        kinds: Sequence[str] = KINDS, motions: Sequence[np.ndarray] | None = None,
                        side: int | None = None) -> Iterator[tuple[int, SyntheticVideo]]:
    """:func:`make_validation_set` one video at a time, with the index of the normal video it was
    made from: a writer keeps one copy in memory instead of all (same seed, same videos)."""
    for i, edit in iter_synthetic_edits(videos, seed=seed, per_kind=per_kind, length=length, speed=speed,
                                        direction=direction, kinds=kinds, motions=motions, side=side):
        yield i, edit.apply(np.asarray(videos[i], np.uint8))


def iter_synthetic_edits(videos: Sequence[Any], *, seed: int = 0, per_kind: int = 1, length: int = 40,
                         speed: float = 1.0, direction: tuple[float, float] = (1.0, 0.0),
                         kinds: Sequence[str] = KINDS, motions: Sequence[Any] | None = None,
                         side: int | None = None) -> Iterator[tuple[int, SyntheticEdit]]:
    """:func:`iter_validation_set`'s anomalies as the stretches they change (:func:`synthetic_edit`:
    the same seed gives the same edits), from videos read only where a stretch is."""
    rng = np.random.default_rng(seed)
    for i, frames in enumerate(videos):
        donor = videos[(i + 1) % len(videos)]
        for kind in kinds:
            for _ in range(per_kind):
                yield i, synthetic_edit(frames, kind, rng, length=length, side=side, speed=speed, direction=direction,
                                        donor=donor, motion=None if motions is None else motions[i])
