"""The region head as a scorer component: fitted with the scorer, stored in the model file.

:mod:`ammcnet.regions` scores regions of the *source* frames (an analysis grid near the source
resolution), not the model's clips, so it reads the source videos the prepared cache was made
from (offline) or the frames a stream delivers (online, :meth:`RegionHeadComponent.stream`).
Its per-frame score is the record ``region``; its held-out normal scores give the alarm
thresholds. It is fitted at the end of ``ammcnet train`` and by ``ammcnet calibrate`` on the
training split alone, with settings chosen there (:func:`ammcnet.regions.selection.validate.choose_settings`).

>>> RegionHeadComponent.component, RECORD
('region_head', 'region')
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn
from tqdm import tqdm

from ammcnet.data.video import open_video
from ammcnet.errors import ConfigError, DataError, OutputError
from ammcnet.metrics.records import ANOMALOUS, register_direction
from ammcnet.regions import FrameScores, RegionHead, RegionHeadConfig, WindowFeatures, analysis_size
from ammcnet.regions.config import LOOK_PARTS
from ammcnet.regions.footage import AnalysisFrames, FlowFile, cached_flows, flow_file, flows_of_frames
from ammcnet.regions.head import features_key, features_of
from ammcnet.regions.online import RegionStream
from ammcnet.regions.selection.validate import (
    Footage,
    Selection,
    choose_settings,
    validation_rotation,
)
from ammcnet.regions.store import FeatureStore
from ammcnet.regions.teach import teach_head

log = logging.getLogger(__name__)

#: Folder of a prepared dataset where the analysis flows of its sources are kept.
FLOW_CACHE = "region-flows"
#: The record name of the head's per-frame score.
RECORD = "region"
register_direction(RECORD, ANOMALOUS)
#: The head's own scoring mode.
HEAD_MODE = "region"
#: Training-free baselines fitted beside the head, by scoring mode: one part alone at the head's
#: object-sized window (chosen without labels, as the head's is), scaled and thresholded on
#: held-out training videos like the head. ``max-speed``: the largest local flow speed;
#: ``per-position``: each window's speed over the speed normally seen at that position.
BASELINE_PARTS: dict[str, dict[str, float]] = {"max-speed": {"speed": 1.0}, "per-position": {"place": 1.0}}
#: The head without its appearance part, fitted beside it: the best candidate of the same choice
#: among those that weigh motion parts only (the head itself when it chose no appearance part), so
#: every test shows what the appearance part adds, on the same frames.
MOTION_MODE = "motion-head"
#: The record of each scoring mode of the component (record names are identifiers: they name
#: fusion weights and score-file keys).
MODE_RECORDS: dict[str, str] = {HEAD_MODE: RECORD, **{m: f"{RECORD}_{m.replace('-', '_')}"
                                                      for m in (*BASELINE_PARTS, MOTION_MODE)}}
#: How the model file stores a baseline that is the head itself: by reference (files written
#: before it hold a full copy, which loads as before).
SAME_AS_HEAD: dict[str, str] = {"same_as": HEAD_MODE}


def _is_same_as_head(state: Any) -> bool:
    return isinstance(state, dict) and len(state) == 1 and state.get("same_as") == HEAD_MODE


#: Columns of the ``region`` clip input's rows before the baselines' scores (:mod:`ammcnet.scoring.region_input`).
ROW_COLUMNS: tuple[str, ...] = ("score", "x0", "y0", "x1", "y1")


class RegionHeadComponent(nn.Module):
    """A fitted :class:`~ammcnet.regions.RegionHead` inside a :class:`~ammcnet.scoring.scorer.Scorer`.

    Args:
        head: the fitted head.
        selection: how its settings were chosen (kept in the model file for ``ammcnet info``).
        baselines: the training-free baselines fitted beside it (:data:`BASELINE_PARTS`), so a
            test can score them as modes of their own with settings got the way the head's were.
    """

    #: Name of the component in a scorer and the model file.
    component = "region_head"

    def __init__(self, head: RegionHead, selection: dict[str, Any] | None = None,
                 baselines: dict[str, RegionHead] | None = None) -> None:
        super().__init__()
        self.head = head
        self.selection = selection
        self.baselines = dict(baselines or {})

    def to_dict(self) -> dict[str, Any]:
        """The head's state, the selection, and each baseline's state; a baseline that is the head
        itself (the ``motion-head`` of a head without look parts) is stored as :data:`SAME_AS_HEAD`,
        not as a second copy of its banks."""
        return {**self.head.to_state(), "selection": self.selection,
                "baselines": {m: dict(SAME_AS_HEAD) if b is self.head else b.to_state() for m, b in self.baselines.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RegionHeadComponent:
        head = RegionHead.from_state(data)
        baselines = {m: head if _is_same_as_head(b) else RegionHead.from_state(b)
                     for m, b in (data.get("baselines") or {}).items()}
        return cls(head, data.get("selection"), baselines)

    @property
    def modes(self) -> tuple[str, ...]:
        """The scoring modes this component can give: the head's, then each fitted baseline's."""
        return (HEAD_MODE, *self.baselines)

    @property
    def records(self) -> tuple[str, ...]:
        """The records it gives (one per mode): a file fitted before the baselines gives ``region`` only."""
        return tuple(MODE_RECORDS[m] for m in self.modes)

    def column(self, mode: str) -> int:
        """The column of mode ``mode``'s score in a row of the ``region`` clip input."""
        return 0 if mode == HEAD_MODE else len(ROW_COLUMNS) + list(self.baselines).index(mode)

    def box_of(self, extras: dict[str, Any]) -> Any:
        """(B, 4) winning windows (source pixels; NaN on training clips) of a batch's ``region`` input."""
        rows = extras.get(RECORD)
        return None if rows is None else rows[:, 1:len(ROW_COLUMNS)]

    def head_for(self, mode: str = HEAD_MODE) -> RegionHead:
        """The fitted head of scoring mode ``mode`` (the head itself, or a baseline)."""
        if mode == HEAD_MODE:
            return self.head
        if mode not in self.baselines:
            raise ConfigError(
                f"scoring mode {mode!r}: this model file holds no {mode} baseline (fitted before baselines were "
                f"stored?); refit the head with ammcnet calibrate RUN TRAINING_DATA, or choose one of {', '.join(self.modes)}"
            )
        return self.baselines[mode]

    def score_source(self, source: str | Path) -> FrameScores:
        """Scores of every frame of a video file or frame folder (entry 0 repeats entry 1)."""
        flows = flows_of_frames(open_video(source), self.head.size, self.head.config.flow_preset)
        return self.head.score_features(features_of(flows.astype(np.float32), self.head.config))

    def score_split(self, prepared: Any, split: str, videos: Sequence[str] | None = None, *,
                    progress: bool | None = False, modes: Sequence[str] = (HEAD_MODE,)) -> dict[str, list[FrameScores]]:
        """Scores of the videos of a prepared split in each scoring mode of ``modes``, read from
        their sources; the analysis flows are kept in the prepared dataset's ``region-flows``
        folder (:func:`~ammcnet.regions.footage.cached_flows`), so a second ``ammcnet test`` of
        the same split skips them. Modes that share a window share its features."""
        heads = {m: self.head_for(m) for m in modes}
        names = list(videos) if videos is not None else prepared.videos(split)
        bar = tqdm(names, desc="region head", unit="video", disable=None if progress is None else not progress, leave=False)
        out: dict[str, list[FrameScores]] = {m: [] for m in modes}
        for v in bar:
            source = prepared.source(split, v)
            size, preset = self.head.size, self.head.config.flow_preset
            flows = cached_flows(Path(prepared.root) / FLOW_CACHE / split / v, source, size, preset,
                                 partial(_source_flows, source, size, preset)).astype(np.float32)
            features: dict[tuple, WindowFeatures] = {}
            for m, head in heads.items():
                key = features_key(head.config)
                if key not in features:
                    features[key] = features_of(flows, head.config)
                out[m].append(head.score_features(features[key]))
        return out

    def taught(self, flows: Sequence[Any]) -> RegionHeadComponent:
        """A copy whose head and baselines are taught that these analysis-grid flows (one array per
        span, :func:`~ammcnet.regions.footage.flows_of_frames`) are normal (:mod:`ammcnet.regions.teach`)."""
        def teach(head: RegionHead) -> RegionHead:
            return teach_head(head, [features_of(np.asarray(f, np.float32), head.config) for f in flows])

        head = teach(self.head)
        return RegionHeadComponent(head, self.selection,
                                   {m: head if b is self.head else teach(b) for m, b in self.baselines.items()})

    def stream(self, mode: str = HEAD_MODE) -> RegionStream:
        """An online scorer of one stream (frames of any size, one at a time) in scoring mode ``mode``."""
        return RegionStream(self.head_for(mode))

    def normal_scores(self, record: str) -> list[np.ndarray]:
        """The held-out normal scores (unsmoothed, one array per video or stretch) of the mode whose
        record is ``record``: what alarm thresholds and budgets are read from."""
        return self.head_for(next(m for m, r in MODE_RECORDS.items() if r == record)).threshold_scores()

    def record_threshold(self, record: str, fpr: float, smooth: Callable[[np.ndarray], np.ndarray]) -> float:
        """:meth:`threshold` of the mode whose record is ``record``."""
        return self.threshold(fpr, smooth, next(m for m, r in MODE_RECORDS.items() if r == record))

    def threshold(self, fpr: float, smooth: Callable[[np.ndarray], np.ndarray], mode: str = HEAD_MODE) -> float:
        """Score that held-out normal frames, smoothed by ``smooth`` (one video in, same length
        out), exceed with rate ``fpr``, in scoring mode ``mode``."""
        scores = self.head_for(mode).threshold_scores()
        return float(np.quantile(np.concatenate([smooth(s) for s in scores]), 1.0 - fpr))


