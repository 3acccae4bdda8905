"""Frame-level evaluation under one explicit, printed set of conventions.

Every convention that moves a video-anomaly number is a field of :class:`EvalOptions`: which
records are fused with which weights, per-video min-max normalisation, warm-up frames dropped,
temporal smoothing (kind and whether it runs within each video or across the concatenation).
The defaults are the honest ones: each record as is, one scale for every video, no per-video
statistic (per-video min-max uses a whole test video's minimum and maximum, which no camera knows
in advance; it is chosen by name, ``normalise="video"``).
Records are always turned into an ANOMALY score (higher = more anomalous) before fusion, and
:class:`EvalResult` reports micro AUC, macro AUC (padded per-video AUCs), EER and AP.

>>> import numpy as np
>>> y = [np.array([0, 0, 0, 0, 0, 1, 1, 0])]
>>> r = evaluate_scores({"rgb_psnr": [np.array([9, 9, 9, 9, 9, 1, 2, 8.0])]}, y, EvalOptions())
>>> r.auc_micro, r.n_frames
(1.0, 4)
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ammcnet.errors import ConfigError, DataError
from ammcnet.metrics import records as rec
from ammcnet.metrics.ap import average_precision
from ammcnet.metrics.auc import auc_macro, auc_micro
from ammcnet.metrics.eer import eer
from ammcnet.metrics.scorefile import ScoreFile
from ammcnet.metrics.transforms import apply_smoothing, minmax

#: What every number below is computed on.
SCORE_CONVENTION = "anomaly score (higher = more anomalous); records with higher = normal are flipped"
NORMALISE_CHOICES = ("none", "video")
SMOOTH_SCOPES = ("video", "concat")


def parse_smooth(spec: str) -> tuple[str, float]:
    """``"none"`` | ``"paper:LS"`` (0 < LS <= 1) | ``"gauss:SIGMA"`` (SIGMA > 0) -> (kind, parameter)."""
    kind, _, value = str(spec).partition(":")
    if kind == "none" and not value:
        return "none", 0.0
    if kind in ("paper", "gauss"):
        try:
            param = float(value)
        except ValueError:
            param = float("nan")
        ok = 0.0 < param <= 1.0 if kind == "paper" else param > 0.0
        if ok:
            return kind, param
    raise ConfigError(f"smoothing {spec!r} is not one of none, paper:LS (0 < LS <= 1, e.g. paper:0.55), "
                      "gauss:SIGMA (SIGMA > 0 frames, e.g. gauss:3)")


@dataclass
class EvalOptions:
    """The conventions of one evaluation (all printed beside its numbers).

    Attributes:
        records: record name -> fusion weight; None = the RGB PSNR record alone
            (``rgb_psnr`` or the authors' ``rgb_img_pred_records``), or the file's only record.
        directions: direction overrides (``normal``/``anomalous``) for record names the
            evaluator does not know.
        normalise: ``none`` (default) = raw values, one scale for every video; ``video`` =
            min-max each record within each video (a statistic of the whole test video).
        normalise_warmup: include the warm-up entries in each video's min/max (the authors do;
            it only matters when warm-up entries are not copies of a scored one).
        global_normalise: min-max each record over the concatenation of all videos (the authors
            do; after per-video min-max it changes nothing).
        smooth: ``none``, ``paper:LS`` (2-tap filter) or ``gauss:SIGMA``.
        smooth_scope: ``video`` = smooth within each video (ours), ``concat`` = across the
            concatenation of all videos (the authors' code).
        warmup: leading frames of every video dropped from scores and labels (frames without a
            prediction; 4 for four past frames).
        name: row label in tables.
    """

    records: dict[str, float] | None = None
    directions: dict[str, str] = field(default_factory=dict)
    normalise: str = "none"
    normalise_warmup: bool = False
    global_normalise: bool = False
    smooth: str = "none"
    smooth_scope: str = "video"
    warmup: int = 4
    name: str = "custom"

    def validate(self) -> None:
        """Reject bad values at once, listing the allowed ones."""
        if self.normalise not in NORMALISE_CHOICES:
            raise ConfigError(f"normalise {self.normalise!r} is not one of {', '.join(NORMALISE_CHOICES)}")
        if self.smooth_scope not in SMOOTH_SCOPES:
            raise ConfigError(f"smooth scope {self.smooth_scope!r} is not one of {', '.join(SMOOTH_SCOPES)}")
        parse_smooth(self.smooth)
        if int(self.warmup) < 0:
            raise ConfigError(f"warmup {self.warmup} must be >= 0 frames")

    def describe(self) -> dict[str, str]:
        """Short text of each convention, for tables."""
        norm = "none"
        if self.normalise == "video":
            norm = "per-video" + (" (all entries)" if self.normalise_warmup else "")
        if self.global_normalise:
            norm += " + global"
        kind, param = parse_smooth(self.smooth)
        where = "per video" if self.smooth_scope == "video" else "across videos"
        smooth = {"none": "none", "paper": f"2-tap {param:g} {where}", "gauss": f"gauss s={param:g} {where}"}[kind]
        return {"normalise": norm, "smooth": smooth, "warmup": str(self.warmup)}


@dataclass
class EvalResult:
    """Numbers of one evaluation, with the conventions that produced them.

    ``scores``/``labels`` hold the concatenated anomaly scores and labels after warm-up frames
    are dropped (for curves); they are left out of :meth:`to_dict`.
    """

    name: str
    auc_micro: float
    auc_macro: float
    eer: float
    ap: float
    per_video_auc: dict[str, float]
    n_frames: int
    n_videos: int
    options: dict[str, Any]
    records: dict[str, dict[str, Any]]
    single_class_videos: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8), repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (no arrays)."""
        out = {k: v for k, v in asdict(self).items() if k not in ("scores", "labels")}
        out["score"] = SCORE_CONVENTION
        return out


def _as_score_file(score_file: ScoreFile | dict[str, list[np.ndarray]]) -> ScoreFile:
    if isinstance(score_file, ScoreFile):
        return score_file
    return ScoreFile.from_records(score_file)


def _resolve_records(sf: ScoreFile, options: EvalOptions) -> dict[str, dict[str, Any]]:
    wanted = options.records
    if wanted is None and len(sf.records) == 1:
        wanted = {sf.record_names[0]: 1.0}
    elif wanted is None:
        wanted = {rec.find_record(sf.record_names, rec.PSNR_NAMES, "RGB PSNR"): 1.0}
    if not wanted:
        raise ConfigError("no records to evaluate: give at least one record name and weight")
    out = {}
    for name, weight in wanted.items():
        if name not in sf.records:
            where = f"score file {sf.path}" if sf.path else "the scores"
            raise ConfigError(f"record {name!r} is not in {where}; it holds: {', '.join(sf.record_names)}")
        out[name] = {"weight": float(weight), "direction": rec.direction_of(name, options.directions.get(name))}
    return out


def _check_finite(sf: ScoreFile, names: list[str]) -> None:
    for name in names:
        for i, arr in enumerate(sf.records[name]):
            bad = np.flatnonzero(~np.isfinite(arr))
            if bad.size:
                where = f"score file {sf.path}" if sf.path else "the scores"
                raise DataError(f"{where}: record {name!r}, video {sf.video_name(i)} has {bad.size} NaN/inf "
                                f"value(s) (first at frame {bad[0]}); re-run scoring or drop that record")


def _check_labels(sf: ScoreFile, labels: list[np.ndarray]) -> list[np.ndarray]:
    if len(labels) != len(sf.num_frames):
        raise DataError(f"{len(labels)} label arrays for {len(sf.num_frames)} scored videos; "
                        "use the labels of the same test split")
    out = []
    for i, (y, n) in enumerate(zip(labels, sf.num_frames, strict=True)):
        y = np.asarray(y).reshape(-1)
        if len(y) != n:
            raise DataError(f"labels of video {sf.video_name(i)} have {len(y)} frames but its scores have {n}; "
                            "use labels for the same videos")
        out.append((y > 0).astype(np.uint8))
    return out


def _record_series(sf: ScoreFile, name: str, direction: str, o: EvalOptions) -> list[np.ndarray]:
    """One record as per-video anomaly scores after normalisation and warm-up drop."""
    w = int(o.warmup)
    parts = []
    for arr in sf.records[name]:
        if o.normalise == "video":
            parts.append(minmax(arr)[w:] if o.normalise_warmup else minmax(arr[w:]))
        else:
            parts.append(np.asarray(arr, np.float64)[w:])
    if o.global_normalise:
        flat = minmax(np.concatenate(parts))
        parts = np.split(flat, np.cumsum([len(p) for p in parts])[:-1])
    if direction == rec.NORMAL:
        scaled = o.normalise == "video" or o.global_normalise
        parts = [(1.0 - p) if scaled else -p for p in parts]
    return parts


def evaluate_scores(
    score_file: ScoreFile | dict[str, list[np.ndarray]],
    labels: list[np.ndarray],
    options: EvalOptions | None = None,
) -> EvalResult:
    """Evaluate per-frame scores against frame labels under ``options``.

    Args:
        score_file: a :class:`ScoreFile` or a dict record -> one array per video.
        labels: one 0/1 array per video (1 = anomalous), full length (warm-up included).
        options: the conventions; defaults to :class:`EvalOptions` ().

    Returns:
        :class:`EvalResult` with micro/macro AUC, EER and AP on the fused anomaly score.

    Raises:
        ConfigError: unknown record, direction or option value.
        DataError: NaN/inf scores, label count mismatch, or labels of one class only overall.
    """
    o = options or EvalOptions()
    o.validate()
    sf = _as_score_file(score_file)
    used = _resolve_records(sf, o)
    _check_finite(sf, list(used))
    ys = _check_labels(sf, labels)
    w = int(o.warmup)
    keep = [i for i, n in enumerate(sf.num_frames) if n > w]
    notes, warns = [], []
    if len(keep) < len(sf.num_frames):
        warns.append(f"{len(sf.num_frames) - len(keep)} video(s) have no frames after dropping {w} warm-up frames")
    if not keep:
        raise DataError(f"no frames left after dropping {w} warm-up frames per video; lower --warmup")

    fused = None
    for name, info in used.items():
        series = np.concatenate(_record_series(sf, name, info["direction"], o))
        fused = info["weight"] * series if fused is None else fused + info["weight"] * series
    lengths = [max(int(n) - w, 0) for n in sf.num_frames]
    bounds = np.cumsum([0, *lengths])
    kind, param = parse_smooth(o.smooth)
    if o.smooth_scope == "concat":
        fused = apply_smoothing(fused, kind, param)
    else:
        fused = np.concatenate([apply_smoothing(fused[a:b], kind, param) for a, b in zip(bounds[:-1], bounds[1:], strict=True)])
    y = np.concatenate([yy[w:] for yy in ys])
    if y.min() == y.max():
        raise DataError(f"after dropping {w} warm-up frames every labelled frame is "
                        f"{'anomalous' if y[0] else 'normal'}; AUC needs both classes")

    per_scores = [minmax(fused[bounds[i]:bounds[i + 1]]) for i in keep]
    per_labels = [y[bounds[i]:bounds[i + 1]] for i in keep]
    macro, per_video = auc_macro(per_scores, per_labels)
    single = [sf.video_name(i) for i, yy in zip(keep, per_labels, strict=True) if yy.min() == yy.max()]
    if single:
        msg = (f"macro AUC: {len(single)} video(s) hold one class only ({', '.join(single[:8])}"
               f"{', ...' if len(single) > 8 else ''}); their AUC is defined only by the padding frames")
        warns.append(msg)
    for msg in warns:
        warnings.warn(msg, UserWarning, stacklevel=2)
    records_info = {k: {**v, "direction": f"higher = {v['direction']}"} for k, v in used.items()}
    return EvalResult(
        name=o.name,
        auc_micro=auc_micro(fused, y),
        auc_macro=macro,
        eer=eer(fused, y),
        ap=average_precision(fused, y),
        per_video_auc={sf.video_name(i): a for i, a in zip(keep, per_video, strict=True)},
        n_frames=int(len(y)),
        n_videos=len(keep),
        options={**asdict(o), **{f"{k}_text": v for k, v in o.describe().items()}},
        records=records_info,
        single_class_videos=single,
        warnings=warns,
        notes=notes,
        scores=fused,
        labels=y,
    )
