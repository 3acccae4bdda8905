"""Where alarm lifecycle messages go: the :class:`Sink` protocol, a JSON-lines sink, and the spooling base.

A sink receives each lifecycle message (``{"type": "new"|"update"|"end", "before", "after"}``,
see ``docs/alarms.md``) from the detector's thread. Detection must never wait on a network, so
:meth:`Sink.publish` only writes the message to an on-disk spool (:mod:`ammcnet.alarms.spool`) and
returns; a delivery thread per sink sends the spooled messages in order, retrying with exponential
backoff for as long as the process lives, and removes each one only once the receiver has
acknowledged it. What is still undelivered at :meth:`Sink.close` stays in the spool and goes out
first when a sink starts on the same folder again.

:class:`SpoolingSink` is that machinery; a concrete sink (webhook, MQTT) only says how to send one
message (:meth:`SpoolingSink._send`) and which failures are permanent (:class:`RejectedError`:
the message goes to the spool's ``rejected/`` folder) or passing (:class:`DeliveryError`: retried).

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "alarms.jsonl"
>>> sink = JsonlSink(path)
>>> sink.publish({"type": "new", "before": None, "after": {"id": "1-abc", "top_score": 4.5}})
>>> path.read_text()
'{"type": "new", "before": null, "after": {"id": "1-abc", "top_score": 4.5}}\\n'
>>> sink.close(); sink.stats()["delivered"]
1
"""

from __future__ import annotations

import abc
import json
import logging
import math
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from ammcnet.alarms.spool import DEFAULT_MAX_MESSAGES, Spool
from ammcnet.errors import ConfigError, OutputError
from ammcnet.utils.redact import MASK, mask_text

log = logging.getLogger("ammcnet.alarms")

#: Seconds before the first retry of a failed delivery; doubled after each failure ...
DEFAULT_BACKOFF_INITIAL_S = 0.5
#: ... up to this many seconds between two tries.
DEFAULT_BACKOFF_MAX_S = 30.0
#: Seconds :meth:`Sink.close` waits for the spool to drain by default.
DEFAULT_CLOSE_TIMEOUT_S = 5.0
#: Seconds the delivery thread is given to stop once the close deadline has passed.
_STOP_GRACE_S = 1.0
#: Secrets shorter than this are not searched for in error texts (a one-letter password would mangle them).
_MIN_SECRET_LEN = 4


@runtime_checkable
class Sink(Protocol):
    """Anything that takes alarm lifecycle messages."""

    def publish(self, message: dict[str, Any]) -> None:
        """Accept one message; returns at once (never waits on a network)."""

    def close(self, timeout_s: float = DEFAULT_CLOSE_TIMEOUT_S) -> None:
        """Deliver what can be delivered within ``timeout_s``; the rest waits in the spool for next time."""

    def stats(self) -> dict[str, Any]:
        """Counters: published, delivered, pending, failures, last_error (secrets masked)."""


class DeliveryError(Exception):
    """A delivery that failed for now (receiver down, timeout, HTTP 5xx/408/429): try again later.

    Args:
        message: what went wrong, without secrets.
        retry_after_s: the receiver's own wish (HTTP ``Retry-After``), if any.
    """

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RejectedError(Exception):
    """A message the receiver refuses for good (HTTP 4xx): retrying it would never succeed."""


def encode_message(message: dict[str, Any]) -> bytes:
    """``message`` as UTF-8 JSON; NaN and infinite numbers become null (they are not JSON)."""
    try:
        return json.dumps(message, allow_nan=False, default=_plain).encode()
    except ValueError:
        return json.dumps(_finite(message), allow_nan=False, default=_plain).encode()


