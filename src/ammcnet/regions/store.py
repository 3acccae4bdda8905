"""Window features kept on disk while the head is fitted and its settings chosen.

Fitting reads the window features of every training video several times: each part's statistics,
the direction part's normal bank, each fold's held-out scores, for every candidate setting. Held
in memory they cost 36 bytes a window (a speed and an 8-bin direction histogram; 36 more with the
appearance part's 9 values): about 1.3 GB for
an hour of 320x240 footage at 10 fps and one window size, and the choice tries up to three.
Computed again for every pass they would cost the time of the feature extraction each time. So a
:class:`FeatureStore` computes them once per (flows, window geometry), a stretch of frames at a
time, writes them to a scratch folder, and gives a :class:`StoredFeatures` that reads them back a
chunk at a time (:meth:`StoredFeatures.chunks`): memory holds one chunk, whatever the footage.

>>> import numpy as np
>>> from ammcnet.regions.config import RegionHeadConfig
>>> flows = np.random.default_rng(0).normal(0, 1, (100, 48, 64, 2)).astype(np.float32)
>>> with FeatureStore() as store:
...     f = store.get(flows, RegionHeadConfig(window=0.25))
...     len(f), f.grid, sum(len(c) for c in f.chunks(32))
(100, (13, 18), 100)
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ammcnet.flow.analysis import ANALYSIS_CHANNELS, GREY_CHANNEL
from ammcnet.regions.config import RegionHeadConfig
from ammcnet.regions.features import APPEARANCE_VALUES, DIRECTIONS, FEATURE_CHUNK, WindowFeatures
from ammcnet.regions.footage import flow_chunks
from ammcnet.regions.head import features_key, features_of

#: The arrays of a window's features, by name, and how many float32 values each has a window.
FIELDS: dict[str, int] = {"speed": 1, "directions": DIRECTIONS, "relative": 1, "appearance": APPEARANCE_VALUES}


def has_grey(flows: Any) -> bool:
    """Whether analysis records ``flows`` carry the frame's grey level (older two-channel flows do not)."""
    return int(np.shape(flows)[-1]) > GREY_CHANNEL


def wants_looks(flows: Any, config: RegionHeadConfig) -> bool:
    """Whether window features of ``flows`` for ``config`` keep the windows' looks: when it weighs a
    part that reads them, or when the choice tries them (``try_appearance``) and the records carry
    the frame, so that candidates with and without them share one set of features. The default
    choice, which does not try them, computes no looks."""
    return config.reads_looks() or (config.try_appearance and has_grey(flows))


class StoredFeatures:
    """The window features of one video (or a stretch of it), on disk.

    Quacks like :class:`~ammcnet.regions.features.WindowFeatures` where fitting needs it: ``len``,
    ``grid``, ``size``, ``side``, ``step``, ``positions()``, ``frames(a, b)`` and ``chunks()``.
    """

    def __init__(self, folder: Path, template: WindowFeatures, frames: int) -> None:
        self.folder = folder
        self.template = template
        self.start, self.stop = 0, int(frames)
        self.fields = [n for n in FIELDS if getattr(template, n) is not None]

    def __len__(self) -> int:
        return self.stop - self.start

    @property
    def grid(self) -> tuple[int, int]:
        return self.template.grid

    @property
    def size(self) -> tuple[int, int]:
        return self.template.size

    @property
    def side(self) -> int:
        return self.template.side

    @property
    def step(self) -> int:
        return self.template.step

    def positions(self) -> np.ndarray:
        return self.template.positions()

    def frames(self, a: int, b: int) -> StoredFeatures:
        """The features of frames ``a`` to ``b`` (exclusive): nothing is read yet."""
        view = copy.copy(self)
        a, b = min(max(a, 0), len(self)), min(max(b, 0), len(self))
        view.start, view.stop = self.start + a, self.start + max(a, b)
        return view

    def read(self, a: int, b: int) -> WindowFeatures:
        """Frames ``a`` to ``b`` (exclusive) of this stretch, in memory."""
        a, b = self.start + a, min(self.start + b, self.stop)
        cells = self.grid[0] * self.grid[1]
        arrays = {}
        for name in self.fields:
            per = cells * FIELDS[name]
            data = np.fromfile(self.folder / f"{name}.f32", np.float32, count=(b - a) * per, offset=a * per * 4)
            arrays[name] = data.reshape(b - a, *self.grid, *((FIELDS[name],) if FIELDS[name] > 1 else ()))
        t = self.template
        return WindowFeatures(arrays["speed"], arrays["directions"], t.side, t.step, t.size, arrays.get("relative"),
                              arrays.get("appearance"))

    def chunks(self, size: int = FEATURE_CHUNK) -> Iterator[WindowFeatures]:
        """The features ``size`` frames at a time, read as they are asked for."""
        for a in range(0, len(self), size):
            yield self.read(a, a + size)


class FeatureStore:
    """Window features per (flows, window geometry), computed once and kept in a scratch folder.

    Args:
        folder: where the scratch folder is made (default: the system's temporary folder); it is
            removed by :meth:`close` (or the end of a ``with`` block). About 36 bytes a window a frame
            (72 with the appearance part).
    """

    def __init__(self, folder: str | Path | None = None) -> None:
        if folder is not None:
            Path(folder).mkdir(parents=True, exist_ok=True)
        self._dir = tempfile.TemporaryDirectory(prefix="ammcnet-features-", dir=folder)
        self._store: dict[tuple, tuple[Any, StoredFeatures]] = {}

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove the stored features (the StoredFeatures handed out can no longer be read)."""
        self._store.clear()
        self._dir.cleanup()

    def get(self, flows: Any, config: RegionHeadConfig) -> StoredFeatures:
        """The window features of ``flows`` (an array or a :class:`~ammcnet.regions.footage.FlowFile`;
        the object is held, so its ``id`` keys it) with ``config``'s window geometry.

        The windows' looks are stored whenever the records carry the frame's grey level, whether or
        not ``config`` weighs the appearance part: candidates with and without it then read the
        same stored features, so the motion parts fitted on them are shared too
        (:class:`~ammcnet.regions.selection.validate.PartCache` keys parts by their features)."""
        look = wants_looks(flows, config)
        key = (id(flows), len(flows), *features_key(config, look))
        hit = self._store.get(key)
        if hit is None or hit[0] is not flows:
            hit = self._store[key] = (flows, self._compute(flows, config, Path(self._dir.name) / str(len(self._store))))
        return hit[1]

    @staticmethod
    def _compute(flows: Any, config: RegionHeadConfig, folder: Path) -> StoredFeatures:
        """Features of ``flows`` a stretch at a time (features of a frame depend on its flow alone),
        appended to one raw float32 file per field."""
        folder.mkdir()
        look = wants_looks(flows, config)
        template = features_of(np.zeros((1, *np.shape(flows)[1:3], ANALYSIS_CHANNELS), np.float32), config,
                               look).frames(0, 0)
        handles = {n: open(folder / f"{n}.f32", "wb") for n in FIELDS if getattr(template, n) is not None}
        try:
            for chunk in flow_chunks(flows):
                f = features_of(chunk, config, look)
                for name, fh in handles.items():
                    fh.write(np.ascontiguousarray(getattr(f, name), np.float32).tobytes())
        finally:
            for fh in handles.values():
                fh.close()
        return StoredFeatures(folder, template, len(flows))
