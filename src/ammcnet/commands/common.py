"""What several commands share: the ``--device`` flag and old flag spellings that still work.

Light at import time like every command module (``argparse``, ``re``, ``sys`` and
``ammcnet.errors``); torch is imported only when a command resolves its device.

>>> import argparse
>>> p = argparse.ArgumentParser(prog="ammcnet detect")
>>> _ = p.add_argument("--batch-size", type=int, default=None)
>>> renamed(p, "--batch", "--batch-size")
>>> p.parse_args(["--batch", "4"]).batch_size   # also prints "ammcnet detect: --batch is now --batch-size"
4
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from typing import Any

from ammcnet.errors import ConfigError

#: What ``--device`` accepts, as every command's help and docs say it.
DEVICES = "auto (CUDA when available, else the CPU), cpu, cuda or cuda:N"


def device_name(text: str) -> str:
    """The ``type`` of ``--device``: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (any case)."""
    name = text.strip().lower()
    if name in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", name):
        return name
    raise argparse.ArgumentTypeError(f"{text!r}: use {DEVICES}")


def add_device(parser: argparse.ArgumentParser, note: str = "") -> None:
    """``--device DEVICE``, default ``auto``, the same in every command; ``note`` ends its help."""
    parser.add_argument("--device", type=device_name, default="auto", metavar="DEVICE",
                        help=f"torch device: {DEVICES} (default auto{'; ' + note if note else ''})")


def grid_size(text: str) -> tuple[int, ...]:
    """A ``--size`` value: ``N`` (square) or ``HxW``; prepare also takes ``H W`` as two values.

    >>> grid_size("256"), grid_size("240x360")
    ((256,), (240, 360))
    """
    try:
        vals = tuple(int(v) for v in text.lower().split("x"))
    except ValueError:
        vals = ()
    if len(vals) not in (1, 2) or min(vals) < 1:
        raise argparse.ArgumentTypeError(f"size must look like 256 or 240x360, got {text!r}")
    return vals


def resolve_device(name: str, *, remote: bool = False) -> str:
    """The device a command runs on: ``auto`` is ``cuda`` when torch sees a GPU, else ``cpu``.

    The same rule as :func:`ammcnet.training.api.resolve_device`. With ``remote`` (work sent to
    Ray actors, which are given no GPU) ``auto`` is ``cpu``, and no local GPU is looked for.

    Raises:
        ConfigError: a CUDA device asked for where none is available.
    """
    if remote:
        return "cpu" if name == "auto" else name
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: no CUDA device is available; use --device cpu (or auto)")
    return name


class RenamedFlag(argparse.Action):
    """An old spelling of a flag: hidden from ``--help``, stores into the new flag's ``dest`` and
    prints one line on stderr, e.g. ``ammcnet detect: --batch is now --batch-size``."""

    def __init__(self, option_strings: Sequence[str], dest: str, *, new: str, note: str = "", **kwargs: Any) -> None:
        super().__init__(option_strings, dest, **kwargs)
        self.new = new
        self.note = note

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        setattr(namespace, self.dest, self.const if self.nargs == 0 else values)
        note = f" ({self.note})" if self.note else ""
        print(f"{parser.prog}: {option_string} is now {self.new}{note}", file=sys.stderr)


def renamed(parser: argparse.ArgumentParser, old: str, new: str, *, const: Any = None, note: str = "") -> None:
    """Keep ``old`` working as a hidden alias of the flag ``new`` (added to ``parser`` before).

    The alias takes a value like ``new`` (same type) unless ``new`` is a switch or ``const`` is
    given: then ``old`` is a switch that stores ``const`` (``--json`` -> ``--format json``).
    """
    target = parser._option_string_actions[new]
    if const is None and isinstance(target, argparse._StoreConstAction):  # store_true / store_false
        const = target.const
    if const is not None:
        text = new if isinstance(target, argparse._StoreConstAction) else f"{new} {const}"
        parser.add_argument(old, dest=target.dest, action=RenamedFlag, new=text, note=note, nargs=0, const=const,
                            default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    else:
        parser.add_argument(old, dest=target.dest, action=RenamedFlag, new=new, note=note, nargs=target.nargs,
                            type=target.type, choices=target.choices, metavar=target.metavar,
                            default=argparse.SUPPRESS, help=argparse.SUPPRESS)
