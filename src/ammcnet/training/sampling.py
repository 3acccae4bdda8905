"""Which clips a training step sees: a held-out split and a resumable, seeded batch order.

The order of step ``s`` depends only on ``(seed, stage, epoch)`` with ``epoch = s // steps_per_epoch``,
so a resumed run draws exactly the batches an uninterrupted one would (the authors' sampler
replayed one fixed sequence in every worker and epoch).

>>> import numpy as np
>>> index = np.array([[0, 4], [0, 5], [0, 6], [0, 7], [0, 8], [1, 4], [1, 5]])
>>> train, val = split_train_val(index, 0.25)
>>> val.tolist()   # the last ceil(25%) of each video's clips, by target frame
[3, 4, 6]
>>> list(StepBatchSampler(4, 2, seed=0, stage=1, start=0, stop=3))[2] == list(StepBatchSampler(4, 2, seed=0, stage=1, start=2, stop=3))[0]
True
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
from torch.utils.data import Dataset, Sampler


def split_train_val(index: np.ndarray, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Split clip rows into training and held-out rows, per video by target frame.

    Args:
        index: (M, 2) rows (video_idx, t) as in ``ClipDataset.index``.
        val_fraction: fraction of each video's clips (rounded up, at least one when a video has
            two or more clips) reserved for validation: the clips with the largest ``t``.

    Returns:
        (train_rows, val_rows): sorted int64 row numbers into ``index``.
    """
    index = np.asarray(index)
    train: list[int] = []
    val: list[int] = []
    for video in np.unique(index[:, 0]):
        rows = np.flatnonzero(index[:, 0] == video)
        rows = rows[np.argsort(index[rows, 1], kind="stable")]
        n_val = min(len(rows) - 1, math.ceil(val_fraction * len(rows))) if len(rows) > 1 else 0
        cut = len(rows) - n_val
        train.extend(rows[:cut].tolist())
        val.extend(rows[cut:].tolist())
    return np.array(sorted(train), dtype=np.int64), np.array(sorted(val), dtype=np.int64)


class ClipSubset(Dataset):
    """A view of a clip dataset restricted to some rows; keeps ``index`` and the parent's attributes.

    Args:
        parent: a ``ClipDataset``.
        rows: row numbers into ``parent.index``.
    """

    def __init__(self, parent: Any, rows: np.ndarray) -> None:
        self.parent = parent
        self.rows = np.asarray(rows, dtype=np.int64)
        self.index = np.asarray(parent.index)[self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> Any:
        return self.parent[int(self.rows[i])]

    def get_batch(self, indices: Any, packed: bool = False) -> Any:
        """Batched read through the parent (see ``ClipDataset.get_batch``)."""
        return self.parent.get_batch(self.rows[np.asarray(indices, dtype=np.int64)], packed=packed)

    def with_inputs(self, inputs: Any) -> ClipSubset:
        """The same rows, their clips computing the scorer's clip ``inputs`` (see ``ClipDataset.with_inputs``)."""
        return ClipSubset(self.parent.with_inputs(inputs), self.rows)

    def __getattr__(self, name: str) -> Any:
        if name == "parent":  # not set yet (unpickling)
            raise AttributeError(name)
        return getattr(self.parent, name)


class StepBatchSampler(Sampler[list[int]]):
    """Batches for steps ``start .. stop-1``; the order is a function of (seed, stage, epoch).

    Each epoch is a fresh permutation of all ``n`` items cut into ``n // batch_size`` full batches
    (the remainder is dropped; with fewer items than a batch, one short batch per epoch).

    Args:
        n: number of training items.
        batch_size: items per batch.
        seed: run seed.
        stage: training stage (1 or 2); stages see different orders.
        start: first global step to produce (resume position).
        stop: one past the last step.
    """

    def __init__(self, n: int, batch_size: int, *, seed: int, stage: int, start: int, stop: int) -> None:
        if n < 1:
            raise ValueError("StepBatchSampler needs at least one item")
        self.n = n
        self.batch_size = batch_size
        self.seed = seed
        self.stage = stage
        self.start = start
        self.stop = stop
        self.steps_per_epoch = max(1, n // batch_size)

    def position(self, step: int) -> dict[str, int]:
        """The (epoch, batch-in-epoch) of a global step, stored in checkpoints."""
        return {"epoch": step // self.steps_per_epoch, "batch": step % self.steps_per_epoch}

    def _perm(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, self.stage, epoch]).permutation(self.n)

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __iter__(self) -> Iterator[list[int]]:
        epoch, perm = -1, np.empty(0, dtype=np.int64)
        for step in range(self.start, self.stop):
            e, b = divmod(step, self.steps_per_epoch)
            if e != epoch:
                epoch, perm = e, self._perm(e)
            yield perm[b * self.batch_size : (b + 1) * self.batch_size].tolist()
