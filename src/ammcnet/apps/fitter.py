"""``ammcnet fit``: a camera's model in a minute, the region head alone, no network.

The region head scores the motion of the source frames and needs no trained network, so a new
user need not wait for one: ``fit`` reads normal footage (a video, a frame folder, a stream
recorded for N seconds, or a dataset root whose training split is used), chooses the head's
settings on it without labels and writes a head-only model file
(:mod:`ammcnet.scoring.head_model`) that ``detect``, ``watch``, ``teach``, ``info`` and the API
take. ``ammcnet train`` later adds the network for the same camera.
"""

from __future__ import annotations

import os
import resource
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2

from ammcnet.data.cache import default_cache_dir
from ammcnet.data.layouts import discover_dataset
from ammcnet.data.video import list_frames, open_video
from ammcnet.detect.sources import FrameReader, open_source
from ammcnet.errors import ConfigError, DataError
from ammcnet.regions import RegionHeadConfig
from ammcnet.regions.footage import source_fingerprint
from ammcnet.scoring.head_model import write_head_model
from ammcnet.scoring.region_head import FLOW_CACHE, FootageSpan, fit_region_head_on
from ammcnet.utils.redact import mask_url

#: Frames per second assumed when the footage does not say (frame folders).
DEFAULT_FPS = 25.0


@dataclass(frozen=True)
class FitOptions:
    """How ``ammcnet fit`` reads the footage and fits the head.

    Attributes:
        start, end: frames of a single video to fit on (``end`` exclusive; default: all of it).
        seconds: how long to record a stream or camera before fitting (needed for those).
        layout: dataset layout of a dataset root (default ``auto``).
        seed: seeds the head's random draws (normal bank, synthetic anomalies, held-out videos).
        choose: choose the window and parts on the footage (default True; False keeps the defaults).
        height: analysis-grid height in pixels (default None: the head's default).
        fps: the footage's frame rate, when its files do not say (frame folders; default 25).
        cache_dir: where analysis flows and recordings are kept (default: the prepared-data cache).
        overwrite: replace an existing model file.
        progress: progress bars (default None: on a terminal).
    """

    start: int = 0
    end: int | None = None
    seconds: float | None = None
    layout: str = "auto"
    seed: int = 0
    choose: bool = True
    height: int | None = None
    fps: float | None = None
    cache_dir: str | os.PathLike[str] | None = None
    overwrite: bool = False
    progress: bool | None = None

    def __post_init__(self) -> None:
        if self.start < 0 or (self.end is not None and self.end <= self.start):
            raise ConfigError(f"--start {self.start} --end {self.end}: give 0 <= start < end")
        if self.seconds is not None and self.seconds <= 0:
            raise ConfigError(f"--seconds {self.seconds}: give a positive recording length")


@dataclass
class FitResult:
    """A fitted head-only model.

    Attributes:
        model: the model file written.
        frames: normal frames fitted on.
        seconds: wall time of the whole fit.
        peak_rss_mb: the process's peak resident memory.
        chosen: the settings chosen (None: defaults kept).
        footage: the spans fitted on.
    """

    model: Path
    frames: int
    seconds: float
    peak_rss_mb: float
    chosen: str | None
    footage: list[dict[str, Any]] = field(default_factory=list)

    def report(self) -> str:
        chosen = self.chosen or "defaults (too little footage to hold some out)"
        return (f"{self.model}: region head fitted on {self.frames} frames in {self.seconds:.1f} s "
                f"(peak memory {self.peak_rss_mb:.0f} MB); settings: {chosen}")


def _is_stream(footage: str) -> bool:
    return "://" in footage or footage.isdigit()


def _cache(options: FitOptions) -> Path:
    return Path(options.cache_dir) if options.cache_dir is not None else default_cache_dir()


