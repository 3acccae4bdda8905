"""File names: names that come from data made safe, and the natural order of frame files.

A video called ``../../etc/x`` in a label file, or a source path ending in ``..``, must never
make ammcnet write outside the output folder.

>>> safe_name("../../etc/passwd"), safe_name(".."), safe_name("cam 1/live?x=1"), safe_name("")
('etc_passwd', 'unnamed', 'cam_1_live_x_1', 'unnamed')
>>> import pathlib
>>> inside(pathlib.Path("/out"), "a/b").as_posix(), inside(pathlib.Path("/out"), "../x") is None
('/out/a/b', True)
>>> sorted(["f10.png", "f2.png"], key=natural_key)
['f2.png', 'f10.png']
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str, default: str = "unnamed") -> str:
    """One path component made of letters, digits, ``.``, ``_`` and ``-``, never ``.``/``..`` or hidden."""
    text = _UNSAFE.sub("_", str(name)).strip("._")
    text = re.sub(r"\.{2,}", ".", text)
    return text[:200] or default


def inside(root: str | os.PathLike[str], relative: str | os.PathLike[str]) -> Path | None:
    """``root / relative`` when that stays inside ``root`` (after resolving ``..``), else None."""
    base = Path(os.path.abspath(root))
    target = Path(os.path.abspath(base / relative))
    return target if target == base or base in target.parents else None


def natural_key(path: str | os.PathLike[str]) -> list:
    """Sort key that orders embedded numbers numerically (``f2`` < ``f10``)."""
    name = Path(path).name
    return [(0, int(tok), "") if tok.isdigit() else (1, 0, tok.lower()) for tok in re.split(r"(\d+)", name) if tok]
