"""The model file: weights, the sizes that rebuild the network, and what was learned about it.

A model file is a ``torch.save``d dict of tensors and plain containers only, so that
``torch.load(path, weights_only=True)`` reads it without running any pickled code::

    {"format": "ammcnet-model/1", "model_config": asdict(ModelConfig),
     "state_dict": {...}, "calibration": dict | None, "train_config": dict | None, "meta": dict,
     "scorer": dict | None,   # fitted score components, e.g. the motion prior (ammcnet.scoring.Scorer)
     "digest": "sha256:..."}

The digest (:mod:`ammcnet.utils.digest`) covers the weights and every setting; each load checks
it and refuses a file that was damaged or changed after ammcnet wrote it, and refuses weights
that hold NaN or inf. Files written before digests existed still load, with a one-line notice.

A run folder (written by training or ``ammcnet import-official``) holds its final model as
``RUN/model.pt``; :func:`load_model_file` accepts the folder or the file.

>>> import tempfile, pathlib
>>> from ammcnet.models import AMMCNet, ModelConfig
>>> run = pathlib.Path(tempfile.mkdtemp())
>>> save_model_file(run / "model.pt", AMMCNet(ModelConfig(features_root=4, embed_dim=8, n_embed=16)))
>>> load_model_file(run).config.features_root
4
"""

from __future__ import annotations

import logging
import os
import pickle
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ammcnet.errors import CheckpointError, ConfigError
from ammcnet.models.ammcnet import AMMCNet
from ammcnet.models.config import ModelConfig
from ammcnet.settings import load_settings
from ammcnet.utils.digest import DIGEST_KEY, check_digest, non_finite_tensors, seal
from ammcnet.utils.io import torch_save_atomic
from ammcnet.version import __version__

log = logging.getLogger("ammcnet")

#: Format tag stored in every model file; bump on an incompatible change.
MODEL_FORMAT = "ammcnet-model/1"
#: The model file inside a run folder.
RUN_MODEL_NAME = "model.pt"


@dataclass
class LoadedModel:
    """A model file, read back.

    Attributes:
        model: the network, in eval mode, on ``map_location``.
        config: its sizes.
        calibration: statistics of the scores on held-out normal clips, or None.
        train_config: the training settings that produced it, or None.
        meta: free-form provenance (version, source file, ...).
        path: the file that was read.
        digest: the content digest stored in the file (None for files written before digests).
        verified: True when the stored digest matched the content; None when there was none.
        scorer_state: the scorer's fitted components as stored (``ammcnet.scoring.load_scorer``
            rebuilds them), or None.
    """

    model: AMMCNet
    config: ModelConfig
    calibration: dict[str, Any] | None
    train_config: dict[str, Any] | None
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path = Path()
    digest: str | None = None
    verified: bool | None = None
    scorer_state: dict[str, Any] | None = None


