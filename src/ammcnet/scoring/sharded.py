"""Score many videos on several processes: videos are sharded, results merged in the original order.

Every record is a per-clip value (BatchNorm in eval mode, frozen memory), so which process scores
a video changes nothing; the merged :class:`~ammcnet.scoring.inference.ScoreResult` equals a
single-process run. Shards are balanced by frame count (longest videos first).

>>> shard_videos([100, 10, 60, 50], 2)
[[0, 1], [2, 3]]
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
from pathlib import Path
from typing import Any

import numpy as np

from ammcnet.data.cache import PreparedDataset
from ammcnet.scoring.inference import ScoreResult, score_prepared


def shard_videos(num_frames: list[int] | np.ndarray, workers: int) -> list[list[int]]:
    """Split video indices into ``workers`` groups of similar total frames (each group sorted)."""
    loads = [0] * max(1, workers)
    groups: list[list[int]] = [[] for _ in loads]
    for i in sorted(range(len(num_frames)), key=lambda i: (-int(num_frames[i]), i)):
        g = loads.index(min(loads))
        groups[g].append(i)
        loads[g] += int(num_frames[i])
    return [sorted(g) for g in groups if g]


class PreparedSubset(PreparedDataset):
    """A prepared dataset that lists only some videos of one split (the arrays are the same files)."""

    def __init__(self, root: str | os.PathLike[str], split: str, names: list[str]) -> None:
        super().__init__(root)
        self._subset_split, self._subset = split, set(names)

    def videos(self, split: str) -> list[str]:
        names = super().videos(split)
        return [n for n in names if n in self._subset] if split == self._subset_split else names

    def num_frames(self, split: str) -> list[int]:
        if split != self._subset_split:
            return super().num_frames(split)
        counts = dict(zip(super().videos(split), super().num_frames(split), strict=True))
        return [counts[n] for n in self.videos(split)]


def _score_shard(model: Any, root: str, split: str, names: list[str], kwargs: dict[str, Any], threads: int) -> ScoreResult:
    import torch

    torch.set_num_threads(threads)
    return score_prepared(model, PreparedSubset(root, split, names), split, **kwargs)


def score_prepared_sharded(
    model: Any,
    prepared: PreparedDataset,
    split: str = "test",
    *,
    workers: int = 2,
    threads_per_worker: int | None = None,
    **kwargs: Any,
) -> ScoreResult:
    """:func:`~ammcnet.scoring.inference.score_prepared` with the videos spread over ``workers`` processes.

    Args:
        model: an ``AMMCNet`` (sent to each worker process).
        prepared: the prepared dataset.
        split: the split to score.
        workers: processes (1 = score here, no processes started).
        threads_per_worker: torch threads in each process (default: CPU count // workers, >= 1).
        **kwargs: passed to ``score_prepared`` (``batch_size``, ``device``, ``error_maps``, ...).

    Returns:
        The same :class:`ScoreResult` a single process gives, videos in the dataset's order.
    """
    names = list(prepared.videos(split))
    counts = list(prepared.num_frames(split))
    groups = shard_videos(counts, min(workers, len(names)))
    if workers <= 1 or len(groups) <= 1:
        return score_prepared(model, prepared, split, **kwargs)
    kwargs = {**kwargs, "progress": False}
    threads = threads_per_worker or max(1, (os.cpu_count() or 1) // len(groups))
    model = model.cpu().eval() if kwargs.get("device", "cpu") == "cpu" else model.eval()
    with cf.ProcessPoolExecutor(len(groups), mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(_score_shard, model, str(Path(prepared.root)), split, [names[i] for i in g], kwargs, threads)
                   for g in groups]
        results = [f.result() for f in futures]
    by_name: dict[str, tuple[ScoreResult, int]] = {}
    for res in results:
        for j, name in enumerate(res.videos):
            by_name[name] = (res, j)
    records = {k: [by_name[n][0].records[k][by_name[n][1]] for n in names] for k in results[0].records}
    maps = None
    if results[0].maps is not None:
        maps = [by_name[n][0].maps[by_name[n][1]] for n in names]  # type: ignore[index]
    return ScoreResult(records, np.asarray(counts, np.int64), names, results[0].frames_in, maps)
