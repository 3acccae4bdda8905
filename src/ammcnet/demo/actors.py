"""The scene's cast as primitive lists: pedestrians, runners, cyclists, carts, vehicles, furniture.

Each builder takes the object's ground point (feet, wheels or base; x, y in pixels), its height
``h`` in pixels after perspective, a facing and, for the articulated figures, a gait phase in
radians; it returns primitive rows for :func:`ammcnet.demo.shapes.draw_object`, back to front.

>>> import numpy as np
>>> rows = pedestrian(50, 60, 30, 1.0, 0.0, 0.0, ((60, 60, 140), (40, 40, 50), (220, 180, 150), (40, 30, 20)))
>>> np.asarray(rows).shape[1]
11
"""

from __future__ import annotations

import math

from ammcnet.demo.shapes import box, capsule, disc, ellipse, ring

Color = tuple[float, float, float]

SHADOW: Color = (0.0, 0.0, 0.0)
SHADOW_ALPHA = 0.3
TYRE: Color = (25.0, 25.0, 28.0)


def pedestrian(x: float, y: float, h: float, dir_x: float, dir_y: float, phase: float,
               colors: tuple[Color, Color, Color, Color], *, stride: float = 1.0, lean: float = 0.0) -> list:
    """A walking (or, with a long ``stride`` and ``lean``, running) figure: legs, arms, torso, head.

    Args:
        x, y: feet position in pixels.
        h: figure height in pixels.
        dir_x, dir_y: unit walking direction; the figure is drawn side-on when moving sideways and
            front-on when moving up or down the image, blending in between.
        phase: gait phase in radians; the legs and arms swing as ``sin(phase)``.
        colors: shirt, trousers, skin, hair.
        stride: swing amplitude factor (1 = walking).
        lean: forward lean of the upper body as a fraction of ``h``.
    """
    shirt, trousers, skin, hair = colors
    side = abs(dir_x)
    front = 1.0 - side
    sign = 1.0 if dir_x >= 0 else -1.0
    swing = math.sin(phase)
    lean_dx = sign * lean * h * side
    hip_y = y - 0.47 * h
    rows = [ellipse(x, y, 0.16 * h, 0.04 * h, SHADOW, SHADOW_ALPHA, solid=False)]
    for k, s in ((1, -swing), (0, swing)):  # far leg first
        off = (0.045 if k else -0.045) * h * front
        foot_x = x + off + s * 0.17 * h * side * stride
        lift = max(0.0, s) * 0.05 * h * front
        knee_x = 0.5 * (x + off + foot_x) + max(0.0, s) * 0.04 * h * side * stride * sign
        knee_y = y - 0.24 * h - lift * 0.5
        rows.append(capsule(x + off + lean_dx * 0.3, hip_y, knee_x, knee_y, 0.045 * h, trousers))
        rows.append(capsule(knee_x, knee_y, foot_x, y - 0.02 * h - lift, 0.04 * h, trousers))
    shoulder_y = y - 0.76 * h
    torso_x = x + lean_dx * 0.6
    arm_rows = []
    for k, s in ((1, swing), (0, -swing)):
        off = (0.1 if k else -0.1) * h * front
        sx = torso_x + off
        hand_x = sx + s * 0.14 * h * side * stride + lean_dx * 0.3
        hand_y = shoulder_y + (0.3 - 0.08 * (stride - 1.0)) * h
        arm_rows.append(capsule(sx, shoulder_y + 0.02 * h, hand_x, hand_y, 0.032 * h, shirt))
        arm_rows.append(disc(hand_x, hand_y + 0.01 * h, 0.03 * h, skin))
    rows += arm_rows[:2]
    torso_r = (0.07 + 0.04 * front) * h
    rows.append(capsule(torso_x, y - 0.47 * h - 0.5 * torso_r, torso_x, y - 0.78 * h + torso_r, torso_r, shirt))
    rows += arm_rows[2:]
    head_x = x + lean_dx
    rows.append(disc(head_x, y - 0.905 * h, 0.075 * h, hair))
    rows.append(disc(head_x + sign * 0.012 * h * side, y - 0.875 * h, 0.07 * h, skin))
    return rows


def cyclist(x: float, y: float, h: float, dir_x: float, phase: float, rider: tuple[Color, Color, Color, Color],
            frame_color: Color) -> list:
    """A side-on bicycle with its rider; the pedals turn with ``phase``. Ground point = between the wheels."""
    sign = 1.0 if dir_x >= 0 else -1.0
    shirt, trousers, skin, hair = rider
    wr = 0.17 * h
    rear = (x - sign * 0.3 * h, y - wr)
    front = (x + sign * 0.3 * h, y - wr)
    crank = (x, y - wr)
    seat = (x - sign * 0.1 * h, y - 0.5 * h)
    bar = (x + sign * 0.22 * h, y - 0.55 * h)
    shoulder = (x + sign * 0.04 * h, y - 0.86 * h)
    rows = [ellipse(x, y, 0.42 * h, 0.04 * h, SHADOW, SHADOW_ALPHA, solid=False)]
    rows += [ring(*rear, wr, 0.025 * h, TYRE), ring(*front, wr, 0.025 * h, TYRE)]
    t = 0.022 * h
    rows += [capsule(*rear, *crank, t, frame_color), capsule(*crank, *seat, t, frame_color),
             capsule(*rear, *seat, t, frame_color), capsule(*seat, *bar, t, frame_color),
             capsule(*crank, *bar, t, frame_color), capsule(*bar, *front, t, frame_color)]
    for k in (1, 0):
        a = phase + (math.pi if k else 0.0)
        pedal = (crank[0] + 0.08 * h * math.cos(a), crank[1] + 0.08 * h * math.sin(a))
        knee = (0.5 * (seat[0] + pedal[0]) + sign * 0.1 * h, 0.5 * (seat[1] + pedal[1]) - 0.04 * h)
        rows += [capsule(*seat, *knee, 0.045 * h, trousers), capsule(*knee, *pedal, 0.04 * h, trousers)]
    rows.append(capsule(*seat, *shoulder, 0.075 * h, shirt))
    rows.append(capsule(*shoulder, *bar, 0.03 * h, shirt))
    head = (shoulder[0] + sign * 0.06 * h, shoulder[1] - 0.11 * h)
    rows.append(disc(head[0] - sign * 0.01 * h, head[1] - 0.02 * h, 0.075 * h, hair))
    rows.append(disc(*head, 0.07 * h, skin))
    return rows


