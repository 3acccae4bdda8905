"""Option values shared by the command line and the library, importable without torch or OpenCV.

``ammcnet --help`` lists them, so they live here, below every layer; the modules that act on
them (``ammcnet.data.layouts``, ``ammcnet.flow``, ``ammcnet.training.presets``,
``ammcnet.metrics.protocols``) import them.

>>> "dis" in FLOW_BACKENDS and "cpu-lite" in preset_names() and DEFAULT_EVAL_PROTOCOL in EVAL_PROTOCOLS
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

#: ``ammcnet evaluate`` / ``ammcnet.evaluate`` protocols (``ammcnet.metrics.protocols``), each with
#: the words printed after its name above the table, so that no number is read without them.
EVAL_PROTOCOLS: dict[str, str] = {
    "honest": "one global scale: every record as is, the same for every video; no per-video statistic, "
              "no weight from test labels",
    "custom": "the conventions in the columns, as given",
    "paper": "per-video min-max, fusion and smoothing weights tuned on test labels by the authors",
    "all": "every convention side by side: 'per-video' rows use each test video's own min and max, "
           "'paper' rows the authors' weights tuned on test labels",
}
#: The protocol used when none is named, by the command and the API alike. A camera never knows a
#: video's minimum and maximum in advance, nor its labels: a default that used either would report
#: a number no deployment reaches. Per-video min-max and the paper's weights are chosen by name only.
DEFAULT_EVAL_PROTOCOL = "honest"


def preset_dir() -> Path:
    """The folder of the shipped training presets."""
    return Path(str(resources.files("ammcnet").joinpath("presets")))


def preset_names() -> list[str]:
    """Names of the shipped presets, sorted."""
    return sorted(p.stem for p in preset_dir().glob("*.yaml"))
