"""One video writer for every MP4 the package writes: H.264 that browsers play, written atomically.

Why H.264 through PyAV: browsers (the review page, a phone opening a clip) play H.264 in MP4
(``yuv420p``, even width and height) but not OpenCV's default ``mp4v`` (MPEG-4 part 2). PyAV
encodes in-process: no ``ffmpeg`` program to find on the PATH, no subprocess started per clip,
no frames piped through a shell, and errors arrive as Python exceptions. Its wheels (``pip install
'ammcnet[media]'``) bundle FFmpeg built with ``libx264``; :func:`h264_unavailable_reason` checks
``av.codecs_available`` rather than assuming it. Licence: PyAV itself is BSD-3-Clause, but its
wheels bundle FFmpeg together with x264 and x265, which are GPL-2.0-or-later; whoever redistributes
a bundle that includes those wheels takes on the GPL's terms. The core install does not need them.

Where PyAV or its H.264 encoder is missing the writer falls back to OpenCV ``mp4v`` and says so
once per process (``logging.warning``) and on every writer (:attr:`VideoEncoder.fallback_reason`):
such files play in VLC and desktop players, usually not in a browser.

The file is written under a hidden temporary name in the same folder (``.NAME.XXXX.tmp.mp4``) and
renamed into place by :meth:`VideoEncoder.close`: a reader never sees a half-written video under
the final name. The MP4 index (``moov``) is moved to the front (``+faststart``) so that a browser
can start playing while the file is still being served.

>>> import numpy as np, tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "v.mp4"
>>> enc = VideoEncoder(p, fps=10)
>>> for i in range(4): enc.write(np.full((47, 63, 3), 40 * i, np.uint8))   # odd sizes are padded
>>> enc.close() == p, enc.frames_written
(True, 4)
>>> info = probe(p); info["frames"], info["width"], info["height"], info["codec"] in ("h264", "mpeg4")
(4, 64, 48, True)
"""

from __future__ import annotations

import logging
import os
import tempfile
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import numpy as np

from ammcnet.errors import ConfigError, DataError, OutputError
from ammcnet.utils.io import FILE_MODE, WRITE_ERRNOS, output_error
from ammcnet.utils.optional import require

log = logging.getLogger(__name__)

#: Codecs :class:`VideoEncoder` accepts: "h264" (browser-playable) or "mp4v" (OpenCV, explicitly).
CODECS = ("h264", "mp4v")
#: x264 constant rate factor (lower = better and bigger; 23 is x264's default) and speed preset.
H264_CRF, H264_PRESET = 23, "veryfast"
#: Frames per second used when the caller passes none (or a non-positive value).
DEFAULT_FPS = 25.0
#: The extra that installs PyAV, named in the fallback notice.
INSTALL_HINT = "pip install 'ammcnet[media]'"

_WARNED: set[str] = set()  # fallback reasons already logged in this process


def _import_av() -> ModuleType | None:
    try:
        import av
    except ImportError:
        return None
    return av


def h264_unavailable_reason() -> str | None:
    """None when PyAV with ``libx264`` is importable, else one line saying why not and how to fix it."""
    av = _import_av()
    if av is None:
        return f"PyAV is not installed, so videos are written as mp4v, which browsers may not play: {INSTALL_HINT}"
    if "libx264" not in getattr(av, "codecs_available", ()):
        return ("this PyAV build has no libx264 encoder, so videos are written as mp4v, which browsers may not "
                f"play: reinstall PyAV from its wheels ({INSTALL_HINT})")
    return None


def _notice(reason: str) -> None:
    if reason not in _WARNED:
        _WARNED.add(reason)
        log.warning(reason)


def _fps_fraction(fps: float) -> Fraction:
    """29.97 -> 30000/1001: an exact rational frame rate for the stream's time base."""
    return Fraction(fps).limit_denominator(1001)


