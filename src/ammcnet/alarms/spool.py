"""An on-disk, ordered, crash-safe queue of alarm messages that wait for delivery.

A webhook receiver or an MQTT broker can be down for minutes, and the detector can be killed or
restarted in the meantime. Every message a sink accepts is therefore written here first, and
removed only once the receiver has acknowledged it; a new sink on the same folder delivers what
an earlier process left, oldest first. Delivery is at least once: a message whose
acknowledgement was lost (a crash between "sent" and "removed") is sent again.

Layout: one file per message, ``SPOOL/<16-digit sequence number>.json``, written to a hidden
temporary name, fsync-ed and renamed (then the folder is fsync-ed). One file per message rather
than an append-only log with an acknowledged offset because each step is then a single atomic
file-system operation: queueing is a rename, acknowledging is an unlink, rejecting is a rename
into ``rejected/``, dropping the oldest is an unlink. There is no offset file to keep in step
with the log, no torn last line to repair after a crash and no compaction. Alarm messages are a
few per minute at most and the queue is bounded (``max_messages``), so the cost of one small
file per message does not matter.

The folder is held by one sink at a time (``ammcnet.utils.lock.output_lock``: a second sink on
it is refused in one line; a killed process releases it). A full disk raises
:class:`~ammcnet.errors.OutputError` naming the folder; a receiver that stays down cannot fill
the disk, because beyond ``max_messages`` the oldest message is dropped with a counted warning.

>>> import tempfile
>>> spool = Spool(tempfile.mkdtemp(), max_messages=2)
>>> [spool.put(m) for m in (b'{"n": 1}', b'{"n": 2}', b'{"n": 3}')]
[1, 2, 3]
>>> spool.head(), len(spool), spool.dropped
((2, b'{"n": 2}'), 2, 1)
>>> spool.remove(2); spool.head()
(3, b'{"n": 3}')
>>> spool.close()
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import threading
from collections import deque
from pathlib import Path

from ammcnet.errors import ConfigError, OutputError
from ammcnet.utils.lock import output_lock

log = logging.getLogger("ammcnet.alarms")

#: Messages kept at most; beyond it the oldest is dropped (a dead receiver must not fill the disk).
DEFAULT_MAX_MESSAGES = 10_000
#: Sub-folder of messages the receiver refused for good (HTTP 4xx), kept for the operator to read.
REJECTED = "rejected"
#: Digits of the zero-padded sequence number in a message file's name (sorts as text and as number).
SEQ_DIGITS = 16
_NAME = re.compile(rf"^(\d{{{SEQ_DIGITS}}})\.json$")
#: errno values that mean "nothing can be written here", reported as OutputError rather than a traceback.
_WRITE_ERRNOS = frozenset(getattr(errno, n) for n in ("ENOSPC", "EDQUOT", "EFBIG", "EROFS", "EACCES", "EPERM")
                          if hasattr(errno, n))


def _warn_dropped(folder: Path, dropped: int, limit: int) -> None:
    """Warn on the 1st, 10th, 100th, ... drop (then every 10,000th), so a dead receiver does not flood the log."""
    if str(dropped).rstrip("0") == "1" or dropped % 10_000 == 0:
        log.warning("alarm spool %s holds its maximum of %d messages: dropped the oldest (%d dropped so far); "
                    "is the receiver reachable?", folder, limit, dropped)


class Spool:
    """Pending messages of one sink, in order, on disk.

    Thread-safe: a detector thread puts while the sink's delivery thread reads the head and
    removes it.

    Args:
        folder: where the message files live (created if needed); one sink per folder.
        max_messages: pending messages kept at most (>= 1); the oldest beyond it are dropped.
        owner: what holds the folder, named in the message a second sink on it gets.

    Raises:
        ConfigError: ``max_messages`` below 1.
        OutputError: the folder cannot be created or written.
        FolderBusyError: another running sink uses the folder.
    """

    def __init__(self, folder: str | os.PathLike[str], max_messages: int = DEFAULT_MAX_MESSAGES,
                 owner: str = "ammcnet alarm sink") -> None:
        if int(max_messages) < 1:
            raise ConfigError(f"alarm spool max_messages must be at least 1, got {max_messages}")
        self.folder = Path(folder)
        self.max_messages = int(max_messages)
        self.dropped = 0
        self._mutex = threading.Lock()
        self._stack = contextlib.ExitStack()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._error(exc) from None
        self._stack.enter_context(output_lock(self.folder, owner))
        self._seqs: deque[int] = deque(self._scan(self.folder))
        rejected = self._scan(self.folder / REJECTED)
        self._next = max([0, *self._seqs, *rejected]) + 1

    # -- reading the folder ----------------------------------------------------------------------

    @staticmethod
    def _scan(folder: Path) -> list[int]:
        """Sequence numbers of the message files in ``folder``, sorted; leftover temporary files removed."""
        if not folder.is_dir():
            return []
        seqs = []
        for path in folder.iterdir():
            if path.name.startswith(".") and path.name.endswith(".tmp"):
                with contextlib.suppress(OSError):  # a write that a crash interrupted: never acknowledged
                    path.unlink()
            elif match := _NAME.match(path.name):
                seqs.append(int(match.group(1)))
        return sorted(seqs)

    def _path(self, seq: int, folder: Path | None = None) -> Path:
        return (folder or self.folder) / f"{seq:0{SEQ_DIGITS}d}.json"

    def __len__(self) -> int:
        with self._mutex:
            return len(self._seqs)

    def pending(self) -> list[int]:
        """The sequence numbers waiting, oldest first."""
        with self._mutex:
            return list(self._seqs)

    def head(self) -> tuple[int, bytes] | None:
        """The oldest pending message as ``(sequence number, bytes)``, or None when the spool is empty."""
        with self._mutex:
            while self._seqs:
                seq = self._seqs[0]
                try:
                    return seq, self._path(seq).read_bytes()
                except FileNotFoundError:  # removed by hand: nothing to deliver
                    self._seqs.popleft()
            return None

    # -- writing ---------------------------------------------------------------------------------

    def _error(self, exc: OSError) -> OutputError:
        code = errno.errorcode.get(exc.errno or 0, str(exc.errno))
        return OutputError(f"cannot write the alarm spool {self.folder}: {exc.strerror or exc} ({code}): free some "
                           "space on that disk or choose another spool folder (undelivered alarms wait there)")

    def _write(self, path: Path, data: bytes) -> None:
        """Write ``data`` to ``path`` durably: temporary file, fsync, rename, fsync of the folder."""
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            except FileNotFoundError:  # the folder was deleted under us (an output folder cleaned by hand)
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            if exc.errno in _WRITE_ERRNOS:
                raise self._error(exc) from None
            raise
        self._sync_folder(path.parent)

    @staticmethod
    def _sync_folder(folder: Path) -> None:
        """Make a rename or unlink in ``folder`` survive a power cut (best effort: not every file system can)."""
        with contextlib.suppress(OSError):
            fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def put(self, data: bytes) -> int:
        """Queue ``data`` durably and return its sequence number; drop the oldest beyond ``max_messages``.

        Raises:
            OutputError: the disk is full or the folder is not writable (one line naming the folder).
        """
        with self._mutex:
            seq = self._next
            self._write(self._path(seq), data)
            self._next += 1
            self._seqs.append(seq)
            while len(self._seqs) > self.max_messages:
                with contextlib.suppress(FileNotFoundError):
                    self._path(self._seqs.popleft()).unlink()
                self.dropped += 1
                _warn_dropped(self.folder, self.dropped, self.max_messages)
            return seq

    def remove(self, seq: int) -> None:
        """Forget message ``seq`` (delivered). Missing already (dropped meanwhile) is fine."""
        with self._mutex:
            with contextlib.suppress(ValueError):
                self._seqs.remove(seq)
            with contextlib.suppress(FileNotFoundError):
                self._path(seq).unlink()

    def reject(self, seq: int, reason: str) -> Path | None:
        """Move message ``seq`` to ``rejected/`` with ``reason`` beside it (``<seq>.reason.txt``).

        ``reason`` must already be free of secrets. Returns the moved file, or None if it was gone.
        The rejected folder is bounded by ``max_messages`` too (oldest removed).
        """
        with self._mutex:
            with contextlib.suppress(ValueError):
                self._seqs.remove(seq)
            folder = self.folder / REJECTED
            target = self._path(seq, folder)
            try:
                folder.mkdir(exist_ok=True)
                os.replace(self._path(seq), target)
                self._write(target.with_suffix(".reason.txt"), (reason.rstrip("\n") + "\n").encode())
            except FileNotFoundError:
                return None
            except OSError as exc:
                log.warning("cannot move rejected alarm message %d to %s: %s", seq, folder, exc)
                with contextlib.suppress(FileNotFoundError):
                    self._path(seq).unlink()
                return None
            for old in self._scan(folder)[:-self.max_messages]:
                for path in (self._path(old, folder), self._path(old, folder).with_suffix(".reason.txt")):
                    with contextlib.suppress(OSError):
                        path.unlink()
            return target

    def close(self) -> None:
        """Release the folder (the messages stay for the next sink on it)."""
        self._stack.close()
