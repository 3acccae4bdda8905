"""The fixed camera view: lawn, paved paths, benches, lamp posts and their perspective.

A horizontal walkway crosses the image (people walk both ways) and a narrower one-way path
runs from the far (top) edge to the near (bottom) edge, where everyone walks towards the camera.
The rest is lawn. Static furniture is baked into the background; each piece also keeps its
silhouette so that people walking behind it are hidden by it (painter's order by ground y).

>>> from ammcnet.demo.config import SceneConfig
>>> scene = build_scene(SceneConfig(height=64, width=96), seed=0)
>>> scene.background.shape, scene.background.dtype
((64, 96, 3), dtype('float32'))
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ammcnet.demo import actors
from ammcnet.demo.config import SceneConfig
from ammcnet.demo.shapes import draw_object

#: Walkway band for feet positions, fractions of the height.
WALKWAY_Y = (0.52, 0.78)
#: One-way path: centre and half width at the near edge, fractions of the width.
PATH_X = 0.36
PATH_HALF = 0.065
#: Lawn bands used by people who leave the paths, fractions of the height.
UPPER_LAWN = (0.24, 0.44)
LOWER_LAWN = (0.87, 0.97)
#: Perspective scale at the top and bottom edge (sizes and speeds are multiplied by it).
SCALE_FAR, SCALE_NEAR = 0.5, 1.0
#: Apparent vertical speed relative to horizontal (ground foreshortening).
FORESHORTEN = 0.7

GRASS = np.array([68.0, 118.0, 48.0], np.float32)
PAVING = np.array([164.0, 158.0, 146.0], np.float32)
CURB = np.array([196.0, 192.0, 182.0], np.float32)


@dataclass
class StaticSprite:
    """One baked piece of furniture: its ground y and silhouette box in the background."""

    base_y: float
    rows: slice
    cols: slice
    silhouette: np.ndarray  # (h, w) bool


@dataclass
class Scene:
    """Background and geometry shared by every video of one seed."""

    height: int
    width: int
    background: np.ndarray  # (H, W, 3) float32, 0..255, furniture included
    statics: list[StaticSprite] = field(default_factory=list)

    @property
    def walkway(self) -> tuple[float, float]:
        """Feet y range of the two-way walkway, pixels."""
        return WALKWAY_Y[0] * self.height, WALKWAY_Y[1] * self.height

    def scale(self, y: float) -> float:
        """Perspective scale at ground row ``y`` (pixels)."""
        return max(SCALE_FAR + (SCALE_NEAR - SCALE_FAR) * y / self.height, 0.3)

    def path_x(self, y: float, lane: float) -> float:
        """x of a lane (-1 = left edge, 1 = right edge) of the one-way path at ground row ``y``."""
        return PATH_X * self.width + lane * PATH_HALF * self.width * self.scale(y)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell: float) -> np.ndarray:
    """Zero-mean, unit-ish noise with blobs about ``cell`` pixels wide (bicubic-upsampled grid)."""
    h, w = shape
    gh, gw = max(int(h / cell) + 2, 2), max(int(w / cell) + 2, 2)
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)


def ground(config: SceneConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Lawn and paving without furniture, and the (H, W) bool mask of the paved area (the normal paths)."""
    h, w = config.height, config.width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    scale = np.maximum(SCALE_FAR + (SCALE_NEAR - SCALE_FAR) * yy / h, 0.3)
    tex = (0.55 * _smooth_noise(rng, (h, w), 24) + 0.3 * _smooth_noise(rng, (h, w), 6)
           + 0.25 * rng.standard_normal((h, w)).astype(np.float32))
    grass = GRASS * (1.0 + 0.16 * tex)[..., None]
    haze = (0.18 * (1.0 - yy / h))[..., None]
    grass = grass * (1 - haze) + np.array([150.0, 170.0, 150.0], np.float32) * haze

    y0, y1 = WALKWAY_Y[0] * h - 2, WALKWAY_Y[1] * h + 2
    walkway = (yy >= y0) & (yy <= y1)
    half = PATH_HALF * w * scale + 1.5
    path = np.abs(xx - PATH_X * w) <= half
    paved = walkway | path
    tile = 9.0 * scale
    v = yy / (0.6 * tile)
    u = xx / tile + 0.5 * (np.floor(v) % 2)
    joint = (np.mod(v, 1.0) < 0.14) | (np.mod(u, 1.0) < 0.09)
    ptex = 1.0 + 0.06 * _smooth_noise(rng, (h, w), 10) + 0.05 * rng.standard_normal((h, w)).astype(np.float32)
    paving = PAVING * (ptex * np.where(joint, 0.82, 1.0))[..., None]
    ground = np.where(paved[..., None], paving, grass)
    edge = paved & ~cv2.erode(paved.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    ground[edge] = CURB
    return ground.astype(np.float32), paved


def build_scene(config: SceneConfig, seed: int) -> Scene:
    """Render the fixed background for ``seed``: the same view for train and test videos."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5CE7E]))
    h, w = config.height, config.width
    background, _ = ground(config, rng)
    scene = Scene(h, w, background)
    ph = config.person_height * h
    y0, y1 = scene.walkway
    furniture: list[tuple[float, list]] = []
    for fx in (0.12, 0.7):
        x = (fx + rng.uniform(-0.03, 0.03)) * w
        y = y0 - 3
        furniture.append((y, actors.bench(x, y, ph * scene.scale(y))))
    yb = y0 - 3
    furniture.append((yb, actors.litter_bin((0.84 + rng.uniform(-0.02, 0.02)) * w, yb, ph * scene.scale(yb))))
    for fx in (0.16, 0.6, 0.9):
        y = y1 + 4
        furniture.append((y, actors.lamp_post((fx + rng.uniform(-0.02, 0.02)) * w, y, ph * scene.scale(y))))
    for fx in np.sort(rng.uniform(0.0, 1.0, 5)):
        if abs(fx - PATH_X) < 0.12:
            continue
        y = rng.uniform(0.06, 0.16) * h
        furniture.append((y, actors.shrub(fx * w, y, ph * scene.scale(y), float(rng.uniform()))))
    furniture.sort(key=lambda item: item[0])
    ids = np.zeros((h, w), np.int32)
    for k, (_, rows) in enumerate(furniture, start=1):
        draw_object(background, ids, np.asarray(rows, np.float64), k)
    for k, (base_y, _) in enumerate(furniture, start=1):
        r, c = np.nonzero(ids == k)
        if not len(r):
            continue
        rs, cs = slice(r.min(), r.max() + 1), slice(c.min(), c.max() + 1)
        scene.statics.append(StaticSprite(base_y, rs, cs, ids[rs, cs] == k))
    return scene
