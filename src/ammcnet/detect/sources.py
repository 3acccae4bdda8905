"""Frame sources for online detection: files, frame folders, URLs, cameras, any capture object.

Every source is read by :class:`FrameReader`, which turns reads into a stream of
:class:`Frame` items and never raises for a bad frame: a failed or corrupt read is counted and
skipped, ``max_failures`` consecutive failures (or a stall longer than ``read_timeout``) stop
the stream cleanly, and the reason is kept in ``stop_reason``. Decoding runs in a background
thread so the model never waits for the decoder.

>>> import numpy as np
>>> class Fake:
...     def __init__(self): self.i = 0
...     def read(self):
...         self.i += 1
...         return (self.i != 2, np.zeros((4, 4, 3), np.uint8)) if self.i <= 4 else (False, None)
...     def release(self): pass
>>> r = FrameReader(Fake(), max_failures=3)
>>> [f.index for f in r], r.failures, r.stop_reason
([0, 1, 2], 4, 'too many consecutive read failures (3)')
"""

from __future__ import annotations

import os
import queue
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from ammcnet.data.video import IMAGE_EXTS, VIDEO_EXTS, decode_image, list_frames
from ammcnet.detect.reconnect import ReconnectingCapture, ReconnectPolicy
from ammcnet.errors import DataError
from ammcnet.utils.redact import mask_url

#: Consecutive failed reads of a live source after which it is given up.
DEFAULT_MAX_FAILURES = 30
#: Seconds without a frame from a live source before it counts as stalled.
DEFAULT_READ_TIMEOUT = 10.0
#: Frames decoded ahead of the model.
PREFETCH = 16
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


class Capture(Protocol):
    """What a capture must offer: OpenCV's ``read() -> (ok, BGR frame)`` and ``release()``."""

    def read(self) -> tuple[bool, np.ndarray | None]: ...

    def release(self) -> None: ...


@dataclass
class Frame:
    """One decoded frame of a stream.

    Attributes:
        index: position among the frames delivered (failed reads are not counted).
        rgb: (H, W, 3) uint8 RGB at the source's own resolution.
        timestamp: seconds from the start (the container's clock for files, else wall clock).
    """

    index: int
    rgb: np.ndarray
    timestamp: float


class FolderCapture:
    """A frame folder read like a capture; a corrupt or truncated image is a failed read."""

    def __init__(self, folder: Path) -> None:
        self.files = list_frames(folder)
        if not self.files:
            raise DataError(f"{folder} holds no frame images ({', '.join(sorted(IMAGE_EXTS))}); add frames")
        self.pos = 0
        self.last_error: str | None = None

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.pos >= len(self.files):
            raise StopIteration
        path = self.files[self.pos]
        self.pos += 1
        try:
            return True, cv2.cvtColor(decode_image(path), cv2.COLOR_RGB2BGR)
        except DataError as exc:
            self.last_error = str(exc)
            return False, None

    def release(self) -> None:
        pass

    def __len__(self) -> int:
        return len(self.files)


@dataclass
class SourceInfo:
    """What is known about a source before reading it.

    Attributes:
        name: a label for outputs.
        kind: ``file``, ``folder``, ``url``, ``camera`` or ``capture``.
        fps: frames per second if the source says so, else None.
        num_frames: frame count if known (files and folders), else None.
    """

    name: str
    kind: str
    fps: float | None
    num_frames: int | None

    @property
    def live(self) -> bool:
        """Live sources may drop frames and recover; files end at their first failed read."""
        return self.kind in ("url", "camera", "capture")


