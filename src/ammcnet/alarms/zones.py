"""Masks and zones: the parts of the image that do not matter, and the named parts that do.

An operator draws polygons once per camera (Frigate's conventions):

* ``mask``: polygons whose windows are never scored: a road behind a fence, a swaying tree. A
  window of the region head is masked when its centre is inside one (:meth:`ZoneSet.window_mask`).
  Optical flow spreads a fast object's motion a little around it, so draw a mask with a margin
  around what it hides (a tenth of the frame is plenty). Blanking the masked pixels instead would
  change the flow of the windows beside them from what the head was fitted on.
* ``zones``: named polygons; an event records every zone its box touched.
* ``required_zones``: when given, a frame alarms only if its box touches one of them.

Points are ``[x, y]`` in source pixels or in fractions of the frame (``units``: ``auto`` reads
fractions when every coordinate is within [0, 1]). In YAML::

    zones:
      mask: [[[0, 0], [0.3, 0], [0.3, 0.2], [0, 0.2]]]
      zones: {door: [[0.6, 0.5], [0.9, 0.5], [0.9, 1.0], [0.6, 1.0]]}
      required_zones: [door]

>>> z = ZoneSet(ZoneConfig(zones={"door": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}), (100, 200))
>>> z.touched((150, 10, 170, 30)), z.touched((0, 0, 20, 20))
(('door',), ())
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ammcnet.errors import ConfigError
from ammcnet.utils.io import read_yaml_file

Point = tuple[float, float]
#: Colours (RGB) of drawn zones and masks.
ZONE_COLOUR, MASK_COLOUR = (255, 200, 0), (128, 128, 128)


class ZoneConfig(BaseModel):
    """A camera's masks and zones (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    units: Literal["auto", "fraction", "pixels"] = "auto"
    mask: list[list[Point]] = Field(default_factory=list)
    zones: dict[str, list[Point]] = Field(default_factory=dict)
    required_zones: list[str] = Field(default_factory=list)

    @field_validator("mask")
    @classmethod
    def _polygons(cls, polygons: list[list[Point]]) -> list[list[Point]]:
        for i, poly in enumerate(polygons):
            _check_polygon(poly, f"mask polygon {i + 1}")
        return polygons

    @field_validator("zones")
    @classmethod
    def _zones(cls, zones: dict[str, list[Point]]) -> dict[str, list[Point]]:
        for name, poly in zones.items():
            if not name.strip():
                raise ValueError("a zone needs a name")
            _check_polygon(poly, f"zone {name!r}")
        return zones

    @model_validator(mode="after")
    def _required_known(self) -> ZoneConfig:
        unknown = [z for z in self.required_zones if z not in self.zones]
        if unknown:
            raise ValueError(f"required_zones names {unknown[0]!r}, which is not a zone; zones: "
                             f"{', '.join(self.zones) or 'none'}")
        return self

    @property
    def empty(self) -> bool:
        return not (self.mask or self.zones)

    def in_fractions(self) -> bool:
        """Whether the points are fractions of the frame (``units``, or ``auto`` and all within [0, 1])."""
        if self.units != "auto":
            return self.units == "fraction"
        points = [p for poly in [*self.mask, *self.zones.values()] for p in poly]
        return all(0.0 <= v <= 1.0 for p in points for v in p)


def _check_polygon(poly: Sequence[Point], what: str) -> None:
    if len(poly) < 3:
        raise ValueError(f"{what} has {len(poly)} points; a polygon needs at least 3 [x, y] points")
    if any(not np.isfinite(v) or v < 0 for p in poly for v in p):
        raise ValueError(f"{what} has a negative or non-finite coordinate; give [x, y] in pixels or fractions")


