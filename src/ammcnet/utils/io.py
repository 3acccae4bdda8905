"""Atomic file writes: write to a temporary name in the same folder, then rename.

A crash or a kill never leaves a half-written file under the final name. A folder that is
read-only or full gives :class:`ammcnet.errors.OutputError` (one line naming the file and the
cause) and the temporary file is removed.

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "x.json"
>>> write_json_atomic(p, {"a": 1}); p.read_text().strip()
'{\\n  "a": 1\\n}'
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ammcnet.errors import ConfigError, OutputError

#: errno values that mean "this output cannot be written here" (not a bug, not bad input data).
WRITE_ERRNOS = frozenset(
    getattr(errno, name) for name in ("EACCES", "EPERM", "EROFS", "ENOSPC", "EDQUOT", "EFBIG") if hasattr(errno, name)
)


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: Permissions of written files: what ``open()`` would give (``mkstemp`` alone makes them owner-only).
FILE_MODE = 0o666 & ~_read_umask()


def output_error(path: str | os.PathLike[str], exc: OSError) -> OutputError:
    """The one-line error for an output that cannot be written (read-only, full, no permission)."""
    cause = exc.strerror or type(exc).__name__
    return OutputError(f"cannot write {path}: {cause} (errno {errno.errorcode.get(exc.errno or 0, exc.errno)}): "
                       "free some space or choose a writable output folder")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    The temporary name keeps the final suffix so that libraries which pick a format from the
    suffix (numpy, OpenCV) behave the same.
    """
    final = Path(path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=f".tmp{final.suffix}", dir=final.parent)
    except OSError as exc:
        if exc.errno in WRITE_ERRNOS:
            raise output_error(final, exc) from None
        raise
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():
            os.chmod(tmp, FILE_MODE)
        os.replace(tmp, final)
    except OSError as exc:
        if exc.errno in WRITE_ERRNOS:
            raise output_error(final, exc) from None
        raise
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def save_npy_atomic(path: str | os.PathLike[str], array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        np.save(tmp, array, allow_pickle=False)


def save_npz_atomic(path: str | os.PathLike[str], arrays: dict[str, np.ndarray], compress: bool = False) -> None:
    with atomic_path(path) as tmp:
        (np.savez_compressed if compress else np.savez)(tmp, **arrays)


def torch_save_atomic(path: str | os.PathLike[str], obj: Any) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def read_yaml_file(path: str | os.PathLike[str], what: str) -> Any:
    """A YAML file's content, or a one-line ``ConfigError`` naming the file (``what`` it should be)
    and the fix: every YAML file ammcnet reads (watch configs, zones) fails the same way."""
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what} ({exc.strerror}); give an existing YAML file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the {what} is not UTF-8 text; save it as UTF-8") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]}); fix the syntax") from None
