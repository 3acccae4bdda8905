"""Simulate the crowd and render one video: frames, anomaly pixel masks and frame labels.

Everyone moves on straight lines at constant speed (scaled by perspective): walkers both ways
along the walkway and down the one-way path. An anomaly enters the view at its start frame:
a hand cart or a small car (appearance), a cyclist or runner at 3-5x walking speed, someone on
the lawn, or someone walking up the one-way path (motion). The pixel mask is the anomalous
object's *visible* silhouette after occlusion, and a frame is labelled anomalous exactly when
its mask has a pixel, so labels and masks always agree.

>>> from ammcnet.demo.config import SceneConfig
>>> v = render_video(SceneConfig(height=64, width=96), 24, anomalies=[("runner", 4)], seed=1)
>>> v.frames.shape, v.masks.shape, int(v.labels.max())
((24, 64, 96, 3), (24, 64, 96), 1)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ammcnet.demo import actors
from ammcnet.demo.config import ANOMALY_KINDS, SceneConfig
from ammcnet.demo.scene import FORESHORTEN, LOWER_LAWN, UPPER_LAWN, Scene, build_scene
from ammcnet.demo.shapes import draw_object
from ammcnet.errors import ConfigError

SHIRTS = np.array([[70, 80, 120], [110, 110, 115], [60, 90, 70], [130, 110, 90], [90, 60, 70],
                   [45, 55, 75], [150, 150, 145], [100, 90, 120], [85, 105, 130], [120, 95, 70]], np.float64)
TROUSERS = np.array([[40, 50, 80], [35, 35, 40], [90, 90, 95], [120, 105, 80], [55, 45, 40]], np.float64)
SKIN = np.array([[225, 190, 160], [195, 150, 115], [150, 105, 75], [100, 70, 50]], np.float64)
HAIR = np.array([[30, 25, 20], [80, 55, 30], [150, 120, 70], [60, 60, 60]], np.float64)
#: Saturated colours that no pedestrian wears: carts, cars and bicycle frames.
LOUD = np.array([[235, 120, 20], [225, 35, 35], [245, 215, 30], [30, 170, 220], [200, 40, 200]], np.float64)

#: Gait cycle length in person heights (walking, running); the pedal cycle of a bicycle.
WALK_CYCLE, RUN_CYCLE, PEDAL_CYCLE = 0.8, 1.4, 1.6


@dataclass
class Track:
    """One moving object: kind, whether it is anomalous, and its ground point per frame."""

    kind: str
    anomalous: bool
    t0: int  # frame of xy[0]; may be negative (before the video starts)
    xy: np.ndarray  # (n, 2) float: feet / ground point in pixels
    phase: np.ndarray  # (n,) gait phase in radians
    direction: tuple[float, float]
    size: float  # height multiplier
    colors: tuple = ()
    event: int = -1  # index into the video's events for anomalous objects


@dataclass
class RenderedVideo:
    """One generated video.

    Attributes:
        frames: (N, H, W, 3) uint8 RGB.
        masks: (N, H, W) bool, visible pixels of anomalous objects.
        labels: (N,) uint8, 1 where the mask has a pixel.
        events: one dict per anomaly: kind, start, end (0-based inclusive frames where it is visible; -1 if never).
        tracks: every moving object, for inspection and tests.
    """

    frames: np.ndarray
    masks: np.ndarray
    labels: np.ndarray
    events: list[dict] = field(default_factory=list)
    tracks: list[Track] = field(default_factory=list)


def _colors(rng: np.random.Generator) -> tuple:
    jitter = rng.uniform(0.85, 1.15)
    return (tuple(SHIRTS[rng.integers(len(SHIRTS))] * jitter), tuple(TROUSERS[rng.integers(len(TROUSERS))]),
            tuple(SKIN[rng.integers(len(SKIN))]), tuple(HAIR[rng.integers(len(HAIR))]))


def _move(scene: Scene, x: float, y: float, dx: float, dy: float, speed: float, cycle: float, size: float,
          person_px: float, lane: float | None, max_steps: int, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Integrate a straight walk until the object has left the view (or ``max_steps``).

    With ``lane`` set, x follows that lane of the one-way path (which widens towards the camera).
    Returns (n, 2) positions and (n,) gait phases.
    """
    h, w = scene.height, scene.width
    xs, ps = [], []
    phase = 0.0
    for _ in range(max_steps):
        s = scene.scale(y)
        xs.append((x, y))
        ps.append(phase)
        step = speed * s
        x += dx * step
        y += dy * step * FORESHORTEN
        if lane is not None:
            x = scene.path_x(y, lane)
        phase += 2 * math.pi * step / (cycle * person_px * s * size)
        tall = person_px * s * size
        if x < -margin * s or x > w + margin * s or (dy < 0 and y < -1) or (dy > 0 and y - 1.1 * tall > h):
            break
    return np.asarray(xs, np.float64), np.asarray(ps, np.float64)


