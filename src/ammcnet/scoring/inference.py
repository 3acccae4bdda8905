"""Batched inference: per-frame score records (and optional error maps) of every test video.

Every value is computed per sample (the commitment error is each clip's own mean, BN runs in
eval mode, the memory is frozen), so the batch size changes no score. Records of frame ``t``
(see ``docs/design.md`` for the clip convention):

* ``rgb_psnr``: both images mapped from [-1, 1] to [0, 1], ``10 log10(1 / max(MSE, 1e-10))``,
  MSE over 3 x H x W (high = normal);
* ``rgb_commit``: appearance commitment error of the clip;
* ``flow_error``: MSE over 2 x H x W between the predicted flow and the true flow t-1 -> t;
* ``flow_commit``: motion commitment error of the clip.

Warm-up entries 0..F-1 (no prediction) copy entry F, as in the authors' records.

>>> import torch
>>> p = torch.zeros(2, 3, 8, 8); t = p.clone(); t[1] += 0.2   # 0.1 in [0, 1] units
>>> [round(v, 3) for v in psnr_per_sample(p, t).tolist()]
[100.0, 20.0]
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from ammcnet.errors import DataError
from ammcnet.scoring.fusion import RECORDS

#: Smallest MSE in the PSNR (caps a perfect prediction at 100 dB instead of inf).
PSNR_EPS = 1e-10


def psnr_per_sample(pred: Tensor, target: Tensor) -> Tensor:
    """PSNR in dB of images in [-1, 1] after mapping to [0, 1]; (B, C, H, W) -> (B,) float64."""
    diff = (pred.double() - target.double()) * 0.5
    mse = diff.pow(2).flatten(1).mean(1)
    return 10.0 * torch.log10(1.0 / mse.clamp_min(PSNR_EPS))


def mse_per_sample(pred: Tensor, target: Tensor) -> Tensor:
    """Mean squared error over all but the batch axis; (B, ...) -> (B,) float64."""
    return (pred.double() - target.double()).pow(2).flatten(1).mean(1)


def error_map(
    frame_pred: Tensor, target: Tensor, flow_pred: Tensor | None = None, flow_target: Tensor | None = None,
    flow_weight: float = 0.0,
) -> Tensor:
    """Per-pixel anomaly map (B, H, W): squared error in [0, 1] units, mean over RGB channels.

    With ``flow_weight > 0`` the motion stream's per-pixel squared flow error (mean over u, v),
    resized to the frame grid if needed, is added with that weight.
    """
    amap = ((frame_pred.float() - target.float()) * 0.5).pow(2).mean(1)
    if flow_weight and flow_pred is not None and flow_target is not None:
        fmap = (flow_pred.float() - flow_target.float()).pow(2).mean(1, keepdim=True)
        if fmap.shape[-2:] != amap.shape[-2:]:
            fmap = torch.nn.functional.interpolate(fmap, size=amap.shape[-2:], mode="bilinear", align_corners=False)
        amap = amap + flow_weight * fmap[:, 0]
    return amap


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
        from ammcnet.metrics.scorefile import save_score_file

        meta: dict[str, str | int] = {"frames_in": self.frames_in}
        if dataset:
            meta["dataset"] = dataset
        save_score_file(path, self.records, self.num_frames, self.videos, meta=meta)

    def save_maps(self, folder: str | Path) -> list[Path]:
        """Write one ``<video>.npy`` (N, H, W) float16 map file per video, atomically."""
        from ammcnet.utils.io import save_npy_atomic

        if self.maps is None:
            raise DataError("no error maps were computed: score with error_maps=True (ammcnet test --maps)")
        paths = []
        for name, m in zip(self.videos, self.maps, strict=True):
            p = Path(folder) / f"{Path(name).name}.npy"
            save_npy_atomic(p, m)
            paths.append(p)
        return paths


def _batches(model: Any, dataset: Any, batch_size: int, device: str, progress: bool, desc: str) -> Iterator[tuple]:
    """Yield (batch, model output) over a clip dataset in order, under inference mode."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    uses_motion = getattr(model, "motion", None) is not None
    with torch.inference_mode():
        # progress None = a bar only on a terminal (tqdm's rule)
        bar = tqdm(loader, desc=desc, unit="batch", disable=None if progress is None else not progress, leave=False)
        for batch in bar:
            frames = batch["frames"].to(device)
            flows = batch["flows"].to(device) if uses_motion else None
            yield batch, model(frames, flows)


def _prepare_model(model: Any, device: str) -> Any:
    model.eval()
    return model.to(device)