@dataclass(frozen=True)
class FootageSpan:
    """Normal footage to fit a head on: a video file or frame folder, frames ``start`` to ``end``
    (exclusive; None: to the end)."""

    name: str
    source: Path
    start: int = 0
    end: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "source": str(self.source), "start": self.start, "end": self.end}


def fit_region_head(prepared: Any, videos: Sequence[str] | None = None, config: RegionHeadConfig | None = None, *,
                    choose: bool = True, progress: bool | None = False) -> RegionHeadComponent:
    """Fit the head on the training split's source videos (``videos``: a subset of its names), its
    analysis flows kept in the prepared dataset's ``region-flows`` folder (as ``ammcnet test`` keeps
    a split's): :func:`fit_region_head_on`."""
    names = list(videos) if videos is not None else prepared.videos("train")
    if not names:
        raise DataError(f"{prepared.root}: no training videos to fit the region head on")
    footage = [FootageSpan(n, Path(prepared.source("train", n))) for n in names]
    return fit_region_head_on(footage, Path(prepared.root) / FLOW_CACHE / "train", config, choose=choose,
                              progress=progress)


def fit_region_head_on(footage: Sequence[FootageSpan], cache: Path, config: RegionHeadConfig | None = None, *,
                       choose: bool = True, progress: bool | None = False) -> RegionHeadComponent:
    """Fit the head on normal footage (whole videos or spans of them).

    With ``choose``, the window size and parts are chosen first on that footage alone (held-out
    videos or stretches, and synthetic anomalies); ``config`` gives everything else. ``config.seed``
    seeds every random draw of the head: the normal bank's subset, the synthetic anomalies and
    which videos are held out, so heads of different seeds really differ. The training-free
    baselines (:data:`BASELINE_PARTS`) are fitted beside it at the same window.

    Memory stays bounded whatever the footage's length: the analysis flows are written to
    ``cache`` (one file per video) and read a stretch at a time, window features wait in a
    scratch folder beside them (:mod:`ammcnet.regions.store`), and the held-out videos' frames are
    decoded only where a synthetic anomaly is made.
    """
    config = config or RegionHeadConfig()
    if not footage:
        raise DataError("no normal footage to fit the region head on")
    size = analysis_size(open_video(footage[0].source)[0].shape[:2], config.height)
    with _scratch(cache) as scratch:
        bar = tqdm(list(footage), desc="region head flows", unit="video",
                   disable=None if progress is None else not progress, leave=False)
        flows = [_training_flows(cache / f.name, f.source, size, config.flow_preset, scratch)[f.start:f.end]
                 for f in bar]
        selection: Selection | None = None
        if choose:
            clips = [Footage(f.name, fl, partial(_frames_of, f, size)) for f, fl in zip(footage, flows, strict=True)]
            try:
                selection = choose_settings(clips, config, seed=config.seed, rotation=validation_rotation(config.seed),
                                            log=log.info, scratch=scratch)
                config = selection.best.config or config
                log.info("region head: chose %s", selection.best.label)
            except DataError as exc:  # too little footage to hold any out: the defaults stay
                log.warning("region head: settings not chosen (%s); defaults used", exc)
        with FeatureStore(scratch) as store:
            feats = [store.get(f, config) for f in flows]
            head = RegionHead.fit_features(feats, config)
            baselines = fit_baselines(feats, config)
            baselines[MOTION_MODE] = fit_motion_head(head, lambda c: [store.get(f, c) for f in flows], selection)
    return RegionHeadComponent(head, selection.as_dict() if selection is not None else None, baselines)


