"""ammcnet.data: video sources, dataset layouts, frame-label readers (``ammcnet.data.labels``),
the prepared cache and the clip dataset.

>>> from ammcnet.data import ClipDataset
>>> ClipDataset.count_clips([10, 15], frames_in=4)
17
"""

from ammcnet.data.cache import PreparedDataset, default_cache_dir, open_prepared, prepare_dataset
from ammcnet.data.layouts import LAYOUTS, PUBLISHED_TOTALS, DatasetLayout, VideoRef, discover_dataset
from ammcnet.data.masks import MaskRef
from ammcnet.data.verify import VerifyReport, verify_dataset
from ammcnet.data.video import FrameFolderSource, VideoFileSource, VideoSource, open_video


def __getattr__(name: str):
    # ClipDataset needs torch; import it only when asked so `verify` and `prepare` start fast.
    if name == "ClipDataset":
        from ammcnet.data.clips import ClipDataset

        return ClipDataset
    raise AttributeError(f"module 'ammcnet.data' has no attribute {name!r}")


__all__ = [
    "LAYOUTS",
    "PUBLISHED_TOTALS",
    "ClipDataset",
    "DatasetLayout",
    "FrameFolderSource",
    "MaskRef",
    "PreparedDataset",
    "VerifyReport",
    "VideoFileSource",
    "VideoRef",
    "VideoSource",
    "default_cache_dir",
    "discover_dataset",
    "open_prepared",
    "open_video",
    "prepare_dataset",
    "verify_dataset",
]
