"""A capture that reopens its source when it drops or stalls, with exponential backoff.

Cameras reboot, Wi-Fi drops, an RTSP server restarts: a watch that ends at the first hiccup is
not a watch. :class:`ReconnectingCapture` wraps a function that opens the source and behaves like
an OpenCV capture (``read()``/``release()``). When reads fail ``drop_after`` times in a row, or one
read blocks longer than ``stall_s``, it releases the source and reopens it, waiting
``initial_delay_s``, then twice as long after each failed attempt, up to ``max_delay_s``; after
``max_attempts`` failed attempts in a row it gives up (``read`` raises ``StopIteration`` and
``stop_reason`` says why). Every gap (from the last good frame to the first good frame after it)
is reported once, through ``on_gap``, with its wall-clock start and end.

It is a reusable building block: ``ammcnet detect`` uses it for URLs and cameras, and any
long-running watcher can wrap its own opener.

>>> import numpy as np
>>> class Flaky:  # delivers 2 frames, then fails
...     def __init__(self): self.n = 0
...     def read(self):
...         self.n += 1
...         return (self.n <= 2, np.zeros((2, 2, 3), np.uint8) if self.n <= 2 else None)
...     def release(self): pass
>>> gaps = []
>>> cap = ReconnectingCapture(Flaky, ReconnectPolicy(drop_after=1, initial_delay_s=0.0, max_attempts=2),
...                           on_gap=gaps.append)
>>> [cap.read()[0] for _ in range(4)], cap.reconnects, len(gaps)
([True, True, True, True], 1, 1)
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ammcnet.errors import AmmcError, ConfigError


@dataclass(frozen=True)
class ReconnectPolicy:
    """How a dropped source is reopened.

    Attributes:
        drop_after: consecutive failed reads that count as a drop.
        stall_s: seconds one read may block before the source counts as stalled (0 = no limit).
        initial_delay_s: wait before the first reopen attempt.
        max_delay_s: the longest wait between attempts (the backoff doubles up to this).
        max_attempts: failed reopen attempts in a row after which the source is given up.
    """

    drop_after: int = 5
    stall_s: float = 10.0
    initial_delay_s: float = 0.5
    max_delay_s: float = 30.0
    max_attempts: int = 10

    def __post_init__(self) -> None:
        if self.drop_after < 1 or self.max_attempts < 1:
            raise ConfigError("reconnect: drop_after and max_attempts must be >= 1")
        if self.stall_s < 0 or self.initial_delay_s < 0 or self.max_delay_s < self.initial_delay_s:
            raise ConfigError("reconnect: delays must be >= 0 and max_delay_s >= initial_delay_s")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before reopen attempt ``attempt`` (1-based)."""
        return min(self.initial_delay_s * 2 ** (attempt - 1), self.max_delay_s)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class ReconnectingCapture:
    """A capture over ``opener()`` that survives drops and stalls (see the module docstring).

    Args:
        opener: opens the source and returns an object with ``read() -> (ok, frame)`` and
            ``release()``; it may raise (e.g. :class:`ammcnet.errors.DataError`) when the source is
            unreachable, which counts as a failed attempt.
        policy: backoff and limits.
        first: an already opened capture to start with (else ``opener()`` is called on first read).
        name: the source for messages (already masked: it is printed as given).
        on_gap: called with a dict per gap: ``start``/``end`` (UTC ISO 8601), ``start_s``/``end_s``
            (seconds since this capture was made), ``seconds``, ``reason``, ``attempts`` and
            ``recovered`` (False for the final gap of a source that was given up).
        sleep: the wait function (tests pass a fake clock).

    Attributes:
        reconnects: successful reopenings.
        frames: good frames delivered.
        failed_reads: reads that returned no frame.
        gaps: every gap reported so far.
        reconnecting: True while the source is being reopened.
        stop_reason: why the source was given up, once it was.
        handles_stalls: always True: a reader should not give up on its own while waiting for a
            frame (:class:`ammcnet.detect.sources.FrameReader` checks it), as this capture
            bounds every read and every reopening itself.
    """

    handles_stalls = True

    def __init__(self, opener: Callable[[], Any], policy: ReconnectPolicy | None = None, *, first: Any = None,
                 name: str = "source", on_gap: Callable[[dict[str, Any]], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.opener = opener
        self.policy = policy or ReconnectPolicy()
        self.name = name
        self._listeners: list[Callable[[dict[str, Any]], None]] = [on_gap] if on_gap is not None else []
        self.sleep = sleep
        self._cap = first
        self._ever_opened = first is not None
        self._t0 = time.monotonic()
        self._lock = threading.Lock()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._gap: dict[str, Any] | None = None
        self._fails = 0
        self.reconnects = 0
        self.frames = 0
        self.failed_reads = 0
        self.gaps: list[dict[str, Any]] = []
        self.reconnecting = False
        self.stop_reason: str | None = None
        self.fps = getattr(first, "fps", None)

    def add_gap_listener(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Also call ``listener`` with each gap (e.g. a detection run writing its events log)."""
        self._listeners.append(listener)

    # -- reading ---------------------------------------------------------------------------
    def read(self) -> tuple[bool, Any]:
        """The next good frame as ``(True, frame)``; blocks through drops; StopIteration when given up."""
        while True:
            if self.stop_reason is not None:
                raise StopIteration
            if self._cap is None:
                self._reopen()
                continue
            ok, frame, why = self._read_once()
            if ok:
                self._fails = 0
                if self._gap is not None:
                    self._end_gap(recovered=True)
                self.frames += 1
                return True, frame
            self.failed_reads += 1
            self._fails += 1
            if why == "stalled" or self._fails >= self.policy.drop_after:
                self._begin_gap(why or f"{self._fails} failed reads in a row")
                self._drop()

    def _read_once(self) -> tuple[bool, Any, str | None]:
        """One read of the current capture, bounded by ``stall_s`` when set."""
        cap = self._cap
        try:
            if not self.policy.stall_s:
                ok, frame = cap.read()
            else:
                if self._pool is None:
                    self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ammcnet-capture")
                ok, frame = self._pool.submit(cap.read).result(timeout=self.policy.stall_s)
        except concurrent.futures.TimeoutError:
            return False, None, "stalled"
        except StopIteration:
            return False, None, "source ended"
        except Exception as exc:  # noqa: BLE001 - a driver error is a failed read
            return False, None, f"{type(exc).__name__}: {str(exc)[:120]}"
        if not ok or frame is None:
            return False, None, None
        return True, frame, None

    # -- gaps and reopening ----------------------------------------------------------------
    def _begin_gap(self, reason: str) -> None:
        if self._gap is None:
            self._gap = {"source": self.name, "start": _now(), "start_s": round(time.monotonic() - self._t0, 3),
                         "reason": reason, "attempts": 0}

    def _end_gap(self, *, recovered: bool) -> None:
        gap, self._gap = self._gap, None
        if gap is None:
            return
        gap["end"] = _now()
        gap["end_s"] = round(time.monotonic() - self._t0, 3)
        gap["seconds"] = round(gap["end_s"] - gap["start_s"], 3)
        gap["recovered"] = recovered
        self.gaps.append(gap)
        for listener in self._listeners:
            listener(dict(gap))

    def _drop(self) -> None:
        cap, self._cap = self._cap, None
        pool, self._pool = self._pool, None
        try:
            if cap is not None:
                cap.release()
        except Exception:  # noqa: BLE001 - a broken capture may fail to release; it is dropped anyway
            pass
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)  # a read blocked in a driver is abandoned

    def _reopen(self) -> None:
        """(Re)open with exponential backoff; sets ``stop_reason`` after ``max_attempts`` failures.

        The very first opening is not a gap; it still retries, so a camera that is booting is waited for.
        """
        first = not self._ever_opened
        if not first:
            self._begin_gap("source not open")
        self.reconnecting = True
        last_error = ""
        try:
            for attempt in range(1, self.policy.max_attempts + 1):
                if attempt > 1 or not first:
                    self.sleep(self.policy.delay(attempt))
                if self._gap is not None:
                    self._gap["attempts"] = attempt
                try:
                    self._cap = self.opener()
                except (AmmcError, OSError, RuntimeError) as exc:
                    last_error = str(exc)[:200]
                    if self._gap is not None:
                        self._gap["last_error"] = last_error
                    continue
                self._fails = 0
                self._ever_opened = True
                self.reconnects += 0 if first else 1
                return
            since = f" (gap since {self._gap['start']})" if self._gap is not None else ""
            self.stop_reason = (f"{self.name} gave no frame after {self.policy.max_attempts} reconnect attempts"
                                f"{since}: {last_error or 'no error given'}")
            self._end_gap(recovered=False)
        finally:
            self.reconnecting = False

    def stop(self, reason: str = "stopped") -> None:
        """End the stream from another thread: the next :meth:`read` raises ``StopIteration``."""
        if self.stop_reason is None:
            self.stop_reason = reason

    def release(self) -> None:
        """Release the current source; an open gap is reported as not recovered."""
        if self._gap is not None and self.stop_reason is None:
            self._end_gap(recovered=False)
        self._drop()
