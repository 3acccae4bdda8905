"""One writer per output folder: an advisory ``flock`` held while a command writes there.

Two commands writing the same run or output folder at once would interleave their files (two
trainings overwriting each other's checkpoints, two tests each leaving half of ``metrics.json``'s
inputs). Each writing command therefore holds an exclusive lock on ``FOLDER/.ammcnet.lock``, the
same POSIX ``flock`` the prepared-data cache uses. A second command is refused at once in one
line that names the holder (or, with ``wait=True``, waits for it). The lock goes with the process:
a command that is killed, even with ``kill -9``, releases it.

A process killed in the middle of an atomic write (:mod:`ammcnet.utils.io`) leaves its hidden
temporary file (``.NAME.XXXXXXXX.tmp.EXT``) behind, never a partial file under a final name. The
next command that takes the folder's lock removes such leftovers: while it holds the lock no
other ammcnet process writes there.

>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
>>> with output_lock(out, "ammcnet train"):
...     try:
...         with output_lock(out, "ammcnet test"): pass
...     except FolderBusyError as exc:
...         print(str(exc).split(" is in use")[0] == str(out))
True
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from ammcnet.errors import AmmcError

LOCK_NAME = ".ammcnet.lock"
#: Temporary names of ``ammcnet.utils.io.atomic_path`` (and the overlay video): ``.STEM.XXXXXXXX.tmp[.EXT]``.
_STALE_TEMP = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp(\.[A-Za-z0-9]+)?$")


class FolderBusyError(AmmcError):
    """Another process is writing the same output folder."""


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return "another ammcnet process"
    return f"{info.get('command', 'ammcnet')} (pid {info.get('pid', '?')}, since {info.get('since', '?')})"


def sweep_stale_temps(folder: Path) -> list[Path]:
    """Delete the temporary files that killed writers left in ``folder`` (call only under its lock)."""
    removed = []
    for path in folder.rglob(".*.tmp*"):
        if path.is_file() and _STALE_TEMP.match(path.name):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed


@contextlib.contextmanager
def output_lock(folder: str | os.PathLike[str], command: str, *, wait: bool = False) -> Iterator[Path]:
    """Hold the exclusive write lock of ``folder`` (created if needed) for the block.

    Args:
        folder: the run or output folder.
        command: what holds it, for the message a second command prints (e.g. ``"ammcnet train"``).
        wait: wait for the holder to finish instead of refusing.

    Raises:
        FolderBusyError: the folder is locked by another process and ``wait`` is False.

    A folder this call created is removed again if the block leaves nothing in it but the lock.
    """
    try:
        import fcntl
    except ImportError:  # no flock (Windows): concurrent writers are the user's to avoid
        yield Path(folder)
        return
    root = Path(folder)
    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCK_NAME
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise FolderBusyError(
                    f"{root} is in use by {_holder(path)}: wait for it to finish or choose another output folder"
                ) from None
            print(f"waiting for {_holder(path)}, which is writing {root} ...", file=sys.stderr, flush=True)
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"pid": os.getpid(), "command": command,
                             "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}))
        fh.flush()
        sweep_stale_temps(root)
        try:
            yield root
        finally:
            fh.seek(0)
            fh.truncate()
            fh.flush()
            if created and [p.name for p in root.iterdir()] == [LOCK_NAME]:
                path.unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    root.rmdir()
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