def open_source(
    source: str | int | os.PathLike[str] | Capture,
    *,
    reconnect: bool | ReconnectPolicy | None = None,
    on_gap: Any = None,
) -> tuple[Capture, SourceInfo]:
    """Open a video file, frame folder, URL, camera index or capture object.

    Args:
        source: a path (file or folder), an ``rtsp://``/``http://`` URL, a camera index (int or
            digit string) or an object with ``read()`` and ``release()``.
        reconnect: reopen a dropped or stalled URL or camera (:class:`ReconnectingCapture`);
            None (default) = yes for URLs and cameras; a :class:`ReconnectPolicy` sets the backoff.
            Files and folders are never reopened.
        on_gap: called with each gap (a dict: start/end times, reason, attempts) when reconnecting.

    Returns:
        (capture, info).

    Raises:
        DataError: a missing path, an unsupported file or a source OpenCV cannot open.
    """
    if hasattr(source, "read") and hasattr(source, "release"):
        n = len(source) if hasattr(source, "__len__") else None  # type: ignore[arg-type]
        if isinstance(source, ReconnectingCapture) and on_gap is not None:
            source.add_gap_listener(on_gap)
        name = mask_url(source.name) if isinstance(source, ReconnectingCapture) else type(source).__name__
        return source, SourceInfo(name, "capture", getattr(source, "fps", None), n)  # type: ignore[return-value]
    text = str(source)
    live: tuple[Any, SourceInfo] | None = None
    if isinstance(source, int) or (text.isdigit() and not Path(text).exists()):
        live = _open_camera(int(text)), SourceInfo(f"camera{text}", "camera", None, None)
    elif _URL.match(text):
        name = text.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        live = _open_url(text), SourceInfo(mask_url(name if "@" not in name else "") or "stream", "url", None, None)
    if live is not None:
        cap, info = live
        info.fps = _fps(cap)
        if reconnect is None or reconnect is True or isinstance(reconnect, ReconnectPolicy):
            policy = reconnect if isinstance(reconnect, ReconnectPolicy) else ReconnectPolicy()
            opener = (lambda: _open_camera(int(text))) if info.kind == "camera" else (lambda: _open_url(text))
            cap = ReconnectingCapture(opener, policy, first=cap, name=mask_url(text), on_gap=on_gap)
        return cap, info
    path = Path(text).expanduser()
    if path.is_dir():
        cap = FolderCapture(path)
        return cap, SourceInfo(path.name, "folder", None, len(cap))
    if path.is_file():
        if path.suffix.lower() not in VIDEO_EXTS:
            raise DataError(f"{path} is not a supported video ({', '.join(sorted(VIDEO_EXTS))}) or frame folder")
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise DataError(f"OpenCV cannot open video {path}; convert it (e.g. to MJPG .avi or H.264 .mp4)")
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        return cap, SourceInfo(path.stem, "file", _fps(cap), count if count > 0 else None)
    raise DataError(f"source {path} does not exist; give a video file, frame folder, URL or camera index")


def _open_camera(index: int) -> Any:
    cap = cv2.VideoCapture(index)
    if not cap.isOpened():
        raise DataError(f"cannot open camera {index}; check the index (0 is the first camera) and permissions")
    return cap


def _open_url(url: str, timeout_s: float = 10.0) -> Any:
    """Open a stream with FFmpeg's open and read timeouts, so a dead camera fails instead of hanging."""
    ms = int(timeout_s * 1000)
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
    try:
        cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
    except (cv2.error, TypeError):  # an OpenCV without these properties
        cap = cv2.VideoCapture(url)
    if not cap.isOpened():
        raise DataError(f"cannot open stream {mask_url(url)}; check the URL and that OpenCV was built with FFmpeg")
    return cap


def _fps(cap: Any) -> float | None:
    if not hasattr(cap, "get"):
        return None
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    return fps if 0.0 < fps < 1000.0 else None


