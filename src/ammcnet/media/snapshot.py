"""The event snapshot: one JPEG of the peak frame with the event's box (and zones) drawn on it.

A snapshot is what a notification or the review list shows first, so it must say where to look:
the box is drawn in a bright, thick outline with its label above it, and zone polygons are drawn
faintly (blended) so that they give context without hiding the scene. The file is written to a
temporary name and renamed, so a page that lists ``snapshots/`` never shows half a JPEG.

>>> import numpy as np, tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "snapshots" / "e1.jpg"
>>> write_snapshot(p, np.zeros((48, 64, 3), np.uint8), box=[10, 8, 40, 30], label="anomaly 4.7") == p
True
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from ammcnet.errors import DataError, OutputError
from ammcnet.utils.io import atomic_path

#: JPEG quality (0-100): 90 keeps faces and plates legible at about a tenth of the PNG size.
JPEG_QUALITY = 90
#: Colours (RGB): the box and its label background, the label text, the zone outlines.
BOX_RGB, TEXT_RGB, ZONE_RGB = (255, 40, 40), (255, 255, 255), (255, 220, 0)
#: Zone opacity (0-1): faint enough to see the scene through.
ZONE_ALPHA = 0.35

Polygon = Sequence[Sequence[float]]


def _thickness(h: int, w: int) -> int:
    """Line width in pixels that stays visible on both a 64-pixel and a 4K frame."""
    return max(1, int(round(min(h, w) / 240)))


def _polygons(zones: Mapping[str, Polygon] | Sequence[Polygon] | None) -> list[tuple[str, Polygon]]:
    if zones is None:
        return []
    if isinstance(zones, Mapping):
        return [(str(k), v) for k, v in zones.items()]
    return [("", v) for v in zones]


def _pixels(poly: Polygon, h: int, w: int) -> np.ndarray:
    """Polygon points as int pixels; points that all lie in [0, 1] are fractions of the frame size."""
    pts = np.asarray(poly, np.float64).reshape(-1, 2)
    if pts.size and float(pts.min()) >= 0.0 and float(pts.max()) <= 1.0:
        pts = pts * [w, h]
    return np.round(pts).astype(np.int32)


def draw_zones(img: np.ndarray, zones: Mapping[str, Polygon] | Sequence[Polygon] | None) -> None:
    """Draw zone outlines and names faintly onto ``img`` (RGB, in place)."""
    polys = _polygons(zones)
    if not polys:
        return
    h, w = img.shape[:2]
    layer = img.copy()
    for name, poly in polys:
        pts = _pixels(poly, h, w)
        if len(pts) < 2:
            continue
        cv2.polylines(layer, [pts.reshape(-1, 1, 2)], True, ZONE_RGB, _thickness(h, w), cv2.LINE_AA)
        if name:
            x, y = int(pts[:, 0].min()), int(pts[:, 1].min())
            cv2.putText(layer, name, (x + 3, y + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, ZONE_RGB, 1, cv2.LINE_AA)
    cv2.addWeighted(layer, ZONE_ALPHA, img, 1.0 - ZONE_ALPHA, 0.0, dst=img)


def draw_box(img: np.ndarray, box: Sequence[float], label: str | None = None) -> None:
    """Draw ``box`` = [x0, y0, x1, y1] (pixels of ``img``; clipped to it) and its label onto ``img``."""
    h, w = img.shape[:2]
    x0, y0, x1, y1 = (int(round(float(v))) for v in box)
    x0, x1 = sorted((min(max(x0, 0), w - 1), min(max(x1, 0), w - 1)))
    y0, y1 = sorted((min(max(y0, 0), h - 1), min(max(y1, 0), h - 1)))
    t = _thickness(h, w) + 1
    cv2.rectangle(img, (x0, y0), (x1, y1), BOX_RGB, t)
    if label:
        scale = max(0.4, min(h, w) / 600)
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        ty = y0 - 4 if y0 - th - base - 4 >= 0 else min(y1 + th + 4, h - 1)  # above the box, else below
        cv2.rectangle(img, (x0, ty - th - 2), (min(x0 + tw + 4, w - 1), ty + base - 1), BOX_RGB, -1)
        cv2.putText(img, label, (x0 + 2, ty - 1), cv2.FONT_HERSHEY_SIMPLEX, scale, TEXT_RGB, 1, cv2.LINE_AA)


def write_snapshot(
    path: str | os.PathLike[str],
    rgb: np.ndarray,
    box: Sequence[float] | None = None,
    label: str | None = None,
    zones: Mapping[str, Polygon] | Sequence[Polygon] | None = None,
    quality: int = JPEG_QUALITY,
) -> Path:
    """Write ``rgb`` as a JPEG with the box (and zones) drawn; returns ``path``.

    Args:
        path: the final ``.jpg`` path (its folder is created); written atomically.
        rgb: the frame, RGB uint8 HxWx3 (not modified).
        box: [x0, y0, x1, y1] in pixels of ``rgb``, or None.
        label: text drawn above the box (e.g. "anomaly 4.7").
        zones: polygons as ``{name: [(x, y), ...]}`` or a list of point lists, in pixels (or all
            in [0, 1]: fractions of the width and height), drawn faintly.
        quality: JPEG quality 0-100.
    """
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise DataError(f"{path}: a snapshot must be RGB uint8 HxWx3, got {rgb.dtype} {rgb.shape}")
    img = np.ascontiguousarray(rgb).copy()
    draw_zones(img, zones)
    if box is not None:
        draw_box(img, box, label)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise OutputError(f"OpenCV could not encode the snapshot {path} as JPEG")
    final = Path(path)
    with atomic_path(final) as tmp:
        tmp.write_bytes(data.tobytes())
    return final
