"""Named training presets shipped as YAML files in ``ammcnet/presets/``.

A preset is a complete :class:`TrainConfig`; ``--set key=value`` overrides change single values.

>>> "tiny" in list_presets()
True
>>> load_preset("tiny", ["stage1.iterations=2"]).stage1.iterations
2
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import yaml

from ammcnet.errors import ConfigError
from ammcnet.training.config import TrainConfig, apply_overrides, config_from_dict


def _preset_dir() -> Path:
    return Path(str(resources.files("ammcnet").joinpath("presets")))


def list_presets() -> list[str]:
    """Names of the shipped presets, sorted."""
    return sorted(p.stem for p in _preset_dir().glob("*.yaml"))


def load_config_file(path: str | Path) -> TrainConfig:
    """Read a YAML config (a preset or a run's ``config.yaml``)."""
    path = Path(path)
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
    return config_from_dict(data)


def load_preset(name: str, overrides: Iterable[str] = ()) -> TrainConfig:
    """Load a preset by name (or a path to a YAML file) and apply ``key=value`` overrides.

    Raises:
        ConfigError: unknown preset, unknown key or bad value.
    """
    candidate = Path(name)
    if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
        config = load_config_file(candidate)
    else:
        path = _preset_dir() / f"{name}.yaml"
        if not path.is_file():
            raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(list_presets())}")
        config = load_config_file(path)
    overrides = list(overrides)
    try:
        return apply_overrides(config, overrides).validate()
    except (ValueError, TypeError) as exc:  # a value of the right type but unusable (e.g. a weight of '')
        raise ConfigError(f"--set {' '.join(overrides)}: {str(exc).splitlines()[0][:160] if str(exc) else exc!r}") from None
