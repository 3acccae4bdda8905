"""Teaching a fitted head that some footage is normal, without refitting it from scratch.

An operator's "this alarm was normal" is the one label a deployed camera gets for free: walkers
on ground nobody walked on in the fitting footage look unusual to every label-free signal, and
one click says otherwise. Teaching adds the taught frames' windows to what each part holds as
normal, and only ever makes a part *more* tolerant where the taught footage shows it must:

* the place, row and perspective parts take the larger of their scale and the taught footage's
  (at each place, in each row), so motion seen in the taught footage is normal there;
* the direction and moving-look parts add the taught footage's moving windows to their banks of normal windows;
* the appearance part adds the looks of up to ``appearance_frames`` taught frames at every place;
* speed and relative speed have nothing fitted, and each part's global scale is kept: raising it
  to the taught frames' scores would make the part less sensitive *everywhere*, which is not what
  "this alarm was normal" says (on ``vtest.avi`` it cost 0.058 of synthetic AUC where the local
  updates alone cost 0.009, for the same false alarms gone: ``docs/decisions.md``, D30);
* the taught frames' new scores join the held-out normal scores the thresholds are read from
  (``taught_scores``), so a taught frame that still scores high raises the threshold a little.

Nothing learnt from the fitting footage is forgotten, and the network is not touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from ammcnet.errors import DataError
from ammcnet.regions.config import RegionHeadConfig
from ammcnet.regions.features import WindowFeatures
from ammcnet.regions.head import RegionHead, frame_maxima
from ammcnet.regions.parts import (
    TOP,
    AppearancePart,
    DirectionPart,
    PerspectivePart,
    PlacePart,
    RowPart,
    _chunks,
    _frames,
)
from ammcnet.regions.stats import TopK, top_count


def _place_tops(feats: Sequence[WindowFeatures]) -> np.ndarray:
    """(R, C) the 99.9th percentile of the taught windows' speed at each place, over 3x3 neighbours."""
    places = TopK(top_count(_frames(feats), TOP), feats[0].grid)
    for c in _chunks(feats):
        places.add(c.speed)
    return cv2.blur(places.quantile(TOP).astype(np.float32), (3, 3), borderType=cv2.BORDER_REPLICATE)


def _row_tops(feats: Sequence[WindowFeatures], q: float, static: float | None = None) -> np.ndarray:
    """(R,) the ``q`` quantile of each row's taught window speeds (moving ones only with ``static``)."""
    rows, cols = feats[0].grid
    tops = [TopK(top_count(_frames(feats) * cols, q)) for _ in range(rows)]
    for c in _chunks(feats):
        for r, top in enumerate(tops):
            speeds = c.speed[:, r].ravel()
            top.add(speeds if static is None else speeds[speeds > static])
    return np.array([top.quantile(q) if top.count else 0.0 for top in tops], np.float32)


def taught_part(part: Any, feats: Sequence[WindowFeatures], config: RegionHeadConfig) -> Any:
    """``part`` made tolerant of the taught footage ``feats`` (see the module docstring)."""
    if isinstance(part, PlacePart):
        return PlacePart(np.maximum(part.scale, _place_tops(feats)))
    if isinstance(part, PerspectivePart):
        return PerspectivePart(np.maximum(part.scale, _row_tops(feats, 0.99, config.static)))
    if isinstance(part, RowPart):
        return RowPart(np.maximum(part.scale, _row_tops(feats, TOP)))
    if isinstance(part, AppearancePart):
        return part.with_looks(feats, config.appearance_frames)
    if isinstance(part, DirectionPart):  # the moving-look part too: the same kNN over other vectors
        return type(part)(np.concatenate([part.bank, _taught_vectors(part, feats, config)]), part.threshold,
                          part.position_weight, config.neighbours)
    return part


def _taught_vectors(part: DirectionPart, feats: Sequence[WindowFeatures], config: RegionHeadConfig) -> np.ndarray:
    """The taught footage's moving windows as direction-bank vectors (a seeded subset beyond
    ``max_train_windows``)."""
    kept = [part.vectors(c, part.position_weight)[c.speed >= part.threshold] for c in _chunks(feats)]
    vectors = np.concatenate(kept) if kept else np.zeros((0, part.values + 2), np.float32)
    if len(vectors) > config.max_train_windows:
        pick = np.random.default_rng(config.seed).choice(len(vectors), config.max_train_windows, replace=False)
        vectors = vectors[np.sort(pick)]
    return vectors.astype(np.float32)


def teach_head(head: RegionHead, feats: Sequence[WindowFeatures]) -> RegionHead:
    """A copy of ``head`` taught that the frames of ``feats`` (one per taught span) are normal."""
    feats = [f for f in feats if len(f)]
    if not feats:
        raise DataError("nothing to teach: the taught spans hold no frames with a flow")
    if any(f.grid != feats[0].grid for f in feats):
        raise DataError("taught footage of different sizes; teach spans of the camera the head was fitted on")
    config = head.config
    parts = {name: taught_part(part, feats, config) for name, part in head.parts.items()}
    maxima = [{p: frame_maxima(part, f) for p, part in parts.items()} for f in feats]
    taught = RegionHead(config, parts, head.scales, head.normal_scores, head.size, head.frames, head.normal_videos)
    taught.taught_scores = [*head.taught_scores, *[taught.fuse_maxima(m) for m in maxima]]
    return taught

