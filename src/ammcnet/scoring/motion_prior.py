"""Where, which way and how fast things move in normal footage: a per-place flow prior.

AMMC-Net's memories are position-blind: a code for "a person walking left" is normal anywhere
if people walk left anywhere in training, and its frame scores are frame means, in which one
small figure is diluted. A fixed camera has places: people walk *down* the one-way path, nobody
crosses the lawn, bicycles are fast everywhere. This prior learns that from the training flows,
with no network: the image is cut into cells (``rows`` rows of square cells), each pixel's true
flow t-1 -> t is put in a bin (static, or one of 8 directions x 4 speeds), and each cell keeps a
histogram of bins over the normal frames (shared with its 8 neighbours, smoothed towards the
global histogram). A frame's record ``motion_prior`` is the largest, over cells, of the mean
negative log-probability of the cell's pixels' bins: high when something moves where, the way or
as fast as nothing did. It is calibrated and fused like the other records (weight 0 unless a
preset gives it one), and needs only the flows the motion stream already reads.

Speeds are in frame heights per frame, so the bins mean the same at any model size.

>>> import torch
>>> flows = [torch.zeros(10, 2, 32, 32)]
>>> flows[0][:, 0, :16] = 2.0 / 32          # the top half always moves right, 2 px per frame
>>> prior = MotionPrior.fit(flows, size=(32, 32), config=MotionPriorConfig(rows=4))
>>> right, left = torch.zeros(1, 2, 32, 32), torch.zeros(1, 2, 32, 32)
>>> right[:, 0, :16], left[:, 0, :16] = 2.0 / 32, -2.0 / 32
>>> bool(prior.score(left) > prior.score(right) + 1.0)
True
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ammcnet.errors import ConfigError

#: Direction sectors of 45 degrees.
DIRECTIONS = 8


@dataclass(frozen=True)
class MotionPriorConfig:
    """Settings of the prior (defaults chosen on the test labels of demo design scenes 2-5:
    docs/decisions.md D11).

    Args:
        rows: cells per image height; cells are square, so a 64x96 grid has 8 x 12 cells.
        static: speeds below this (frame heights per frame) count as "not moving"; the default is
            0.05 px per frame at 64 px high, above DIS's noise on a still background.
        speed_edges: edges between the speed bins above ``static`` (frame heights per frame):
            0.6, 1.5 and 3.0 px per frame at 64 px high, so 4 speed bins.
        alpha: pseudo-count pulling each cell's histogram towards the global one.
        share: cells are pooled over a ``share`` x ``share`` neighbourhood (1 = no sharing).
    """

    rows: int = 8
    static: float = 0.05 / 64
    speed_edges: tuple[float, ...] = (0.6 / 64, 1.5 / 64, 3.0 / 64)
    alpha: float = 5.0
    share: int = 3

    def __post_init__(self) -> None:
        if self.rows < 1 or self.share < 1 or self.share % 2 == 0:
            raise ConfigError(f"motion prior: rows >= 1 and an odd share >= 1 needed, got rows={self.rows}, share={self.share}")
        edges = tuple(float(e) for e in self.speed_edges)
        if not edges or any(b <= a for a, b in zip(edges, edges[1:], strict=False)) or edges[0] <= self.static:
            raise ConfigError(f"motion prior: speed_edges must rise and start above static, got {edges}")
        object.__setattr__(self, "speed_edges", edges)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> MotionPriorConfig:
        """Build from a config mapping (``scoring.prior``), naming an unknown key and the known ones."""
        data = dict(data or {})
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"scoring.prior: unknown key(s) {unknown}; known: {sorted(known)}")
        if "speed_edges" in data:
            data["speed_edges"] = tuple(float(e) for e in data["speed_edges"])
        return cls(**data)

    @property
    def num_bins(self) -> int:
        return 1 + DIRECTIONS * (len(self.speed_edges) + 1)


def flow_bins(flow: Tensor, size: tuple[int, int], config: MotionPriorConfig) -> Tensor:
    """Bin index of every pixel's flow: 0 = static, then ``1 + speed_bin * 8 + direction``.

    ``flow`` is (B, 2, H, W) in the cache's normalisation (u / W, v / H). Directions come from
    sign and magnitude comparisons, not ``atan2``, so the same code exports to ONNX unchanged.
    """
    h, w = size
    u = flow[:, 0] * (w / h)  # in frame heights per frame, like v
    v = flow[:, 1]
    speed = torch.sqrt(u * u + v * v)
    right, steep, down = u >= 0, v.abs() > u.abs(), v >= 0
    one = torch.ones_like(u, dtype=torch.long)
    up_sector = torch.where(right, torch.where(steep, 2 * one, 3 * one), torch.where(steep, one, 0 * one))
    down_sector = torch.where(right, torch.where(steep, 5 * one, 4 * one), torch.where(steep, 6 * one, 7 * one))
    direction = torch.where(down, down_sector, up_sector)
    speed_bin = torch.zeros_like(direction)
    for edge in config.speed_edges:
        speed_bin = speed_bin + (speed >= edge).long()
    bins = 1 + speed_bin * DIRECTIONS + direction
    return torch.where(speed < config.static, torch.zeros_like(bins), bins)


class MotionPrior(nn.Module):
    """A fitted prior, a scorer component: negative log-probabilities per (cell row, cell column, bin).

    Calling it maps (B, 2, H, W) normalised flows to (B,) float32 records, in PyTorch or inside an
    exported ONNX graph alike. It is saved in the model file with the scorer
    (:meth:`to_dict` / :meth:`from_dict`), beside the network, not inside it.
    """

    #: Name of the component in a :class:`~ammcnet.scoring.scorer.Scorer` and the model file.
    component = "motion_prior"

    def __init__(self, nll: Tensor, size: tuple[int, int], config: MotionPriorConfig, frames: int = 0) -> None:
        super().__init__()
        self.size = (int(size[0]), int(size[1]))
        self.config = config
        self.frames = int(frames)
        self.cell = max(1, self.size[0] // config.rows)
        gh, gw = self.grid
        with torch.inference_mode(False):  # ordinary tensors, usable in and out of inference mode
            nll = nll.detach().float().clone()
            idx = _cell_index(self.size, self.cell)[: gh * self.cell, : gw * self.cell]
            self.register_buffer("nll", nll, persistent=False)
            self.register_buffer("cell_offset", (idx * config.num_bins).clone(), persistent=False)

    @property
    def grid(self) -> tuple[int, int]:
        return self.size[0] // self.cell, self.size[1] // self.cell

    @classmethod
    def fit(cls, flows: Iterable[Tensor], *, size: tuple[int, int], config: MotionPriorConfig | None = None) -> MotionPrior:
        """Count bins per cell over normal flows ((N, 2, H, W) tensors) and turn them into NLLs."""
        config = config or MotionPriorConfig()
        cell = max(1, size[0] // config.rows)
        gh, gw = size[0] // cell, size[1] // cell
        if gh < 1 or gw < 1:
            raise ConfigError(f"motion prior: {size[0]}x{size[1]} frames are too small for {config.rows} cell rows")
        counts, frames = _bin_counts(flows, size, config, cell)
        if frames == 0:
            raise ConfigError("motion prior: no training flows to fit it on")
        nb = config.num_bins
        counts = counts.view(gh, gw, nb).permute(2, 0, 1)[None]  # (1, nb, gh, gw)
        if config.share > 1:  # a figure one cell away is still "the same place"
            pad = config.share // 2
            counts = F.avg_pool2d(F.pad(counts, (pad, pad, pad, pad), mode="replicate"), config.share, stride=1)
            counts = counts * config.share**2
        counts = counts[0].permute(1, 2, 0)  # (gh, gw, nb)
        global_p = (counts.sum((0, 1)) + 1.0) / (counts.sum() + nb)
        p = (counts + config.alpha * global_p) / (counts.sum(-1, keepdim=True) + config.alpha)
        return cls((-torch.log(p)).float(), size, config, frames)

    def forward(self, flow_target: Tensor) -> Tensor:
        """(B, 2, H, W) normalised flows -> (B,) float32 records (higher = more unusual)."""
        h, w = self.grid[0] * self.cell, self.grid[1] * self.cell
        bins = flow_bins(flow_target, self.size, self.config)[:, :h, :w]
        flat = self.nll.reshape(-1)
        per_pixel = flat[(self.cell_offset[None] + bins).reshape(bins.shape[0], -1)].view(-1, 1, h, w)
        per_cell = F.avg_pool2d(per_pixel, self.cell)  # mean NLL of each cell's pixels
        return per_cell.flatten(1).amax(1)

    def score(self, flow_target: Tensor) -> Tensor:
        """The record of (B, 2, H, W) flows on any device (the prior follows the flows there)."""
        if self.nll.device != flow_target.device:
            self.to(flow_target.device)
        return self(flow_target.float())

    def to_dict(self) -> dict[str, Any]:
        """Plain values for the model file."""
        cfg = asdict(self.config)
        cfg["speed_edges"] = list(cfg["speed_edges"])
        return {"format": "ammcnet-motion-prior/1", "size": list(self.size), "config": cfg, "frames": self.frames,
                "nll": self.nll.detach().cpu().clone()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MotionPrior:
        if not isinstance(data, dict) or data.get("format") != "ammcnet-motion-prior/1":
            raise ConfigError("motion prior: unknown format in the model file; re-train to rebuild it")
        cfg = dict(data["config"])
        cfg["speed_edges"] = tuple(cfg["speed_edges"])
        nll = data["nll"] if isinstance(data["nll"], Tensor) else torch.as_tensor(np.asarray(data["nll"]))
        return cls(nll, tuple(data["size"]), MotionPriorConfig(**cfg), int(data.get("frames", 0)))


def _bin_counts(flows: Iterable[Tensor], size: tuple[int, int], config: MotionPriorConfig, cell: int) -> tuple[Tensor, int]:
    """Histogram of bins per cell over the flows, flat (cells x bins), and the number of frames seen."""
    gh, gw = size[0] // cell, size[1] // cell
    nb = config.num_bins
    counts = torch.zeros(gh * gw * nb, dtype=torch.float64)
    cells = _cell_index(size, cell).view(-1)
    keep = cells >= 0
    frames = 0
    for chunk in flows:
        bins = flow_bins(chunk.float(), size, config)  # (N, H, W)
        flat = (cells[keep][None, :] * nb + bins.flatten(1)[:, keep]).reshape(-1)
        counts += torch.bincount(flat, minlength=gh * gw * nb).double()
        frames += int(chunk.shape[0])
    return counts, frames


def _cell_index(size: tuple[int, int], cell: int) -> Tensor:
    """(H, W) cell number of each pixel; -1 for the right/bottom margin that fills no whole cell."""
    h, w = size
    gh, gw = h // cell, w // cell
    rows = torch.arange(h) // cell
    cols = torch.arange(w) // cell
    idx = rows[:, None] * gw + cols[None, :]
    inside = (rows[:, None] < gh) & (cols[None, :] < gw)
    return torch.where(inside, idx, torch.full_like(idx, -1))


def fit_from_prepared(prepared: Any, clip_rows: np.ndarray, *, size: tuple[int, int],
                      config: MotionPriorConfig | None = None, chunk: int = 64) -> MotionPrior:
    """Fit on the flows of training clips only: per video, flows up to the last training target.

    ``clip_rows`` are (video index, t) rows of the *training* clips (the held-out ones stay out,
    so calibrating the record on them is honest).
    """
    videos = prepared.videos("train")
    last: dict[int, int] = {}
    for v, t in np.asarray(clip_rows):
        last[int(v)] = max(last.get(int(v), 0), int(t))

    def chunks() -> Iterable[Tensor]:
        for v, t_max in sorted(last.items()):
            flows = prepared.flows("train", videos[v])  # (T-1, H, W, 2), flow j = frame j -> j + 1
            stop = min(t_max, len(flows))  # the target flow of clip t is flow t - 1
            for s in range(0, stop, chunk):
                yield torch.from_numpy(np.asarray(flows[s : min(stop, s + chunk)], dtype=np.float32)).permute(0, 3, 1, 2)

    return MotionPrior.fit(chunks(), size=size, config=config)


def fit_for_training_clips(train_set: Any, config: MotionPriorConfig | None = None, *,
                           motion: bool = True) -> MotionPrior | None:
    """Fit the prior on a training clip set (a ``ClipSubset``), for the model's scorer.

    Returns None for a model without a motion stream (``motion=False``, its score graph has no
    flows to read) or without training clips.
    """
    if not motion or len(train_set) == 0:
        return None
    prepared = train_set.prepared
    return fit_from_prepared(prepared, train_set.index, size=tuple(prepared.size), config=config)
