"""Named protocols: the honest default, the authors' exact scoring, every common convention side by side.

``honest`` (the default of ``ammcnet evaluate`` and ``ammcnet.evaluate``) takes each record as is,
on one scale for every video: no per-video statistic (a test video's minimum and maximum are not
known until it ends) and no weight from test labels (the records and weights are the caller's, the
RGB PSNR record alone when none are given).

``paper_protocol`` reproduces ``Code/main/eval_metric.py:img_pred_fea_comm_single_auc``:
per-video min-max of the RGB PSNR and RGB commitment records over all entries, 4 warm-up
frames dropped, global min-max, ``(1 - lf) * psnr + lf * (1 - commit)``, the 2-tap filter across
the concatenation of all videos, micro AUC. Its weights were tuned on the test labels.

>>> PAPER_WEIGHTS["ped2"], DEFAULT_PROTOCOL
((0.01, 0.55), 'honest')
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ammcnet.choices import DEFAULT_EVAL_PROTOCOL, EVAL_PROTOCOLS
from ammcnet.data.labels import load_labels
from ammcnet.errors import ConfigError
from ammcnet.metrics import records as rec
from ammcnet.metrics.evaluate import SCORE_CONVENTION, EvalOptions, EvalResult, evaluate_scores
from ammcnet.metrics.plot import plot_roc
from ammcnet.metrics.scorefile import ScoreFile, load_score_file
from ammcnet.utils.io import write_json_atomic

#: (lf, ls) = (commitment weight, smoothing weight) of the authors' ``lam_map`` (test_helper.py).
PAPER_WEIGHTS: dict[str, tuple[float, float]] = {
    "ped2": (0.01, 0.55),
    "avenue": (0.04, 0.65),
    "shanghaitech": (0.13, 0.60),
}
PAPER_WARMUP = 4
PAPER_NOTE = ("paper protocol: the fusion and smoothing weights (lf, ls) are the authors' per-dataset values, "
              "which are the argmax of the AUC on the TEST labels over their grid; the number is optimistic")
#: Protocol names, and the one used when none is named (defined once, in :mod:`ammcnet.choices`).
PROTOCOLS = tuple(EVAL_PROTOCOLS)
DEFAULT_PROTOCOL = DEFAULT_EVAL_PROTOCOL


_ALIASES = {"stc": "shanghaitech", "shanghai": "shanghaitech", "ucsd_ped2": "ped2"}
_KNOWN_NAMES = set(PAPER_WEIGHTS) | set(_ALIASES)


def check_dataset(dataset: str | None) -> str:
    """Validate a paper-protocol dataset name (case-insensitive; ``stc``/``shanghai`` accepted)."""
    key = str(dataset).lower()
    key = _ALIASES.get(key, key)
    if key not in PAPER_WEIGHTS:
        raise ConfigError(f"unknown dataset {dataset!r} for the paper protocol; use one of {', '.join(PAPER_WEIGHTS)}")
    return key


def honest_options(options: EvalOptions | None = None) -> EvalOptions:
    """``options`` checked to be honest: records, weights, directions, smoothing and warm-up are the
    caller's; the scale is fixed to each record as is, the same for every video.

    Per-video min-max (``normalise="video"``) uses each test video's own minimum and maximum, known
    only once the video has ended; a global min-max, and smoothing across the concatenation, make
    one video's score depend on the others. Each is refused here, with the protocol that allows it.
    """
    o = options or EvalOptions(name="honest")
    o.validate()
    refused = {"normalise": o.normalise != "none", "global_normalise": o.global_normalise,
               "smooth_scope": o.smooth_scope != "video"}
    if any(refused.values()):
        given = ", ".join(f"{k}={getattr(o, k)!r}" for k, bad in refused.items() if bad)
        raise ConfigError(f"the honest protocol scores each record as is, on one scale for every video "
                          f"({given} is not that); choose protocol 'custom' for other conventions")
    return replace(o, name="honest") if o.name == "custom" else o


def describe_protocol(protocol: str, results: list[EvalResult] | None = None) -> str:
    """``protocol: NAME (what it does with test statistics and test labels)``: the first line of
    every table, so that no number is read without its protocol."""
    text = EVAL_PROTOCOLS[protocol]
    if protocol == "custom" and any(r.options.get("normalise") == "video" for r in results or []):
        text += "; per-video min-max uses each test video's own min and max"
    return f"protocol: {protocol} ({text})"


def paper_options(score_file: ScoreFile, dataset: str, *, smooth_scope: str = "concat",
                  smooth: bool = True, name: str | None = None) -> EvalOptions:
    """The authors' conventions for ``dataset`` as :class:`EvalOptions`."""
    lf, ls = PAPER_WEIGHTS[check_dataset(dataset)]
    psnr = rec.find_record(score_file.record_names, rec.PSNR_NAMES, "RGB PSNR")
    commit = rec.find_record(score_file.record_names, rec.COMMIT_NAMES, "RGB commitment")
    return EvalOptions(records={psnr: 1.0 - lf, commit: lf}, normalise="video", normalise_warmup=True,
                       global_normalise=True, smooth=f"paper:{ls}" if smooth else "none",
                       smooth_scope=smooth_scope, warmup=PAPER_WARMUP, name=name or f"paper ({dataset})")


