"""float16 rounding of float32 arrays, through torch's vectorised conversion.

NumPy converts float32 to float16 element by element in C without SIMD; torch uses the CPU's
F16C instructions. Both round to nearest even, so the results are bit-identical, about 14x faster
(240x320x2 flow: 0.85 ms against 0.06 ms on the 2-core development CPU). The region head rounds
every live flow this way so that it scores exactly like the float16 flows stored offline.

>>> import numpy as np
>>> x = np.array([0.1, 1.0 / 3.0, 2.5e-7], np.float32)
>>> bool(np.array_equal(to_float16(x), x.astype(np.float16)))
True
>>> round_float16(x).dtype
dtype('float32')
"""

from __future__ import annotations

import numpy as np
import torch


def to_float16(values: np.ndarray) -> np.ndarray:
    """``values`` as a float16 array (same shape), equal to ``values.astype(np.float16)``."""
    return torch.from_numpy(np.ascontiguousarray(values, np.float32)).half().numpy()


def round_float16(values: np.ndarray) -> np.ndarray:
    """``values`` rounded to float16 and back to float32, equal to ``astype(float16).astype(float32)``."""
    return torch.from_numpy(np.ascontiguousarray(values, np.float32)).half().float().numpy()