def fit_motion_head(head: RegionHead, features: Callable[[RegionHeadConfig], Sequence[WindowFeatures]],
                    selection: Selection | None) -> RegionHead:
    """The :data:`MOTION_MODE` head: ``head`` itself when it weighs no look part
    (:data:`~ammcnet.regions.config.LOOK_PARTS`); else the choice's motion winner
    (:func:`~ammcnet.regions.selection.validate.choose_in_two_stages`; ``head``'s parts less the look
    parts when the settings were given, not chosen), fitted on the same footage: ``features(config)``
    gives its window features (its window may differ from the head's when the choice tried several)."""
    if not head.config.reads_looks():
        return head
    config = selection.motion.config if selection is not None and selection.motion is not None else None
    if config is None:
        config = replace(head.config, weights={**head.config.weights, **dict.fromkeys(LOOK_PARTS, 0.0)})
    return RegionHead.fit_features(features(config), config)


def _source_flows(source: Path, size: tuple[int, int], preset: str) -> np.ndarray:
    """The analysis flows of a whole source, decoded only when the cache does not hold them."""
    return flows_of_frames(open_video(source), size, preset)


def _frames_of(span: FootageSpan, size: tuple[int, int]) -> AnalysisFrames:
    """The analysis-grid frames of a span, decoded when asked for."""
    return AnalysisFrames(span.source, size)[span.start:span.end]