def parse_zones(data: Any, where: str = "zones") -> ZoneConfig:
    """A :class:`ZoneConfig` from a mapping (YAML), or a one-line ``ConfigError`` naming ``where``."""
    if isinstance(data, ZoneConfig):
        return data
    try:
        return ZoneConfig.model_validate(data or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        at = ".".join(str(p) for p in err["loc"])
        detail = str(err["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{where}{'.' + at if at else ''}: {detail}; polygons are lists of [x, y] points "
                          "in pixels or fractions") from None


def load_zones(path: str | os.PathLike[str]) -> ZoneConfig:
    """Zones from a YAML file: the mapping itself, or a ``zones:`` key holding it."""
    raw = read_yaml_file(path, "zones file")
    if isinstance(raw, dict) and set(raw) == {"zones"} and isinstance(raw["zones"], dict) \
            and set(raw["zones"]) <= {"units", "mask", "zones", "required_zones"}:
        raw = raw["zones"]
    return parse_zones(raw, where=str(path))


class ZoneSet:
    """A :class:`ZoneConfig` placed on frames of size ``frame_hw``: pixel polygons and their masks."""

    def __init__(self, config: ZoneConfig, frame_hw: tuple[int, int]) -> None:
        self.config = config
        self.frame_hw = (int(frame_hw[0]), int(frame_hw[1]))
        h, w = self.frame_hw
        scale = np.array([w, h], np.float64) if config.in_fractions() else np.ones(2)
        self.mask_polygons = [np.round(np.asarray(p) * scale).astype(np.int32) for p in config.mask]
        self.zone_polygons = {n: np.round(np.asarray(p) * scale).astype(np.int32) for n, p in config.zones.items()}
        self._zone_images = {n: _filled(p, self.frame_hw) for n, p in self.zone_polygons.items()}

    def touched(self, box: Sequence[int] | None) -> tuple[str, ...]:
        """The zones a box (x0, y0, x1, y1, source pixels) overlaps, in the order they are defined."""
        if box is None or not self._zone_images:
            return ()
        h, w = self.frame_hw
        x0, y0, x1, y1 = (int(v) for v in box)
        x0, x1, y0, y1 = max(0, x0), min(w, max(x1, x0 + 1)), max(0, y0), min(h, max(y1, y0 + 1))
        return tuple(n for n, img in self._zone_images.items() if img[y0:y1, x0:x1].any())

    def allows(self, zones: Sequence[str]) -> bool:
        """Whether an alarm with a box in ``zones`` may be raised (``required_zones``)."""
        required = self.config.required_zones
        return not required or any(z in required for z in zones)

    def window_mask(self, centres: np.ndarray) -> np.ndarray | None:
        """(R, C) True where a window's centre ((R, C, 2) (row, column) fractions) is inside a mask
        polygon; None when nothing is masked."""
        if not self.mask_polygons:
            return None
        h, w = self.frame_hw
        pts = np.asarray(centres, np.float64) * np.array([h, w])
        out = np.zeros(pts.shape[:2], bool)
        for poly in self.mask_polygons:
            contour = poly.reshape(-1, 1, 2).astype(np.float32)
            out |= np.array([[cv2.pointPolygonTest(contour, (float(x), float(y)), False) >= 0
                              for y, x in row] for row in pts], bool).reshape(out.shape)
        return out

    def draw(self, rgb: np.ndarray) -> np.ndarray:
        """A copy of ``rgb`` (this frame size) with the masks shaded and the zones outlined and named."""
        out = rgb.copy()
        if self.mask_polygons:
            shade = out.copy()
            cv2.fillPoly(shade, [p.reshape(-1, 1, 2) for p in self.mask_polygons], MASK_COLOUR)
            out = cv2.addWeighted(shade, 0.5, out, 0.5, 0)
        for name, poly in self.zone_polygons.items():
            cv2.polylines(out, [poly.reshape(-1, 1, 2)], True, ZONE_COLOUR, 2)
            x, y = (int(v) for v in poly.min(0))
            cv2.putText(out, name, (x + 3, y + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, ZONE_COLOUR, 1, cv2.LINE_AA)
        return out


def _filled(poly: np.ndarray, frame_hw: tuple[int, int]) -> np.ndarray:
    img = np.zeros(frame_hw, np.uint8)
    cv2.fillPoly(img, [poly.reshape(-1, 1, 2)], 1)
    return img.astype(bool)