def paper_protocol(score_file: ScoreFile, labels: list[np.ndarray], dataset: str | None = None) -> EvalResult:
    """The authors' exact scoring; ``dataset`` defaults to the file's stored ``dataset``.

    Returns:
        :class:`EvalResult` whose ``auc_micro`` is the number the paper reports (before rounding).
    """
    dataset = check_dataset(dataset if dataset is not None else _stored_dataset(score_file))
    result = evaluate_scores(score_file, labels, paper_options(score_file, dataset))
    result.notes.append(PAPER_NOTE)
    return result


def _stored_dataset(score_file: ScoreFile) -> str:
    if "dataset" not in score_file.meta:
        raise ConfigError("the paper protocol needs --dataset (ped2, avenue or shanghaitech): "
                          "the score file stores no dataset name")
    return str(score_file.meta["dataset"])


def all_protocols(score_file: ScoreFile, labels: list[np.ndarray], dataset: str | None = None, *,
                  warmup: int = 4, sigma: float = 3.0) -> list[EvalResult]:
    """Every common convention on the same scores, one :class:`EvalResult` per row.

    Rows: the paper protocol and its variants (when the RGB records and a dataset are known),
    RGB PSNR alone with/without per-video min-max (``PSNR only, raw`` is the honest row), with 2-tap and Gaussian smoothing and without
    warm-up drop, commitment alone, all records fused with equal weights, and each remaining
    record alone.
    """
    names = score_file.record_names
    if dataset is None and str(score_file.meta.get("dataset", "")).lower() in _KNOWN_NAMES:
        dataset = str(score_file.meta["dataset"])  # a file of another dataset just has no paper rows
    ls = PAPER_WEIGHTS[check_dataset(dataset)][1] if dataset is not None else 0.55
    psnr = next((n for n in rec.PSNR_NAMES if n in names), None)
    commit = next((n for n in rec.COMMIT_NAMES if n in names), None)
    base = EvalOptions(warmup=warmup, normalise="video")
    rows: list[EvalOptions] = []
    if dataset is not None and psnr and commit:
        paper = paper_options(score_file, dataset)
        rows += [paper,
                 replace(paper, smooth_scope="video", name="paper fusion, smoothing per video"),
                 replace(paper, smooth="none", name="paper fusion, no smoothing")]
    if psnr:
        one = replace(base, records={psnr: 1.0})
        rows += [replace(one, name="PSNR only"),
                 replace(one, normalise="none", name="PSNR only, raw"),
                 replace(one, smooth=f"paper:{ls}", name="PSNR only, 2-tap"),
                 replace(one, smooth=f"gauss:{sigma:g}", name="PSNR only, Gaussian"),
                 replace(one, warmup=0, name="PSNR only, no warm-up drop")]
    if commit:
        rows.append(replace(base, records={commit: 1.0}, name="commitment only"))
    known = [n for n in names if _direction_or_none(n)]
    if len(known) > 1:
        rows.append(replace(base, records={n: 1.0 for n in known}, name="all records, equal weights"))
    rows += [replace(base, records={n: 1.0}, name=f"{n} only") for n in known if n not in (psnr, commit)]
    if not rows:
        raise ConfigError(f"no record with a known direction in the scores ({', '.join(names)}); "
                          "use --records NAME:WEIGHT:normal|anomalous")
    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for o in rows:
            r = evaluate_scores(score_file, labels, o)
            if o.name.startswith("paper ("):
                r.notes.append(PAPER_NOTE)
            results.append(r)
    return results