@contextlib.contextmanager
def _scratch(near: Path) -> Iterator[Path]:
    """A scratch folder for the fitting's stored features (and flows the cache cannot take), beside
    the flow cache ``near`` when it is writable (the same disk holds the big files), else in the
    system's temporary folder; removed at the end."""
    try:
        near.mkdir(parents=True, exist_ok=True)
        folder = tempfile.TemporaryDirectory(prefix=".scratch-", dir=near)
    except OSError:
        folder = tempfile.TemporaryDirectory(prefix="ammcnet-region-head-")
    with folder as path:
        yield Path(path)


def _training_flows(cache: Path, source: Path, size: tuple[int, int], preset: str, scratch: Path) -> FlowFile:
    """A training video's analysis flows on disk: in the flow cache ``cache`` (where ``ammcnet
    test`` keeps a split's), or in ``scratch`` when the cache cannot be written."""
    try:
        return flow_file(cache, source, size, preset)
    except OutputError as exc:
        log.info("analysis flow cache not written (%s); flows kept in the scratch folder", exc)
        return flow_file(scratch / "flows" / cache.name, source, size, preset)


def fit_baselines(feats: Sequence[WindowFeatures], config: RegionHeadConfig) -> dict[str, RegionHead]:
    """The training-free baselines on the head's window features: each part of
    :data:`BASELINE_PARTS` alone, at the head's (label-free) window and scaling."""
    return {mode: RegionHead.fit_features(feats, replace(config, weights=dict(weights)))
            for mode, weights in BASELINE_PARTS.items()}
