"""``run_detection``: a source in, per-frame scores, alarm events and an annotated video out.

Files written under ``out`` (every one valid at any moment, even after a crash or Ctrl-C)::

    frames.jsonl   one JSON object per scored frame, flushed as it is written
    events.json    alarm events, rewritten atomically whenever one closes and at the end
    events.jsonl   the events log: start, alarm, gap, invalid and stop lines, each fsync-ed as it
                   happens (see ``ammcnet.alarms.events.EventLog``)
    summary.json   counts, threshold, stop reason, latency and throughput (written at the end)

A frame whose model output is NaN or inf is never an alarm: it is written with ``"valid":
false``, logged as ``invalid`` and counted; ``max_invalid`` such frames in a row stop the run.
URLs and cameras are reopened when they drop (``reconnect``); credentials in a URL are masked
(``rtsp://user:***@host``) in everything printed or written.

>>> import numpy as np, tempfile, pathlib
>>> from ammcnet.models import AMMCNet, ModelConfig
>>> cal = {"records": {r: {"mean": 0.0, "std": 1.0} for r in ("rgb_psnr", "rgb_commit", "flow_error", "flow_commit")}}
>>> det = Detector(AMMCNet(ModelConfig(features_root=4, embed_dim=8, n_embed=16)), cal,
...                DetectorOptions(size=(32, 32), threshold=0.0))
>>> class Cam:
...     i = 0
...     def read(self):
...         self.i += 1
...         return self.i <= 7, np.full((24, 24, 3), 30 * self.i % 255, np.uint8)
...     def release(self): pass
>>> s = run_detection(Cam(), det, DetectOptions(max_failures=2, progress=False), out=pathlib.Path(tempfile.mkdtemp()))
>>> s.frames_read, s.frames_scored, s.read_failures
(7, 3, 2)
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ammcnet.alarms.budget import BudgetResult
from ammcnet.alarms.events import EventLog
from ammcnet.alarms.lifecycle import AlarmEvent, LifecycleOptions
from ammcnet.alarms.pipeline import AlarmOptions, AlarmPipeline
from ammcnet.alarms.sinks_config import check_env
from ammcnet.data.video import prefetch
from ammcnet.detect.detector import Detector, DetectorOptions, FrameResult
from ammcnet.detect.overlay import OverlayWriter
from ammcnet.detect.reconnect import ReconnectPolicy
from ammcnet.detect.sources import (
    DEFAULT_MAX_FAILURES,
    DEFAULT_READ_TIMEOUT,
    Capture,
    FrameReader,
    open_source,
)
from ammcnet.errors import ConfigError, ModelOutputError
from ammcnet.utils.io import write_json_atomic
from ammcnet.utils.redact import mask_url

#: Frames per model call when reading a file or folder (live sources use 1 for low latency).
DEFAULT_FILE_BATCH = 8
FRAMES_FILE, EVENTS_FILE, SUMMARY_FILE = "frames.jsonl", "events.json", "summary.json"
EVENT_LOG_FILE = "events.jsonl"
#: Frames in a row with a NaN/inf model output after which a run stops.
DEFAULT_MAX_INVALID = 25
#: Seconds per closed segment of the annotated video of a live source.
DEFAULT_VIDEO_SEGMENT_S = 60.0
#: Quiet seconds inside one event by default (``min_gap`` is this many frames at the source's rate).
DEFAULT_QUIET_S = 1.0


@dataclass
class DetectionSummary:
    """What a detection run did.

    Attributes:
        source: the source as given.
        frames_read: frames decoded and given to the detector.
        frames_scored: frames with a score (``frames_read - F`` once the history is full).
        read_failures: failed or corrupt reads that were skipped.
        stop_reason: why reading stopped.
        threshold: the alarm threshold used (None = no alarms).
        alarmed_frames: frames whose score exceeded the threshold.
        events: the alarm events (ended), as published (:class:`~ammcnet.alarms.lifecycle.AlarmEvent`).
        seconds: wall time of the whole run.
        fps: frames read per second of wall time.
        latency_ms_mean, latency_ms_p95: time from a frame entering the detector to its score
            (resize + flow + model + fusion; a batched frame waits for its whole batch).
        outputs: paths of the files written.
        invalid_frames: frames whose model output was NaN or inf (never alarms).
        reconnects: times a dropped URL or camera was reopened.
        gaps: the source's outages (start/end times, reason), see ``ReconnectingCapture``.
        budget: the alarm budget's threshold and what it gives on held-out footage, when one was asked for.
        messages: lifecycle messages sent (new, update, end).
        sinks: each sink's counters at the end (``pending``: messages still in its spool, sent first
            by the next run on the same output folder).
    """

    source: str
    frames_read: int = 0
    frames_scored: int = 0
    read_failures: int = 0
    stop_reason: str = ""
    threshold: float | None = None
    alarmed_frames: int = 0
    events: list[AlarmEvent] = field(default_factory=list)
    seconds: float = 0.0
    fps: float = 0.0
    latency_ms_mean: float | None = None
    latency_ms_p95: float | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    invalid_frames: int = 0
    reconnects: int = 0
    gaps: list[dict[str, Any]] = field(default_factory=list)
    budget: BudgetResult | None = None
    messages: int = 0
    sinks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["events"] = [e.to_dict() for e in self.events]
        d["budget"] = None if self.budget is None else self.budget.to_dict()
        return d

    def report(self) -> str:
        """A few human lines for the terminal."""
        lat = "n/a" if self.latency_ms_mean is None else f"{self.latency_ms_mean:.1f} ms mean, {self.latency_ms_p95:.1f} ms p95"
        thr = "none" if self.threshold is None else f"{self.threshold:.4f}"
        lines = [
            f"{self.source}: {self.frames_read} frames read, {self.frames_scored} scored, "
            f"{self.read_failures} failed reads; stopped: {self.stop_reason}",
            *([f"{self.invalid_frames} frames with NaN/inf model output (never alarms)"] if self.invalid_frames else []),
            *([f"{len(self.gaps)} gap(s) in the source, {self.reconnects} reconnect(s)"] if self.gaps else []),
            f"threshold {thr}: {self.alarmed_frames} alarmed frames in {len(self.events)} event(s)",
            *([f"alarm budget: {self.budget.describe()}"] if self.budget is not None else []),
        ]
        lines += [f"{name}: {st['delivered']}/{st['published']} messages delivered"
                  + (f"; {st['pending']} wait in its spool for the next run ({st['last_error']})" if st["pending"] else "")
                  for name, st in self.sinks.items()]
        lines += [f"  event frames {e.start_frame}-{e.end_frame}, peak {e.top_score:.3f} at frame {e.peak_frame}"
                  + (f", zones {', '.join(e.zones)}" if e.zones else "") for e in self.events[:20]]
        lines.append(f"latency {lat}; throughput {self.fps:.1f} frames/s over {self.seconds:.1f} s")
        return "\n".join(lines)


def _check_at_least_one(*options: tuple[str, int | None]) -> None:
    """Refuse a count option below 1, naming it."""
    for flag, value in options:
        if value is not None and value < 1:
            raise ConfigError(f"{flag} must be >= 1, got {value}")


@dataclass(frozen=True)
class DetectOptions:
    """How :func:`run_detection` reads a source, scores it and raises alarms (``ammcnet detect``'s flags).

    Attributes:
        threshold: ``"auto"`` (default: calibrated for ``fpr``), a number, or None for scores only.
        fpr: target false-alarm rate per normal frame for ``"auto"``, in (0, 1) (default 0.01).
        device: torch device string (default ``cpu``).
        batch_size: frames per model call (default None: 8 for files and folders, 1 for live sources).
        min_gap: quiet frames allowed inside one event, so a flicker stays one event (default None:
            one second of frames at the source's rate).
        min_frames: alarmed frames an event needs (default 1).
        max_failures: consecutive failed reads that end a live source (default 30).
        read_timeout: seconds without a frame before a source counts as stalled (default 10).
        max_frames: stop after this many frames (default None: the whole source).
        progress: tqdm bar on stderr (default None: only on a terminal).
        backend: ``eager`` (default: the model as trained), ``torch`` (BatchNorm folded into the
            convs) or ``onnx`` (ONNX Runtime on the graph ``ammcnet export`` wrote, given as ``onnx``).
        onnx: the exported ``.onnx`` file for ``backend="onnx"`` (default None).
        reconnect: reopen a dropped or stalled URL or camera with exponential backoff (default None:
            yes for URLs and cameras, never for files); a :class:`ReconnectPolicy` sets the limits,
            False never reopens.
        max_invalid: frames in a row with a NaN/inf model output that stop the run (default 25).
        video_segment_s: write the annotated video in closed segments of this many seconds
            (``NAME-00000.mp4``, ...) so an abrupt stop loses at most one; default None: 60 for URLs
            and cameras, one file for video files, folders and capture objects; 0 = one file.
        threads: torch CPU threads, set for the process before the model runs (default 0: torch's
            choice; 1 is often fastest for small models on a busy CPU); with several sources, per worker.
        alarms: zones, snapshots, clips, sinks and retention (:class:`~ammcnet.alarms.pipeline.AlarmOptions`;
            default ``AlarmOptions()``: snapshots and clips when ``out`` is given, no sink, no zone).
        alarms_per_hour: set the threshold so that held-out normal footage opens at most this many
            events an hour (:mod:`ammcnet.alarms.budget`; default None: ``threshold`` and ``fpr`` decide).
        show_zones: draw the masks and zones on the annotated video (default False).

    ``threshold``, ``fpr``, ``device``, ``backend`` and ``onnx`` build the detector
    (:meth:`detector_options`); they are the detector's own when a ready :class:`Detector` is given.
    """

    threshold: str | float | None = "auto"
    fpr: float = 0.01
    device: str = "cpu"
    batch_size: int | None = None
    min_gap: int | None = None
    min_frames: int = 1
    max_failures: int = DEFAULT_MAX_FAILURES
    read_timeout: float = DEFAULT_READ_TIMEOUT
    max_frames: int | None = None
    progress: bool | None = None
    backend: str = "eager"
    onnx: str | os.PathLike[str] | None = None
    reconnect: bool | ReconnectPolicy | None = None
    max_invalid: int = DEFAULT_MAX_INVALID
    video_segment_s: float | None = None
    threads: int = 0
    alarms: AlarmOptions = field(default_factory=AlarmOptions)
    alarms_per_hour: float | None = None
    show_zones: bool = False

    def __post_init__(self) -> None:
        if not 0.0 < self.fpr < 1.0:
            raise ConfigError(f"--fpr {self.fpr}: give a false-alarm rate in (0, 1), e.g. 0.01")
        if self.alarms_per_hour is not None and self.alarms_per_hour < 0:
            raise ConfigError(f"--alarms-per-hour {self.alarms_per_hour}: give a number of events an hour, 0 or more")
        if (self.min_gap is not None and self.min_gap < 0) or self.min_frames < 1:
            raise ConfigError("--min-gap must be >= 0 and --min-frames >= 1")
        if self.threads < 0:
            raise ConfigError(f"--threads {self.threads}: give 0 (torch's default) or a positive count")
        _check_at_least_one(("--batch-size", self.batch_size), ("--max-invalid", self.max_invalid))

    def detector_options(self, *, error_maps: bool = False) -> DetectorOptions:
        """The :class:`DetectorOptions` these options build a detector from a run with."""
        return DetectorOptions(threshold=self.threshold, fpr=self.fpr, device=self.device, error_maps=error_maps)

    def lifecycle(self, camera: str, fps: float | None) -> LifecycleOptions:
        """How this run groups alarmed frames into events, at the source's frame rate."""
        gap = self.min_gap if self.min_gap is not None else int(round(DEFAULT_QUIET_S * (fps or 25.0)))
        return LifecycleOptions(camera=self.alarms.camera or camera, min_gap=gap, min_frames=self.min_frames,
                                update_every_s=self.alarms.update_every_s)


def run_detection(
    source: str | int | os.PathLike[str] | Capture,
    run: str | os.PathLike[str] | Detector,
    options: DetectOptions = DetectOptions(),  # noqa: B008 - frozen, never mutated
    *,
    out: str | os.PathLike[str] | None = None,
    video: str | os.PathLike[str] | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    stop: threading.Event | None = None,
) -> DetectionSummary:
    """Run a model over a video, frame folder, stream or camera and raise alarm events.

    Args:
        source: video file, frame folder, ``rtsp://``/``http://`` URL, camera index, or a capture object.
        run: run folder / model file (a full or a head-only one), or a ready :class:`Detector` (then
            ``options.threshold``, ``fpr``, ``device``, ``backend`` and ``onnx`` are the detector's own).
        options: how the source is read, scored and alarmed (:class:`DetectOptions`).
        out: folder for ``frames.jsonl``, the event log, ``events.json``, ``summary.json``, snapshots
            and clips (None = no files).
        video: annotated MP4 to write (heatmap, score strip, alarm banner), or None.
        on_event: called with every lifecycle message (``new``, ``update``, ``end``) as it is sent.
        stop: set it (from another thread) to stop reading; the run ends as at the end of the source.

    Returns:
        :class:`DetectionSummary`; the files in ``out`` are complete even if this raises.
    """
    if options.threads:
        torch.set_num_threads(options.threads)
    check_env(options.alarms.sinks)
    detector = run if isinstance(run, Detector) else Detector.from_run(
        run, options.detector_options(error_maps=video is not None), backend=options.backend, onnx=options.onnx)
    detector.error_maps = detector.error_maps or video is not None
    detector.set_zones(options.alarms.zones)
    summary = DetectionSummary(source=mask_url(source) if not hasattr(source, "read") else "", threshold=detector.threshold)
    outputs = _Outputs(Path(out) if out is not None else None, video, summary)
    capture, info = open_source(source, reconnect=options.reconnect, on_gap=outputs.gap)
    summary.source = summary.source or info.name
    lifecycle = options.lifecycle(info.name or summary.source, info.fps)
    if options.alarms_per_hour is not None:
        summary.budget = detector.use_alarm_budget(options.alarms_per_hour, info.fps or 25.0, lifecycle.min_gap,
                                                   lifecycle.min_frames)
        summary.threshold = detector.threshold
    reader = FrameReader(capture, info, max_failures=options.max_failures, read_timeout=options.read_timeout,
                         max_frames=options.max_frames)
    bar = tqdm(total=info.num_frames, unit="frame", desc="detect", file=sys.stderr,
               disable=(not sys.stderr.isatty()) if options.progress is None else not options.progress)
    batch = options.batch_size or (1 if info.live else DEFAULT_FILE_BATCH)
    job: _DetectionRun | None = None
    try:
        outputs.open(detector, info, options.video_segment_s, lifecycle.camera)
        pipeline = AlarmPipeline(options.alarms, lifecycle, outputs.out_dir, info.fps or 25.0, outputs.elog)
        if on_event is not None:
            pipeline.on_message.append(on_event)
        outputs.zones = pipeline.zone_set if options.show_zones else None
        job = _DetectionRun(detector, summary, pipeline, outputs, options.max_invalid)
        job.stop = stop
        # a file or folder is decoded ahead in a thread; a live source is read as frames arrive
        job.consume(reader if info.live else prefetch(reader), batch, bar)
        summary.stop_reason = "stopped" if stop is not None and stop.is_set() else reader.stop_reason or "end of stream"
    except (KeyboardInterrupt, ModelOutputError) as exc:
        summary.stop_reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
        raise
    finally:
        bar.close()
        failures = reader.failures + int(getattr(capture, "failed_reads", 0))
        if job is not None:
            job.finish(failures, int(getattr(capture, "reconnects", 0)))
        else:
            outputs.close()
    return summary


class _Outputs:
    """The files of one run: ``frames.jsonl`` (flushed per frame), ``events.json``, the event log,
    ``summary.json`` and the annotated video (in segments for live sources)."""

    def __init__(self, out_dir: Path | None, video: str | os.PathLike[str] | None, summary: DetectionSummary) -> None:
        self.out_dir, self.video, self.summary = out_dir, video, summary
        self.events_path = out_dir / EVENTS_FILE if out_dir else None
        self.jsonl: Any = None
        self.overlay: OverlayWriter | None = None
        self.elog: EventLog | None = None  # opened with the other files, once the source is open
        self.zones: Callable[[tuple[int, int]], Any] | None = None  # draws the zones on the video (--show-zones)
        self.camera = ""

    def gap(self, gap: dict[str, Any]) -> None:
        """A reconnecting source lost frames: note it in the summary and the event log."""
        self.summary.gaps.append(gap)
        if self.elog is not None:
            self.elog.write("gap", **gap)

    def open(self, detector: Detector, info: Any, video_segment_s: float | None, camera: str) -> None:
        summary, out_dir = self.summary, self.out_dir
        self.camera = camera
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            self.jsonl = (out_dir / FRAMES_FILE).open("w", encoding="utf-8")
            summary.outputs["frames"] = str(out_dir / FRAMES_FILE)
            summary.outputs["events"] = str(self.events_path)
            self.events([], False)
            summary.outputs["event_log"] = str(out_dir / EVENT_LOG_FILE)
            self.elog = EventLog(out_dir / EVENT_LOG_FILE)
            self.elog.write("start", source=summary.source, camera=camera, threshold=detector.threshold,
                            model=None if detector.model_path is None else str(detector.model_path))
        if self.video is not None:
            live = info.kind in ("url", "camera")
            seg_s = video_segment_s if video_segment_s is not None else (DEFAULT_VIDEO_SEGMENT_S if live else 0)
            self.overlay = OverlayWriter(self.video, fps=info.fps or 25.0, threshold=detector.threshold,
                                         segment_frames=int(round(seg_s * (info.fps or 25.0))) or None)
            summary.outputs["video"] = str(self.video)

    def frame(self, frame: Any, res: FrameResult | None) -> None:
        if res is not None and self.jsonl is not None:
            self.jsonl.write(json.dumps(res.to_dict()) + "\n")
            self.jsonl.flush()
        if self.overlay is not None:
            zones = self.zones(frame.rgb.shape[:2]) if self.zones is not None else None
            rgb = zones.draw(frame.rgb) if zones is not None else frame.rgb
            self.overlay.write(rgb, score=None if res is None else res.score, alarm=bool(res and res.alarm),
                               index=frame.index, error_map=None if res is None else res.error_map)

    def events(self, events: list[AlarmEvent], done: bool) -> None:
        if self.events_path is None:
            return
        summary = self.summary
        write_json_atomic(self.events_path, {
            "source": summary.source, "camera": self.camera, "threshold": summary.threshold, "complete": done,
            "stop_reason": summary.stop_reason, "events": [e.to_dict() for e in events],
        })

    def close(self) -> None:
        summary = self.summary
        if self.jsonl is not None:
            self.jsonl.close()
        if self.overlay is not None:
            self.overlay.close()
            if self.overlay.segments:
                summary.outputs["video"] = str(self.overlay.segments[0])
                summary.outputs["video_segments"] = ", ".join(str(p) for p in self.overlay.segments)
        self.events(summary.events, True)
        if self.elog is not None:
            self.elog.write("stop", reason=summary.stop_reason, frames_read=summary.frames_read,
                            frames_scored=summary.frames_scored, invalid_frames=summary.invalid_frames,
                            alarmed_frames=summary.alarmed_frames, events=len(summary.events))
            self.elog.close()
        if self.out_dir is not None:
            summary.outputs["summary"] = str(self.out_dir / SUMMARY_FILE)
            write_json_atomic(self.out_dir / SUMMARY_FILE, summary.to_dict())


class _DetectionRun:
    """One source through the detector: batches of frames in, counts, events and files out."""

    def __init__(self, detector: Detector, summary: DetectionSummary, pipeline: AlarmPipeline, outputs: _Outputs,
                 max_invalid: int) -> None:
        self.detector, self.summary, self.pipeline, self.outputs = detector, summary, pipeline, outputs
        self.max_invalid = max_invalid
        self.invalid_run: list[int] = []
        self.latencies: list[float] = []
        self.t_start = time.perf_counter()
        self._ended = 0
        self.stop: threading.Event | None = None

    def consume(self, frames: Any, batch: int, bar: Any) -> None:
        """Score the frames ``batch`` at a time (a batched frame waits for its whole batch)."""
        pending: list = []
        for frame in frames:
            if self.stop is not None and self.stop.is_set():
                break
            pending.append(frame)
            if len(pending) >= batch:
                self._flush(pending, bar)
        if pending:
            self._flush(pending, bar)

    def _flush(self, pending: list, bar: Any) -> None:
        t0 = time.perf_counter()
        results = self.detector.process([f.rgb for f in pending], [f.timestamp for f in pending])
        dt = time.perf_counter() - t0
        for frame, res in zip(pending, results, strict=True):
            bar.update(1)
            self._emit(frame, res, dt)
        pending.clear()

    def _emit(self, frame: Any, res: FrameResult | None, dt: float) -> None:
        summary, outputs = self.summary, self.outputs
        summary.frames_read += 1
        alarm = self.pipeline.frame(frame.rgb, frame.index if res is None else res.index,
                                    frame.timestamp, res)
        if res is not None:
            res.alarm = alarm  # after masks and required zones
            self.latencies.append(dt)
            summary.frames_scored += 1
            summary.alarmed_frames += int(alarm)
            if res.valid:
                self.invalid_run.clear()
        outputs.frame(frame, res)
        if res is not None and not res.valid:
            self._invalid(res)
        if self.pipeline.events.ended_count != self._ended:
            self._ended = self.pipeline.events.ended_count
            outputs.events(self.pipeline.events.ended, False)

    def _invalid(self, res: FrameResult) -> None:
        """Count a NaN/inf frame; too many in a row stop the run."""
        self.summary.invalid_frames += 1
        self.invalid_run.append(res.index)
        if self.outputs.elog is not None:
            self.outputs.elog.write("invalid", index=res.index, timestamp=res.timestamp,
                                    reason="model output is NaN or inf")
        if len(self.invalid_run) >= self.max_invalid:
            model = self.detector.model_path or "the model"
            raise ModelOutputError(
                f"the model's output was NaN or inf for {len(self.invalid_run)} frames in a row (frames "
                f"{self.invalid_run[0]}-{self.invalid_run[-1]}): check the model with `ammcnet info {model}` and the "
                f"source; --max-invalid sets how many are tolerated"
            )

    def finish(self, read_failures: int, reconnects: int) -> None:
        """Close the events, fill in the timing and write the final files (also after an error)."""
        summary = self.summary
        summary.read_failures, summary.reconnects = read_failures, reconnects
        if not summary.stop_reason:
            summary.stop_reason = "stopped by an error"
        try:
            self.pipeline.finish()
        finally:
            summary.sinks = self.pipeline.sink_stats()
            summary.events = list(self.pipeline.events.ended)
            summary.messages = self.pipeline.messages
            summary.seconds = time.perf_counter() - self.t_start
            summary.fps = summary.frames_read / max(summary.seconds, 1e-9)
            if self.latencies:
                lat = np.asarray(self.latencies) * 1000.0
                summary.latency_ms_mean = float(lat.mean())
                summary.latency_ms_p95 = float(np.percentile(lat, 95))
            self.outputs.close()
