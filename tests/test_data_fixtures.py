"""The shared dataset helpers of ``tests/helpers.py`` do what the other tests rely on."""

from __future__ import annotations

import numpy as np

from helpers import moving_frames


def test_moving_frames_slide_right():
    f = moving_frames(3, dx=2)
    assert np.array_equal(f[1][:, 2:], f[0][:, :-2])
