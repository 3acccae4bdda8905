"""Batched inference: per-frame score records (and optional error maps) of every test video.

Every value is computed per sample (the commitment error is each clip's own mean, BN runs in
eval mode, the memory is frozen), so the batch size changes no score. The records are those of
:class:`ammcnet.scoring.scorer.Scorer` (see there for their definitions); warm-up entries 0..F-1
(no prediction) copy entry F, as in the authors' records.

>>> ScoreResult({"rgb_psnr": []}, np.zeros(0, np.int64), [], 4).frames_in
4
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ammcnet.data.clips import ClipBatch, ClipDataset
from ammcnet.errors import DataError
from ammcnet.metrics.scorefile import save_score_file
from ammcnet.scoring.scorer import Scorer
from ammcnet.utils.io import save_npy_atomic


@dataclass
class ScoreResult:
    """Per-frame records of every scored video.

    Attributes:
        records: record name -> one float64 (N,) array per video (warm-up entries copy entry F).
        num_frames: (V,) frames per video.
        videos: video names, in order.
        frames_in: F, the number of leading warm-up frames of every video.
        maps: per video, (N, H, W) float16 error maps, or None when not asked for.
    """

    records: dict[str, list[np.ndarray]]
    num_frames: np.ndarray
    videos: list[str]
    frames_in: int
    maps: list[np.ndarray] | None = None

    def save(self, path: str | Path, dataset: str | None = None) -> None:
        """Write the score file (evaluator ``.npz`` format), atomically; ``dataset`` is stored as meta."""
        meta: dict[str, str | int] = {"frames_in": self.frames_in}
        if dataset:
            meta["dataset"] = dataset
        save_score_file(path, self.records, self.num_frames, self.videos, meta=meta)

    def save_maps(self, folder: str | Path) -> list[Path]:
        """Write one ``<video>.npy`` (N, H, W) float16 map file per video, atomically."""
        if self.maps is None:
            raise DataError("no error maps were computed: score with error_maps=True (ammcnet test --maps)")
        paths = []
        for name, m in zip(self.videos, self.maps, strict=True):
            p = Path(folder) / f"{Path(name).name}.npy"
            save_npy_atomic(p, m)
            paths.append(p)
        return paths


def _batches(model: Any, scorer: Scorer, dataset: Any, batch_size: int, device: str, progress: bool | None,
             desc: str) -> Iterator[tuple[ClipBatch, Any, dict[str, np.ndarray]]]:
    """Yield (clip batch, model output, records as float64 numpy) over a clip dataset in order; the
    clips carry the clip inputs the scorer's records need (:meth:`Scorer.clip_inputs`)."""
    inputs = scorer.clip_inputs()
    if inputs:
        dataset = dataset.with_inputs(inputs)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    motion = getattr(model, "motion", None) is not None
    # progress None = a bar only on a terminal (tqdm's rule)
    bar = tqdm(loader, desc=desc, unit="batch", disable=None if progress is None else not progress, leave=False)
    for raw in bar:
        batch = ClipBatch.from_dict(raw, device, motion=motion)
        out, rec = scorer.score(model, batch)
        yield batch, out, {k: v.cpu().numpy() for k, v in rec.items()}


def _prepare(model: Any, scorer: Scorer | None, device: str) -> tuple[Any, Scorer]:
    model.eval()
    scorer = scorer if scorer is not None else Scorer()
    return model.to(device), scorer.to(device)