class _Crowd:
    """Spawns objects and keeps their tracks for one video."""

    def __init__(self, scene: Scene, config: SceneConfig, rng: np.random.Generator, num_frames: int):
        self.scene, self.config, self.rng, self.n = scene, config, rng, num_frames
        self.person = config.person_height * scene.height
        self.tracks: list[Track] = []
        self.horizon = 4 * (scene.width + scene.height) / max(config.walk_speed * 0.3, 1e-3)

    def _add(self, kind: str, t0: int, x: float, y: float, dx: float, dy: float, speed: float, *, cycle: float,
             size: float, lane: float | None = None, anomalous: bool = False, colors: tuple = (),
             event: int = -1, margin: float = 1.0) -> Track:
        max_steps = int(min(self.horizon, self.n - t0 + 1))
        xy, ph = _move(self.scene, x, y, dx, dy, speed, cycle, size, self.person, lane, max_steps,
                       margin * self.person * size)
        ph = ph + self.rng.uniform(0, 2 * math.pi)
        track = Track(kind, anomalous, t0, xy, ph, (dx, dy), size, colors or _colors(self.rng), event)
        self.tracks.append(track)
        return track

    def walker_h(self, t0: int, *, kind: str = "walker", speed_mul: float = 1.0, **kw) -> Track:
        """A person on the two-way walkway entering from a random side."""
        y0, y1 = self.scene.walkway
        sign = 1.0 if self.rng.uniform() < 0.5 else -1.0
        size = self.rng.uniform(0.82, 1.12)
        x = -0.4 * self.person if sign > 0 else self.scene.width + 0.4 * self.person
        speed = self.config.walk_speed * self.rng.uniform(0.8, 1.2) * speed_mul
        dy = self.rng.uniform(-0.03, 0.03)
        return self._add(kind, t0, x, self.rng.uniform(y0 + 1, y1 - 1), sign, dy, speed, size=size, **kw)

    def walker_v(self, t0: int, *, up: bool = False, speed_mul: float = 1.0, **kw) -> Track:
        """A person on the one-way path, walking down it (normal) or up it (``up``: against the flow)."""
        size = self.rng.uniform(0.82, 1.12)
        lane = self.rng.uniform(-0.6, 0.6)
        h = self.scene.height
        y = h + 1.15 * self.person * size if up else -0.5
        speed = self.config.walk_speed * self.rng.uniform(0.8, 1.2) * speed_mul
        return self._add(kw.pop("kind", "walker"), t0, self.scene.path_x(y, lane), y, 0.0, -1.0 if up else 1.0,
                         speed, size=size, lane=lane, **kw)

    def normal_crowd(self) -> None:
        """Poisson arrivals on both paths so that about ``density`` people are in view, from frame 0 on."""
        sc, cfg = self.scene, self.config
        mid_h = sc.scale(sum(sc.walkway) / 2)
        cross_h = (sc.width + self.person) / (cfg.walk_speed * mid_h)
        cross_v = (sc.height + self.person) / (cfg.walk_speed * sc.scale(sc.height / 2) * FORESHORTEN)
        warm = int(1.3 * max(cross_h, cross_v)) + 1
        for rate, spawn in ((0.7 * cfg.density / cross_h, self.walker_h), (0.3 * cfg.density / cross_v, self.walker_v)):
            if rate <= 0:
                continue
            t = -warm + self.rng.exponential(1 / rate)
            while t < self.n:
                spawn(int(math.floor(t)), cycle=WALK_CYCLE)
                t += self.rng.exponential(1 / rate)

    def anomaly(self, kind: str, t0: int, event: int) -> None:
        """Insert one anomalous object entering the view at frame ``t0``."""
        rng, cfg = self.rng, self.config
        fast = rng.uniform(*cfg.fast_factor)
        common = dict(anomalous=True, event=event)
        if kind == "cart":
            tr = self.walker_h(t0, kind="cart", speed_mul=0.9, cycle=WALK_CYCLE, margin=1.2,
                               colors=(tuple(LOUD[rng.integers(len(LOUD))]),), **common)
            sign = tr.direction[0]
            pusher = Track("walker", False, tr.t0, tr.xy - [[sign * 0.5 * self.person * tr.size, 0.3]],
                           tr.phase, tr.direction, tr.size, _colors(rng))
            self.tracks.append(pusher)
        elif kind == "vehicle":
            self.walker_h(t0, kind="vehicle", speed_mul=rng.uniform(1.3, 1.8), cycle=WALK_CYCLE, margin=1.6,
                          colors=(tuple(LOUD[rng.integers(len(LOUD))]),), **common)
        elif kind == "cyclist":
            self.walker_h(t0, kind="cyclist", speed_mul=fast, cycle=PEDAL_CYCLE, margin=1.2,
                          colors=(*_colors(rng), tuple(LOUD[rng.integers(len(LOUD))])), **common)
        elif kind == "runner":
            if rng.uniform() < 0.6:
                self.walker_h(t0, kind="runner", speed_mul=fast, cycle=RUN_CYCLE, **common)
            else:
                self.walker_v(t0, kind="runner", speed_mul=fast, cycle=RUN_CYCLE, **common)
        elif kind == "lawn":
            band = UPPER_LAWN if rng.uniform() < 0.5 else LOWER_LAWN
            y = rng.uniform(*band) * self.scene.height
            sign = 1.0 if rng.uniform() < 0.5 else -1.0
            x = -0.4 * self.person if sign > 0 else self.scene.width + 0.4 * self.person
            speed = cfg.walk_speed * rng.uniform(0.9, 1.2)
            self._add("lawn", t0, x, y, sign, rng.uniform(-0.05, 0.05), speed, cycle=WALK_CYCLE,
                      size=rng.uniform(0.85, 1.1), **common)
        elif kind == "against":
            self.walker_v(t0, up=True, kind="against", cycle=WALK_CYCLE, **common)
        else:  # pragma: no cover - validated by SceneConfig / _parse_anomalies
            raise ConfigError(f"unknown anomaly kind {kind!r}: choose from {list(ANOMALY_KINDS)}")


