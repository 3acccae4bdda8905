"""Keep event media from filling the disk: delete the oldest snapshots and clips first.

A camera watched for months writes a snapshot and a clip per event; without a limit the disk
fills and then nothing at all can be written. :meth:`Retention.prune` removes, in the folders it
is given:

1. every media file older than ``max_age_s`` (by modification time), then
2. the oldest remaining files until their total size is at most ``max_bytes``.

What it may delete is deliberately narrow: only regular files ending in ``.jpg``, ``.jpeg`` or
``.mp4`` that sit directly in one of the given folders. It never recurses, never follows or
removes a symbolic link, never touches a temporary file still being written (hidden names, or
names holding ``.tmp.``, as :class:`ammcnet.media.encoder.VideoEncoder` and
:func:`ammcnet.utils.io.atomic_path` write), and never anything outside the folders. Event logs
(``events.jsonl``) and other files beside the media are left alone.

>>> import tempfile, pathlib, os
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> for i, name in enumerate(["a.jpg", "b.jpg", "c.mp4"]):
...     _ = (d / name).write_bytes(b"x" * 100); os.utime(d / name, (1000 + i, 1000 + i))
>>> [p.name for p in Retention(max_bytes=150).prune(d)], sorted(p.name for p in d.iterdir())
(['a.jpg', 'b.jpg'], ['c.mp4'])
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ammcnet.errors import ConfigError

log = logging.getLogger(__name__)

#: Suffixes of the files retention may delete (lower case).
MEDIA_SUFFIXES = (".jpg", ".jpeg", ".mp4")


@dataclass(frozen=True)
class _Media:
    path: Path
    size: int
    mtime: float


def is_temporary(name: str) -> bool:
    """True for a file still being written: a hidden name or one holding ``.tmp.``."""
    return name.startswith(".") or ".tmp." in name or name.endswith(".tmp")


def _folders(folder_or_folders: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Path]:
    items = [folder_or_folders] if isinstance(folder_or_folders, (str, os.PathLike)) else list(folder_or_folders)
    out: list[Path] = []
    home = Path.home().resolve()
    for item in items:
        folder = Path(item).resolve()
        if folder == Path(folder.anchor) or folder == home:
            raise ConfigError(f"refusing to prune media in {folder}: give the snapshots/ or clips/ folder itself")
        if folder.exists() and not folder.is_dir():
            raise ConfigError(f"{folder} is not a folder: give the snapshots/ or clips/ folder to prune")
        if folder not in out:
            out.append(folder)
    return out


def _media_in(folder: Path) -> list[_Media]:
    """The deletable media files directly inside ``folder`` (none if it does not exist)."""
    found: list[_Media] = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return found
    for entry in entries:
        name = entry.name
        if is_temporary(name) or not name.lower().endswith(MEDIA_SUFFIXES):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(st.st_mode):  # symbolic links, folders, devices: never
            continue
        path = folder / name
        if path.parent != folder:  # defensive: a name can never climb out, but say so in code
            continue
        found.append(_Media(path, int(st.st_size), float(st.st_mtime)))
    return found


@dataclass(frozen=True)
class Retention:
    """Limits on stored event media; None means no limit of that kind.

    Attributes:
        max_bytes: total size of the media files in all the pruned folders together (bytes).
        max_age_s: files whose modification time is older than this many seconds are removed.
    """

    max_bytes: int | None = None
    max_age_s: float | None = None

    def __post_init__(self) -> None:
        if self.max_bytes is not None and self.max_bytes < 0:
            raise ConfigError(f"retention max_bytes must be >= 0 or None, got {self.max_bytes}")
        if self.max_age_s is not None and self.max_age_s < 0:
            raise ConfigError(f"retention max_age_s must be >= 0 or None, got {self.max_age_s}")

    def prune(self, folder_or_folders: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
              now: float | None = None) -> list[Path]:
        """Delete expired and excess media in the given folder(s), oldest first; returns what was removed.

        Args:
            folder_or_folders: one folder or several (e.g. every camera's ``snapshots`` and ``clips``).
            now: the current unix time (default: ``time.time()``), for tests.
        """
        files = [m for folder in _folders(folder_or_folders) for m in _media_in(folder)]
        files.sort(key=lambda m: (m.mtime, m.path.name))
        removed: list[Path] = []
        if self.max_age_s is not None:
            cutoff = (time.time() if now is None else now) - self.max_age_s
            expired = [m for m in files if m.mtime < cutoff]
            removed += [m.path for m in expired if _unlink(m.path)]
            files = [m for m in files if m.mtime >= cutoff]
        if self.max_bytes is not None:
            total = sum(m.size for m in files)
            for m in files:
                if total <= self.max_bytes:
                    break
                if _unlink(m.path):
                    removed.append(m.path)
                    total -= m.size
        return removed


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        log.warning("retention could not remove %s: %s", path, exc.strerror or exc)
        return False
    return True
