"""Optional dependencies, imported through one door that says how to install what is missing.

Extras such as ``onnx`` are not installed by ``pip install -e .``. Importing them here, rather
than with a bare ``import``, turns a missing module into one line that names the extra and the
command that needed it, instead of Python's "No module named ..."::

    onnx = require("onnx", extra="onnx", purpose="ammcnet export")

>>> require("json", extra="dev", purpose="a doctest").__name__
'json'
>>> try:
...     require("no_such_module_xyz", extra="onnx", purpose="ammcnet export")
... except MissingDependencyError as exc:
...     print(exc)
ammcnet export needs the optional module no_such_module_xyz, which is not installed: pip install -e ".[onnx]" (or pip install "ammcnet[onnx]")
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ammcnet.errors import AmmcError

#: Each optional extra of ``pyproject.toml`` and the top-level modules it provides.
EXTRAS: dict[str, tuple[str, ...]] = {
    "onnx": ("onnx", "onnxruntime"),
    "ray": ("ray",),
    "dev": ("pytest", "ruff", "hypothesis", "psutil"),
}


class MissingDependencyError(AmmcError):
    """An optional module is not installed; the message names the extra that provides it."""


def install_hint(extra: str) -> str:
    """The commands that install ``extra`` from a checkout and from the package index."""
    return f'pip install -e ".[{extra}]" (or pip install "ammcnet[{extra}]")'


def require(module: str, *, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` (dotted names allowed) or raise :class:`MissingDependencyError`.

    Args:
        module: what to import, e.g. ``"onnxruntime.quantization"``.
        extra: the ``pyproject.toml`` extra that installs it, e.g. ``"onnx"``.
        purpose: the command or feature that needs it, e.g. ``"ammcnet export --int8"``; it
            starts the error line so the user knows which step stopped.

    Returns:
        The imported module.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or module
        top = module.split(".")[0]
        if missing.split(".")[0] != top and not missing.startswith(top):
            # the module exists but one of *its* imports failed: a broken install, not a missing extra
            raise MissingDependencyError(
                f"{purpose} needs {module}, which failed to import ({str(exc)[:160]}): reinstall it with "
                f"{install_hint(extra)}"
            ) from None
        raise MissingDependencyError(
            f"{purpose} needs the optional module {top}, which is not installed: {install_hint(extra)}"
        ) from None


def try_import(module: str) -> ModuleType | None:
    """``module``, or None when it does not import (for optional reports such as versions in a benchmark)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None
