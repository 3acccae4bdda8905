"""The review actions: acknowledge an event, or mark it normal (and, where possible, teach the model).

Every action is one line of the camera's ``reviews.jsonl`` (``{"time", "event_id", "camera",
"action", "taught", "detail"}``), appended with a single ``write`` and ``fsync``-ed, so a crash keeps
all earlier lines whole and a page reload reads the mark back. "Mark normal" also calls the
teach-normal update when it is given (``ammcnet.api.teach``, passed in by :func:`ammcnet.api.serve`)
and the model file is known and its folder writable (the taught model is written beside it as a
new file, the old one kept); otherwise, or when the update refuses, the mark is recorded with
``"taught": false`` and the reason in ``detail``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ammcnet.errors import AmmcError, OutputError
from ammcnet.serve.folder import REVIEWS_FILE, Camera, EventRecord
from ammcnet.utils.io import FILE_MODE, WRITE_ERRNOS, output_error

log = logging.getLogger(__name__)

#: The teach-normal update: ``teach(model, normal_events=["EVENTS.jsonl:EVENT_ID", ...])``.
Teach = Callable[..., Any]
#: The file a model run folder holds.
RUN_MODEL_FILE = "model.pt"
#: Characters of an error kept in a review's ``detail``.
DETAIL_CHARS = 300

_teach_lock = threading.Lock()  # one update of a model file at a time


def now_iso() -> str:
    """Current UTC time, ISO 8601 with milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def append_line(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line with a single ``write`` (O_APPEND) and ``fsync`` it (and the folder, when new).

    Raises:
        OutputError: the folder is read-only or full.
    """
    data = (json.dumps(record, ensure_ascii=False) + "\n").encode()
    try:
        created = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
        try:
            written = os.write(fd, data)
            if written != len(data):  # a full disk mid-line: the reader skips the broken line
                raise OSError(28, "No space left on device", str(path))
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    except OSError as exc:
        if exc.errno in WRITE_ERRNOS:
            raise output_error(path, exc) from None
        raise


def reviews_path(cam: Camera) -> Path:
    """Where the camera's reviews go.

    Raises:
        OutputError: the camera has no folder inside the served one.
    """
    if cam.folder is None:
        raise OutputError(f"camera {cam.name!r}: {cam.note or 'no folder'}; its reviews cannot be recorded")
    return cam.folder / REVIEWS_FILE


def model_target(model: str | None, root: Path) -> tuple[Path | None, str]:
    """The model file that teaching would rewrite, and why it cannot when it cannot (else ``""``).

    ``model`` is a model file or a run folder (its ``model.pt``); a relative path is tried from
    the working directory, then from the served folder ``root``.
    """
    if not model:
        return None, "no model is known: start serve with --model MODEL (or a start line naming it)"
    given = Path(model)
    path = given if given.is_absolute() or given.exists() else root / given
    file = path / RUN_MODEL_FILE if path.is_dir() else path
    if not file.is_file():
        return None, f"model file {file} not found"
    if not os.access(file.parent, os.W_OK):  # the taught model is a new file beside it
        return None, f"the folder of model file {file} is read-only"
    return path, ""


def acknowledge(cam: Camera, event: EventRecord) -> dict[str, Any]:
    """Record that someone saw the event; returns the line written."""
    record = {"time": now_iso(), "event_id": event.id, "camera": cam.name, "action": "acknowledge",
              "taught": False, "detail": ""}
    append_line(reviews_path(cam), record)
    return record


def mark_normal(cam: Camera, event: EventRecord, model: str | None, root: Path,
                teach: Teach | None) -> dict[str, Any]:
    """Mark the event normal: teach the model when possible, then record the mark; returns the line."""
    path = reviews_path(cam)  # fail before teaching when the mark could not be recorded
    target, why = model_target(model, root)
    taught = False
    if target is not None and teach is None:
        why = "this ammcnet has no teach-normal update (ammcnet.api.teach): the mark is recorded only"
    elif target is not None and cam.events_path is not None:
        taught, why = _teach(teach, str(target), f"{cam.events_path}:{event.id}")
    record = {"time": now_iso(), "event_id": event.id, "camera": cam.name, "action": "normal",
              "taught": taught, "detail": why}
    append_line(path, record)
    return record


def _teach(teach: Teach, model: str, event_ref: str) -> tuple[bool, str]:
    """Call the teach-normal update; ``(True, what)`` or ``(False, why not)``, never an exception."""
    try:
        with _teach_lock:
            result = teach(model, normal_events=[event_ref])
    except AmmcError as exc:
        return False, f"teaching failed: {exc}"[:DETAIL_CHARS]
    except Exception as exc:  # a bug in the update must not lose the mark
        log.exception("teaching %s failed", model)
        return False, f"teaching failed: {type(exc).__name__}: {exc}"[:DETAIL_CHARS]
    report = result.report() if callable(getattr(result, "report", None)) else f"model {Path(model).name} taught this event as normal"
    if getattr(result, "model", "") is None:  # the update refused (it would have hurt the validation)
        return False, f"teaching refused: {report}"[:DETAIL_CHARS]
    return True, report[:DETAIL_CHARS]