def _primitives(track: Track, i: int, scene: Scene, person_px: float) -> list:
    x, y = track.xy[i]
    h = person_px * scene.scale(y) * track.size
    dx, dy = track.direction
    norm = math.hypot(dx, dy) or 1.0
    ph = float(track.phase[i])
    if track.kind == "cyclist":
        return actors.cyclist(x, y, 1.1 * h, dx, ph, track.colors[:4], track.colors[4])
    if track.kind == "cart":
        return actors.cart(x, y, h, dx, track.colors[0])
    if track.kind == "vehicle":
        return actors.vehicle(x, y, 1.1 * h, dx, track.colors[0])
    if track.kind == "runner":
        return actors.pedestrian(x, y, h, dx / norm, dy / norm, ph, track.colors, stride=1.7, lean=0.06)
    return actors.pedestrian(x, y, h, dx / norm, dy / norm, ph, track.colors)


def _parse_anomalies(anomalies: Sequence) -> list[tuple[str, int]]:
    out = []
    for item in anomalies:
        kind, start = (item["kind"], item["start"]) if isinstance(item, dict) else item
        if kind not in ANOMALY_KINDS:
            raise ConfigError(f"unknown anomaly kind {kind!r}: choose from {list(ANOMALY_KINDS)}")
        out.append((str(kind), int(start)))
    return out


