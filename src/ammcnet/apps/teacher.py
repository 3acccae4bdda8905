"""``ammcnet teach``: "this was normal", without retraining.

Takes spans of footage an operator marks as normal (a source with ``--start``/``--end``, or an
alarm event of a ``detect``/``watch`` log), teaches the model file's region head that their
motion is normal (:mod:`ammcnet.regions.teach`), and writes a *new* model file listing the taught
spans; the old file is kept. The network is not retrained.

A teach could make the head blind: teach it a run across the lawn and it stops seeing runners.
Before writing, the head's synthetic-anomaly validation (:func:`~ammcnet.regions.selection.validate.taught_validation`)
is measured before and after on its own normal footage; a drop of the mean synthetic AUC beyond
``margin`` is refused in one line unless ``force`` is given.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ammcnet.data.cache import default_cache_dir
from ammcnet.data.layouts import discover_dataset
from ammcnet.data.video import open_video
from ammcnet.errors import ConfigError, DataError
from ammcnet.models import save_model_file
from ammcnet.regions.footage import AnalysisFrames, flows_of_frames, source_fingerprint
from ammcnet.regions.selection.validate import Footage, taught_validation
from ammcnet.scoring.head_model import HeadModel, open_model, write_head_model
from ammcnet.scoring.model_file import ModelFile
from ammcnet.scoring.region_head import FLOW_CACHE, FootageSpan, RegionHeadComponent, _training_flows
from ammcnet.scoring.scorer import Scorer

#: Mean synthetic-AUC drop a teach may cause without ``force``.
DEFAULT_MARGIN = 0.02


@dataclass(frozen=True)
class TeachOptions:
    """What to teach as normal, and where the taught model goes.

    Attributes:
        normal: sources (video files or frame folders) whose frames are normal.
        start, end: with one ``normal`` source, its frames to teach (``end`` exclusive).
        normal_events: ``EVENTS.jsonl:ID`` alarm events to teach as normal (the event's frames of
            its source, or its clip when the source cannot be reopened).
        out: the new model file (default: ``<model>-taught.pt`` beside the model, numbered if taken).
        force: write even when the validation drops by more than ``margin``.
        margin: the mean synthetic-AUC drop allowed without ``force``.
        footage: the head's normal footage for the validation, when the model file does not name it
            (a video, frame folder or dataset root).
        cache_dir: where analysis flows are kept (default: the prepared-data cache).
    """

    normal: tuple[str, ...] = ()
    start: int = 0
    end: int | None = None
    normal_events: tuple[str, ...] = ()
    out: str | os.PathLike[str] | None = None
    force: bool = False
    margin: float = DEFAULT_MARGIN
    footage: str | None = None
    cache_dir: str | os.PathLike[str] | None = None

    def __post_init__(self) -> None:
        if not self.normal and not self.normal_events:
            raise ConfigError("nothing to teach: give --normal SOURCE or --normal-event EVENTS.jsonl:ID")
        if (self.start or self.end is not None) and len(self.normal) != 1:
            raise ConfigError("--start/--end pick frames of one --normal source")
        if self.start < 0 or (self.end is not None and self.end <= self.start):
            raise ConfigError(f"--start {self.start} --end {self.end}: give 0 <= start < end")
        if self.margin < 0:
            raise ConfigError(f"--margin {self.margin}: give an AUC drop of 0 or more")


@dataclass
class TeachResult:
    """A taught model.

    Attributes:
        model: the new model file (None when the teach was refused).
        previous: the model file taught from (kept as it was).
        spans: the spans taught (source, start, end, and the event id when from an event).
        auc_before, auc_after: mean synthetic AUC of the head's validation before and after
            (None when no footage was available and ``force`` skipped the check).
        seconds: wall time.
    """

    model: Path | None
    previous: Path
    spans: list[dict[str, Any]] = field(default_factory=list)
    auc_before: float | None = None
    auc_after: float | None = None
    seconds: float = 0.0

    def report(self) -> str:
        check = ("validation not measured (no normal footage; --force)" if self.auc_before is None else
                 f"synthetic AUC {self.auc_before:.3f} -> {self.auc_after:.3f}")
        frames = sum(int(s["end"]) - int(s["start"]) for s in self.spans)
        return f"{self.model}: taught {len(self.spans)} span(s), {frames} frames, as normal; {check}; kept {self.previous}"


def _event_span(spec: str) -> dict[str, Any]:
    """``EVENTS.jsonl:ID`` as a span: the event's frames of its source, or its clip."""
    path_text, sep, event_id = spec.rpartition(":")
    if not sep or not path_text or not event_id:
        raise ConfigError(f"--normal-event {spec!r}: give EVENTS.jsonl:ID (an event log and an event id in it)")
    log = Path(path_text)
    try:
        lines = [json.loads(x) for x in log.read_text(encoding="utf-8").splitlines() if x.strip().startswith("{")]
    except (OSError, ValueError) as exc:
        raise DataError(f"{log}: cannot read the event log ({exc}); give the events.jsonl of a detect or watch run") from None
    events = [x["event"] for x in lines if isinstance(x.get("event"), dict) and x["event"].get("id") == event_id]
    if not events:
        known = sorted({x["event"]["id"] for x in lines if isinstance(x.get("event"), dict)})[-3:]
        raise DataError(f"{log}: no event {event_id!r}; recent ids: {', '.join(known) or 'none'}")
    event = events[-1]
    source = next((x.get("source") for x in lines if x.get("kind") == "start"), None)
    start, end = int(event["start_frame"]), int(event.get("end_frame") or event["peak_frame"]) + 1
    if source and Path(source).exists():
        return {"source": source, "start": max(start - 1, 0), "end": end, "event": event_id}
    if event.get("clip") and (log.parent / event["clip"]).is_file():
        return {"source": str(log.parent / event["clip"]), "start": 0, "end": None, "event": event_id}
    raise DataError(f"{log}: event {event_id}'s source {source!r} cannot be reopened and it has no clip; "
                    "teach the footage with --normal SOURCE --start S --end E")