def _plain(obj: Any) -> Any:
    """numpy scalars and arrays, paths and tuples-like objects as JSON values."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"an alarm message holds a {type(obj).__name__}, which is not JSON")


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if hasattr(obj, "tolist"):
        return _finite(obj.tolist())
    return obj


def check_backoff(initial_s: float, max_s: float, timeout_s: float | None = None) -> None:
    """Reject retry settings that would spin or never retry, in one line."""
    if not initial_s > 0:
        raise ConfigError(f"alarm sink backoff_initial_s must be above 0 seconds, got {initial_s}")
    if not max_s >= initial_s:
        raise ConfigError(f"alarm sink backoff_max_s ({max_s}) must be at least backoff_initial_s ({initial_s})")
    if timeout_s is not None and not timeout_s > 0:
        raise ConfigError(f"alarm sink timeout_s must be above 0 seconds, got {timeout_s}")


def secret_from_env(value: str | None, env: str | None, default_env: str, what: str) -> str | None:
    """``value``, else the environment variable ``env`` (an error if named and unset), else ``default_env`` if set."""
    if value:
        return value
    if env:
        if not os.environ.get(env):
            raise ConfigError(f"the environment variable {env} (the {what}) is not set: export it or drop the option")
        return os.environ[env]
    return (os.environ.get(default_env) if default_env else None) or None


class JsonlSink:
    """Appends each message to a file as one JSON line, fsync-ed (local logs and tests).

    Local disk only, so it writes in :meth:`publish` itself. A full or read-only disk raises
    :class:`~ammcnet.errors.OutputError` naming the file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._mutex = threading.Lock()
        self._published = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create {self.path.parent}: {exc.strerror}: choose a writable folder") from None

    def publish(self, message: dict[str, Any]) -> None:
        line = encode_message(message) + b"\n"
        with self._mutex:
            try:
                with open(self.path, "ab") as fh:
                    fh.write(line)
                    fh.flush()
                    os.fsync(fh.fileno())
            except OSError as exc:
                raise OutputError(f"cannot append to {self.path}: {exc.strerror}: free some space or choose a "
                                  "writable folder") from None
            self._published += 1

    def close(self, timeout_s: float = DEFAULT_CLOSE_TIMEOUT_S) -> None:
        """Nothing to flush: each line is on disk when :meth:`publish` returns."""

    def __enter__(self) -> JsonlSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> dict[str, Any]:
        with self._mutex:
            return {"sink": "jsonl", "target": str(self.path), "published": self._published,
                    "delivered": self._published, "pending": 0, "failures": 0, "rejected": 0, "dropped": 0,
                    "last_error": None}