class VideoEncoder:
    """Write RGB frames to an H.264 MP4 (``mp4v`` where PyAV is missing); the first frame fixes the size.

    Args:
        path: the final ``.mp4`` path; its folder is created.
        fps: frames per second of the output (one frame lasts ``1 / fps``).
        codec: "h264" (default; falls back to "mp4v" with a notice) or "mp4v".

    Odd widths or heights are padded by one replicated row or column (H.264 in ``yuv420p`` needs
    even sizes); a later frame of another size is resized to the first frame's size. Use it as a
    context manager, or call :meth:`close` in ``finally``: :meth:`close` renames the finished file
    into place, :meth:`abort` (or an exception inside ``with``) removes the temporary file.
    """

    def __init__(self, path: str | os.PathLike[str], fps: float = DEFAULT_FPS, codec: str = "h264") -> None:
        if codec not in CODECS:
            raise ConfigError(f"unknown video codec {codec!r}: choose one of {', '.join(CODECS)}")
        self.path = Path(path)
        self.fps = float(fps) if fps and fps > 0 else DEFAULT_FPS
        self.fallback_reason: str | None = None
        if codec == "h264":
            self.fallback_reason = h264_unavailable_reason()
            if self.fallback_reason:
                _notice(self.fallback_reason)
        self.codec = "mp4v" if codec == "mp4v" or self.fallback_reason else "h264"
        self.frames_written = 0
        self._size: tuple[int, int] | None = None  # (H, W) of the input frames, fixed by the first
        self._container: Any = None
        self._stream: Any = None
        self._cv_writer: cv2.VideoWriter | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=".tmp.mp4", dir=self.path.parent)
        except OSError as exc:
            if exc.errno in WRITE_ERRNOS:
                raise output_error(self.path, exc) from None
            raise
        os.close(fd)
        self.tmp_path = Path(tmp)

    # -- opening -------------------------------------------------------------------------------
    def _open(self, height: int, width: int) -> None:
        out_h, out_w = height + height % 2, width + width % 2
        if self.codec == "h264":
            import av

            rate = _fps_fraction(self.fps)
            self._container = av.open(str(self.tmp_path), mode="w", format="mp4",
                                      options={"movflags": "+faststart"})
            stream = self._container.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = out_w, out_h, "yuv420p"
            stream.codec_context.time_base = 1 / rate
            stream.options = {"crf": str(H264_CRF), "preset": H264_PRESET}
            self._stream = stream
        else:
            self._cv_writer = cv2.VideoWriter(str(self.tmp_path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps,
                                              (out_w, out_h))
            if not self._cv_writer.isOpened():
                self.abort()
                raise OutputError(f"OpenCV cannot write {self.path} with the mp4v codec: {INSTALL_HINT} "
                                  "for H.264, or choose another output folder")

    # -- writing -------------------------------------------------------------------------------
    def _prepare(self, rgb: np.ndarray) -> np.ndarray:
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise DataError(f"{self.path}: a video frame must be RGB uint8 HxWx3, got {rgb.dtype} {rgb.shape}")
        if self._size is None:
            self._size = (int(rgb.shape[0]), int(rgb.shape[1]))
            self._open(*self._size)
        h, w = self._size
        if rgb.shape[:2] != (h, w):
            rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
        if h % 2 or w % 2:
            rgb = cv2.copyMakeBorder(rgb, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
        return np.ascontiguousarray(rgb)

    def write(self, rgb: np.ndarray) -> None:
        """Append one RGB uint8 frame (HxWx3)."""
        if self.tmp_path is None:
            raise OutputError(f"{self.path} is already closed: open a new VideoEncoder")
        frame = self._prepare(rgb)
        try:
            if self._stream is not None:
                import av

                vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
                vf.pts = self.frames_written
                for packet in self._stream.encode(vf):
                    self._container.mux(packet)
            else:
                self._cv_writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))  # type: ignore[union-attr]
        except OSError as exc:
            self.abort()
            if exc.errno in WRITE_ERRNOS:
                raise output_error(self.path, exc) from None
            raise
        self.frames_written += 1

    # -- closing -------------------------------------------------------------------------------
    def _finish(self) -> None:
        """Flush the encoder and close the file (the temporary one)."""
        if self._stream is not None:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        if self._container is not None:
            self._container.close()
        if self._cv_writer is not None:
            self._cv_writer.release()
        self._container = self._stream = self._cv_writer = None

    def close(self) -> Path:
        """Finish the file and rename it into place; returns the final path.

        With no frame written nothing is created (the returned path does not exist).
        """
        if self.tmp_path is None:
            return self.path
        try:
            self._finish()
            if self.frames_written:
                os.chmod(self.tmp_path, FILE_MODE)
                os.replace(self.tmp_path, self.path)
        except OSError as exc:
            if exc.errno in WRITE_ERRNOS:
                raise output_error(self.path, exc) from None
            raise
        finally:
            self._discard_tmp()
        return self.path

    def abort(self) -> None:
        """Stop without keeping anything: the temporary file is removed, the final name is untouched."""
        try:
            self._finish()
        except Exception:  # noqa: BLE001 - the file is being thrown away; its flush errors do not matter
            self._container = self._stream = self._cv_writer = None
        finally:
            self._discard_tmp()

    def _discard_tmp(self) -> None:
        tmp, self.tmp_path = self.tmp_path, None  # type: ignore[assignment]
        if tmp is not None:
            try:
                tmp.unlink(missing_ok=True)
            except OSError as exc:  # a read-only folder: the hidden temporary stays, the final name is untouched
                log.warning("could not remove the temporary video %s: %s", tmp, exc.strerror or exc)

    def __enter__(self) -> VideoEncoder:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def moov_first(path: str | os.PathLike[str]) -> bool:
    """True when the MP4's index atom (``moov``) precedes its media data (``mdat``): playable while served."""
    with open(path, "rb") as f:
        while True:
            head = f.read(8)
            if len(head) < 8:
                return False
            size, kind = int.from_bytes(head[:4], "big"), head[4:8]
            if kind in (b"moov", b"mdat"):
                return kind == b"moov"
            if size == 1:
                size = int.from_bytes(f.read(8), "big") - 8
            elif size == 0:
                return False
            f.seek(size - 8, os.SEEK_CUR)


def probe(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Codec, size, decoded frame count and duration of a video's first video stream (PyAV).

    Returns ``{"codec", "pix_fmt", "width", "height", "frames", "duration_s", "faststart"}``;
    ``frames`` counts decoded frames, so it is exact even where the header says nothing.
    """

    av = require("av", extra="media", purpose="probing a video")
    try:
        container = av.open(str(path))
    except (OSError, av.FFmpegError) as exc:
        raise DataError(f"cannot read video {path}: {exc}") from None
    with container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        info = {"codec": ctx.name, "pix_fmt": ctx.pix_fmt, "width": ctx.width, "height": ctx.height}
        frames = sum(1 for _ in container.decode(stream))
        duration = float(stream.duration * stream.time_base) if stream.duration else None
        if duration is None and container.duration:
            duration = container.duration / 1_000_000
    return {**info, "frames": frames, "duration_s": duration, "faststart": moov_first(path)}