def taught_spans(options: TeachOptions) -> list[dict[str, Any]]:
    """Every span ``options`` name, as {source, start, end[, event]}."""
    spans = [{"source": str(s), "start": options.start, "end": options.end} for s in options.normal]
    spans += [_event_span(spec) for spec in options.normal_events]
    for s in spans:
        if not Path(s["source"]).exists():
            raise DataError(f"{s['source']}: no such video or frame folder to teach")
        n = len(open_video(s["source"]))
        s["end"] = n if s["end"] is None else min(int(s["end"]), n)
        if s["end"] - s["start"] < 2:
            raise DataError(f"{s['source']} frames {s['start']}-{s['end']}: a span needs at least 2 frames")
    return spans


def _span_flows(span: dict[str, Any], size: tuple[int, int], preset: str) -> np.ndarray:
    video = open_video(span["source"])
    return flows_of_frames((video[t] for t in range(span["start"], span["end"])), size, preset)


def teach_model(model: str | os.PathLike[str], options: TeachOptions) -> TeachResult:
    """Teach a model file's region head that the spans of ``options`` are normal (see the module docstring).

    Raises:
        ConfigError: the model has no region head, the validation dropped beyond the margin
            (without ``force``), or no normal footage is known for the validation (without ``force``).
        DataError: a span or event cannot be read.
    """
    t0 = time.perf_counter()
    spans = taught_spans(options)  # the inputs first: a wrong event id is the likeliest mistake
    loaded = open_model(model)
    component = _component(loaded)
    head = component.head
    flows = [_span_flows(s, head.size, head.config.flow_preset) for s in spans]
    result = TeachResult(None, Path(loaded.path), spans)
    footage = _validation_footage(loaded, options)
    if footage is None and not options.force:
        raise ConfigError(f"{loaded.path}: the normal footage it was fitted on is not found, so the teach cannot be "
                          "checked; give --footage VIDEO|FOLDER|DATASET, or --force to teach unchecked")
    if footage is not None:
        try:
            before, after = taught_validation(footage, head.config, flows, seed=head.config.seed)
        except DataError as exc:  # too little footage to hold some out
            if not options.force:
                raise ConfigError(f"{loaded.path}: the teach cannot be checked ({exc}); give longer --footage, or "
                                  "--force to teach unchecked") from None
            footage = None
    if footage is not None:
        result.auc_before, result.auc_after = before.mean_auc, after.mean_auc
        if before.mean_auc - after.mean_auc > options.margin and not options.force:
            raise ConfigError(f"teach refused: the head's synthetic-anomaly AUC would drop from {before.mean_auc:.3f} to "
                              f"{after.mean_auc:.3f} (more than --margin {options.margin}); teach shorter spans, or "
                              "--force to accept")
    taught = component.taught(flows)
    result.model = _write(loaded, taught, spans, result, _out_path(loaded.path, options.out))
    result.seconds = time.perf_counter() - t0
    return result


