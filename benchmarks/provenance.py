"""What every stored benchmark result starts with: the command that made it and the machine it ran on.

>>> sorted(provenance())
['command', 'machine']
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path
from typing import Any

from ammcnet.utils.io import write_json_atomic


def provenance() -> dict[str, str]:
    """The command line (interpreter name, then the arguments) and the machine (architecture, host)."""
    return {"command": " ".join([Path(sys.executable).name, *sys.argv]), "machine": f"{platform.machine()} {platform.node()}"}


def save_result(path: str | Path | None, payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` after :func:`provenance`, written atomically to ``path`` when one is given."""
    out = {**provenance(), **payload}
    if path:
        write_json_atomic(path, out)
    return out
