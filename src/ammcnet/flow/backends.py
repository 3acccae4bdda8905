"""Optical-flow backends behind one small interface.

Every backend turns two RGB uint8 frames of the model grid into (H, W, 2) float32 flow in
pixels (channel 0 = u, horizontal; 1 = v, vertical), the motion from the first frame to the
second. ``params()`` names everything that changes the result; it goes into the cache key.

Backends: ``dis`` (OpenCV DIS, default, presets ultrafast/fast/medium), ``farneback`` (OpenCV),
``flo`` (precomputed Middlebury ``.flo`` files, e.g. the authors' FlowNet2 flows) and
:class:`TorchFlowBackend` (a learned estimator the user supplies with its weights file).

>>> import numpy as np
>>> a = np.zeros((32, 32, 3), np.uint8); a[8:16, 8:16] = 255
>>> get_flow_backend("dis", preset="fast").compute(a, np.roll(a, 2, axis=1)).shape
(32, 32, 2)
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ammcnet.choices import FLOW_BACKENDS
from ammcnet.errors import CheckpointError, ConfigError, DataError
from ammcnet.flow.flo import read_flo
from ammcnet.utils.paths import natural_key

#: DIS presets by name (OpenCV constants); the names are ``ammcnet.choices.DIS_PRESET_NAMES``.
DIS_PRESETS: dict[str, int] = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium-unrefined": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
#: Presets that switch off OpenCV's variational refinement: ``medium``'s patch search (finest
#: scale 1, stride 3) at about 60 % of its time; the refinement only smooths the field a little
#: (0.025 px mean change at 240x320).
DIS_UNREFINED: frozenset[str] = frozenset({"medium-unrefined"})
#: Farneback defaults (OpenCV's tutorial values), all part of the cache key.
FARNEBACK_DEFAULTS: dict[str, float | int] = {
    "pyr_scale": 0.5,
    "levels": 3,
    "winsize": 15,
    "iterations": 3,
    "poly_n": 5,
    "poly_sigma": 1.2,
}
#: Split names as the frame-folder layout spells them.
SPLIT_DIRS = {"train": "training", "test": "testing"}


def grey_frame(rgb: np.ndarray) -> np.ndarray:
    """An (H, W, 3) RGB uint8 frame as (H, W) uint8 grey: what DIS and Farneback see (and what the
    analysis grid resizes, :class:`ammcnet.flow.analysis.AnalysisFlow`)."""
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


class FlowBackend:
    """Base class: pairwise flow, and the N - 1 flows of a whole video."""

    name: str = "base"

    def params(self) -> dict[str, Any]:
        """Everything that changes the output, JSON-able (stored in the cache manifest)."""
        return {"backend": self.name}

    def compute(self, prev_rgb: np.ndarray, next_rgb: np.ndarray) -> np.ndarray:
        """Flow from ``prev_rgb`` to ``next_rgb`` (both (H, W, 3) uint8) as (H, W, 2) float32 pixels."""
        raise NotImplementedError

    def video_flows(self, frames: np.ndarray, *, video: str | None = None, split: str | None = None) -> Iterator[np.ndarray]:
        """Yield flow j = frame j -> j + 1 for j = 0 .. N - 2 of (N, H, W, 3) uint8 ``frames``."""
        for j in range(len(frames) - 1):
            yield self.compute(frames[j], frames[j + 1])


class DISFlow(FlowBackend):
    """OpenCV's Dense Inverse Search flow on grey frames: fast, no weights, deterministic."""

    name = "dis"

    def __init__(self, preset: str = "medium") -> None:
        if preset not in DIS_PRESETS:
            raise ConfigError(f"unknown DIS preset {preset!r}; choose one of {', '.join(DIS_PRESETS)}")
        self.preset = preset
        self._dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])
        if preset in DIS_UNREFINED:
            self._dis.setVariationalRefinementIterations(0)

    def params(self) -> dict[str, Any]:
        return {"backend": self.name, "preset": self.preset, "opencv": cv2.__version__}

    def compute(self, prev_rgb: np.ndarray, next_rgb: np.ndarray) -> np.ndarray:
        return self.compute_grey(grey_frame(prev_rgb), grey_frame(next_rgb))

    def compute_grey(self, prev_grey: np.ndarray, next_grey: np.ndarray) -> np.ndarray:
        """Flow between two (H, W) uint8 grey frames: for callers that keep their frames grey."""
        return self._dis.calc(prev_grey, next_grey, None).astype(np.float32, copy=False)

    def video_flows(self, frames: np.ndarray, *, video: str | None = None, split: str | None = None) -> Iterator[np.ndarray]:
        grey_prev = grey_frame(frames[0]) if len(frames) else None
        for j in range(len(frames) - 1):
            grey_next = grey_frame(frames[j + 1])  # convert each frame once, not twice
            yield self.compute_grey(grey_prev, grey_next)
            grey_prev = grey_next


