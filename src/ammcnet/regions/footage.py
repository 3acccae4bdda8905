"""Analysis-grid frames and flows of whole videos (a dataset split, a file, a frame range).

Flows are kept as float16 (N, H, W, 2) pixel arrays: a Ped2 training split at 240x360 is
about 0.9 GB in that form, a quarter of float32, and the features need no more precision.

>>> import numpy as np
>>> frames = np.zeros((3, 48, 64, 3), np.uint8); frames[1:, 10:20, 12:22] = 255
>>> flows_of_frames(frames, (48, 64), "ultrafast").shape
(3, 48, 64, 2)
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ammcnet.data.layouts import VideoRef
from ammcnet.errors import DataError, OutputError
from ammcnet.regions.features import AnalysisFlow, analysis_size
from ammcnet.utils.float16 import to_float16
from ammcnet.utils.io import save_npy_atomic, write_json_atomic

log = logging.getLogger(__name__)


def flows_of_frames(frames: Iterable[np.ndarray], size: tuple[int, int], preset: str = "medium") -> np.ndarray:
    """(N, H, W, 2) float16 flows of RGB frames on the analysis grid (entry 0 repeats entry 1)."""
    flows = list(AnalysisFlow(size, preset).video(frames))
    if not flows:
        raise DataError("a video needs at least two frames for its flow; remove one-frame videos")
    return to_float16(np.stack(flows))


def resized_frames(frames: Iterable[np.ndarray], size: tuple[int, int]) -> np.ndarray:
    """(N, H, W, 3) uint8 frames on the analysis grid, grey in all three channels: the frames the
    analysis flow sees, so synthetic anomalies pasted into them keep the footage's own flow."""
    flow = AnalysisFlow(size)
    return np.stack([cv2.cvtColor(flow.grey(f), cv2.COLOR_GRAY2RGB) for f in frames])


def video_size(video: VideoRef) -> tuple[int, int]:
    """(H, W) of a video's first frame."""
    src = video.open()
    return tuple(src[0].shape[:2])  # type: ignore[return-value]


def split_flows(videos: Sequence[VideoRef], height: int, preset: str = "medium", *,
                progress: bool | None = None, desc: str = "analysis flow") -> tuple[list[np.ndarray], tuple[int, int]]:
    """Analysis flows of every video of a split, and the analysis grid (from the first video)."""
    if not videos:
        raise DataError("no videos to compute analysis flows for")
    size = analysis_size(video_size(videos[0]), height)
    out = []
    for v in tqdm(videos, desc=desc, unit="video", disable=None if progress is None else not progress, leave=False):
        out.append(flows_of_frames(v.open(), size, preset))
    return out, size


#: Bump when the analysis flow of a source changes (resize, flow backend), to retire old caches.
FLOW_CACHE_VERSION = 2


def source_fingerprint(source: str | Path) -> str:
    """A digest of a video file's or frame folder's size and modification times (names too, for a
    folder): it changes when the footage is replaced or edited, without reading a frame."""
    path = Path(source)
    entries = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file())
    text = json.dumps([[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in entries])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached_flows(folder: str | Path, source: str | Path, size: tuple[int, int], preset: str,
                 compute: Callable[[], np.ndarray]) -> np.ndarray:
    """The analysis flows of ``source`` from ``folder`` when stored there for the same footage, grid
    and preset; otherwise ``compute()``, stored for next time (atomically; a folder that cannot be
    written is only logged: the cache saves time, it is never needed).

    ``ammcnet test`` scores the region head on the source frames of every test video; without
    this, each run recomputed every video's DIS flow (Ped2's test split: about 2,000 frames).
    """
    folder = Path(folder)
    name = f"analysis-flow-{size[0]}x{size[1]}-{preset}"
    key = {"version": FLOW_CACHE_VERSION, "source": str(source), "fingerprint": source_fingerprint(source),
           "size": [int(size[0]), int(size[1])], "preset": preset}
    data, meta = folder / f"{name}.npy", folder / f"{name}.json"
    try:
        if meta.is_file() and data.is_file() and json.loads(meta.read_text()) == key:
            return np.load(data)
    except (OSError, ValueError) as exc:  # a damaged cache entry is recomputed
        log.info("analysis flow cache %s unreadable (%s); recomputing", data, exc)
    flows = compute()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        save_npy_atomic(data, flows)
        write_json_atomic(meta, key)
    except (OutputError, OSError) as exc:
        log.info("analysis flow cache not written: %s", exc)
    return flows
