"""Clips for training and scoring: windows of past frames and flows named by their target frame.

A clip with target frame ``t`` (0-based) in a video holds, with ``F`` past frames and
``P = F - 1`` past flows (flow j = frame j -> j + 1):

* ``frames``: frames ``t-F .. t-1`` stacked on channels, oldest first, (3F, H, W) in [-1, 1];
* ``target``: frame ``t``, (3, H, W);
* ``flows``: flows ``t-F .. t-2``, (2P, H, W); ``flow_target``: flow ``t-1`` (the motion into t).

Both streams always come from the same video and target frame.

>>> ClipDataset.count_clips([10, 15], frames_in=4)
17
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ammcnet.data.cache import PreparedDataset, open_prepared
from ammcnet.data.tensors import (
    flows_to_tensor,
    frames_to_tensor,
    keep_freed_memory,
    split_channels,
    unit_range,
)
from ammcnet.errors import ConfigError, DataError


class ClipDataset(Dataset):
    """Every clip of a prepared split, by index: deterministic, no hidden random state.

    Counting by hand: videos of 10 and 15 frames with ``frames_in = F = 4`` give target frames
    ``t = 4 .. 9`` (6 clips) and ``t = 4 .. 14`` (11 clips), so 6 + 11 = 17 clips; clip 6 is
    (video 1, t = 4). A video needs at least F + 1 frames; shorter ones are skipped with a warning.

    Memory maps are opened lazily in each process (DataLoader workers included), so the dataset
    pickles small and never shares file handles across a fork.

    Args:
        prepared: a :class:`PreparedDataset` or the path of a cache entry.
        split: ``train`` or ``test``.
        frames_in: F, past RGB frames per clip (the model config supplies it).
        flows_in: P, past flows per clip; must be ``frames_in - 1`` (flows between the input frames).
        videos: names or indices of the videos to use (default: all of the split).

    Attributes:
        index: (M, 2) int64 rows ``(video_idx, t)``; ``video_idx`` indexes ``video_names``.
    """

    def __init__(
        self,
        prepared: PreparedDataset | str | os.PathLike[str],
        split: str,
        frames_in: int = 4,
        flows_in: int = 3,
        videos: Sequence[str | int] | None = None,
    ) -> None:
        self.prepared = prepared if isinstance(prepared, PreparedDataset) else open_prepared(prepared)
        if frames_in < 2:
            raise ConfigError(f"frames_in must be >= 2, got {frames_in}")
        if flows_in != frames_in - 1:
            raise ConfigError(f"flows_in must be frames_in - 1 = {frames_in - 1} (flows between input frames), got {flows_in}")
        self.split = split
        self.frames_in = frames_in
        self.flows_in = flows_in
        all_names = self.prepared.videos(split)
        counts = dict(zip(all_names, self.prepared.num_frames(split), strict=True))
        if videos is None:
            names = all_names
        else:
            names = [all_names[v] if isinstance(v, int) else v for v in videos]
            missing = [n for n in names if n not in counts]
            if missing:
                raise DataError(f"video(s) {missing} not in the {split} split of {self.prepared.root}")
        self.video_names: list[str] = list(names)
        self.num_frames: list[int] = [counts[n] for n in names]
        rows = []
        for vi, (name, n) in enumerate(zip(self.video_names, self.num_frames, strict=True)):
            if n < frames_in + 1:
                warnings.warn(f"video {name} has {n} frames, fewer than frames_in + 1 = {frames_in + 1}; skipped",
                              stacklevel=2)
                continue
            t = np.arange(frames_in, n, dtype=np.int64)
            rows.append(np.stack([np.full_like(t, vi), t], axis=1))
        self.index: np.ndarray = np.concatenate(rows) if rows else np.zeros((0, 2), np.int64)
        self._pid: int | None = None
        self._maps: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    @staticmethod
    def count_clips(num_frames: Sequence[int], frames_in: int = 4) -> int:
        """Clips that videos of ``num_frames`` give: sum of ``N - F`` over videos with N > F."""
        return int(sum(n - frames_in for n in num_frames if n >= frames_in + 1))

    def __len__(self) -> int:
        return len(self.index)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_maps"], state["_pid"] = {}, None  # reopen in the worker
        return state

    def _arrays(self, vi: int) -> tuple[np.ndarray, np.ndarray]:
        pid = os.getpid()
        if self._pid != pid:
            self._maps, self._pid = {}, pid
            keep_freed_memory()  # each clip allocates ~6 MB at 256x256: reuse it, no page faults
        if vi not in self._maps:
            name = self.video_names[vi]
            self._maps[vi] = (self.prepared.frames(self.split, name), self.prepared.flows(self.split, name))
        return self._maps[vi]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor | int]:
        vi, t = (int(x) for x in self.index[i])
        frames, flows = self._arrays(vi)
        f = self.frames_in
        clip = frames_to_tensor(frames[t - f : t + 1])  # (F+1, 3, H, W) in [-1, 1]
        fl = flows_to_tensor(flows[t - f : t])  # (F, 2, H, W)
        h, w = clip.shape[-2:]
        return {
            "frames": clip[:f].reshape(3 * f, h, w),
            "target": clip[f].contiguous(),
            "flows": fl[: f - 1].reshape(2 * (f - 1), h, w),
            "flow_target": fl[f - 1].contiguous(),
            "video": vi,
            "t": t,
        }

    def get_batch(self, indices: Sequence[int], packed: bool = False) -> dict[str, torch.Tensor]:
        """Clips ``indices`` already batched: equal to collating ``[self[i] for i in indices]``, faster.

        Every clip is written straight into one batch array: no per-clip tensors, no stacking copy.
        With ``packed=True`` the batch stays in the cache's compact types, ``rgb`` (B, F+1, 3, H, W)
        uint8 and ``flow`` (B, F, 2, H, W) float16, about 3x fewer bytes than float32: that is what
        DataLoader workers should hand over (shared-memory tensors are slow to allocate), and
        :func:`unpack_batch` then converts in the consuming process, on its device.
        ``video`` and ``t`` are int64 tensors.
        """
        rows = self.index[np.asarray(indices, dtype=np.int64).reshape(-1)]
        f = self.frames_in
        if len(rows):
            h, w = self._arrays(int(rows[0, 0]))[0].shape[1:3]
        else:
            h = w = 0
        rgb = np.empty((len(rows), f + 1, 3, h, w), np.uint8)
        flo = np.empty((len(rows), f, 2, h, w), np.float16)
        for k, (vi, t) in enumerate(rows.tolist()):
            frames, flows = self._arrays(vi)
            split_channels(frames[t - f : t + 1], rgb[k])
            split_channels(flows[t - f : t], flo[k])
        batch = {
            "rgb": torch.from_numpy(rgb),
            "flow": torch.from_numpy(flo),
            "video": torch.from_numpy(rows[:, 0].copy()),
            "t": torch.from_numpy(rows[:, 1].copy()),
        }
        return batch if packed else unpack_batch(batch)


def unpack_batch(batch: dict[str, torch.Tensor], device: torch.device | str | None = None) -> dict[str, torch.Tensor]:
    """A packed batch (see :meth:`ClipDataset.get_batch`) as model inputs on ``device``.

    Moves the compact uint8/float16 data first and converts there (on a GPU the conversion is free
    and the transfer 3x smaller). Batches that are not packed are returned unchanged.
    """
    if "rgb" not in batch:
        return batch
    keep_freed_memory()  # the float32 batch is ~3x the packed one: reuse freed blocks
    rgb, flo = batch["rgb"].to(device), batch["flow"].to(device)
    b, f1, _, h, w = rgb.shape
    f = f1 - 1
    return {
        "frames": unit_range(rgb[:, :f].reshape(b, 3 * f, h, w)),
        "target": unit_range(rgb[:, f]),
        "flows": flo[:, : f - 1].reshape(b, 2 * (f - 1), h, w).float(),
        "flow_target": flo[:, f - 1].float(),
        "video": batch["video"],
        "t": batch["t"],
    }


class ClipBatches(Dataset):
    """A clip dataset indexed by whole batches, for ``DataLoader(..., batch_size=None)``.

    Give it a batch sampler as the DataLoader's ``sampler``: each item is then a list of clip
    indices and comes back from ``get_batch`` (works for any dataset with that method, e.g. a
    training subset). ``packed=True`` (the default) hands over compact batches: call
    :func:`unpack_batch` on each in the consuming loop.

    >>> # loader = DataLoader(ClipBatches(clips), sampler=BatchSampler(range(len(clips)), 16, False),
    >>> #                     batch_size=None, num_workers=2)
    >>> # for batch in loader: batch = unpack_batch(batch, device)
    """

    def __init__(self, clips: Dataset, packed: bool = True) -> None:
        self.clips = clips
        self.packed = packed

    def __len__(self) -> int:
        return len(self.clips)  # type: ignore[arg-type]

    def __getitem__(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        return self.clips.get_batch(indices, packed=self.packed)  # type: ignore[attr-defined]
