"""The authors' released weights: key renaming, config inference, loading and import.

The authors' module (``twostream``, net_tag ``unet_vq_twostream``) stores 222 entries named
``rgb.*`` (appearance stream), ``op.*`` (motion stream) and ``bridge.O2F`` / ``bridge.F20``
(AMFT). :func:`official_to_ammcnet_state_dict` is a pure renaming onto our modules and
:func:`ammcnet_to_official_state_dict` its inverse; the golden tests prove that the renamed
weights compute the authors' function.

>>> sd = {"rgb.down1.mpconv.1.conv.0.weight": 0, "bridge.F20.conv.4.bias": 1}
>>> sorted(official_to_ammcnet_state_dict(sd))
['amft.f2o.4.bias', 'appearance.down1.conv.0.weight']
>>> sorted(ammcnet_to_official_state_dict(official_to_ammcnet_state_dict(sd))) == sorted(sd)
True
"""

from __future__ import annotations

import hashlib
import os
import re
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ammcnet.errors import CheckpointError
from ammcnet.models.ammcnet import AMMCNet
from ammcnet.models.checkpoint import RUN_MODEL_NAME, _read, check_state_dict, save_model_file
from ammcnet.models.config import ModelConfig

#: First key segment: the authors' name -> ours.
PREFIXES: dict[str, str] = {"rgb": "appearance", "op": "motion", "bridge": "amft"}

_STREAM_RULES: list[tuple[str, str]] = [  # (official remainder, ours) with {i} = an index, {p} = a name
    ("inc.conv.conv.{i}.{p}", "inc.{i}.{p}"),
    ("down{i}.mpconv.1.conv.{j}.{p}", "down{i}.conv.{j}.{p}"),
    ("up{i}.up.{p}", "up{i}.up.{p}"),
    ("up{i}.conv.conv.{j}.{p}", "up{i}.conv.{j}.{p}"),
    ("outc.{p}", "outc.{p}"),
    ("vq_down3.quan.enc.{p}", "memory.enc.{p}"),
    ("vq_down3.quan.quantize.{p}", "memory.codebook.{p}"),
    ("vq_down3.quan.dec.{p}", "memory.dec.{p}"),
]
_BRIDGE_RULES: list[tuple[str, str]] = [
    ("O2F.conv.{i}.{p}", "o2f.{i}.{p}"),
    ("F20.conv.{i}.{p}", "f2o.{i}.{p}"),
]


def _compile(pattern: str) -> re.Pattern[str]:
    regex = re.escape(pattern)
    for name in ("i", "j"):
        regex = regex.replace(re.escape("{" + name + "}"), f"(?P<{name}>\\d+)")
    regex = regex.replace(re.escape("{p}"), r"(?P<p>[A-Za-z_]+)")
    return re.compile(f"^{regex}$")


def _rules(rules: list[tuple[str, str]], inverse: bool) -> list[tuple[re.Pattern[str], str]]:
    return [(_compile(dst if inverse else src), src if inverse else dst) for src, dst in rules]


_FORWARD = {"stream": _rules(_STREAM_RULES, False), "bridge": _rules(_BRIDGE_RULES, False)}
_INVERSE = {"stream": _rules(_STREAM_RULES, True), "bridge": _rules(_BRIDGE_RULES, True)}


def _rename(
    key: str, prefixes: Mapping[str, str], table: dict[str, list[tuple[re.Pattern[str], str]]]
) -> str:
    head, _, rest = key.partition(".")
    if head not in prefixes:
        raise KeyError(key)
    kind = "bridge" if head in ("bridge", "amft") else "stream"
    for pattern, template in table[kind]:
        match = pattern.match(rest)
        if match:
            return f"{prefixes[head]}.{template.format(**match.groupdict())}"
    raise KeyError(key)


