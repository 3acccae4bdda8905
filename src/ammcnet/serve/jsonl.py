"""Reading JSON Lines files that a detector is appending to while the app reads them.

A writer appends one line at a time, so the last line may be half-written when it is read: only
complete lines (ending in a newline) count, and a line that is not a JSON object is skipped, never
an error. Long logs are read incrementally (:class:`AppendedLines` keeps its offset) and score
histories only by their tail (:func:`tail_rows`), so a page costs the same after a week as after
a minute.

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "x.jsonl"
>>> _ = p.write_bytes(b'{"a": 1}\\nnot json\\n{"a": 2}\\n{"a": 3')   # the last line is still being written
>>> [r["a"] for r in read_rows(p)]
[1, 2]
>>> [r["a"] for r in tail_rows(p, 1)]
[2]
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

#: Bytes read from the end of a score file for the live line (about 400 frame rows).
TAIL_BYTES = 64 * 1024


def parse_line(raw: bytes) -> dict[str, Any] | None:
    """One line as a dict, or None for a blank line, broken JSON or anything but an object."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        row = json.loads(raw)
    except ValueError:  # UnicodeDecodeError is a ValueError too
        return None
    return row if isinstance(row, dict) else None


def _complete(data: bytes) -> list[dict[str, Any]]:
    """The rows of the complete lines in ``data`` (what follows the last newline is left out)."""
    end = data.rfind(b"\n")
    if end < 0:
        return []
    return [row for line in data[:end].split(b"\n") if (row := parse_line(line)) is not None]


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Every complete row of ``path`` ([] when the file does not exist or cannot be read)."""
    try:
        return _complete(path.read_bytes())
    except OSError:
        return []


def tail_rows(path: Path, count: int, max_bytes: int = TAIL_BYTES) -> list[dict[str, Any]]:
    """The last ``count`` complete rows among the last ``max_bytes`` of ``path``."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            start = max(0, size - max_bytes)
            f.seek(start)
            data = f.read(size - start)
    except OSError:
        return []
    if start > 0:  # the first line read is most likely cut: drop it
        data = data[data.find(b"\n") + 1:] if b"\n" in data else b""
    return _complete(data)[-count:] if count > 0 else []


class AppendedLines:
    """The rows appended to one file since the last call, for logs that only grow.

    A file that became shorter than what was read (replaced or truncated) is read again from
    the start; :meth:`new_rows` then says so, and the caller starts its state over.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.lock = threading.Lock()

    def new_rows(self) -> tuple[bool, list[dict[str, Any]]]:
        """``(restarted, rows)``: whether the file was read again from the start, and the new rows."""
        with self.lock:
            try:
                with open(self.path, "rb") as f:
                    size = f.seek(0, os.SEEK_END)
                    restarted = size < self.offset
                    if restarted:
                        self.offset = 0
                    f.seek(self.offset)
                    data = f.read(size - self.offset)
            except OSError:
                restarted, self.offset = self.offset > 0, 0
                return restarted, []
            end = data.rfind(b"\n")
            if end < 0:
                return restarted, []
            self.offset += end + 1
            return restarted, _complete(data[:end + 1])