def record_stream(source: str, seconds: float, folder: Path) -> tuple[Path, float]:
    """Record ``seconds`` of a stream or camera into a frame folder (JPEG), written under a
    temporary name and renamed when complete (a recording cut short leaves nothing half-written);
    (the folder, the stream's frame rate)."""
    capture, info = open_source(source if not source.isdigit() else int(source), reconnect=False)
    fps = info.fps or DEFAULT_FPS
    reader = FrameReader(capture, info, max_frames=int(round(seconds * fps)))
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    tmp.mkdir(parents=True, exist_ok=False)
    try:
        n = 0
        for n, frame in enumerate(reader, 1):
            cv2.imwrite(str(tmp / f"{n - 1:06d}.jpg"), cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR),
                        [cv2.IMWRITE_JPEG_QUALITY, 95])
        if n < 2:
            raise DataError(f"{mask_url(source)}: {n} frame(s) recorded in {seconds} s; check the stream")
        os.replace(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return folder, float(fps)


def footage_spans(footage: str | os.PathLike[str], options: FitOptions) -> tuple[list[FootageSpan], float | None]:
    """The spans of normal footage ``footage`` names (see the module docstring), and its frame rate
    when only a recording knows it (a stream's)."""
    text = str(footage)
    if _is_stream(text):
        if options.seconds is None:
            raise ConfigError(f"{mask_url(text)} is a stream: give --seconds N to record N seconds of normal footage")
        folder, fps = record_stream(text, options.seconds, _cache(options) / "recordings" / f"{int(time.time())}")
        return [FootageSpan("recording", folder)], fps
    path = Path(text)
    if not path.exists():
        raise DataError(f"{path}: no such video, frame folder or dataset root")
    if path.is_file() or list_frames(path):
        return [FootageSpan(path.stem if path.is_file() else path.name, path, options.start, options.end)], None
    layout = discover_dataset(path, options.layout)
    if not layout.train:
        raise DataError(f"{path}: no training videos found; give a video, a frame folder or a dataset root")
    if options.start or options.end is not None:
        raise ConfigError("--start/--end pick frames of one video; give a video or frame folder, not a dataset root")
    return [FootageSpan(v.name, v.path) for v in layout.train], None


def fit_head_model(footage: str | os.PathLike[str], out: str | os.PathLike[str],
                   options: FitOptions = FitOptions()) -> FitResult:  # noqa: B008 - frozen
    """Fit a region head on normal footage and write a head-only model file to ``out``.

    Raises:
        ConfigError: ``out`` exists (without ``overwrite``), or the options do not fit the footage.
        DataError: the footage cannot be read.
    """
    t0 = time.perf_counter()
    out = Path(out)
    if out.exists() and not options.overwrite:
        raise ConfigError(f"{out} exists: give --overwrite to replace it, or another --out")
    spans, recorded_fps = footage_spans(footage, options)
    config = RegionHeadConfig(seed=options.seed, **({"height": options.height} if options.height else {}))
    cache = _cache(options) / FLOW_CACHE / source_fingerprint(spans[0].source)
    component = fit_region_head_on(spans, cache, config, choose=options.choose, progress=options.progress)
    first = open_video(spans[0].source)
    frames = sum(_span_length(s) for s in spans)
    meta = {"footage": [s.as_dict() for s in spans], "fps": _fps(spans[0].source, options.fps or recorded_fps),
            "frame_size": list(first[0].shape[:2]), "frames": frames, "seed": options.seed,
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else None, "taught": []}
    out.parent.mkdir(parents=True, exist_ok=True)
    write_head_model(out, component, meta)
    chosen = (component.selection or {}).get("chosen")
    return FitResult(out, frames, time.perf_counter() - t0, peak_rss_mb(), chosen, meta["footage"])


def _span_length(span: FootageSpan) -> int:
    n = len(open_video(span.source))
    end = n if span.end is None else min(span.end, n)
    return max(0, end - span.start)


def _fps(source: Path, given: float | None) -> float:
    """The footage's frame rate: given, else the video file's, else :data:`DEFAULT_FPS`."""
    if given:
        return float(given)
    if source.is_file():
        cap = cv2.VideoCapture(str(source))
        fps = cap.get(cv2.CAP_PROP_FPS)
        cap.release()
        if fps and 0 < fps < 1000:
            return float(fps)
    return DEFAULT_FPS


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
