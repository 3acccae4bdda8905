"""Video sources: a folder of frame images or a video file, decoded lazily to RGB uint8.

A frame folder is listed (natural sort: ``2.jpg`` before ``10.jpg``) without decoding; a frame
is decoded only when asked for. A video file is read through OpenCV; its frame count comes from
grabbing frames (container headers lie: ``tree.avi`` claims 443 frames, 68 decode).

>>> import tempfile, pathlib, numpy as np, cv2
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> for i in range(3): _ = cv2.imwrite(str(d / f"{i}.png"), np.full((4, 6), 9 * i, np.uint8))
>>> src = open_video(d); len(src), src[2].shape, int(src[2][0, 0, 1])
(3, (4, 6, 3), 18)
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

from ammcnet.errors import DataError
from ammcnet.flow.resize import resize_frame
from ammcnet.utils.paths import natural_key

#: Image suffixes read as frames.
IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"})
#: Video-file suffixes read through OpenCV.
VIDEO_EXTS = frozenset({".mp4", ".avi", ".mkv", ".mov"})
#: A JPEG must end with the EOI marker within this many trailing bytes, or it is truncated.
JPEG_TAIL = 64


def list_frames(folder: Path) -> list[Path]:
    """Image files of ``folder`` in natural order (hidden files ignored)."""
    return sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS and not p.name.startswith(".") and p.is_file()),
        key=natural_key,
    )


def _jpeg_truncated(path: Path) -> bool:
    size = path.stat().st_size
    with path.open("rb") as fh:
        fh.seek(max(0, size - JPEG_TAIL))
        return b"\xff\xd9" not in fh.read()


def decode_image(path: Path) -> np.ndarray:
    """Decode one image file to (H, W, 3) RGB uint8; grey images get 3 identical channels.

    Raises:
        DataError: unreadable, corrupt or truncated file (a truncated JPEG decodes "fine" in
            OpenCV with grey rows at the bottom, so its end marker is checked).
    """
    if path.suffix.lower() in (".jpg", ".jpeg") and _jpeg_truncated(path):
        raise DataError(f"{path} is a truncated JPEG (no end marker); re-extract or delete the frame")
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DataError(f"cannot decode image {path}; the file is corrupt or not an image, replace or delete it")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)



#: Frames decoded ahead of the consumer by :meth:`VideoSource.read_all`.
READ_AHEAD = 8


class VideoSource:
    """A sequence of RGB uint8 frames. ``len()``, ``src[i]`` and iteration; all lazy.

    Attributes:
        name: the video's name (folder name, or file name without suffix).
        path: the folder or file it reads.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.stem if path.is_file() else path.name

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int) -> np.ndarray:
        raise NotImplementedError

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    def read_all(self, size: tuple[int, int] | None = None,
                 sink: Callable[[np.ndarray], None] | None = None) -> np.ndarray:
        """Decode every frame, resized to ``size`` = (H, W) with bilinear interpolation if given;
        each source frame is also handed to ``sink`` as it is read (one decode can serve a second
        grid: the prepared cache computes the region head's analysis flows with it).

        Returns:
            (N, H, W, 3) uint8. Raises DataError on a bad frame or frames of different sizes.
        """
        out: list[np.ndarray] = []
        first: tuple[int, int] | None = None
        for i, frame in enumerate(prefetch(self, depth=READ_AHEAD)):  # decode ahead while resizing and stacking
            if first is None:
                first = frame.shape[:2]
            elif frame.shape[:2] != first:
                raise DataError(
                    f"{self.frame_name(i)} is {frame.shape[1]}x{frame.shape[0]} but earlier frames of {self.path} are "
                    f"{first[1]}x{first[0]}; all frames of one video must have one size"
                )
            out.append(resize_frame(frame, size) if size is not None else frame)
            if sink is not None:
                sink(frame)
        if not out:
            raise DataError(f"{self.path} has no frames; remove it or add its frames")
        return np.stack(out)

    def frame_name(self, index: int) -> str:
        """A human name for frame ``index`` (its file, or ``video#index``)."""
        return f"{self.path}#{index}"


class FrameFolderSource(VideoSource):
    """Frames stored as image files in one folder."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.files = list_frames(path)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> np.ndarray:
        if not -len(self.files) <= index < len(self.files):
            raise IndexError(index)
        return decode_image(self.files[index])

    def frame_name(self, index: int) -> str:
        return str(self.files[index])


class VideoFileSource(VideoSource):
    """A video file decoded with OpenCV; sequential reads are cheap, going back reopens it."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._cap: cv2.VideoCapture | None = None
        self._pos = 0
        self._len: int | None = None
        cap = self._open()
        cap.release()

    def _open(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise DataError(f"OpenCV cannot open video {self.path}; convert it (e.g. to MJPG .avi or H.264 .mp4) or extract frames")
        return cap

    def __len__(self) -> int:
        if self._len is None:
            cap = self._open()
            n = 0
            while cap.grab():
                n += 1
            cap.release()
            self._len = n
        return self._len

    def __getitem__(self, index: int) -> np.ndarray:
        if index < 0:
            index += len(self)
        if self._cap is None or index < self._pos:
            if self._cap is not None:
                self._cap.release()
            self._cap, self._pos = self._open(), 0
        while self._pos < index:
            if not self._cap.grab():
                raise IndexError(index)
            self._pos += 1
        ok, frame = self._cap.read()
        if not ok or frame is None:
            raise IndexError(index)
        self._pos += 1
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)

    def __iter__(self) -> Iterator[np.ndarray]:
        cap = self._open()
        n = 0
        try:
            while True:
                ok, frame = cap.read()
                if not ok or frame is None:
                    break
                n += 1
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        finally:
            cap.release()
        self._len = n

    def __del__(self) -> None:
        if getattr(self, "_cap", None) is not None:
            self._cap.release()


_DONE = object()


def prefetch(items: Iterable, depth: int = 32) -> Iterator:
    """Produce ``items`` in a daemon thread, ``depth`` ahead of the consumer (OpenCV releases the GIL).

    Decoding, resizing and flow then overlap the model in the caller's thread. An exception in
    the producer is raised again in the consumer; ``depth`` bounds the memory on long streams.
    ``prepare``, ``detect`` and ``bench`` read their frames through it.
    """
    q: queue.Queue = queue.Queue(depth)
    error: list[BaseException] = []
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():  # the consumer may stop early: never block forever on a full queue
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:  # re-raised in the consumer
            error.append(exc)
        finally:
            put(_DONE)

    threading.Thread(target=work, daemon=True, name="ammcnet-prefetch").start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                if error:
                    raise error[0]
                return
            yield item
    finally:
        stop.set()


def open_video(path: str | os.PathLike[str]) -> VideoSource:
    """Open a frame folder or a video file.

    Args:
        path: a folder of jpg/png/tif/bmp frames, or an mp4/avi/mkv/mov file.

    Returns:
        A lazy :class:`VideoSource`.

    Raises:
        DataError: missing path, an empty folder, an unsupported suffix or a file OpenCV cannot open.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        src = FrameFolderSource(p)
        if not src.files:
            raise DataError(f"{p} holds no frame images ({', '.join(sorted(IMAGE_EXTS))}); add frames or remove the folder")
        return src
    if p.is_file():
        if p.suffix.lower() not in VIDEO_EXTS:
            raise DataError(f"{p} is not a supported video ({', '.join(sorted(VIDEO_EXTS))}) or frame folder")
        return VideoFileSource(p)
    raise DataError(f"video {p} does not exist; check the path")
