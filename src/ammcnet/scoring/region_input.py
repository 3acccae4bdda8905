"""The region head's view of each frame, as a clip input of the one scoring path.

The head scores regions of the *source* frames on an analysis grid of its own, not the model's
clips, so its records need more than a clip: a clip input (:data:`ammcnet.data.clips.ClipInputFn`)
named ``region`` gives every clip one row for its target frame::

    [head score, x0, y0, x1, y1 (the winning window, source pixels), score of each baseline...]

and the records ``region``, ``region_max_speed`` and ``region_per_position`` read their column
(:mod:`ammcnet.scoring.scorer`). ``ammcnet test``, ``calibrate``, ``detect``, ``bench`` and the
ONNX backend all get it through the scorer (:meth:`~ammcnet.scoring.scorer.Scorer.clip_inputs`);
none of them knows the head is there.

* Offline (a clip of a prepared dataset), rows come from a table per video, computed once from
  the video's source (its analysis flows are cached in the dataset's ``region-flows`` folder).
  For the training videos the head was fitted on, a row is the video's score by the head fitted
  *without* it (its held-out fold), so a calibration on training clips sees the head as unseen
  footage would; the box is then unknown (NaN). A training video it cannot match to its folds
  (a head fitted on other videos) gets NaN rows, never an in-sample score, and the calibration
  leaves the record out.
* Online (:meth:`RegionInput.stream`), the head's own flow runs frame by frame in stream order,
  rounded to float16 as the cache stores it, so a frame's row equals the offline one (to 1e-5).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from ammcnet.data.cache import open_prepared
from ammcnet.data.clips import ClipSource
from ammcnet.data.video import open_video
from ammcnet.errors import DataError
from ammcnet.flow.analysis import AnalysisFlow
from ammcnet.regions.head import FrameScores, features_key, features_of
from ammcnet.regions.online import scale_box
from ammcnet.scoring.region_head import MODE_RECORDS, RECORD, ROW_COLUMNS
from ammcnet.utils.float16 import round_float16

#: ``fn(frame_hw, window centres (R, C, 2) fractions) -> (R, C) bool``: the windows never scored.
WindowMaskFn = Callable[[tuple[int, int], np.ndarray], "np.ndarray | None"]
#: Name of the clip input (the head's record's name).
INPUT = RECORD
#: Videos whose tables are kept at once (clips of a dataset arrive video by video).
TABLES_KEPT = 2


def _rows(scored: dict[str, FrameScores], modes: tuple[str, ...], grid: tuple[int, int],
          frame_hw: tuple[int, int]) -> np.ndarray:
    """(T, 5 + baselines) rows from each mode's frame scores (the head's boxes scaled to source pixels)."""
    head = scored[modes[0]]
    boxes = np.array([scale_box(b, grid, frame_hw) for b in head.boxes], np.float64).reshape(-1, 4)
    return np.column_stack([head.score, boxes, *[scored[m].score for m in modes[1:]]]).astype(np.float64)


class RegionInput:
    """The ``region`` clip input of a fitted :class:`~ammcnet.scoring.region_head.RegionHeadComponent`."""

    def __init__(self, component: Any) -> None:
        self.component = component
        self._tables: OrderedDict[tuple, np.ndarray] = OrderedDict()

    def __getstate__(self) -> dict[str, Any]:
        return {"component": self.component, "_tables": OrderedDict()}  # tables are rebuilt where needed

    def __call__(self, frames: np.ndarray, flows: np.ndarray, source: ClipSource) -> np.ndarray:
        if source.dataset is None or source.video is None or source.t is None:
            raise DataError("the region head's input needs clips of a prepared dataset or a stream (ClipBuilder)")
        key = (source.dataset, source.split, source.video)
        if key not in self._tables:
            self._tables[key] = self._table(*key)
            while len(self._tables) > TABLES_KEPT:
                self._tables.popitem(last=False)
        return self._tables[key][source.t]

    def _table(self, dataset: str, split: str, video: str) -> np.ndarray:
        prepared = open_prepared(dataset)
        held = self._held_out(prepared, split, video)
        if held is not None:
            return held
        modes = self.component.modes
        scored = self.component.score_split(prepared, split, [video], modes=modes)
        first = open_video(prepared.source(split, video))[0]
        return _rows({m: s[0] for m, s in scored.items()}, modes, self.component.head.size, first.shape[:2])

    def _held_out(self, prepared: Any, split: str, video: str) -> np.ndarray | None:
        """Rows of a training video: its held-out scores, no box (NaN rows when the head's folds do
        not match this split's videos); None for a video of another split."""
        if split != "train":
            return None
        names, lengths = prepared.videos(split), prepared.num_frames(split)
        i = names.index(video)
        per_mode = [self.component.head_for(m).normal_scores_by_video(lengths) for m in self.component.modes]
        width = len(ROW_COLUMNS) + len(per_mode) - 1
        if any(p is None or not len(p[i]) for p in per_mode):
            return np.full((int(lengths[i]), width), np.nan)  # fitted on other videos than these
        box = np.full((int(lengths[i]), 4), np.nan)
        return np.column_stack([per_mode[0][i], box, *[p[i] for p in per_mode[1:]]]).astype(np.float64)

    def stream(self) -> RegionInputStream:
        """The online input: the head's flow and scores, frame by frame."""
        return RegionInputStream(self.component)


class RegionInputStream:
    """Rows of a stream's frames, in order (see :class:`ammcnet.data.clips.StreamInput`)."""

    def __init__(self, component: Any) -> None:
        self.modes = component.modes
        self.columns = {m: component.column(m) for m in self.modes}
        self.heads = [component.head_for(m) for m in self.modes]
        self.grid = component.head.size
        self.flow = AnalysisFlow(self.grid, component.head.config.flow_preset)
        self.window_mask: WindowMaskFn | None = None
        self._ignore: dict[tuple, np.ndarray | None] = {}

    def reset(self) -> None:
        self.flow.reset()

    def set_mask(self, windows: WindowMaskFn | None) -> None:
        """An operator's mask (:mod:`ammcnet.alarms.zones`): the windows ``windows(frame_hw, centres)``
        marks ((R, C) bool from the windows' (R, C, 2) centre fractions) are never scored. The
        frames are not changed: the flow, and so every window outside the mask, is as fitted."""
        self.window_mask, self._ignore = windows, {}

    def _ignored(self, key: tuple, features: Any, frame_hw: tuple[int, int]) -> np.ndarray | None:
        if self.window_mask is None:
            return None
        k = (key, frame_hw)
        if k not in self._ignore:
            self._ignore[k] = self.window_mask(frame_hw, features.positions())
        return self._ignore[k]

    def update(self, rgb: np.ndarray) -> np.ndarray:
        """The row of frame ``rgb`` (NaN for the first frame after a reset: it has no flow yet)."""
        flow = self.flow.update(rgb)
        if flow is None:
            return np.full(len(ROW_COLUMNS) + len(self.modes) - 1, np.nan)
        flow = round_float16(flow)[None]  # as stored offline
        features: dict[tuple, Any] = {}
        scored = {}
        for mode, head in zip(self.modes, self.heads, strict=True):
            key = features_key(head.config)
            if key not in features:
                features[key] = features_of(flow, head.config)
            scored[mode] = head.score_features(features[key], self._ignored(key, features[key], rgb.shape[:2]))
        return _rows(scored, self.modes, self.grid, rgb.shape[:2])[0]

    def records(self, row: np.ndarray) -> dict[str, float]:
        """Each mode's record from a row (what the scorer's region records read of a clip's row)."""
        return {MODE_RECORDS[m]: float(row[self.columns[m]]) for m in self.modes}