class FarnebackFlow(FlowBackend):
    """OpenCV Farneback polynomial-expansion flow (slower and smoother than DIS)."""

    name = "farneback"

    def __init__(self, **params: float | int) -> None:
        unknown = set(params) - set(FARNEBACK_DEFAULTS)
        if unknown:
            raise ConfigError(f"unknown Farneback option(s) {sorted(unknown)}; allowed: {', '.join(FARNEBACK_DEFAULTS)}")
        self.options = {**FARNEBACK_DEFAULTS, **params}

    def params(self) -> dict[str, Any]:
        return {"backend": self.name, **self.options, "opencv": cv2.__version__}

    def compute(self, prev_rgb: np.ndarray, next_rgb: np.ndarray) -> np.ndarray:
        o = self.options
        flow = cv2.calcOpticalFlowFarneback(
            grey_frame(prev_rgb), grey_frame(next_rgb), None, o["pyr_scale"], int(o["levels"]), int(o["winsize"]),
            int(o["iterations"]), int(o["poly_n"]), o["poly_sigma"], 0,
        )
        return flow.astype(np.float32, copy=False)


def rescale_flow(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize (h, w, 2) pixel flow to ``size`` = (H, W), scaling displacements with the grid.

    The authors resized ``.flo`` files without rescaling the displacements; here u is multiplied
    by W / w and v by H / h so the result is in pixels of the new grid.
    """
    h0, w0 = flow.shape[:2]
    h, w = size
    if (h0, w0) == (h, w):
        return flow.astype(np.float32, copy=False)
    out = cv2.resize(flow.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    out[..., 0] *= w / w0
    out[..., 1] *= h / h0
    return out


class FloFileFlow(FlowBackend):
    """Precomputed ``.flo`` flows read from disk instead of being computed.

    Looks for ``<dir>/<video>/*.flo`` in these places, first match wins:
    ``DIR/optical_flow/{training,testing}/frames/flow``, ``DIR/{training,testing}/frames/flow``,
    ``DIR/{training,testing}``, ``DIR/{train,test}`` and ``DIR`` itself. A video of N frames needs
    N - 1 files (natural sort order); each is rescaled to the model grid.
    """

    name = "flo"

    def __init__(self, flow_dir: str | os.PathLike[str]) -> None:
        self.flow_dir = Path(flow_dir).expanduser().resolve()
        if not self.flow_dir.is_dir():
            raise DataError(f"flow folder {self.flow_dir} does not exist; pass --flow-dir pointing at the .flo tree")

    def params(self) -> dict[str, Any]:
        return {"backend": self.name, "flow_dir": str(self.flow_dir), "rescale": "bilinear+displacement"}

    def compute(self, prev_rgb: np.ndarray, next_rgb: np.ndarray) -> np.ndarray:
        raise DataError("the 'flo' backend reads precomputed files per video; it cannot compute flow between two frames")

    def video_dir(self, video: str, split: str | None) -> Path:
        """The folder holding ``video``'s ``.flo`` files."""
        d = self.flow_dir
        splits = [SPLIT_DIRS.get(split, split), split] if split else []
        candidates = [d / "optical_flow" / s / "frames" / "flow" / video for s in splits]
        candidates += [d / s / "frames" / "flow" / video for s in splits]
        candidates += [d / s / video for s in splits] + [d / video]
        for c in candidates:
            if c.is_dir():
                return c
        raise DataError(f"no .flo folder for video {video!r} under {d} (looked for e.g. {candidates[0]}); check --flow-dir")

    def video_flows(self, frames: np.ndarray, *, video: str | None = None, split: str | None = None) -> Iterator[np.ndarray]:
        if video is None:
            raise DataError("the 'flo' backend needs the video name to find its .flo files")
        folder = self.video_dir(video, split)
        files = sorted((p for p in folder.iterdir() if p.suffix.lower() == ".flo"), key=natural_key)
        if len(files) != len(frames) - 1:
            raise DataError(
                f"{folder} holds {len(files)} .flo files but video {video!r} has {len(frames)} frames "
                f"(needs {len(frames) - 1}); recompute the flows for this video"
            )
        size = frames.shape[1:3]
        for f in files:
            yield rescale_flow(read_flo(f), size)


class TorchFlowBackend(FlowBackend):
    """A learned flow estimator (e.g. a FlowNet2/RAFT port) supplied by the user.

    Args:
        factory: builds the ``nn.Module``; it is called with no arguments. The module takes two
            (B, 3, H, W) float32 frames in [0, 1] and returns (B, 2, H, W) flow in pixels
            (wrap other conventions in a small module).
        weights: the state-dict file to load (nothing is downloaded).
        device: where to run it.
        name: a label stored in the cache manifest with the weights' sha256.
    """

    name = "torch"

    def __init__(
        self,
        factory: Callable[[], Any],
        weights: str | os.PathLike[str],
        device: str = "cpu",
        name: str = "torch",
    ) -> None:
        import torch

        self.weights = Path(weights).expanduser().resolve()
        if not self.weights.is_file():
            raise CheckpointError(f"flow weights {self.weights} not found; pass the path of the estimator's weights file")
        try:
            state = torch.load(self.weights, map_location=device, weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any load failure is a bad file
            raise CheckpointError(f"cannot load flow weights {self.weights} ({type(exc).__name__}); check the file") from None
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        self.module = factory().to(device).eval()
        try:
            self.module.load_state_dict(state)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise CheckpointError(f"{self.weights} does not fit the flow module: {first}") from None
        self.device = device
        self.label = name
        self.sha256 = hashlib.sha256(self.weights.read_bytes()).hexdigest()

    def params(self) -> dict[str, Any]:
        return {"backend": self.name, "label": self.label, "weights": str(self.weights), "sha256": self.sha256}

    def compute(self, prev_rgb: np.ndarray, next_rgb: np.ndarray) -> np.ndarray:
        import torch

        def to_t(x: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None].float().div(255).to(self.device)

        with torch.inference_mode():
            out = self.module(to_t(prev_rgb), to_t(next_rgb))
        flow = out[0].detach().permute(1, 2, 0).float().cpu().numpy()
        if flow.shape[:2] != prev_rgb.shape[:2]:
            flow = rescale_flow(flow, prev_rgb.shape[:2])
        return flow.astype(np.float32, copy=False)


#: Backends selectable by name.
BACKENDS = FLOW_BACKENDS


def get_flow_backend(name: str = "dis", **params: Any) -> FlowBackend:
    """Build a backend by name.

    Args:
        name: ``dis`` (``preset=``), ``farneback`` (OpenCV options) or ``flo`` (``flow_dir=``).
        **params: backend options.

    Returns:
        A :class:`FlowBackend`.
    """
    if name == "dis":
        return DISFlow(**params)
    if name == "farneback":
        return FarnebackFlow(**params)
    if name == "flo":
        if "flow_dir" not in params or params["flow_dir"] is None:
            raise ConfigError("the 'flo' flow backend needs --flow-dir (the folder of precomputed .flo files)")
        return FloFileFlow(params["flow_dir"])
    raise ConfigError(f"unknown flow backend {name!r}; choose one of {', '.join(BACKENDS)} (or pass a TorchFlowBackend)")
