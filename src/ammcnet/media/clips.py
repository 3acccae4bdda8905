"""Event clips: pre-capture seconds from a ring buffer, the event itself, then post-capture seconds.

The recorder is fed every frame (:meth:`ClipRecorder.push`). :meth:`ClipRecorder.start` opens a
clip for one event with the frames the ring still holds from the last ``pre_s`` seconds; from then
on every pushed frame is appended to every active clip; :meth:`ClipRecorder.stop` marks the event's
last frame, after which ``post_s`` more seconds are written and the clip is closed and renamed to
``FOLDER/clips/<event id>.mp4``. Overlapping events each get their own clip (the frames are shared,
not copied). :meth:`ClipRecorder.close` finishes every clip still open (end of stream).

Why a worker thread: H.264 encoding costs milliseconds per frame, and the frame loop that scores
a live camera must not wait for it. Frames go through one bounded queue to one encoding thread.
When the queue is full (the encoder is slower than the camera):

* ``ClipOptions.block_s=None`` (default): :meth:`push` waits for room. No frame of a clip is ever
  lost; the frame loop slows down to the encoder's pace. Right for files, which can wait.
* ``ClipOptions.block_s=0.5`` (say): :meth:`push` waits at most that long, then drops the frame
  from the clips and counts it (:attr:`ClipRecorder.dropped`, one warning per clip). Right for a
  live stream, where waiting longer would lose frames at the camera instead.

Opening and closing a clip always wait for room, never drop. Completions are reported on the
caller's thread (inside :meth:`push`, :meth:`poll` or :meth:`close`), never on the encoding thread,
so an ``on_done`` callback can update the caller's event state without a lock.

>>> import numpy as np, tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp())
>>> done = []
>>> rec = ClipRecorder(out, fps=10, pre_s=0.5, post_s=0.5, on_done=lambda eid, rel: done.append(rel))
>>> for i in range(30):
...     _ = rec.push(i, np.full((48, 64, 3), 8 * i, np.uint8), timestamp=i / 10)
...     if i == 10: _ = rec.start("e1", i)
...     if i == 14: _ = rec.stop("e1", i)
>>> _ = rec.close()   # end of stream: waits for the encoder
>>> done, (out / "clips" / "e1.mp4").exists(), rec.completed
(['clips/e1.mp4'], True, {'e1': 'clips/e1.mp4'})
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ammcnet.errors import ConfigError
from ammcnet.media.encoder import VideoEncoder, h264_unavailable_reason
from ammcnet.media.ring import DEFAULT_MAX_WIDTH, FrameRing, RingFrame

log = logging.getLogger(__name__)
#: Finished (or failed) clips a recorder remembers, for :meth:`ClipRecorder.wait`.
KEEP_FINISHED = 1000

#: Sub-folder of the output folder that holds the clips.
CLIPS_DIR = "clips"
#: An event id is used as a file name: letters, digits, ".", "_", "-", not starting with "." (hidden/temporary).
SAFE_ID = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")

#: ``on_done(event_id, relpath)``: called once per finished clip with "clips/<id>.mp4".
OnDone = Callable[[str, str], Any]


@dataclass(frozen=True)
class ClipOptions:
    """How clips are encoded and how the frame loop waits for the encoder.

    Attributes:
        max_width: frames are stored and encoded no wider than this (pixels; None = full size).
            Bounds memory (see :mod:`ammcnet.media.ring`) and clip size.
        codec: "h264" (browser-playable; ``mp4v`` fallback with a notice) or "mp4v".
        queue_frames: frames waiting for the encoder at most (640x360: 0.7 MB each, 64 = 44 MB).
        block_s: when the queue is full, None = wait for room (never drop a clip's frame);
            a number = wait at most this many seconds, then drop the frame and count it.
        max_clip_s: a clip is closed after this many seconds of video even if its event goes on
            (None = no limit), so a scene that alarms for hours cannot fill the disk with one file.
    """

    max_width: int | None = DEFAULT_MAX_WIDTH
    codec: str = "h264"
    queue_frames: int = 64
    block_s: float | None = None
    max_clip_s: float | None = 600.0


@dataclass
class _Clip:
    """The frame loop's view of one open clip."""

    event_id: str
    relpath: str
    last_index: int | None  # the newest frame sent to it (None: none yet)
    end_index: int | None = None  # the event's last frame, once stop() was called
    frames: int = 0
    dropped: int = 0


def clip_relpath(event_id: str) -> str:
    """The clip's path relative to the output folder: ``clips/<event_id>.mp4``."""
    if not SAFE_ID.match(event_id):
        raise ConfigError(f"event id {event_id!r} cannot name a clip file: use letters, digits, '.', '_' or '-'")
    return f"{CLIPS_DIR}/{event_id}.mp4"


class ClipRecorder:
    """Record one MP4 per event with pre- and post-capture, encoding on a worker thread.

    Args:
        folder: the detector's output folder; clips go to ``folder/clips/<event id>.mp4``.
        fps: the rate at which frames are pushed (the source's fps divided by any frame stride);
            every written frame lasts ``1 / fps`` in the clip.
        pre_s: seconds of video before the event's first frame (what the ring still holds).
        post_s: seconds of video after the event's last frame.
        on_done: ``on_done(event_id, relpath)`` once a clip is complete and in place.
        options: :class:`ClipOptions`.
    """

    def __init__(self, folder: str | os.PathLike[str], fps: float, pre_s: float = 3.0, post_s: float = 5.0,
                 *, on_done: OnDone | None = None, options: ClipOptions | None = None) -> None:
        self.options = options or ClipOptions()
        if not fps or fps <= 0 or pre_s < 0 or post_s < 0 or self.options.queue_frames < 1:
            raise ConfigError(f"clips need fps > 0, pre_s >= 0, post_s >= 0 and queue_frames >= 1, got fps={fps}, "
                              f"pre_s={pre_s}, post_s={post_s}, queue_frames={self.options.queue_frames}")
        self.folder, self.fps = Path(folder), float(fps)
        self.pre_frames, self.post_frames = int(round(pre_s * fps)), int(round(post_s * fps))
        max_s = self.options.max_clip_s
        self.max_frames = None if max_s is None else max(1, int(round(max_s * fps)))
        self.on_done = on_done
        self.ring = FrameRing(pre_s, fps, max_width=self.options.max_width)
        self.fallback_reason = h264_unavailable_reason() if self.options.codec == "h264" else None
        self.dropped = 0  # frames left out of clips because the queue stayed full (block_s set)
        self.completed: dict[str, str] = {}  # event id -> relpath of every finished clip
        self.errors: dict[str, str] = {}  # event id -> why its clip could not be written
        self._active: dict[str, _Clip] = {}
        self._closing: set[str] = set()  # sent to the encoder to close, not yet reported
        self._queue: queue.Queue[tuple[Any, ...] | None] = queue.Queue(maxsize=self.options.queue_frames)
        self._done: queue.SimpleQueue[tuple[str, str, str | None]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- the frame loop's side -----------------------------------------------------------------
    @property
    def active(self) -> list[str]:
        """Event ids whose clips are still being recorded."""
        return list(self._active)

    def push(self, index: int, rgb: np.ndarray, timestamp: float | None = None) -> list[tuple[str, str]]:
        """Feed one frame; returns the clips completed since the last call as ``(event_id, relpath)``."""
        item = self.ring.push(index, rgb, timestamp)
        targets = [c for c in self._active.values() if c.last_index is None or item.index > c.last_index]
        if targets:
            sent = self._send(("frame", tuple(c.event_id for c in targets), item.rgb), droppable=True)
            for clip in targets:
                clip.last_index = item.index
                if sent:
                    clip.frames += 1
                else:
                    self._count_drop(clip)
                self._finish_if_due(clip)
        return self.poll()

    def start(self, event_id: str, frame_index: int) -> str:
        """Begin the clip of ``event_id`` whose first event frame is ``frame_index``; returns its relpath.

        The clip starts with the ring's frames from ``frame_index - pre_s * fps`` on. Starting an
        event that is already recording does nothing.
        """
        rel = clip_relpath(event_id)
        if self._closed:
            raise ConfigError(f"the clip recorder for {self.folder} is closed: clip {event_id} cannot start")
        if event_id in self._active:
            return rel
        pre: list[RingFrame] = self.ring.frames(since_index=int(frame_index) - self.pre_frames)
        clip = _Clip(event_id, rel, pre[-1].index if pre else None, frames=len(pre))
        self._active[event_id] = clip
        self._ensure_thread()
        self._send(("open", event_id, self.folder / rel, [f.rgb for f in pre]), droppable=False)
        self._finish_if_due(clip)
        return rel

    def stop(self, event_id: str, frame_index: int) -> bool:
        """Mark ``frame_index`` as the event's last frame; the clip ends ``post_s`` seconds later.

        Returns False when no clip of that event is recording (never started, or already closed
        by ``max_clip_s``).
        """
        clip = self._active.get(event_id)
        if clip is None:
            return False
        clip.end_index = int(frame_index)
        self._finish_if_due(clip)
        return True

    def poll(self) -> list[tuple[str, str]]:
        """Report finished clips (calls ``on_done`` for each) and return them as ``(event_id, relpath)``."""
        finished: list[tuple[str, str]] = []
        while True:
            try:
                self._report(self._done.get_nowait(), finished)
            except queue.Empty:
                return finished

    def wait(self, event_id: str, timeout_s: float | None = 10.0) -> str | None:
        """Wait until the clip of ``event_id`` is in place; its relpath, or None if it failed or is not closing.

        For an ``end`` message that should carry its clip: once :meth:`stop` has been called and the
        post-capture frames were pushed, the encoder only has to flush (milliseconds). A clip still
        recording (it needs more frames), unknown, failed or not done within ``timeout_s`` gives
        None at once or at the timeout. Other clips finishing meanwhile are reported as by :meth:`poll`.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        self.poll()
        while event_id not in self.completed and event_id not in self.errors:
            if event_id not in self._closing:  # recording (needs more frames), or never started
                return None
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            try:
                self._report(self._done.get(timeout=remaining), [])
            except queue.Empty:
                return None
        return self.completed.get(event_id)

    def _report(self, item: tuple[str, str, str | None], finished: list[tuple[str, str]]) -> None:
        event_id, rel, error = item
        self._closing.discard(event_id)
        if error is not None:
            self.errors[event_id] = error
            while len(self.errors) > KEEP_FINISHED:
                self.errors.pop(next(iter(self.errors)))
            log.warning("clip %s was not written: %s", rel, error)
            return
        self.completed[event_id] = rel
        while len(self.completed) > KEEP_FINISHED:  # a live camera's recorder runs for months
            self.completed.pop(next(iter(self.completed)))
        finished.append((event_id, rel))
        if self.on_done is not None:
            self.on_done(event_id, rel)

    def close(self) -> list[tuple[str, str]]:
        """Finish every open clip (end of stream), wait for the encoder and report what finished."""
        if not self._closed:
            self._closed = True
            for clip in list(self._active.values()):
                self._finish(clip)
            if self._thread is not None:
                self._queue.put(None)
                self._thread.join()
        return self.poll()

    def __enter__(self) -> ClipRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _finish_if_due(self, clip: _Clip) -> None:
        if clip.event_id not in self._active or clip.last_index is None:
            return
        ended = clip.end_index is not None and clip.last_index >= clip.end_index + self.post_frames
        if ended or (self.max_frames is not None and clip.frames >= self.max_frames):
            self._finish(clip)

    def _finish(self, clip: _Clip) -> None:
        del self._active[clip.event_id]
        self._closing.add(clip.event_id)
        self._send(("close", clip.event_id, clip.relpath), droppable=False)

    def _count_drop(self, clip: _Clip) -> None:
        self.dropped += 1
        clip.dropped += 1
        if clip.dropped == 1:
            log.warning("clip %s: the encoder cannot keep up, frames are left out (ClipOptions.block_s=%s)",
                        clip.relpath, self.options.block_s)

    def _send(self, item: tuple[Any, ...], *, droppable: bool) -> bool:
        if not droppable or self.options.block_s is None:
            self._queue.put(item)
            return True
        try:
            self._queue.put(item, timeout=max(0.0, self.options.block_s))
        except queue.Full:
            return False
        return True

    # -- the encoding thread -------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ammcnet-clips", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        encoders: dict[str, VideoEncoder | None] = {}  # None: the clip failed; its frames are ignored
        failures: dict[str, str] = {}
        while (item := self._queue.get()) is not None:
            kind, event_id = item[0], item[1]
            ids = event_id if kind == "frame" else (event_id,)
            for eid in ids:
                try:
                    self._handle(kind, eid, item, encoders, failures)
                except Exception as exc:  # noqa: BLE001 - one clip's failure must not stop the others
                    enc = encoders.get(eid)
                    if enc is not None:
                        with contextlib.suppress(Exception):
                            enc.abort()
                    encoders[eid] = None
                    failures[eid] = f"{type(exc).__name__}: {exc}"
        for enc in encoders.values():  # only reached if close() raced ahead; keep nothing half-done
            if enc is not None:
                enc.abort()

    def _handle(self, kind: str, eid: str, item: tuple[Any, ...], encoders: dict[str, VideoEncoder | None],
                failures: dict[str, str]) -> None:
        if kind == "open":
            enc = VideoEncoder(item[2], fps=self.fps, codec=self.options.codec)
            encoders[eid] = enc
            for rgb in item[3]:
                enc.write(rgb)
        elif kind == "frame":
            enc = encoders.get(eid)
            if enc is not None:
                enc.write(item[2])
        elif kind == "close":
            enc = encoders.pop(eid, None)
            error = failures.pop(eid, None)
            if enc is not None:
                try:
                    enc.close()
                except Exception as exc:  # noqa: BLE001 - reported to the caller like any other failure
                    error = f"{type(exc).__name__}: {exc}"
                else:
                    error = None if enc.frames_written else "no frame was recorded"
            elif error is None:
                error = "the clip was never opened"
            self._done.put((eid, item[2], error))