def _rename_all(sd: Mapping[str, Any], prefixes: Mapping[str, str], table: Any, side: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    unknown = []
    for key, value in sd.items():
        try:
            out[_rename(key, prefixes, table)] = value
        except KeyError:
            unknown.append(key)
    if unknown:
        more = ", ..." if len(unknown) > 3 else ""
        raise CheckpointError(
            f"{len(unknown)} key(s) not in the {side} model: {', '.join(unknown[:3])}{more}"
        )
    return out


def official_to_ammcnet_state_dict(sd: Mapping[str, Any]) -> dict[str, Any]:
    """Rename the authors' state-dict keys to ours; values are passed through untouched.

    Raises:
        CheckpointError: a key that is not part of the authors' two-stream module (named).
    """
    return _rename_all(sd, PREFIXES, _FORWARD, "authors'")


def ammcnet_to_official_state_dict(sd: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`official_to_ammcnet_state_dict`."""
    return _rename_all(sd, {v: k for k, v in PREFIXES.items()}, _INVERSE, "ammcnet")


def unwrap_state_dict(obj: Any) -> dict[str, Any]:
    """A plain state dict from a loaded ``.pth``: unwraps ``{"state_dict": ...}`` / ``{"model": ...}``
    and strips a DataParallel ``module.`` prefix."""
    for wrapper in ("state_dict", "model"):
        if isinstance(obj, Mapping) and isinstance(obj.get(wrapper), Mapping):
            obj = obj[wrapper]
            break
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"expected a state_dict (a dict of tensors), found a {type(obj).__name__}")
    keys = list(obj)
    if keys and all(isinstance(k, str) and k.startswith("module.") for k in keys):
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return dict(obj)


def infer_official_config(sd: Mapping[str, Any]) -> ModelConfig:
    """The :class:`ModelConfig` whose shapes match an authors' state dict (official key names)."""

    def shape(key: str) -> tuple[int, ...]:
        if key not in sd:
            raise CheckpointError(f"missing key {key}")
        return tuple(sd[key].shape)

    rgb_in = shape("rgb.inc.conv.conv.0.weight")
    op_in = shape("op.inc.conv.conv.0.weight")
    embed = shape("rgb.vq_down3.quan.quantize.embed")
    dec = shape("rgb.vq_down3.quan.dec.weight")
    if rgb_in[1] % 3 or op_in[1] % 2 or dec[1] % embed[0]:
        raise CheckpointError(
            f"unexpected input/memory shapes (rgb.inc {rgb_in}, op.inc {op_in}, dec {dec}): not an AMMC-Net two-stream model"
        )
    return ModelConfig(
        frames_in=rgb_in[1] // 3,
        flows_in=op_in[1] // 2,
        features_root=rgb_in[0],
        embed_dim=embed[0],
        n_embed=embed[1],
        top_k=dec[1] // embed[0],
    )


def load_official_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read an authors' ``.pth`` (plain, wrapped or DataParallel) as a state dict with their key names."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"{path}: no such file: pass the authors' checkpoint (e.g. load_model_ckpt/ped2.pth)"
        )
    if path.stat().st_size == 0:
        raise CheckpointError(
            f"{path}: file is empty (0 bytes): the repository ships placeholder .pth files; download the real weights"
        )
    try:
        return unwrap_state_dict(_read(path, "cpu"))
    except CheckpointError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise CheckpointError(f"{path}: {exc}: pass the authors' twostream checkpoint") from exc


def official_model(sd: Mapping[str, Any], source: str = "state_dict") -> AMMCNet:
    """Build an :class:`AMMCNet` carrying the authors' weights ``sd`` (their key names).

    Raises:
        CheckpointError: a missing, extra or mis-shaped key (named), prefixed by ``source``.
    """
    fix = "pass the authors' unet_vq_twostream checkpoint"
    try:
        config = infer_official_config(sd)
        ours = official_to_ammcnet_state_dict(sd)
    except CheckpointError as exc:
        raise CheckpointError(f"{source}: {exc}: {fix}") from exc
    model = AMMCNet(config)
    expected = ammcnet_to_official_state_dict(model.state_dict())
    missing = [k for k in expected if k not in sd]
    if missing:
        more = ", ..." if len(missing) > 3 else ""
        raise CheckpointError(
            f"{source}: {len(missing)} missing key(s) ({', '.join(missing[:3])}{more}): {fix}"
        )
    shapes = [
        f"{k} {tuple(np.shape(sd[k]))} != {tuple(v.shape)}"
        for k, v in expected.items()
        if tuple(np.shape(sd[k])) != tuple(v.shape)
    ]
    if shapes:
        more = "; ..." if len(shapes) > 2 else ""
        raise CheckpointError(
            f"{source}: {len(shapes)} mis-shaped key(s) ({'; '.join(shapes[:2])}{more}): {fix}"
        )
    check_state_dict(source, model, {k: _as_tensor(v) for k, v in ours.items()}, fix=fix)
    model.load_state_dict({k: _as_tensor(v) for k, v in ours.items()})
    return model.eval()


def _as_tensor(value: Any) -> Any:
    return torch.from_numpy(np.asarray(value)) if isinstance(value, np.ndarray) else value


def import_official(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    dataset: str | None = None,
) -> Path:
    """Convert the authors' ``.pth`` into a run folder ``out`` holding ``model.pt``.

    Args:
        path: the authors' checkpoint (a ``twostream`` state dict; wrapped or ``module.``-prefixed is fine).
        out: run folder to create; ``ammcnet test --model OUT`` accepts it.
        overwrite: replace an existing ``OUT/model.pt``.
        dataset: optional dataset name recorded in the file's meta.

    Returns:
        The written model file.
    """
    path = Path(path)
    target = Path(out) / RUN_MODEL_NAME
    if target.exists() and not overwrite:
        raise CheckpointError(f"{target}: already exists: choose another --out or pass --overwrite")
    sd = load_official_state_dict(path)
    model = official_model(sd, source=str(path))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    meta = {
        "source": "official",
        "source_file": str(path.resolve()),
        "source_sha256": digest,
        "official_keys": len(sd),
    }
    if dataset:
        meta["dataset"] = dataset
    save_model_file(target, model, meta=meta)
    return target


def recipe_state_dict(entries: Iterable[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
    """The deterministic weights of the golden outputs (benchmarks/official_model/README.md).

    Args:
        entries: ``{"key", "shape", "dtype"}`` records (``state_dict_keys.json``), official names.

    Returns:
        A state dict with the authors' key names, float32 (int64 for ``num_batches_tracked``).
    """
    entries = list(entries)
    bn_modules = {e["key"].rsplit(".", 1)[0] for e in entries if e["key"].endswith(".running_mean")}
    half, tenth, twentieth, one = np.float32(0.5), np.float32(0.1), np.float32(0.05), np.float32(1.0)
    out: dict[str, torch.Tensor] = {}
    for e in entries:
        key, shape = e["key"], tuple(e["shape"])
        if key.endswith(".num_batches_tracked"):
            out[key] = torch.zeros(shape, dtype=torch.int64)
            continue
        n = np.random.default_rng(zlib.crc32(key.encode("utf-8"))).standard_normal(shape, dtype=np.float32)
        module, _, name = key.rpartition(".")
        if name in ("running_var", "cluster_size"):
            value = half + half * np.abs(n)
        elif name == "running_mean":
            value = tenth * n
        elif name in ("embed", "embed_avg"):
            value = n
        elif len(shape) == 1 and name == "weight" and module in bn_modules:
            value = one + twentieth * n
        elif len(shape) == 1:
            value = twentieth * n
        else:
            value = n / np.sqrt(np.float32(np.prod(shape[1:])))
        out[key] = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
    return out
