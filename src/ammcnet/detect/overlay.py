"""The annotated MP4: error heatmap over the frame, a scrolling score strip and an alarm banner.

The heatmap is scaled by the largest error seen so far in the stream (not per frame, which
would make every quiet frame look hot). Written through :class:`ammcnet.media.encoder.VideoEncoder`:
H.264 that browsers play (OpenCV ``mp4v``, with a notice, where PyAV is not installed), to a
temporary name renamed into place on :meth:`OverlayWriter.close`, which callers run in ``finally``.

An MP4 is playable only once it is closed (its index is written last), so a process killed
abruptly (``kill -9``, power loss) would lose the whole video. With ``segment_frames`` the video
is written in segments ``NAME-00000.mp4``, ``NAME-00001.mp4``, ... each closed and renamed into
place when full: an abrupt stop loses at most the segment being written.

>>> import numpy as np, tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "o.mp4"
>>> w = OverlayWriter(p, fps=10, threshold=1.0)
>>> for i in range(3): w.write(np.zeros((48, 64, 3), np.uint8), score=float(i), alarm=i == 2, index=i)
>>> w.close().exists(), w.frames_written
(True, 3)
"""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path

import cv2
import numpy as np

from ammcnet.media.encoder import VideoEncoder

#: Output width limits in pixels (small sources are upscaled to stay readable).
MIN_WIDTH, MAX_WIDTH = 320, 960
#: Height of the score strip in pixels, and how many frames it shows.
STRIP_HEIGHT, STRIP_FRAMES = 60, 200
#: Heatmap opacity.
HEAT_ALPHA = 0.45


class OverlayWriter:
    """Write annotated frames to an MP4; the output size is fixed by the first frame.

    Args:
        path: the .mp4 to write.
        fps: frames per second of the output.
        threshold: alarm threshold drawn on the strip (None = not drawn).
    """

    def __init__(self, path: str | os.PathLike[str], fps: float = 25.0, threshold: float | None = None,
                 segment_frames: int | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.segment_frames = int(segment_frames) if segment_frames else None
        self.segments: list[Path] = []  # finished segments, in order
        self._target = self._segment_path(0) if self.segment_frames else self.path
        self.fps = float(fps) if fps and fps > 0 else 25.0
        self.threshold = threshold
        self._writer: VideoEncoder | None = None
        self.fallback_reason: str | None = None  # why the video is mp4v rather than H.264, once opened
        self._frame_size: tuple[int, int] | None = None  # (H, W) of the picture area
        self._scores: deque[tuple[float, bool]] = deque(maxlen=STRIP_FRAMES)
        self._heat_max = 1e-12
        self.frames_written = 0

    def _segment_path(self, k: int) -> Path:
        return self.path.with_name(f"{self.path.stem}-{k:05d}{self.path.suffix or '.mp4'}")

    def _next_segment(self) -> None:
        """Close the full segment (it becomes playable under its final name) and start the next one."""
        self.segments.append(self._writer.close())  # type: ignore[union-attr]
        self._target = self._segment_path(len(self.segments))
        self._writer = VideoEncoder(self._target, fps=self.fps)

    def _open(self, shape: tuple[int, int]) -> None:
        h, w = shape
        width = int(min(max(w, MIN_WIDTH), MAX_WIDTH)) // 2 * 2
        height = int(round(h * width / w)) // 2 * 2
        self._frame_size = (height, width)
        self._writer = VideoEncoder(self._target, fps=self.fps)
        self.fallback_reason = self._writer.fallback_reason

    def write(
        self,
        rgb: np.ndarray,
        *,
        score: float | None,
        alarm: bool,
        index: int,
        error_map: np.ndarray | None = None,
    ) -> None:
        """Add one frame (warm-up frames: ``score=None``)."""
        if self._writer is None:
            self._open(rgb.shape[:2])
        elif self.segment_frames and self.frames_written and self.frames_written % self.segment_frames == 0:
            self._next_segment()
        h, w = self._frame_size  # type: ignore[misc]
        img = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_LINEAR)
        if error_map is not None:
            m = np.asarray(error_map, np.float32)
            self._heat_max = max(self._heat_max, float(m.max()))
            m8 = np.clip(m / self._heat_max * 255.0, 0, 255).astype(np.uint8)
            heat = cv2.cvtColor(cv2.applyColorMap(cv2.resize(m8, (w, h)), cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
            img = cv2.addWeighted(img, 1.0 - HEAT_ALPHA, heat, HEAT_ALPHA, 0.0)
        if score is not None:
            self._scores.append((float(score), bool(alarm)))
        canvas = np.zeros((h + STRIP_HEIGHT, w, 3), np.uint8)
        canvas[:h] = img
        self._draw_strip(canvas[h:], w)
        if alarm:
            cv2.rectangle(canvas, (0, 0), (w - 1, 22), (220, 30, 30), -1)
            cv2.putText(canvas, f"ALARM  score {score:.2f}", (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
        label = f"frame {index}" + ("" if score is None else f"  score {score:.2f}")
        cv2.putText(canvas, label, (6, h - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
        self._writer.write(canvas)  # type: ignore[union-attr]
        self.frames_written += 1

    def _draw_strip(self, strip: np.ndarray, w: int) -> None:
        strip[:] = 24
        if not self._scores:
            return
        values = np.array([s for s, _ in self._scores])
        lo, hi = float(values.min()), float(values.max())
        if self.threshold is not None:
            lo, hi = min(lo, self.threshold), max(hi, self.threshold)
        span = max(hi - lo, 1e-9)

        def y(v: float) -> int:
            return int(round((STRIP_HEIGHT - 6) - (v - lo) / span * (STRIP_HEIGHT - 12)))

        step = w / STRIP_FRAMES
        x0 = w - len(values) * step
        pts = np.array([[int(x0 + i * step), y(v)] for i, v in enumerate(values)], np.int32)
        for i, (_, a) in enumerate(self._scores):
            if a:
                x = int(x0 + i * step)
                cv2.rectangle(strip, (x, 0), (int(x + step) + 1, STRIP_HEIGHT - 1), (90, 20, 20), -1)
        if self.threshold is not None:
            cv2.line(strip, (0, y(self.threshold)), (w - 1, y(self.threshold)), (200, 200, 200), 1)
        cv2.polylines(strip, [pts.reshape(-1, 1, 2)], False, (80, 200, 255), 1)

    def close(self) -> Path:
        """Finish the video and move the file into place (call in ``finally``)."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            target = writer.close()
            if writer.frames_written and self.segment_frames:
                self.segments.append(target)
        return self.segments[0] if self.segments else self.path