def _component(loaded: ModelFile | HeadModel) -> RegionHeadComponent:
    if isinstance(loaded, HeadModel):
        return loaded.component
    component = loaded.scorer.components[RegionHeadComponent.component] \
        if RegionHeadComponent.component in loaded.scorer.components else None
    if component is None:
        raise ConfigError(f"{loaded.path} has no region head to teach: fit one with ammcnet calibrate RUN TRAINING_DATA "
                          "or ammcnet fit FOOTAGE")
    return component


def _validation_footage(loaded: ModelFile | HeadModel, options: TeachOptions) -> list[Footage] | None:
    """The head's normal footage as validation :class:`Footage`, when it can be found."""
    if options.footage is not None:
        spans = _spans_of(Path(options.footage))
    elif isinstance(loaded, HeadModel):
        spans = [FootageSpan(f["name"], Path(f["source"]), int(f.get("start") or 0), f.get("end"))
                 for f in loaded.meta.get("footage") or []]
    else:
        root = ((loaded.train_config or {}).get("data") or {}).get("root")
        spans = _spans_of(Path(root)) if root and Path(root).exists() else []
    spans = [s for s in spans if s.source.exists()]
    if not spans:
        return None
    component = _component(loaded)
    size, preset = component.head.size, component.head.config.flow_preset
    cache = Path(options.cache_dir or default_cache_dir()) / FLOW_CACHE / source_fingerprint(spans[0].source)
    return [Footage(s.name, _training_flows(cache / s.name, s.source, size, preset, cache)[s.start:s.end],
                    lambda s=s: AnalysisFrames(s.source, size)[s.start:s.end]) for s in spans]


def _spans_of(path: Path) -> list[FootageSpan]:
    if path.is_file() or (path.is_dir() and not (path / "training").exists() and not (path / "train").exists()
                          and any(path.iterdir()) and not any(p.is_dir() for p in path.iterdir())):
        return [FootageSpan(path.stem if path.is_file() else path.name, path)]
    return [FootageSpan(v.name, v.path) for v in discover_dataset(path).train]


def _out_path(model: Path, out: str | os.PathLike[str] | None) -> Path:
    if out is not None:
        if Path(out).resolve() == model.resolve():
            raise ConfigError(f"--out {out} is the model taught from; teaching keeps it: give another file")
        return Path(out)
    stem = model.stem if model.name != "model.pt" else f"{model.parent.name}-model"
    candidate, n = model.with_name(f"{stem}-taught.pt"), 2
    while candidate.exists():
        candidate, n = model.with_name(f"{stem}-taught-{n}.pt"), n + 1
    return candidate


def _write(loaded: ModelFile | HeadModel, taught: RegionHeadComponent, spans: list[dict[str, Any]],
           result: TeachResult, out: Path) -> Path:
    entry = {"spans": spans, "auc_before": result.auc_before, "auc_after": result.auc_after,
             "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if isinstance(loaded, HeadModel):
        meta = {**loaded.meta, "taught": [*(loaded.meta.get("taught") or []), entry], "parent": loaded.digest}
        write_head_model(out, taught, meta)
        return out
    meta = {**loaded.meta, "taught": [*(loaded.meta.get("taught") or []), entry], "parent": loaded.loaded.digest}
    components = {**dict(loaded.scorer.components.items()), RegionHeadComponent.component: taught}
    save_model_file(out, loaded.model.cpu(), calibration=loaded.calibration.to_dict() if loaded.calibration else None,
                    train_config=loaded.train_config, meta=meta, scorer=Scorer(components).state())
    return out


__all__ = ["DEFAULT_MARGIN", "TeachOptions", "TeachResult", "replace", "taught_spans", "teach_model"]