def _direction_or_none(name: str) -> str | None:
    try:
        return rec.direction_of(name)
    except ConfigError:
        return None


@dataclass
class EvalReport:
    """Everything ``ammcnet evaluate`` prints and writes."""

    protocol: str
    scores_path: str
    labels_path: str
    results: list[EvalResult]
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def header(self) -> str:
        """``protocol: NAME (...)``, printed above the table."""
        return describe_protocol(self.protocol, self.results)

    def to_dict(self) -> dict[str, Any]:
        """The main (first) result's fields at top level, every row under ``results``."""
        main = self.results[0].to_dict()
        return {**main, "protocol": self.protocol, "protocol_text": self.header(),
                "scores_file": self.scores_path, "labels_file": self.labels_path,
                "score": SCORE_CONVENTION, "notes": self.notes, "warnings": self.warnings,
                "results": [r.to_dict() for r in self.results]}


def evaluate_files(
    scores: str | os.PathLike[str],
    labels: str | os.PathLike[str],
    *,
    protocol: str = DEFAULT_PROTOCOL,
    dataset: str | None = None,
    options: EvalOptions | None = None,
    json_path: str | os.PathLike[str] | None = None,
    roc_path: str | os.PathLike[str] | None = None,
) -> EvalReport:
    """Read a score file and labels, evaluate under ``protocol``, optionally write JSON and a ROC plot.

    Args:
        scores: score ``.npz``.
        labels: label file or folder (any format :func:`load_labels` reads).
        protocol: ``honest`` (default: ``options``' records, weights, smoothing and warm-up, each
            record as is; see :func:`honest_options`), ``custom`` (``options`` as given),
            ``paper`` (the authors' exact scoring, weights tuned on test labels) or ``all``.
        dataset: ped2 | avenue | shanghaitech, for the paper weights (defaults to the file's).
        options: conventions for ``honest`` and ``custom`` (and warm-up for ``all``).
        json_path: write the report as JSON here (atomic).
        roc_path: draw the main result's ROC curve to this PNG (atomic).
    """
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")
    if dataset is not None:
        dataset = check_dataset(dataset)
    if protocol == "honest":
        options = honest_options(options)
    elif options is not None:
        options.validate()
    sf = load_score_file(scores)
    if protocol == "paper" and dataset is None:
        dataset = check_dataset(_stored_dataset(sf))
    ys = load_labels(labels, sf.num_frames, sf.videos)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if protocol == "paper":
            results = [paper_protocol(sf, ys, dataset)]
        elif protocol == "all":
            results = all_protocols(sf, ys, dataset, warmup=(options or EvalOptions()).warmup)
        else:
            results = [evaluate_scores(sf, ys, options or EvalOptions())]
    notes = list(dict.fromkeys(n for r in results for n in r.notes))
    warns = list(dict.fromkeys(w for r in results for w in r.warnings))
    report = EvalReport(protocol, str(Path(scores)), str(Path(labels)), results, notes, warns)
    if json_path is not None:
        write_json_atomic(json_path, report.to_dict())
    if roc_path is not None:
        plot_roc(results[0], None, roc_path)
    return report
