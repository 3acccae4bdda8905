"""Synthetic anomalies made from normal footage: a validation set that needs no test label.

Each synthetic video is a copy of a held-out *normal* video with one anomalous stretch of
``length`` frames, of one of eight kinds. Four are anomalies of motion:

* ``patch``: a foreign patch (cut from another place and time of the footage) pasted and moved
  across the frame, faster than most normal motion;
* ``fast``: a region played at :data:`SPEEDUP` times the frame rate (its content moves faster);
* ``backwards``: a region played backwards (its content moves the other way);

  both placed where the frames they play move, when the footage's motion is given (a region of
  still background, sped up, is no anomaly at all and only adds noise to the choice);
* ``against``: a person-sized blob moving against the footage's dominant direction.

Four are anomalies of appearance, which a head that scores motion alone cannot see: without
them the choice of settings could never prefer a setting that looks at what things are.

* ``still``: a foreign textured patch that appears and stays still (a left object);
* ``lying``: a person-sized blob that walks at the footage's normal speed, stops and lies down
  (a person lying on the floor);
* ``texture``: a region where the frames move whose texture is swapped for another scene's while
  its motion is kept (a cart-like thing at walking speed);
* ``alongside``: a foreign object moving with the crowd: a textured patch of the footage as tall
  as its objects and as long, turned a quarter (its edges run across the way the footage's run),
  moving at the footage's normal speed along its dominant direction from where the frames move
  (a cart or a bicycle among walkers). ``texture`` keeps a region's own motion but may swap in a texture
  that moving things have (a walker's); this one moves as walkers move but looks like nothing
  that moved.

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
KINDS: tuple[str, ...] = ("patch", "fast", "backwards", "against", "still", "lying", "texture", "alongside")
#: The kinds a motion part can see, and the kinds made for the appearance part (what motion cannot see).
MOTION_KINDS: tuple[str, ...] = KINDS[:4]
APPEARANCE_KINDS: tuple[str, ...] = KINDS[4:]
#: Added to the seed of the appearance kinds' random draws: the motion kinds keep the draws they had
#: before the appearance kinds existed, so a motion-only choice is what it was (the same anomalies).
APPEARANCE_STREAM = 1
#: The random stream of each kind added after the first appearance kinds (its own, so adding it
#: leaves every other kind's anomalies as they were).
KIND_STREAMS: dict[str, int] = {"alongside": 2}
#: Frame-rate factor of the ``fast`` region.
SPEEDUP = 3
#: Candidate donor patches drawn for ``still`` and ``texture``; the one with the most texture is kept.
TEXTURE_TRIES = 4
#: Share of a ``lying`` stretch the blob walks upright before it lies down.
WALK_SHARE = 0.25
#: Width in px of the ``texture`` region's border mixed linearly with the frame it covers.
BLEND_PX = 2
#: Length of the ``alongside`` object over its height (the footage's object height): as long as a
#: walker is tall, a cart or a bicycle seen side-on.
ALONGSIDE_LENGTH = 1.0
#: Mean region flow (frame px per frame) under which a ``texture`` region counts as still.
STILL_FLOW_PX = 0.25


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
    first = (int(round(x)), int(round(y)), int(round(x)) + sw, int(round(y)) + sh)  # where it is pasted
    labels = np.zeros(n, bool)
    for t in range(a, b):
        labels[t] = _paste(out[t - a], sprite, mask, int(round(x)), int(round(y)))
        x, y = x + vx, y + vy
    return SyntheticEdit(a, out, labels, kind, first)


def _paste(frame: np.ndarray, sprite: np.ndarray, weight: np.ndarray, x: int, y: int) -> bool:
    """Mix ``sprite`` into ``frame`` by ``weight`` ((sh, sw) in [0, 1]: 1 pastes the sprite, 0 keeps the
    frame; a bool mask pastes it where True) with its top-left corner at (x, y), in place and clipped
    to the frame; False when none of it falls inside the frame."""
    h, w = frame.shape[:2]
    sh, sw = sprite.shape[:2]
    xa, ya, xb, yb = max(0, x), max(0, y), min(w, x + sw), min(h, y + sh)
    if xb <= xa or yb <= ya:
        return False
    k = np.asarray(weight, np.float32)[ya - y:yb - y, xa - x:xb - x, None]
    mixed = k * sprite[ya - y:yb - y, xa - x:xb - x] + (1.0 - k) * frame[ya:yb, xa:xb].astype(np.float32)
    frame[ya:yb, xa:xb] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
    return True


def _blob(side: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """An upright person-sized blob: a ``side`` x ``side // 2`` RGB noise texture around a drawn grey
    tone, and the ellipse mask it is pasted through."""
    sh, sw = side, max(4, side // 2)
    mask = np.zeros((sh, sw), np.uint8)
    cv2.ellipse(mask, (sw // 2, sh // 2), (max(1, sw // 2 - 1), max(1, sh // 2 - 1)), 0, 0, 360, 1, -1)
    tone = int(rng.integers(20, 236))
    texture = np.clip(tone + rng.normal(0, 25, (sh, sw, 1)), 0, 255).astype(np.uint8).repeat(3, 2)
    return texture, mask.astype(bool)


def _unit(direction: tuple[float, float]) -> tuple[float, float]:
    du, dv = direction
    norm = max(float(np.hypot(du, dv)), 1e-9)
    return du / norm, dv / norm


def _textured_patch(donor: Any, sh: int, sw: int, rng: np.random.Generator) -> np.ndarray:
    """The most textured (largest grey standard deviation) of :data:`TEXTURE_TRIES` (sh, sw) patches cut
    from random frames and places of ``donor``, reading one donor frame per try.

    Footage is mostly plain floor and wall: a plain patch pasted on plain floor, or a plain texture in
    a moving region, changes nothing any detector could see, and an anomaly nobody can see only
    rewards settings for noise. A donor smaller than the patch is cut whole and resized.
    """
    n, dh, dw = donor.shape[:3]
    ch, cw = min(sh, dh), min(sw, dw)
    best, best_std = None, -1.0
    for _ in range(TEXTURE_TRIES):
        t = int(rng.integers(0, n))
        y0, x0 = int(rng.integers(0, dh - ch + 1)), int(rng.integers(0, dw - cw + 1))
        patch = np.ascontiguousarray(np.asarray(donor[t], np.uint8)[y0:y0 + ch, x0:x0 + cw])
        std = float(cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY).std())
        if std > best_std:
            best, best_std = patch, std
    assert best is not None
    return best if best.shape[:2] == (sh, sw) else cv2.resize(best, (sw, sh), interpolation=cv2.INTER_LINEAR)


def _still(frames: Any, donor: Any, rng: np.random.Generator, *, length: int, side: int) -> SyntheticEdit:
    """A foreign textured patch (:func:`_textured_patch`) that appears and stays put for the whole
    stretch: a left object, which has no motion of its own to score."""
    h, w = frames.shape[1:3]
    side = max(4, min(side, h, w))
    sprite = _textured_patch(frames if donor is None else donor, side, side, rng)
    return _moving_sprite(frames, sprite, np.ones((side, side), bool), rng, length, (0.0, 0.0), "still")


def _place(lo: float, hi: float, rng: np.random.Generator) -> float:
    """A uniform position in [lo, hi], or their middle when the room is negative (the frame is too small)."""
    return float(rng.uniform(lo, hi)) if hi >= lo else (lo + hi) / 2


def _lying(frames: Any, rng: np.random.Generator, *, length: int, side: int, speed: float,
           direction: tuple[float, float]) -> SyntheticEdit:
    """A person-sized blob that walks upright at the footage's normal ``speed`` along its ``direction``
    for the first :data:`WALK_SHARE` of the stretch, then lies still where it stopped: the same texture
    turned a quarter (``side // 2`` high, ``side`` wide), centred under the upright blob and standing on
    the same row as its feet. Every frame of the stretch is anomalous: walking that way is normal
    motion, but a person walks to where it falls, and the fall is what matters.
    """
    n, h, w = frames.shape[:3]
    texture, mask = _blob(max(4, min(side, h, w)), rng)
    sh, sw = mask.shape
    lying, lying_mask = np.ascontiguousarray(np.rot90(texture)), np.ascontiguousarray(np.rot90(mask))
    a, b = _stretch(n, length, rng)
    walk = max(1, int(round(WALK_SHARE * (b - a))))
    ux, uy = _unit(direction)
    vx, vy = ux * max(speed, 0.5), uy * max(speed, 0.5)
    ex, ey = vx * (walk - 1), vy * (walk - 1)  # the upright blob's last corner, from its first
    lx, ly = ex + (sw - sh) / 2, ey + sh - sw  # the lying blob's corner
    x = _place(-min(0.0, ex, lx), w - max(sw, ex + sw, lx + sh), rng)
    y = _place(-min(0.0, ey, ly), h - max(sh, ey + sh, ly + sw), rng)
    out = np.array(frames[a:b], np.uint8)
    for k in range(b - a):
        if k < walk:
            _paste(out[k], texture, mask, int(round(x + vx * k)), int(round(y + vy * k)))
        else:
            _paste(out[k], lying, lying_mask, int(round(x + lx)), int(round(y + ly)))
    labels = np.zeros(n, bool)
    labels[a:b] = True
    return SyntheticEdit(a, out, labels, "lying", (int(round(x)), int(round(y)), int(round(x)) + sw, int(round(y)) + sh))


def _region_flow(motion: Any, box: tuple[int, int, int, int], a: int, b: int,
                 size: tuple[int, int]) -> np.ndarray | None:
    """(b - a, 2) mean (u, v) flow inside ``box`` at frames a..b-1 in frame px per frame (flow t carries
    frame t - 1 to t), read from ``motion.flows`` on their own grid (the box is scaled to it, the vector
    back to frame px); None when ``motion`` has no flows. Only the stretch's flows are read."""
    flows = getattr(motion, "flows", None)
    if flows is None or len(flows) == 0:
        return None
    (h, w), count = size, len(flows)
    lo = min(a, count - 1)
    chunk = np.asarray(flows[lo:max(lo + 1, min(b, count))], np.float32)
    fh, fw = chunk.shape[1:3]
    x0, y0, x1, y1 = box
    fx0, fy0 = min(fw - 1, x0 * fw // w), min(fh - 1, y0 * fh // h)
    fx1, fy1 = max(fx0 + 1, -(-x1 * fw // w)), max(fy0 + 1, -(-y1 * fh // h))
    mean = chunk[:, fy0:fy1, fx0:fx1, :2].mean(axis=(1, 2), dtype=np.float64) * np.array([w / fw, h / fh])
    return mean[np.clip(np.arange(a, b), 0, count - 1).clip(lo, lo + len(chunk) - 1) - lo]


def _region_shifts(motion: Any, box: tuple[int, int, int, int], a: int, b: int, size: tuple[int, int],
                   speed: float, direction: tuple[float, float]) -> np.ndarray:
    """(b - a, 2) accumulated (dx, dy) offsets in frame px of a texture that moves with the region
    ``box``: 0 at frame a, then each frame by the region's mean flow (:func:`_region_flow`), or by
    ``direction`` at ``speed`` px per frame when no flows are given or the region's mean flow is under
    :data:`STILL_FLOW_PX` (a texture that does not move is ``still``'s anomaly, not this one)."""
    steps = _region_flow(motion, box, a, b, size)
    if steps is None or len(steps) < 2 or float(np.hypot(steps[1:, 0], steps[1:, 1]).mean()) < STILL_FLOW_PX:
        steps = np.tile(np.array(_unit(direction)) * speed, (b - a, 1))
    steps = np.array(steps, np.float64)
    steps[0] = 0.0
    return np.cumsum(steps, axis=0)


def _border_weights(sh: int, sw: int) -> np.ndarray:
    """(sh, sw) float32 weights of a pasted region: 1 inside, rising linearly over its outer
    :data:`BLEND_PX` px."""
    dy = np.minimum(np.arange(sh), np.arange(sh)[::-1])[:, None]
    dx = np.minimum(np.arange(sw), np.arange(sw)[::-1])[None, :]
    return np.minimum(1.0, (np.minimum(dy, dx) + 1) / (BLEND_PX + 1)).astype(np.float32)


def _texture(frames: Any, donor: Any, rng: np.random.Generator, *, length: int, side: int, speed: float,
             direction: tuple[float, float], motion: Any) -> SyntheticEdit:
    """A ``side`` square drawn where the frames move (:func:`_moving_region`), its pixels replaced by a
    textured patch of another time and place (:func:`_textured_patch`) that moves as the region's own
    content does (:func:`_region_shifts`): the motion is the footage's, only the appearance is foreign.

    The texture is shifted by whole pixels of its accumulated sub-pixel offset, wrapping around
    (``np.roll``): an interpolated shift would blur it by a different amount each frame (a flicker no
    object has), and a reflected border would move against the region's motion. Its outer
    :data:`BLEND_PX` px are mixed linearly with the frame it covers, so that the square's edge is no
    sharper than the footage's own edges: the anomaly is the texture, not a drawn frame around it.
    """
    n, h, w = frames.shape[:3]
    a, b = _stretch(n, length, rng)
    x0, y0, x1, y1 = _moving_region(motion, a, b, h, w, side, rng)
    patch = _textured_patch(frames if donor is None else donor, y1 - y0, x1 - x0, rng).astype(np.float32)
    shifts = _region_shifts(motion, (x0, y0, x1, y1), a, b, (h, w), speed, direction)
    alpha = _border_weights(y1 - y0, x1 - x0)[..., None]
    out = np.array(frames[a:b], np.uint8)
    for k, (dx, dy) in enumerate(shifts):
        moved = np.roll(patch, (int(round(dy)), int(round(dx))), axis=(0, 1))
        under = out[k, y0:y1, x0:x1].astype(np.float32)
        out[k, y0:y1, x0:x1] = np.clip(np.rint(alpha * moved + (1.0 - alpha) * under), 0, 255).astype(np.uint8)
    labels = np.zeros(n, bool)
    labels[a:b] = True
    return SyntheticEdit(a, out, labels, "texture", (x0, y0, x1, y1))


def _alongside(frames: Any, donor: Any, rng: np.random.Generator, *, length: int, side: int, speed: float,
               direction: tuple[float, float], motion: Any) -> SyntheticEdit:
    """A foreign object moving with the crowd: the most textured of a few patches of the footage
    (:func:`_textured_patch`) as tall as its objects (``side``) and :data:`ALONGSIDE_LENGTH` times
    as long, turned a quarter, so that its edges run across the way the footage's run, moving at
    the footage's normal ``speed`` along its ``direction``: a cart or a bicycle seen side-on, as tall
    as a walker and as long as a walker is tall.

    Its path starts where the frames move over the stretch (:func:`_moving_region`, a square as wide
    as the object) and is pulled back inside the frame: walkers' paths are where a cart would be
    pushed. Its outer :data:`BLEND_PX` px are mixed with the frame it covers (:func:`_border_weights`),
    so that the anomaly is the object, not a drawn edge around it. Sized like a walker's width
    instead (half as long), the moving-look part saw it little better than a walker on Ped2's
    training videos: in a window an object's look weighs by its area.
    """
    n, h, w = frames.shape[:3]
    tall = max(4, min(side, h, w))
    long = max(4, min(int(round(ALONGSIDE_LENGTH * tall)), h, w))
    upright = _textured_patch(frames if donor is None else donor, long, tall, rng)
    sprite = np.ascontiguousarray(np.rot90(upright)).astype(np.float32)
    sh, sw = sprite.shape[:2]
    a, b = _stretch(n, length, rng)
    ux, uy = _unit(direction)
    vx, vy = ux * max(speed, 0.5), uy * max(speed, 0.5)
    x0, y0, _, _ = _moving_region(motion, a, b, h, w, sw, rng)
    ex, ey = vx * (b - a - 1), vy * (b - a - 1)  # the last corner, from the first
    x = float(np.clip(x0, -min(0.0, ex), max(-min(0.0, ex), w - sw - max(0.0, ex))))
    y = float(np.clip(y0 + (sw - sh) / 2, -min(0.0, ey), max(-min(0.0, ey), h - sh - max(0.0, ey))))
    alpha = _border_weights(sh, sw)
    out = np.array(frames[a:b], np.uint8)
    labels = np.zeros(n, bool)
    for k in range(b - a):
        labels[a + k] = _paste(out[k], sprite, alpha, int(round(x + vx * k)), int(round(y + vy * k)))
    return SyntheticEdit(a, out, labels, "alongside", (int(round(x)), int(round(y)), int(round(x)) + sw, int(round(y)) + sh))


def make_synthetic(frames: np.ndarray, kind: str, rng: np.random.Generator, *, length: int = 40, side: int | None = None,
                   speed: float = 2.0, direction: tuple[float, float] = (1.0, 0.0),
                   donor: np.ndarray | None = None, motion: Any = None) -> SyntheticVideo:
    """One synthetic anomaly of ``kind`` in a copy of ``frames`` ((T, H, W, 3) uint8).

    Args:
        length: frames in the anomalous stretch.
        side: patch / blob side in pixels, a retimed or ``texture`` region's half side (default: a
            fifth of the frame height).
        speed: normal moving speed in pixels per frame (the blobs and the ``alongside`` object move
            at it, the patch at 3x, a ``texture`` region's texture where no flow is given).
        direction: the footage's dominant (u, v) direction; ``against``'s blob moves against it,
            ``lying``'s and ``alongside``'s along it (and a ``texture`` where no flow is given).
        donor: frames to cut the foreign patches and textures from (default: ``frames`` itself).
        motion: (T, h, w) flow speed of ``frames`` on any grid, or a
            :class:`~ammcnet.regions.footage.FlowSpeeds` of their flows: ``fast``, ``backwards`` and
            ``texture`` regions, and ``alongside``'s path, are drawn where it is large (default: anywhere), and a ``texture``
            moves with the mean flow of its region when flows are given.
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
        texture, mask = _blob(side, rng)
        ux, uy = _unit(direction)
        vel = (-ux * max(speed, 0.5), -uy * max(speed, 0.5))
        return _moving_sprite(frames, texture, mask, rng, length, vel, kind)
    if kind == "still":
        return _still(frames, donor, rng, length=length, side=side)
    if kind == "lying":
        return _lying(frames, rng, length=length, side=side, speed=speed, direction=direction)
    if kind == "texture":
        return _texture(frames, donor, rng, length=length, side=2 * side, speed=speed, direction=direction,
                        motion=motion)
    if kind == "alongside":
        return _alongside(frames, donor, rng, length=length, side=side, speed=speed, direction=direction,
                          motion=motion)
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


def _stream_of(kind: str) -> int:
    """The random stream ``kind`` draws from: 0 (the seed itself) for the motion kinds,
    :data:`APPEARANCE_STREAM` for the first appearance kinds, a stream of its own for a later kind
    (:data:`KIND_STREAMS`)."""
    if kind in KIND_STREAMS:
        return KIND_STREAMS[kind]
    return APPEARANCE_STREAM if kind in APPEARANCE_KINDS else 0


def iter_synthetic_edits(videos: Sequence[Any], *, seed: int = 0, per_kind: int = 1, length: int = 40,
                         speed: float = 1.0, direction: tuple[float, float] = (1.0, 0.0),
                         kinds: Sequence[str] = KINDS, motions: Sequence[Any] | None = None,
                         side: int | None = None) -> Iterator[tuple[int, SyntheticEdit]]:
    """:func:`iter_validation_set`'s anomalies as the stretches they change (:func:`synthetic_edit`:
    the same seed gives the same edits), from videos read only where a stretch is. The motion kinds
    and the appearance kinds draw from two random streams (:data:`APPEARANCE_STREAM`), so asking
    for more or fewer appearance kinds leaves the motion kinds' anomalies as they are; a kind added
    later draws from a stream of its own (:func:`_stream_of`), so it moves no earlier kind's."""
    streams: dict[int, np.random.Generator] = {}
    for i, frames in enumerate(videos):
        donor = videos[(i + 1) % len(videos)]
        for kind in kinds:
            key = _stream_of(kind)
            rng = streams.setdefault(key, np.random.default_rng([seed, key] if key else seed))
            for _ in range(per_kind):
                yield i, synthetic_edit(frames, kind, rng, length=length, side=side, speed=speed, direction=direction,
                                        donor=donor, motion=None if motions is None else motions[i])