def cart(x: float, y: float, h: float, dir_x: float, color: Color) -> list:
    """A hand cart (a bright box on small wheels with a handle at the back), ``h`` = a person's height."""
    sign = 1.0 if dir_x >= 0 else -1.0
    rows = [ellipse(x, y, 0.32 * h, 0.04 * h, SHADOW, SHADOW_ALPHA, solid=False)]
    back = x - sign * 0.27 * h
    rows.append(capsule(back, y - 0.45 * h, back - sign * 0.12 * h, y - 0.62 * h, 0.025 * h, (60, 60, 60)))
    rows.append(box(x, y - 0.33 * h, 0.28 * h, 0.17 * h, 0.03 * h, color))
    rows.append(box(x, y - 0.44 * h, 0.24 * h, 0.025 * h, 0.01 * h, tuple(0.6 * c for c in color)))
    for wx in (x - 0.18 * h, x + 0.18 * h):
        rows.append(disc(wx, y - 0.07 * h, 0.07 * h, TYRE))
    return rows


def vehicle(x: float, y: float, h: float, dir_x: float, color: Color) -> list:
    """A small car (body, cabin, windows, wheels), about 1.3 people long; ``h`` = a person's height."""
    sign = 1.0 if dir_x >= 0 else -1.0
    glass = (150.0, 190.0, 215.0)
    rows = [ellipse(x, y, 0.7 * h, 0.06 * h, SHADOW, SHADOW_ALPHA, solid=False)]
    rows.append(box(x - sign * 0.08 * h, y - 0.5 * h, 0.36 * h, 0.15 * h, 0.08 * h, color))
    rows.append(box(x - sign * 0.2 * h, y - 0.5 * h, 0.12 * h, 0.1 * h, 0.03 * h, glass))
    rows.append(box(x + sign * 0.06 * h, y - 0.5 * h, 0.11 * h, 0.1 * h, 0.03 * h, glass))
    rows.append(box(x, y - 0.26 * h, 0.64 * h, 0.15 * h, 0.06 * h, color))
    rows.append(box(x + sign * 0.6 * h, y - 0.3 * h, 0.03 * h, 0.03 * h, 0.01 * h, (250, 240, 170)))
    for wx in (x - 0.4 * h, x + 0.4 * h):
        rows.append(disc(wx, y - 0.11 * h, 0.11 * h, TYRE))
        rows.append(disc(wx, y - 0.11 * h, 0.045 * h, (150, 150, 150)))
    return rows


def bench(x: float, y: float, h: float) -> list:
    """A park bench seen from the front; ``h`` = a person's height at its base."""
    wood = (120.0, 80.0, 45.0)
    iron = (45.0, 45.0, 45.0)
    rows = [ellipse(x, y, 0.4 * h, 0.04 * h, SHADOW, SHADOW_ALPHA, solid=False)]
    for lx in (x - 0.3 * h, x + 0.3 * h):
        rows.append(capsule(lx, y, lx, y - 0.45 * h, 0.02 * h, iron))
    rows.append(box(x, y - 0.4 * h, 0.36 * h, 0.08 * h, 0.02 * h, wood))
    rows.append(box(x, y - 0.24 * h, 0.38 * h, 0.035 * h, 0.01 * h, (135, 92, 52)))
    return rows


def lamp_post(x: float, y: float, h: float) -> list:
    """A thin lamp post about 1.6 people tall."""
    pole = (70.0, 72.0, 78.0)
    top = y - 1.6 * h
    return [capsule(x, y, x, top, 0.03 * h, pole), capsule(x, y, x, y - 0.1 * h, 0.05 * h, pole),
            box(x, top - 0.04 * h, 0.07 * h, 0.06 * h, 0.02 * h, (235, 230, 190))]


def shrub(x: float, y: float, h: float, tone: float) -> list:
    """A round shrub, a few overlapping dark green blobs."""
    g = (40 + 20 * tone, 85 + 30 * tone, 35 + 10 * tone)
    d = tuple(0.75 * c for c in g)
    return [ellipse(x, y - 0.2 * h, 0.35 * h, 0.22 * h, d), ellipse(x - 0.15 * h, y - 0.3 * h, 0.2 * h, 0.18 * h, g),
            ellipse(x + 0.14 * h, y - 0.32 * h, 0.2 * h, 0.17 * h, g)]


def litter_bin(x: float, y: float, h: float) -> list:
    """A dark green litter bin."""
    return [ellipse(x, y, 0.14 * h, 0.03 * h, SHADOW, SHADOW_ALPHA, solid=False),
            box(x, y - 0.2 * h, 0.1 * h, 0.2 * h, 0.03 * h, (30, 70, 45)),
            box(x, y - 0.39 * h, 0.115 * h, 0.025 * h, 0.01 * h, (20, 50, 32))]
