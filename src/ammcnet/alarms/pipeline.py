"""From scored frames to alarms people receive: one path for ``detect``, ``watch`` and the API.

:class:`AlarmPipeline` takes each frame with the detector's verdict and does, in order:

1. zones: which zones the verdict's box touches; ``required_zones`` may veto the alarm;
2. the event lifecycle (:class:`~ammcnet.alarms.lifecycle.EventLifecycle`): ``new``, ``update``,
   ``end`` messages;
3. media: a JPEG snapshot of the event's peak with the box drawn, and an H.264 clip with pre- and
   post-capture from a ring buffer of decoded frames (:mod:`ammcnet.media`);
4. delivery: every message goes to the event log (``events.jsonl``, each line fsync-ed) and to
   each sink (webhook, MQTT), which spool on disk and never block the frame loop;
5. retention: old snapshots and clips are pruned to the size and age limits.

Every message also goes to ``on_message`` callbacks, which is how the Python API yields events
(``for event in model.watch(source)``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ammcnet.alarms.events import EventLog
from ammcnet.alarms.lifecycle import DEFAULT_UPDATE_EVERY_S, EventLifecycle, FrameVerdict, LifecycleOptions
from ammcnet.alarms.sinks_config import SinkOptions, make_sinks
from ammcnet.alarms.zones import ZoneConfig, ZoneSet
from ammcnet.errors import ConfigError
from ammcnet.media.clips import ClipRecorder
from ammcnet.media.retention import Retention
from ammcnet.media.snapshot import write_snapshot

log = logging.getLogger(__name__)

SNAPSHOT_DIR, CLIP_DIR = "snapshots", "clips"
#: Seconds of video kept before an event and after it ends, by default.
DEFAULT_PRE_S, DEFAULT_POST_S = 3.0, 5.0
#: Frames between two retention passes (a pass lists two folders).
PRUNE_EVERY = 500


@dataclass(frozen=True)
class AlarmOptions:
    """What happens when the score crosses the threshold (``detect``'s and ``watch``'s alarm flags).

    Attributes:
        camera: the name events carry (default None: the source's name).
        update_every_s: least seconds between two ``update`` messages of an event.
        zones: masks, zones and required zones (:class:`~ammcnet.alarms.zones.ZoneConfig`).
        snapshots: write a JPEG of each event's peak with its box (needs an output folder).
        clips: write an H.264 clip of each event with pre- and post-capture (needs an output folder).
        pre_s, post_s: seconds of clip before the event and after it ends.
        sinks: where events are pushed (webhook, MQTT; :class:`~ammcnet.alarms.sinks_config.SinkOptions`).
        keep_mb, keep_days: retention of snapshots and clips (None: kept).
    """

    camera: str | None = None
    update_every_s: float = DEFAULT_UPDATE_EVERY_S
    zones: ZoneConfig | None = None
    snapshots: bool = True
    clips: bool = True
    pre_s: float = DEFAULT_PRE_S
    post_s: float = DEFAULT_POST_S
    sinks: SinkOptions = field(default_factory=SinkOptions)
    keep_mb: float | None = None
    keep_days: float | None = None

    def __post_init__(self) -> None:
        if self.pre_s < 0 or self.post_s < 0:
            raise ConfigError(f"--pre-capture {self.pre_s} / --post-capture {self.post_s}: give 0 or more seconds")
        for flag, value in (("--keep-mb", self.keep_mb), ("--keep-days", self.keep_days)):
            if value is not None and value <= 0:
                raise ConfigError(f"{flag} {value}: give a positive limit, or leave it out to keep everything")


class AlarmPipeline:
    """Zones, events, media and delivery of one stream (see the module docstring).

    Args:
        options: :class:`AlarmOptions`.
        lifecycle: how frames group into events (camera name, quiet gap, least length).
        out: the output folder (snapshots, clips, the event log); None keeps nothing on disk.
        fps: the stream's frame rate (clip timing).
        log_file: the event log to append messages to (None: none).
    """

    def __init__(self, options: AlarmOptions, lifecycle: LifecycleOptions, out: Path | None, fps: float,
                 log_file: EventLog | None = None) -> None:
        self.options = options
        self.out = out
        self.fps = float(fps) if fps and fps > 0 else 25.0
        self.events = EventLifecycle(lifecycle)
        self.log = log_file
        self.on_message: list[Callable[[dict[str, Any]], None]] = []
        self.sinks = make_sinks(options.sinks, lifecycle.camera, out)
        self.zones: ZoneSet | None = None
        self.recorder = self._recorder() if out is not None and options.clips else None
        self._peak: tuple[int, np.ndarray, list[int] | None] | None = None  # frame of the open event's peak
        self._snapped: dict[str, int] = {}  # event id -> peak frame its snapshot shows
        self._frames = 0
        self.messages = 0

    def _recorder(self) -> Any:
        return ClipRecorder(self.out, self.fps, pre_s=self.options.pre_s, post_s=self.options.post_s)

    def zone_set(self, frame_hw: tuple[int, int]) -> ZoneSet | None:
        """The zones placed on frames of this size (built at the first frame)."""
        if self.options.zones is None or self.options.zones.empty:
            return None
        if self.zones is None or self.zones.frame_hw != tuple(frame_hw):
            self.zones = ZoneSet(self.options.zones, frame_hw)
        return self.zones

    def frame(self, rgb: np.ndarray, index: int, timestamp: float | None, result: Any) -> bool:
        """One frame and the detector's result for it (None during warm-up); returns whether it alarmed
        after zones. ``result`` needs ``score``, ``alarm``, ``valid`` and ``box``."""
        self._frames += 1
        messages: list[dict[str, Any]] = []
        if self.recorder is not None:
            messages += self._clips_done(self.recorder.push(index, rgb, timestamp))
        alarm = False
        if result is not None:
            zones = self.zone_set(rgb.shape[:2])
            touched = zones.touched(result.box) if zones is not None else ()
            alarm = bool(result.alarm) and (zones is None or zones.allows(touched))
            score = float(result.score) if result.valid else float("-inf")
            if alarm and (self._peak is None or self.events.current is None or score > self.events.current.top_score):
                self._peak = (index, rgb.copy(), None if result.box is None else list(result.box))
            messages += self.events.frame(FrameVerdict(index, score, alarm, result.box, touched, timestamp))
        self._deliver(messages)
        if self._frames % PRUNE_EVERY == 0:
            self.prune()
        return alarm

    def end_stream(self) -> None:
        """End the open event and finish every clip (the source ended; a looping camera goes on)."""
        self._deliver(self.events.finish())
        if self.recorder is not None:
            self._deliver(self._clips_done(self.recorder.close()))
            self.recorder = self._recorder()
        self._peak = None
        self.prune()

    def finish(self) -> None:
        """:meth:`end_stream`, then flush and close the sinks (the end of a run)."""
        try:
            self.end_stream()
        finally:
            self._close_sinks()

    def sink_stats(self) -> dict[str, dict[str, Any]]:
        """Each sink's counters (published, delivered, pending: what waits in its spool for the next
        run, failures, last error with secrets masked), by sink kind."""
        return {str(st.get("sink", type(sink).__name__)): st for sink in self.sinks for st in (sink.stats(),)}

    def _close_sinks(self) -> None:
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:  # noqa: BLE001 - a sink's failure must not lose the others
                log.warning("alarm sink %s did not close cleanly: %s", type(sink).__name__, exc)

    def prune(self) -> list[Path]:
        """Apply the retention limits to the snapshots and clips folders."""
        if self.out is None or (self.options.keep_mb is None and self.options.keep_days is None):
            return []
        keep = Retention(max_bytes=None if self.options.keep_mb is None else int(self.options.keep_mb * 1e6),
                         max_age_s=None if self.options.keep_days is None else self.options.keep_days * 86400.0)
        return keep.prune([self.out / SNAPSHOT_DIR, self.out / CLIP_DIR])

    # ---- media and delivery --------------------------------------------------------------
    def _clips_done(self, done: list[tuple[str, str]]) -> list[dict[str, Any]]:
        out = []
        for event_id, relpath in done:
            message = self.events.attach(event_id, clip=relpath)
            if message is not None:
                out.append(message)
        return out

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            self._media(message)
            after = message["after"]
            if self.log is not None:
                self.log.write(message["type"], camera=after["camera"], event=after)
            for sink in self.sinks:
                sink.publish(message)
            for callback in self.on_message:
                callback(message)
            self.messages += 1

    def _media(self, message: dict[str, Any]) -> None:
        """Start or stop the event's clip, (re)write its snapshot when its peak moved, and forget
        the event's peak once it ended (whatever the snapshot needed)."""
        after, kind = message["after"], message["type"]
        if self.recorder is not None and kind == "new":
            self.recorder.start(after["id"], after["start_frame"])
        if self.recorder is not None and kind == "end":
            self.recorder.stop(after["id"], after["end_frame"])
        try:
            self._snapshot(message)
        finally:
            if kind == "end":
                self._peak = None
                self._snapped.pop(after["id"], None)

    def _snapshot(self, message: dict[str, Any]) -> None:
        """Write the event's snapshot at its peak, unless this peak's is written already."""
        after, before = message["after"], message["before"]
        if self.out is None or not self.options.snapshots or self._peak is None:
            return
        if message["type"] == "update" and before and before.get("top_score") == after["top_score"]:
            return
        index, rgb, box = self._peak
        if self._snapped.get(after["id"]) == index or index != after["peak_frame"]:
            return
        rel = f"{SNAPSHOT_DIR}/{after['id']}.jpg"
        zones = self.zones.zone_polygons if self.zones is not None else None
        write_snapshot(self.out / rel, rgb, box=box, label=f"{after['top_score']:.2f}", zones=zones)
        self._snapped[after["id"]] = index
        if after.get("snapshot") != rel:
            after["snapshot"], after["has_snapshot"] = rel, True
            self.events.attach(after["id"], snapshot=rel)