def to_rgb(frame: np.ndarray) -> np.ndarray:
    """BGR (OpenCV order), BGRA or grey uint8 -> (H, W, 3) RGB uint8."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        raise ValueError(f"frame dtype {frame.dtype}, expected uint8")
    if frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 1):
        return cv2.cvtColor(frame.reshape(frame.shape[:2]), cv2.COLOR_GRAY2RGB)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB)
    if frame.ndim == 3 and frame.shape[2] == 3:
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    raise ValueError(f"frame shape {frame.shape} is not an image")


class FrameReader:
    """Iterate a capture's frames robustly, decoding in a background thread.

    Args:
        capture: an opened capture (see :func:`open_source`) or anything with ``read``/``release``.
        info: what :func:`open_source` said about it (default: a live ``capture``).
        max_failures: consecutive failed reads that end a live stream (files end at the first).
        read_timeout: seconds to wait for one read before the stream counts as stalled.
        max_frames: stop after this many delivered frames (None = all).

    Attributes:
        failures: failed reads in total (corrupt frames, drops, exceptions).
        stop_reason: why the stream ended (``end of stream``, ``stalled ...``, ``too many ...``).
        last_error: the last read problem, one line.
    """

    def __init__(
        self,
        capture: Capture,
        info: SourceInfo | None = None,
        *,
        max_failures: int = DEFAULT_MAX_FAILURES,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        max_frames: int | None = None,
    ) -> None:
        self.capture = capture
        self.info = info or SourceInfo(type(capture).__name__, "capture", None, None)
        self.max_failures = max(1, int(max_failures))
        self.read_timeout = float(read_timeout)
        self.max_frames = max_frames
        self.failures = 0
        self.stop_reason = ""
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._queue: queue.Queue = queue.Queue(maxsize=PREFETCH)

    def _put(self, item: tuple) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _worker(self) -> None:
        """Read until the end; emit ('frame', rgb, ts), ('fail', msg) and finally ('end', reason)."""
        delivered, consecutive, t0 = 0, 0, time.monotonic()
        reason = "end of stream"
        try:
            while not self._stop.is_set():
                if self.max_frames is not None and delivered >= self.max_frames:
                    reason = f"reached --max-frames {self.max_frames}"
                    break
                try:
                    ok, frame = self.capture.read()
                    rgb = to_rgb(frame) if ok and frame is not None else None
                    msg = None if rgb is not None else getattr(self.capture, "last_error", None) or "read returned no frame"
                except StopIteration:
                    reason = getattr(self.capture, "stop_reason", None) or reason
                    break
                except Exception as exc:  # noqa: BLE001 - a driver or decoder error is one failed read
                    rgb, msg = None, f"{type(exc).__name__}: {exc}"
                if rgb is None:
                    if not self.info.live and self.info.kind == "file":
                        break  # a file's first failed read is its end
                    consecutive += 1
                    if not self._put(("fail", msg)):
                        break
                    if consecutive >= self.max_failures:
                        reason = f"too many consecutive read failures ({consecutive})"
                        break
                    continue
                consecutive = 0
                ts = self._timestamp(delivered, t0)
                if not self._put(("frame", rgb, ts)):
                    break
                delivered += 1
        finally:
            self._put(("end", reason))

    def _timestamp(self, index: int, t0: float) -> float:
        """Files: frame index / fps (container clocks are unreliable: tree.avi's runs 6x fast);
        folders: the index; live sources: wall-clock seconds since the first read."""
        if not self.info.live:
            return index / self.info.fps if self.info.fps else float(index)
        return time.monotonic() - t0

    def __iter__(self) -> Iterator[Frame]:
        thread = threading.Thread(target=self._worker, name="ammcnet-reader", daemon=True)
        thread.start()
        index = 0
        try:
            while True:
                try:
                    item = self._queue.get(timeout=self.read_timeout)
                except queue.Empty:
                    if getattr(self.capture, "handles_stalls", False):
                        continue  # the capture bounds its reads and reopenings itself
                    self.stop_reason = f"stalled: no frame for {self.read_timeout:g} s"
                    return
                if item[0] == "end":
                    self.stop_reason = item[1]
                    return
                if item[0] == "fail":
                    self.failures += 1
                    self.last_error = item[1]
                    continue
                yield Frame(index, item[1], item[2])
                index += 1
        finally:
            self._stop.set()
            thread.join(timeout=1.0)
            if not thread.is_alive():  # a read still blocked in a driver must not race a release
                try:
                    self.capture.release()
                except Exception:  # noqa: BLE001 - releasing a broken capture must not hide the real outcome
                    pass

