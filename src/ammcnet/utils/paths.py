"""Names that come from data (video names, label rows, source names) made safe as file names.

A video called ``../../etc/x`` in a label file, or a source path ending in ``..``, must never
make ammcnet write outside the output folder.

>>> safe_name("../../etc/passwd"), safe_name(".."), safe_name("cam 1/live?x=1"), safe_name("")
('etc_passwd', 'unnamed', 'cam_1_live_x_1', 'unnamed')
>>> import pathlib
>>> inside(pathlib.Path("/out"), "a/b").as_posix(), inside(pathlib.Path("/out"), "../x") is None
('/out/a/b', True)
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
