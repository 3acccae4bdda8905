"""Exact quantiles of streams too long to hold: the largest values only, or two counting passes.

The head's statistics are high quantiles (the 99th, 99.9th percentiles) of window speeds over
every frame of the training footage, and one median of pixel speeds. Holding every value to call
``np.quantile`` costs memory in proportion to the footage: an hour of 320x240 training footage at
10 frames per second has 36 million window speeds per window size and billions of pixel speeds.
These give the same numbers, bit for bit, from a bounded part of them:

* :class:`TopK` keeps the largest values of a stream (for each cell of a grid, e.g. each window
  place): ``np.quantile(values, q)`` reads only the two order statistics around ``(n - 1) q``,
  and for q = 0.999 those are among the top 0.1 %;
* :func:`stream_median` finds the median by counting float32 bit patterns in two passes (a radix
  selection), in two 65,536-bin histograms, whatever the count.

>>> import numpy as np
>>> x = np.random.default_rng(0).exponential(1.0, 10_000).astype(np.float32)
>>> top = TopK(top_count(len(x), 0.999))
>>> for piece in np.array_split(x, 7):
...     top.add(piece)
>>> bool(top.quantile(0.999) == np.quantile(x, 0.999)), len(top.values) < 100
(True, True)
>>> bool(stream_median(lambda: np.array_split(x, 3)) == float(np.median(x)))
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np

#: Values a :class:`TopK` buffers (beyond twice its ``k`` per cell) before it drops the ones that can
#: no longer be among the largest: 1 MB of float32, whatever the grid.
BUFFER = 1 << 18
_BINS = 1 << 16


def top_count(n: int, q: float) -> int:
    """How many of the largest of ``n`` values ``np.quantile(values, q)`` (linear interpolation)
    reads: it interpolates between the sorted values at ``floor((n - 1) q)`` and the next one.
    Non-decreasing in ``n``, so the count for the most values a stream can have is enough."""
    return max(0, int(n) - math.floor((int(n) - 1) * q)) if n > 0 else 0


class TopK:
    """The ``k`` largest values of a stream, for each cell of a grid of ``shape``, and their count.

    Args:
        k: values kept per cell; at least :func:`top_count` of the most values the stream can have.
        shape: the grid: :meth:`add` takes (m, *shape) arrays, m more values per cell.
    """

    def __init__(self, k: int, shape: tuple[int, ...] = ()) -> None:
        self.k = max(int(k), 2)
        self.shape = tuple(shape)
        self.count = 0
        self._parts: list[np.ndarray] = []
        self._held = 0
        self._limit = max(2 * self.k, BUFFER // max(1, int(np.prod(self.shape))))

    def add(self, values: np.ndarray) -> None:
        """Take ``values`` (m, *shape) into the stream."""
        values = np.asarray(values)
        if not len(values):
            return
        self.count += len(values)
        self._parts.append(values)
        self._held += len(values)
        if self._held > self._limit:
            self._compact()

    def _compact(self) -> None:
        x = np.concatenate(self._parts) if len(self._parts) != 1 else self._parts[0]
        if len(x) > self.k:
            x = np.partition(x, len(x) - self.k, axis=0)[len(x) - self.k:]
        self._parts, self._held = [x], len(x)

    @property
    def values(self) -> np.ndarray:
        """The kept values (at most ``k`` per cell, in no order)."""
        self._compact()
        return self._parts[0]

    def quantile(self, q: float) -> np.ndarray:
        """``np.quantile`` of every value taken, per cell (a scalar for ``shape == ()``), bit for bit.

        Raises:
            ValueError: nothing was taken, or ``k`` is too small for ``q`` and the count.
        """
        n = self.count
        if not n:
            raise ValueError("the quantile of no values")
        top = np.sort(self.values, axis=0)
        h = (n - 1) * q
        lo = math.floor(h)
        first = n - len(top)
        if lo < first:
            raise ValueError(f"kept the top {len(top)} of {n} values: too few for the {q} quantile")
        pair = np.stack([top[lo - first], top[min(lo + 1, n - 1) - first]])
        # np.quantile of the two neighbours at the fractional position: NumPy's own interpolation
        return np.quantile(pair, h - lo, axis=0)


def stream_median(chunks: Callable[[], Iterable[np.ndarray]]) -> float | None:
    """``float(np.median(values))`` of the float32 values >= 0 that ``chunks()`` yields, or None for
    none; ``chunks`` is called twice (each call a fresh pass over the same values).

    Non-negative float32 numbers sort like their bit patterns read as unsigned integers: the first
    pass counts the top 16 bits, which finds the bin of each middle rank; the second counts the low
    16 bits of the values in those bins, which finds the values.
    """
    high = np.zeros(_BINS, np.int64)
    for c in chunks():
        high += np.bincount(_bits(c) >> 16, minlength=_BINS)
    n = int(high.sum())
    if not n:
        return None
    ranks = sorted({(n - 1) // 2, n // 2})
    cum = np.cumsum(high)
    bins = [int(np.searchsorted(cum, r, side="right")) for r in ranks]
    low = {b: np.zeros(_BINS, np.int64) for b in bins}
    for c in chunks():
        bits = _bits(c)
        top = bits >> 16
        for b, counts in low.items():
            counts += np.bincount(bits[top == b] & 0xFFFF, minlength=_BINS)
    middle = []
    for r, b in zip(ranks, bins, strict=True):
        rank = r - int(cum[b] - high[b])
        j = int(np.searchsorted(np.cumsum(low[b]), rank, side="right"))
        middle.append(np.uint32((b << 16) | j).view(np.float32))
    return float(np.median(np.array(middle, np.float32)))  # the mean of the two, as NumPy takes it


def _bits(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, np.float32).ravel().view(np.uint32)