def to_plain(obj: Any, where: str = "value") -> Any:
    """Convert numpy values, paths and tuples to what ``weights_only`` loading accepts.

    Raises:
        TypeError: for anything else that is not a tensor, str, int, float, bool or None.
    """
    if obj is None or isinstance(obj, (str, bool, int, float)):
        return obj
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, dict):
        return {str(k): to_plain(v, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    raise TypeError(
        f"{where}: cannot store a {type(obj).__name__} in a model file (use plain numbers, str, lists, dicts)"
    )


def save_model_file(
    path: str | os.PathLike[str],
    model: AMMCNet,
    *,
    calibration: dict[str, Any] | None = None,
    train_config: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    scorer: dict[str, Any] | None = None,
) -> None:
    """Write ``model`` and its sizes to ``path`` atomically (temp name, then rename).

    Args:
        path: destination file (conventionally ``RUN/model.pt``).
        model: the network; its weights are stored as float32 CPU tensors.
        calibration: JSON-able score statistics (from ``ammcnet.scoring.calibrate``).
        train_config: the training settings, as a plain dict.
        meta: provenance; ``ammcnet_version`` is added when absent.
        scorer: the scorer's fitted components (``Scorer.state()``, e.g. the motion prior fitted
            at the end of training), stored beside the weights.
    """
    state = {
        k: (v.detach().to("cpu", torch.float32) if v.is_floating_point() else v.detach().cpu()).clone()
        for k, v in model.state_dict().items()
    }
    meta = dict(meta or {})
    meta.setdefault("ammcnet_version", __version__)
    obj = {
        "format": MODEL_FORMAT,
        "model_config": model.config.to_dict(),
        "state_dict": state,
        "calibration": to_plain(calibration, "calibration"),
        "train_config": to_plain(train_config, "train_config"),
        "meta": to_plain(meta, "meta"),
    }
    if scorer is not None:
        obj["scorer"] = to_plain(scorer, "scorer")
    torch_save_atomic(path, seal(obj))


def resolve_model_path(path_or_run_dir: str | os.PathLike[str]) -> Path:
    """A model file, or ``RUN/model.pt`` for a run folder; CheckpointError if there is none."""
    path = Path(path_or_run_dir)
    if path.is_dir():
        candidate = path / RUN_MODEL_NAME
        if not candidate.is_file():
            raise CheckpointError(
                f"{path}: run folder has no {RUN_MODEL_NAME}: finish training it, or pass a model file "
                "(e.g. RUN/checkpoints/last.pt)"
            )
        return candidate
    if not path.exists():
        raise CheckpointError(
            f"{path}: no such model file or run folder: check the path (ammcnet train writes RUN/model.pt)"
        )
    return path


def _read(path: Path, map_location: Any) -> Any:
    if path.stat().st_size == 0:
        raise CheckpointError(
            f"{path}: file is empty (0 bytes): the download or the save did not finish; fetch it again"
        )
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    # arbitrary bytes make the weights-only unpickler fail in many ways (IndexError, TypeError, struct
    # errors...): whichever it is, the file is not a readable model file
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, ValueError, OSError, KeyError,
            IndexError, TypeError, AttributeError, struct.error) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "weights_only" in reason or "Weights only" in reason:  # torch's long advice is not ours to give
            reason = "unpickling failed"
        raise CheckpointError(
            f"{path}: not a readable model file ({reason[:160]}): it is corrupt, truncated or not a torch file; "
            "re-save or re-download it"
        ) from exc


def check_state_dict(
    path: Path | str,
    model: torch.nn.Module,
    state: dict[str, Any],
    fix: str = "use a model file of this architecture",
) -> None:
    """Refuse a state dict whose keys or shapes differ from ``model``'s, naming the first few."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(state[k].shape)} != {tuple(expected[k].shape)}"
        for k in expected
        if k in state
        and (not isinstance(state[k], torch.Tensor) or tuple(state[k].shape) != tuple(expected[k].shape))
    ]
    problems = []
    if missing:
        problems.append(
            f"{len(missing)} missing key(s) ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''})"
        )
    if unexpected:
        problems.append(
            f"{len(unexpected)} unexpected key(s) ({', '.join(unexpected[:3])}{', ...' if len(unexpected) > 3 else ''})"
        )
    if shapes:
        problems.append(
            f"{len(shapes)} mis-shaped key(s) ({'; '.join(shapes[:2])}{'; ...' if len(shapes) > 2 else ''})"
        )
    if problems:
        raise CheckpointError(f"{path}: weights do not fit the model: {', '.join(problems)}: {fix}")


def verify_content(path: Path | str, obj: dict[str, Any], what: str = "model file") -> bool | None:
    """Check a loaded object's content digest: refuse a mismatch, note a missing one.

    Returns:
        True when the digest matched, None when the file has none (written before digests).

    Raises:
        CheckpointError: the content does not match its digest.
    """
    ok = check_digest(obj)
    if ok is False:
        raise CheckpointError(
            f"{path}: damaged or changed outside ammcnet (its content does not match the SHA-256 digest stored "
            f"in the {what}): restore it from a copy or write it again"
        )
    if ok is None:
        log.warning("%s: %s has no content digest (written by an older ammcnet); it loads, but damage cannot "
                    "be detected: save it again to add one", path, what)
    return ok


def check_finite(path: Path | str, state: dict[str, Any], what: str = "weights") -> None:
    """Refuse a state dict whose floating-point tensors hold NaN or inf."""
    bad = non_finite_tensors(state)
    if bad:
        raise CheckpointError(
            f"{path}: {len(bad)} of the {what} hold NaN or inf (first: {bad[0]}): training diverged or the file is "
            "damaged; use an earlier checkpoint or train again"
        )


def _looks_official(obj: dict[Any, Any]) -> bool:
    prefixes = ("rgb.", "op.", "bridge.", "module.rgb.", "module.op.")
    inner = obj.get("state_dict", obj.get("model", obj))
    return isinstance(inner, dict) and any(str(k).startswith(prefixes) for k in inner)


def load_model_file(path_or_run_dir: str | os.PathLike[str], map_location: Any = "cpu") -> LoadedModel:
    """Read a model file (or ``RUN/model.pt``) and rebuild its network in eval mode.

    Args:
        path_or_run_dir: a model file, or a run folder holding ``model.pt``.
        map_location: device for the weights (as for ``torch.load``).

    Returns:
        :class:`LoadedModel`.

    Raises:
        CheckpointError: missing, empty, corrupt or truncated file; wrong format tag; weights of
            another architecture (missing, unexpected or mis-shaped keys); content that does not match
            its digest ("damaged or changed outside ammcnet"); weights holding NaN or inf.
    """
    path = resolve_model_path(path_or_run_dir)
    obj = _read(path, map_location)
    if not isinstance(obj, dict) or "format" not in obj:
        hint = ""
        if isinstance(obj, dict) and _looks_official(obj):
            hint = (
                f" (it looks like the authors' weights: run `ammcnet import-official {path} --out RUN` first)"
            )
        raise CheckpointError(
            f"{path}: not an ammcnet model file (no format tag){hint}: pass RUN/model.pt written by ammcnet"
        )
    if obj["format"] != MODEL_FORMAT:
        raise CheckpointError(
            f"{path}: model file format {obj['format']!r} is not supported (expected {MODEL_FORMAT!r}): "
            "re-export it with this version of ammcnet"
        )
    verified = verify_content(path, obj)
    for key in ("model_config", "state_dict"):
        if not isinstance(obj.get(key), dict):
            raise CheckpointError(f"{path}: model file lacks its {key}: the file is damaged; re-save it")
    check_finite(path, obj["state_dict"])
    try:
        config = load_settings(ModelConfig, obj["model_config"], where="model_config")
    except ConfigError as exc:
        raise CheckpointError(
            f"{path}: stored model config is invalid ({exc}): re-save the model with this version"
        ) from exc
    model = AMMCNet(config)
    state = obj["state_dict"]
    check_state_dict(
        path,
        model,
        state,
        fix="the file belongs to another architecture or version; re-train or re-import it",
    )
    model.load_state_dict(state)
    model.to(map_location if map_location is not None else "cpu").eval()
    scorer_state = obj.get("scorer")
    if scorer_state is None and obj.get("motion_prior") is not None:  # files written before the scorer entry
        scorer_state = {"format": "ammcnet-scorer/1", "components": {"motion_prior": obj["motion_prior"]}}
    return LoadedModel(
        model=model,
        config=config,
        calibration=obj.get("calibration"),
        train_config=obj.get("train_config"),
        meta=dict(obj.get("meta") or {}),
        path=path,
        digest=obj.get(DIGEST_KEY),
        verified=verified,
        scorer_state=scorer_state,
    )