def render_video(config: SceneConfig, num_frames: int, *, anomalies: Sequence = (), seed: int = 0,
                 stream: Sequence[int] = (0,), scene: Scene | None = None) -> RenderedVideo:
    """Simulate and draw one video of the walkway scene.

    Args:
        config: scene settings (size, speeds, density, noise).
        num_frames: frames to render.
        anomalies: (kind, start_frame) pairs or dicts with those keys; the object enters the view
            at its start frame. Empty for a normal (training) video.
        seed: dataset seed; with ``stream`` it fixes everything random in this video.
        stream: extra integers that make this video's randomness independent of other videos
            of the same seed (the dataset writer uses (split, index)).
        scene: the background from :func:`build_scene` (built from ``seed`` if omitted).

    Returns:
        :class:`RenderedVideo` with frames, masks, labels, events and tracks.
    """
    config.validate()
    scene = scene or build_scene(config, seed)
    rng = np.random.default_rng(np.random.SeedSequence([seed, *stream]))
    crowd = _Crowd(scene, config, rng, num_frames)
    crowd.normal_crowd()
    events = _parse_anomalies(anomalies)
    for e, (kind, start) in enumerate(events):
        crowd.anomaly(kind, start, e)
    tracks = crowd.tracks
    h, w = scene.height, scene.width
    frames = np.empty((num_frames, h, w, 3), np.uint8)
    masks = np.zeros((num_frames, h, w), bool)
    event_frames = [[] for _ in events]
    period = rng.uniform(40, 90)
    offset = rng.uniform(0, 2 * math.pi)
    gains = (rng.uniform(0.96, 1.04) + config.flicker * np.sin(2 * math.pi * np.arange(num_frames) / period + offset)
             + 0.5 * config.flicker * rng.standard_normal(num_frames))
    ids = np.zeros((h, w), np.int32)
    anomalous_ids = {k + 1: tr.event for k, tr in enumerate(tracks) if tr.anomalous}
    statics = scene.statics
    for t in range(num_frames):
        canvas = scene.background.copy()
        ids.fill(0)
        visible = []
        for k, tr in enumerate(tracks):
            i = t - tr.t0
            if 0 <= i < len(tr.xy):
                visible.append((tr.xy[i, 1], k, i))
        visible.sort()
        s = 0
        drawn = False
        for y, k, i in visible:
            while s < len(statics) and statics[s].base_y <= y:
                if drawn:  # re-draw furniture in front of the people drawn so far
                    st = statics[s]
                    patch, pid = canvas[st.rows, st.cols], ids[st.rows, st.cols]
                    patch[st.silhouette] = scene.background[st.rows, st.cols][st.silhouette]
                    pid[st.silhouette] = 0
                s += 1
            draw_object(canvas, ids, _primitives(tracks[k], i, scene, crowd.person), k + 1)
            drawn = True
        while drawn and s < len(statics):
            st = statics[s]
            canvas[st.rows, st.cols][st.silhouette] = scene.background[st.rows, st.cols][st.silhouette]
            ids[st.rows, st.cols][st.silhouette] = 0
            s += 1
        for oid, e in anomalous_ids.items():
            hit = ids == oid
            if hit.any():
                event_frames[e].append(t)
                masks[t] |= hit
        canvas *= gains[t]
        canvas += config.noise_sigma * rng.standard_normal((h, w, 3), dtype=np.float32)
        np.clip(canvas, 0, 255, out=canvas)
        frames[t] = (canvas + 0.5).astype(np.uint8)
    labels = masks.reshape(num_frames, -1).any(axis=1).astype(np.uint8)
    info = [
        {"kind": kind, "start_requested": start, "start": fr[0] if fr else -1, "end": fr[-1] if fr else -1}
        for (kind, start), fr in zip(events, event_frames, strict=True)
    ]
    return RenderedVideo(frames, masks, labels, info, tracks)
