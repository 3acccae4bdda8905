"""The one rule that maps flow in pixels to the motion stream's range.

``normalise_flow``: ``(u / W, v / H)`` with W, H the model grid, clipped to ``[-1, 1]``. At
256x256 this equals the authors' ``u / 256`` scale; unlike their loader it keeps v (see
``docs/deviations/data.md``). The rule's name and parameters go into every cache manifest.

>>> import numpy as np
>>> normalise_flow(np.array([[[64.0, -512.0]]], np.float32), size=(256, 256)).tolist()
[[[0.25, -1.0]]]
"""

from __future__ import annotations

import numpy as np

#: Name stored in cache manifests; change it whenever the rule changes.
NORMALISATION_RULE = "divide_by_grid_clip1/v1"


def normalise_flow(flow_px: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """Scale pixel flow by the grid size and clip to [-1, 1].

    Args:
        flow_px: (..., H, W, 2) flow in pixels of the model grid, channel 0 = u, 1 = v.
        size: (H, W) of the grid; defaults to the array's own spatial size, which is the grid
            when flow is computed on the resized frames (the normal case).

    Returns:
        float32 array of the same shape, u / W and v / H, clipped to [-1, 1].
    """
    flow = np.asarray(flow_px, dtype=np.float32)
    h, w = size if size is not None else flow.shape[-3:-1]
    out = np.empty_like(flow)
    np.divide(flow[..., 0], float(w), out=out[..., 0])
    np.divide(flow[..., 1], float(h), out=out[..., 1])
    return np.clip(out, -1.0, 1.0, out=out)


def normalisation_info() -> dict:
    """The rule as stored in a cache manifest."""
    return {"rule": NORMALISATION_RULE, "u_divisor": "W", "v_divisor": "H", "clip": [-1.0, 1.0]}