def score_clips(
    model: Any, clip_dataset: Any, *, scorer: Scorer | None = None, batch_size: int = 16, device: str = "cpu",
    progress: bool | None = False,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Records of every clip of a clip dataset, in dataset order (``scorer``: the model file's, see ``load_scorer``).

    Returns:
        (index, records): ``index`` (M, 2) rows (video index, target frame t); ``records`` maps
        each record name to an (M,) float64 array.
    """
    if len(clip_dataset) == 0:
        raise DataError("the clip dataset is empty: every video is shorter than the model's history + 1 frames")
    model, scorer = _prepare(model, scorer, device)
    parts: dict[str, list[np.ndarray]] = {}
    rows = []
    for batch, _, rec in _batches(model, scorer, clip_dataset, batch_size, device, progress, "scoring"):
        for k, v in rec.items():
            parts.setdefault(k, []).append(v)
        rows.append(np.stack([batch.video.numpy(), batch.t.numpy()], 1))
    return np.concatenate(rows).astype(np.int64), {k: np.concatenate(v) for k, v in parts.items()}


def _fill_warmup(arr: np.ndarray, frames_in: int) -> np.ndarray:
    arr[:frames_in] = arr[frames_in]
    return arr


def score_prepared(
    model: Any,
    prepared: Any,
    split: str = "test",
    *,
    scorer: Scorer | None = None,
    batch_size: int = 16,
    device: str = "cpu",
    error_maps: bool = False,
    map_flow_weight: float = 0.0,
    progress: bool | None = False,
) -> ScoreResult:
    """Score every video of one split of a prepared dataset.

    Args:
        model: an ``AMMCNet`` (set to eval mode here) or an inference backend.
        prepared: a ``PreparedDataset`` at the model's resolution.
        split: ``"test"`` (or ``"train"`` for diagnostics).
        scorer: the model file's scorer (its fitted components); default: the plain records.
        batch_size: inference batch size (changes no score).
        device: torch device string.
        error_maps: also keep per-pixel (N, H, W) float16 error maps.
        map_flow_weight: weight of the motion error added to the maps (0 = appearance only).
        progress: show a tqdm bar.

    Returns:
        :class:`ScoreResult` with the scorer's records (see :mod:`ammcnet.scoring.scorer`).
    """
    cfg = model.config
    frames_in = int(cfg.frames_in)
    videos = list(prepared.videos(split))
    counts = np.asarray(prepared.num_frames(split), np.int64)
    _check_lengths(prepared, split, videos, counts, frames_in)
    dataset = ClipDataset(prepared, split, frames_in=frames_in, flows_in=int(cfg.flows_in))
    model, scorer = _prepare(model, scorer, device)
    records: dict[str, list[np.ndarray]] = {}
    maps = [np.zeros((int(n), *prepared.size), np.float16) for n in counts] if error_maps else None
    for batch, out, rec in _batches(model, scorer, dataset, batch_size, device, progress, f"scoring {split}"):
        vid, t = batch.video.numpy(), batch.t.numpy()
        for k, v in rec.items():
            arrs = records.setdefault(k, [np.full(int(n), np.nan) for n in counts])
            for i in range(len(v)):
                arrs[vid[i]][t[i]] = v[i]
        if maps is not None:
            amap = scorer.error_maps(batch, out, map_flow_weight).cpu().numpy().astype(np.float16)
            for i in range(len(amap)):
                maps[vid[i]][t[i]] = amap[i]
    for k in records:
        records[k] = [_fill_warmup(a, frames_in) for a in records[k]]
        missing = [videos[i] for i, a in enumerate(records[k]) if np.isnan(a).any()]
        if missing:
            raise DataError(f"{prepared.root}: no prediction for some frames of {', '.join(missing[:5])}; "
                            "the prepared cache looks incomplete, prepare it again")
    if maps is not None:
        maps = [_fill_warmup(m, frames_in) for m in maps]
    return ScoreResult(records, counts, videos, frames_in, maps)


def _check_lengths(prepared: Any, split: str, videos: list[str], counts: np.ndarray, frames_in: int) -> None:
    """Refuse videos too short to score a single frame, naming them."""
    short = [f"{v} ({n})" for v, n in zip(videos, counts, strict=True) if n <= frames_in]
    if short:
        raise DataError(
            f"{prepared.root}: {split} video(s) {', '.join(short[:5])} have at most {frames_in} frames, but the model "
            f"predicts frame t from {frames_in} past frames; remove them or use a model with a shorter history"
        )
