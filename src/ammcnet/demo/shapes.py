"""Anti-aliased 2-D primitives and painter's-order compositing for the scene generator.

Every object in a frame (a pedestrian, a bench, a cart) is a short list of primitives, each one
row of a float array: a type, up to five geometry numbers, an RGB colour, an opacity and a flag
saying whether the primitive belongs to the object's silhouette (a shadow does not). All
primitives of one object are evaluated at once as signed distances over the object's bounding
box, so drawing costs a handful of numpy operations per object, not per pixel.

>>> import numpy as np
>>> canvas = np.zeros((16, 16, 3), np.float32); ids = np.zeros((16, 16), np.int32)
>>> draw_object(canvas, ids, np.array([disc(8, 8, 3, (255, 0, 0))]), 5)
>>> int(ids[8, 8]), int(ids[0, 0]), round(float(canvas[8, 8, 0]))
(5, 0, 255)
"""

from __future__ import annotations

import math

import numpy as np

#: Primitive type codes (column 0 of a primitive row).
CAPSULE, BOX, RING, ELLIPSE = 0, 1, 2, 3
#: Columns: type, g0..g4 (geometry), r, g, b, alpha, silhouette flag.
ROW = 11


def capsule(ax: float, ay: float, bx: float, by: float, radius: float, color, alpha: float = 1.0,
            solid: bool = True) -> list[float]:
    """A segment from (ax, ay) to (bx, by) thickened by ``radius`` pixels (a disc when a == b)."""
    return [CAPSULE, ax, ay, bx, by, radius, *color, alpha, float(solid)]


def disc(cx: float, cy: float, radius: float, color, alpha: float = 1.0, solid: bool = True) -> list[float]:
    """A filled circle: a capsule of zero length."""
    return capsule(cx, cy, cx, cy, radius, color, alpha, solid)


def box(cx: float, cy: float, half_w: float, half_h: float, corner: float, color, alpha: float = 1.0,
        solid: bool = True) -> list[float]:
    """An axis-aligned rectangle with rounded corners of radius ``corner`` (inside the half sizes)."""
    return [BOX, cx, cy, half_w, half_h, corner, *color, alpha, float(solid)]


def ring(cx: float, cy: float, radius: float, half_thickness: float, color, alpha: float = 1.0,
         solid: bool = True) -> list[float]:
    """A circle outline (a wheel)."""
    return [RING, cx, cy, radius, half_thickness, 0.0, *color, alpha, float(solid)]


def ellipse(cx: float, cy: float, rx: float, ry: float, color, alpha: float = 1.0, solid: bool = True) -> list[float]:
    """A filled axis-aligned ellipse (approximate distance; used for shadows and shrubs)."""
    return [ELLIPSE, cx, cy, rx, ry, 0.0, *color, alpha, float(solid)]


def _extent(rows) -> tuple[float, float, float, float]:
    """Union bounding box (x0, y0, x1, y1) of all primitives, one pixel of anti-aliasing margin.

    Plain Python on purpose: for a dozen rows it is several times faster than numpy.
    """
    x0 = y0 = math.inf
    x1 = y1 = -math.inf
    for t, g0, g1, g2, g3, g4, *_ in rows:
        if t == CAPSULE:
            x0, x1 = min(x0, g0 - g4, g2 - g4), max(x1, g0 + g4, g2 + g4)
            y0, y1 = min(y0, g1 - g4, g3 - g4), max(y1, g1 + g4, g3 + g4)
        else:
            rx, ry = (g2 + g3, g2 + g3) if t == RING else (g2, g3)
            x0, x1 = min(x0, g0 - rx), max(x1, g0 + rx)
            y0, y1 = min(y0, g1 - ry), max(y1, g1 + ry)
    return x0 - 1, y0 - 1, x1 + 1, y1 + 1


def _sdf(prims: np.ndarray, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
    """Signed distances (P, h, w) of every primitive, negative inside."""
    p = len(prims)
    out = np.empty((p, yy.shape[0], xx.shape[1]), np.float32)
    t = prims[:, 0]
    g = prims[:, 1:6, None, None]
    codes = np.unique(t)
    for code in codes:
        sel = slice(None) if len(codes) == 1 else np.flatnonzero(t == code)
        q = g[sel]
        if code == CAPSULE:
            ax, ay, bx, by, r = (q[:, i] for i in range(5))
            dx, dy = bx - ax, by - ay
            px, py = xx - ax, yy - ay
            denom = np.maximum(dx * dx + dy * dy, 1e-6)
            h = np.clip((px * dx + py * dy) / denom, 0.0, 1.0)
            d = np.hypot(px - h * dx, py - h * dy) - r
        elif code == BOX:
            cx, cy, hw, hh, c = (q[:, i] for i in range(5))
            qx = np.abs(xx - cx) - (hw - c)
            qy = np.abs(yy - cy) - (hh - c)
            d = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0)) + np.minimum(np.maximum(qx, qy), 0) - c
        elif code == RING:
            cx, cy, r, ht = (q[:, i] for i in range(4))
            d = np.abs(np.hypot(xx - cx, yy - cy) - r) - ht
        else:
            cx, cy, rx, ry = (q[:, i] for i in range(4))
            k = np.hypot((xx - cx) / rx, (yy - cy) / ry)
            d = (k - 1.0) * np.minimum(rx, ry)
        out[sel] = d
    return out


def draw_object(canvas: np.ndarray, ids: np.ndarray, prims: np.ndarray | list, obj_id: int) -> None:
    """Composite one object's primitives (in list order) onto ``canvas`` in place.

    Args:
        canvas: (H, W, 3) float32 image, 0..255.
        ids: (H, W) int32 buffer of the object visible at each pixel; pixels where this object's
            silhouette covers more than half the pixel take ``obj_id``, so later (nearer) objects
            overwrite earlier ones exactly as the colours do.
        prims: (P, 11) primitive rows (see the module docstring), an array or a list of lists.
        obj_id: positive id written into ``ids``.
    """
    if len(prims) == 0:
        return
    height, width = ids.shape
    x0, y0, x1, y1 = _extent(prims.tolist() if isinstance(prims, np.ndarray) else prims)
    c0 = max(int(math.floor(x0)), 0)
    r0 = max(int(math.floor(y0)), 0)
    c1 = min(int(math.ceil(x1)) + 1, width)
    r1 = min(int(math.ceil(y1)) + 1, height)
    if c0 >= c1 or r0 >= r1:
        return
    prims = np.asarray(prims, np.float32)
    yy = np.arange(r0, r1, dtype=np.float32)[:, None]
    xx = np.arange(c0, c1, dtype=np.float32)[None, :]
    cov = np.clip(0.5 - _sdf(prims, xx, yy), 0.0, 1.0) * prims[:, 9, None, None]
    keep = 1.0 - cov
    # Front-to-back: weight_i = cov_i * prod_{j > i} (1 - cov_j); background keeps prod_all (1 - cov).
    after = np.cumprod(keep[::-1], axis=0)[::-1]
    trans_after = np.concatenate([after[1:], np.ones_like(after[:1])], axis=0)
    weight = cov * trans_after
    colors = prims[:, 6:9]
    patch = canvas[r0:r1, c0:c1]
    patch *= after[0][..., None]
    patch += np.einsum("phw,pc->hwc", weight, colors)
    solid = prims[:, 10] > 0
    if solid.any():
        silhouette = 1.0 - np.prod(keep[solid], axis=0)
        ids[r0:r1, c0:c1][silhouette > 0.5] = obj_id
