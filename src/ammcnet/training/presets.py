"""Named training presets shipped as YAML files in ``ammcnet/presets/``, and preset inheritance.

A preset may start from another one (``base: cpu-lite``) and state only what differs: its
mappings are merged key by key into the base's, any other value (a number, a list) replaces the
base's. ``name`` is never inherited: it is the file's own ``name:`` or, without one, the file's
stem. A ``base`` is a shipped preset's name or a YAML path (relative paths are taken from the
file's folder). ``--set key=value`` overrides then change single values.

>>> "tiny" in list_presets()
True
>>> load_preset("tiny", ["stage1.iterations=2"]).stage1.iterations
2
>>> load_preset("cpu-ped2").model == load_preset("cpu-lite").model   # cpu-ped2 has base: cpu-lite
True
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ammcnet.errors import ConfigError
from ammcnet.training.config import TrainConfig, apply_overrides, config_from_dict

#: The key naming the preset a YAML config starts from.
BASE_KEY = "base"


def _preset_dir() -> Path:
    return Path(str(resources.files("ammcnet").joinpath("presets")))


def list_presets() -> list[str]:
    """Names of the shipped presets, sorted."""
    return sorted(p.stem for p in _preset_dir().glob("*.yaml"))


def _read_mapping(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text; a config is a YAML file") from None
    except yaml.YAMLError:
        raise ConfigError(f"{path} is not valid YAML; fix or delete it") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} does not hold a config mapping; fix or delete it")
    return data


def _find_preset(name: str, relative_to: Path | None = None) -> Path:
    """The YAML file of a preset name or path (a relative path from ``relative_to``'s folder first)."""
    candidate = Path(name)
    if candidate.suffix in (".yaml", ".yml"):
        for path in ([relative_to.parent / candidate] if relative_to is not None else []) + [candidate]:
            if path.is_file():
                return path
        raise ConfigError(f"config file {name} not found{f' (base of {relative_to})' if relative_to else ''}")
    path = _preset_dir() / f"{name}.yaml"
    if not path.is_file():
        where = f"{relative_to}: base {name!r} is not a preset" if relative_to else f"unknown preset {name!r}"
        raise ConfigError(f"{where}; choose one of: {', '.join(list_presets())}")
    return path


def merge(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """``child`` laid over ``base``: mappings merge key by key, anything else replaces.

    >>> merge({"a": {"x": 1, "y": 2}, "b": [1, 2]}, {"a": {"y": 3}, "b": [4]})
    {'a': {'x': 1, 'y': 3}, 'b': [4]}
    """
    out = dict(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def resolve_file(path: Path, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The mapping of a YAML config with its ``base:`` chain resolved (``name`` not inherited).

    Raises:
        ConfigError: unreadable file, unknown base, or a cycle of bases (naming the chain).
    """
    path = path.resolve()
    if path in _chain:
        names = " -> ".join(p.stem for p in (*_chain, path))
        raise ConfigError(f"{_chain[0]}: presets inherit in a cycle ({names}); remove one of the base: keys")
    data = _read_mapping(path)
    base_name = data.pop(BASE_KEY, None)
    name = data.pop("name", path.stem)
    if base_name is not None:
        if not isinstance(base_name, str):
            raise ConfigError(f"{path}: base must be a preset name or a YAML path, got {base_name!r}")
        base = resolve_file(_find_preset(base_name, path), (*_chain, path))
        base.pop("name", None)
        data = merge(base, data)
    return {"name": name, **data}


def load_config_file(path: str | Path) -> TrainConfig:
    """Read and validate a YAML config (a preset or a run's ``config.yaml``), resolving ``base:``."""
    path = Path(path)
    return config_from_dict(resolve_file(path), where=str(path))


def load_preset(name: str, overrides: Iterable[str] = ()) -> TrainConfig:
    """Load a preset by name (or a path to a YAML file) and apply ``key=value`` overrides.

    Raises:
        ConfigError: unknown preset, unknown key or bad value.
    """
    config = load_config_file(_find_preset(name))
    overrides = list(overrides)
    try:
        return apply_overrides(config, overrides)
    except (ValueError, TypeError) as exc:  # a value of the right type but unusable (e.g. a weight of '')
        first = str(exc).splitlines()[0][:160] if str(exc) else repr(exc)
        raise ConfigError(f"--set {' '.join(overrides)}: {first}") from None
