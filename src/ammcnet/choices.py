"""Option values shared by the command line and the library, importable without torch or OpenCV.

``ammcnet --help`` lists them, so they live here, below every layer; the modules that act on
them (``ammcnet.data.layouts``, ``ammcnet.flow``, ``ammcnet.training.presets``) import them.

>>> "dis" in FLOW_BACKENDS and "cpu-lite" in preset_names()
True
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

#: Dataset layouts ``prepare`` and ``verify`` understand ("auto" = detect).
LAYOUTS: tuple[str, ...] = ("auto", "frames", "ucsd", "avenue", "shanghaitech", "custom")
#: Optical flow backends selectable by name.
FLOW_BACKENDS: tuple[str, ...] = ("dis", "farneback", "flo")
#: DIS presets, fastest first.
DIS_PRESET_NAMES: tuple[str, ...] = ("ultrafast", "fast", "medium-unrefined", "medium")


def preset_dir() -> Path:
    """The folder of the shipped training presets."""
    return Path(str(resources.files("ammcnet").joinpath("presets")))


def preset_names() -> list[str]:
    """Names of the shipped presets, sorted."""
    return sorted(p.stem for p in preset_dir().glob("*.yaml"))