def _records_of(batch: dict, out: Any, device: str, model: Any = None) -> dict[str, np.ndarray]:
    rec = {
        "rgb_psnr": psnr_per_sample(out.frame_pred, batch["target"].to(device)),
        "rgb_commit": out.frame_commit_per_sample.double(),
    }
    if out.flow_pred is not None:
        rec["flow_error"] = mse_per_sample(out.flow_pred, batch["flow_target"].to(device))
        rec["flow_commit"] = out.flow_commit_per_sample.double()
        prior = getattr(model, "motion_prior", None)
        if prior is not None:
            rec["motion_prior"] = prior.score(batch["flow_target"].to(device)).double()
    return {k: v.cpu().numpy() for k, v in rec.items()}


def score_clips(
    model: Any, clip_dataset: Any, *, batch_size: int = 16, device: str = "cpu", progress: bool | None = False
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Records of every clip of a clip dataset, in dataset order.

    Returns:
        (index, records): ``index`` (M, 2) rows (video index, target frame t); ``records`` maps
        each record name to an (M,) float64 array.
    """
    if len(clip_dataset) == 0:
        raise DataError("the clip dataset is empty: every video is shorter than the model's history + 1 frames")
    model = _prepare_model(model, device)
    parts: dict[str, list[np.ndarray]] = {}
    rows = []
    for batch, out in _batches(model, clip_dataset, batch_size, device, progress, "scoring"):
        for k, v in _records_of(batch, out, device, model).items():
            parts.setdefault(k, []).append(v)
        rows.append(np.stack([batch["video"].numpy(), batch["t"].numpy()], 1))
    return np.concatenate(rows).astype(np.int64), {k: np.concatenate(v) for k, v in parts.items()}


def _fill_warmup(arr: np.ndarray, frames_in: int) -> np.ndarray:
    arr[:frames_in] = arr[frames_in]
    return arr


def score_prepared(
    model: Any,
    prepared: Any,
    split: str = "test",
    *,
    batch_size: int = 16,
    device: str = "cpu",
    error_maps: bool = False,
    map_flow_weight: float = 0.0,
    progress: bool | None = False,
) -> ScoreResult:
    """Score every video of one split of a prepared dataset.

    Args:
        model: an ``AMMCNet``; set to eval mode here.
        prepared: a ``PreparedDataset`` at the model's resolution.
        split: ``"test"`` (or ``"train"`` for diagnostics).
        batch_size: inference batch size (changes no score).
        device: torch device string.
        error_maps: also keep per-pixel (N, H, W) float16 error maps.
        map_flow_weight: weight of the motion error added to the maps (0 = appearance only).
        progress: show a tqdm bar.

    Returns:
        :class:`ScoreResult` with the four records (two without a motion stream).
    """
    from ammcnet.data import ClipDataset

    cfg = model.config
    frames_in = int(cfg.frames_in)
    videos = list(prepared.videos(split))
    counts = np.asarray(prepared.num_frames(split), np.int64)
    short = [f"{v} ({n})" for v, n in zip(videos, counts, strict=True) if n <= frames_in]
    if short:
        raise DataError(
            f"{prepared.root}: {split} video(s) {', '.join(short[:5])} have at most {frames_in} frames, but the model "
            f"predicts frame t from {frames_in} past frames; remove them or use a model with a shorter history"
        )
    dataset = ClipDataset(prepared, split, frames_in=frames_in, flows_in=int(cfg.flows_in))
    model = _prepare_model(model, device)
    records: dict[str, list[np.ndarray]] = {}
    maps: list[np.ndarray] | None = None
    if error_maps:
        h, w = prepared.size
        maps = [np.zeros((int(n), h, w), np.float16) for n in counts]
    for batch, out in _batches(model, dataset, batch_size, device, progress, f"scoring {split}"):
        vid, t = batch["video"].numpy(), batch["t"].numpy()
        for k, v in _records_of(batch, out, device, model).items():
            arrs = records.setdefault(k, [np.full(int(n), np.nan) for n in counts])
            for i in range(len(v)):
                arrs[vid[i]][t[i]] = v[i]
        if maps is not None:
            amap = error_map(out.frame_pred, batch["target"].to(device), out.flow_pred,
                             batch["flow_target"].to(device) if out.flow_pred is not None else None, map_flow_weight)
            amap = amap.cpu().numpy().astype(np.float16)
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
    ordered = {k: records[k] for k in RECORDS if k in records}
    return ScoreResult(ordered, counts, videos, frames_in, maps)