class SpoolingSink(abc.ABC):
    """A sink whose messages go through an on-disk spool and a delivery thread (see the module docstring).

    Subclasses implement :meth:`_send`, may override :meth:`_finish` (called once by :meth:`close`
    after the delivery thread stopped) and call :meth:`_start` at the end of their constructor.

    Args:
        spool_dir: the spool folder (one sink per folder).
        max_messages: pending messages kept at most (oldest dropped beyond it).
        backoff_initial_s, backoff_max_s: the retry delays (doubling from the first to the second).
        target: the receiver as it may be shown (already masked).
        secrets: strings that must never appear in stats, logs or errors (token, password).
    """

    kind: ClassVar[str] = "sink"

    def __init__(self, *, spool_dir: str | os.PathLike[str], max_messages: int = DEFAULT_MAX_MESSAGES,
                 backoff_initial_s: float = DEFAULT_BACKOFF_INITIAL_S, backoff_max_s: float = DEFAULT_BACKOFF_MAX_S,
                 target: str, secrets: Sequence[str | None] = ()) -> None:
        check_backoff(backoff_initial_s, backoff_max_s)
        self.target = target
        self._backoff = (float(backoff_initial_s), float(backoff_max_s))
        self._secrets = tuple(s for s in secrets if s and len(s) >= _MIN_SECRET_LEN)
        self._cond = threading.Condition()
        self._counts = {"published": 0, "delivered": 0, "failures": 0, "rejected": 0}
        self._last_error: str | None = None
        self._closing = self._abort = self._kicked = self._closed = False
        self._close_deadline = float("inf")
        self._spool = Spool(spool_dir, max_messages, owner=f"ammcnet {self.kind} alarm sink ({target})")
        self._thread = threading.Thread(target=self._run, name=f"ammcnet-{self.kind}-sink", daemon=True)

    # -- for subclasses ----------------------------------------------------------------------------

    @abc.abstractmethod
    def _send(self, payload: bytes) -> None:
        """Deliver one message; return once the receiver acknowledged it.

        Raises:
            DeliveryError: failed for now (retried after a backoff).
            RejectedError: refused for good (moved to ``rejected/``).
        """

    def _finish(self, timeout_s: float) -> None:
        """Last words after the delivery thread stopped (e.g. MQTT's "offline"); ``timeout_s`` is what is left."""
        del timeout_s  # nothing to say by default

    def _start(self) -> None:
        if self._spool.pending():
            log.info("%s alarm sink: %d message(s) left by an earlier run wait in %s; delivering them first",
                     self.kind, len(self._spool), self._spool.folder)
        self._thread.start()

    def _kick(self) -> None:
        """Retry now instead of at the end of the current backoff (e.g. the connection is back)."""
        with self._cond:
            self._kicked = True
            self._cond.notify_all()

    def _give_up_at(self, wait_s: float) -> float:
        """The monotonic time a wait of ``wait_s`` inside :meth:`_send` must end: sooner if closing."""
        return min(time.monotonic() + wait_s, self._close_deadline)

    @property
    def _aborted(self) -> bool:
        """True once :meth:`close` ran out of time: a long wait in :meth:`_send` should give up."""
        return self._abort

    def mask(self, text: str) -> str:
        """``text`` with URL passwords, secret query values and this sink's secrets replaced by ``***``."""
        text = mask_text(text)
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def _note_error(self, text: str, *, failure: bool = False) -> str:
        """Remember ``text`` (masked) as the last error; count it as a failed try when ``failure``."""
        text = self.mask(text)
        with self._cond:
            self._last_error = text
            if failure:
                self._counts["failures"] += 1
        return text

    # -- the Sink protocol -------------------------------------------------------------------------

    def publish(self, message: dict[str, Any]) -> None:
        """Spool ``message`` (fsync-ed) and wake the delivery thread; never waits on the network.

        Raises:
            OutputError: the spool's disk is full or read-only (one line naming the folder).
            RuntimeError: the sink is closed.
        """
        if self._closed:
            raise RuntimeError(f"the {self.kind} alarm sink for {self.target} is closed: create a new one")
        self._spool.put(encode_message(message))
        with self._cond:
            self._counts["published"] += 1
            self._cond.notify_all()

    def close(self, timeout_s: float = DEFAULT_CLOSE_TIMEOUT_S) -> None:
        """Deliver what can be delivered within ``timeout_s`` seconds, then stop; the rest stays spooled.

        Sending stops early at the first failure (a receiver that is down now is not waited for).
        """
        with self._cond:
            if self._closing:
                return
            self._close_deadline = deadline = time.monotonic() + max(0.0, timeout_s)
            self._closing = self._kicked = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            with self._cond:
                self._abort = True
                self._cond.notify_all()
            self._thread.join(_STOP_GRACE_S)
        try:
            self._finish(max(0.0, deadline - time.monotonic()))
        finally:
            self._closed = True
            left = len(self._spool)
            self._spool.close()
        if left:
            log.warning("%s alarm sink: %d message(s) for %s not delivered yet; they wait in %s for the next start",
                        self.kind, left, self.target, self._spool.folder)

    def __enter__(self) -> SpoolingSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> dict[str, Any]:
        """Counters of this sink since it started.

        Returns:
            ``sink`` (kind), ``target`` (masked), ``published`` (accepted by :meth:`publish`),
            ``delivered`` (acknowledged by the receiver), ``pending`` (in the spool, left-overs of
            an earlier run included), ``failures`` (failed tries, each retry counted), ``rejected``
            (refused for good, moved to ``rejected/``), ``dropped`` (oldest discarded because the
            spool was full), ``last_error`` (masked, or None) and ``spool`` (the folder).
        """
        with self._cond:
            counts = dict(self._counts)
            last_error = self._last_error
        return {"sink": self.kind, "target": self.target, **counts, "pending": len(self._spool),
                "dropped": self._spool.dropped, "last_error": last_error, "spool": str(self._spool.folder)}

    # -- the delivery thread -----------------------------------------------------------------------

    def _wait_for_work(self) -> bool:
        """Block until something is spooled; False when the thread should stop."""
        with self._cond:
            while not self._abort and not self._closing and not len(self._spool):
                self._cond.wait()
            return not self._abort and bool(len(self._spool))

    def _backoff_wait(self, attempt: int, retry_after_s: float | None) -> None:
        initial, most = self._backoff
        delay = min(most, initial * 2 ** min(attempt - 1, 30))
        if retry_after_s:
            delay = min(most, max(delay, retry_after_s))
        with self._cond:
            self._cond.wait_for(lambda: self._abort or self._kicked, timeout=delay)
            self._kicked = False

    def _run(self) -> None:
        attempt = 0
        while self._wait_for_work():
            try:
                item = self._spool.head()
                if item is None:
                    continue
                seq, payload = item
                self._send(payload)
            except RejectedError as exc:
                reason = self._note_error(str(exc), failure=True)
                with self._cond:
                    self._counts["rejected"] += 1
                moved = self._spool.reject(seq, reason)
                log.error("%s alarm sink: message refused for good, not retried: %s (kept in %s)",
                          self.kind, reason, moved or "nowhere: it was gone")
                continue
            except Exception as exc:  # a passing failure, or a bug: neither may stop delivery
                attempt += 1
                text = str(exc) if isinstance(exc, DeliveryError) else f"{type(exc).__name__}: {exc}"
                text = self._note_error(text, failure=True)
                level = logging.WARNING if attempt == 1 else logging.DEBUG
                if self._closing:  # the receiver is not there now: the spool keeps the rest for next time
                    log.log(level, "%s alarm sink: delivery failed while closing: %s", self.kind, text)
                    return
                log.log(level, "%s alarm sink: delivery failed (try %d), retrying with backoff: %s",
                        self.kind, attempt, text)
                self._backoff_wait(attempt, getattr(exc, "retry_after_s", None))
                continue
            self._spool.remove(seq)
            with self._cond:
                self._counts["delivered"] += 1
            if attempt:
                log.info("%s alarm sink: delivering to %s again after %d failed tries", self.kind, self.target,
                         attempt)
            attempt = 0
