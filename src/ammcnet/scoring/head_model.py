"""Head-only model files: a camera's region head without a network, written by ``ammcnet fit``.

The region head needs no trained network (it scores the motion of the source frames), so a new
camera can alarm a minute after its normal footage is recorded instead of after the network's
half hour of training. Such a file holds the scorer with the fitted head, where the footage came
from, its frame rate, and the spans taught as normal since (``ammcnet teach``), sealed with a
content digest like every model file. ``detect``, ``watch``, ``teach``, ``info`` and the Python API
read it through :func:`open_model`, which returns either kind.

>>> HEAD_FORMAT
'ammcnet-head-model/1'
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ammcnet.errors import CheckpointError, ConfigError
from ammcnet.models.checkpoint import _read, resolve_model_path, verify_content
from ammcnet.scoring.fusion import FusionWeights, Smoothing
from ammcnet.scoring.model_file import ModelFile, read_model_file
from ammcnet.scoring.region_head import RegionHeadComponent
from ammcnet.scoring.scorer import Scorer
from ammcnet.scoring.settings import HonestScoring
from ammcnet.utils.digest import seal
from ammcnet.utils.io import torch_save_atomic
from ammcnet.version import __version__

#: Format tag of a head-only model file.
HEAD_FORMAT = "ammcnet-head-model/1"


@dataclass
class HeadModel:
    """A head-only model file, read and checked.

    Attributes:
        path: the file.
        component: the fitted region head (with its baselines).
        meta: provenance: version, when, the footage it was fitted on (``footage``: sources with
            their frame spans), ``fps``, the spans taught as normal (``taught``) and the digest of the
            file it was taught from (``parent``).
        digest: the file's content digest.
    """

    path: Path
    component: RegionHeadComponent
    meta: dict[str, Any] = field(default_factory=dict)
    digest: str | None = None

    @property
    def scorer(self) -> Scorer:
        """A scorer holding the head alone."""
        return Scorer({RegionHeadComponent.component: self.component})

    @property
    def scoring(self) -> HonestScoring:
        """The region head's mode, with the default smoothing (no fusion: there is nothing to fuse)."""
        return HonestScoring(FusionWeights.from_dict(None), Smoothing.from_dict(None), "region")

    @property
    def fps(self) -> float | None:
        value = self.meta.get("fps")
        return float(value) if value else None


def is_head_model(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("format") == HEAD_FORMAT


def write_head_model(path: str | os.PathLike[str], component: RegionHeadComponent, meta: dict[str, Any]) -> str:
    """Write a head-only model file atomically; returns its content digest."""
    meta = {"ammcnet_version": __version__, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **meta}
    obj = seal({"format": HEAD_FORMAT, "scorer": Scorer({component.component: component}).state(), "meta": meta})
    torch_save_atomic(path, obj)
    return str(obj["digest"])


def _head_model(path: Path, obj: dict[str, Any]) -> HeadModel:
    ok = verify_content(path, obj)
    try:
        scorer = Scorer.from_state(obj.get("scorer"))
        component = scorer.components[RegionHeadComponent.component]
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: the head-only model file's region head is unreadable ({exc}); "
                              "fit it again with ammcnet fit") from None
    return HeadModel(path, component, dict(obj.get("meta") or {}), obj.get("digest") if ok else None)


def open_model(path_or_run_dir: str | os.PathLike[str], map_location: Any = "cpu") -> ModelFile | HeadModel:
    """A model file of either kind: a full one (:class:`~ammcnet.scoring.model_file.ModelFile`) or a
    head-only one (:class:`HeadModel`).

    Raises:
        CheckpointError: the file is missing, damaged or of neither kind.
    """
    path = resolve_model_path(path_or_run_dir)
    obj = _read(path, map_location)
    if is_head_model(obj):
        return _head_model(path, obj)
    return read_model_file(path, map_location=map_location)


def region_head_of(path: str | os.PathLike[str] | None) -> RegionHeadComponent | None:
    """The region head of a model file of either kind (``scoring.head_from``), or None for no path.

    Raises:
        ConfigError: the file holds no region head.
    """
    if path is None:
        return None
    loaded = open_model(path)
    components = loaded.scorer.components
    if RegionHeadComponent.component not in components:
        raise ConfigError(f"scoring.head_from={path}: that model file holds no region head; give one written by "
                          "ammcnet fit, or by ammcnet train with a head")
    return components[RegionHeadComponent.component]
