"""Analysis-grid frames and flows of whole videos (a dataset split, a file, a frame range).

Flows are kept as float16 (N, H, W, 2) pixel arrays: a Ped2 training split at 240x360 is
about 0.9 GB in that form, a quarter of float32, and the features need no more precision.

>>> import numpy as np
>>> frames = np.zeros((3, 48, 64, 3), np.uint8); frames[1:, 10:20, 12:22] = 255
>>> flows_of_frames(frames, (48, 64), "ultrafast").shape
(3, 48, 64, 2)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from tqdm import tqdm

from ammcnet.data.layouts import VideoRef
from ammcnet.errors import DataError
from ammcnet.regions.features import AnalysisFlow, analysis_size
from ammcnet.utils.float16 import to_float16


def flows_of_frames(frames: Iterable[np.ndarray], size: tuple[int, int], preset: str = "medium") -> np.ndarray:
    """(N, H, W, 2) float16 flows of RGB frames on the analysis grid (entry 0 repeats entry 1)."""
    flows = list(AnalysisFlow(size, preset).video(frames))
    if not flows:
        raise DataError("a video needs at least two frames for its flow; remove one-frame videos")
    return to_float16(np.stack(flows))


def resized_frames(frames: Iterable[np.ndarray], size: tuple[int, int]) -> np.ndarray:
    """(N, H, W, 3) uint8 frames on the analysis grid."""
    flow = AnalysisFlow(size)
    return np.stack([flow.resize(f) for f in frames])


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
