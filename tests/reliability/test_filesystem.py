"""Concurrency and the file system: one writer per folder, read-only or full folders, names from data."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from ammcnet.cli import main
from ammcnet.detect.many import output_names
from ammcnet.errors import OutputError
from ammcnet.utils.io import save_npy_atomic, torch_save_atomic, write_json_atomic
from ammcnet.utils.lock import LOCK_NAME, FolderBusyError, output_lock
from ammcnet.utils.paths import inside, safe_name

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "src")


def _files(folder):
    return sorted(p.name for p in folder.rglob("*") if p.is_file() and p.name != LOCK_NAME)


def test_second_writer_is_refused_across_processes(tiny_model_file, tmp_path, capsys):
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from ammcnet.utils.lock import output_lock
            with output_lock({str(out)!r}, "ammcnet train"):
                print("locked", flush=True)
                sys.stdin.readline()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.path.abspath(SRC)},
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        code = main(["detect", "--model", str(tiny_model_file), str(tmp_path / "none.mp4"), "--threshold", "1",
                     "--out", str(out), "--no-progress"])
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1
        assert f"{out} is in use by ammcnet train (pid {holder.pid}" in err
        assert _files(out) == []
    finally:
        holder.communicate("\n", timeout=30)
    # the holder is gone (its lock with it): the folder is free again
    with output_lock(out, "ammcnet test"):
        pass


def test_lock_waits_when_asked(tmp_path):
    out = tmp_path / "o"
    with output_lock(out, "a"), pytest.raises(FolderBusyError):
        with output_lock(out, "b"):
            pass
    with output_lock(out, "b", wait=True):  # free: no wait
        pass


def test_lock_leaves_no_empty_folder(tmp_path):
    with output_lock(tmp_path / "new", "ammcnet detect"):
        pass
    assert not (tmp_path / "new").exists()


def _fail_with(code):
    def raise_(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    return raise_


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES])
def test_read_only_folder_is_one_line(tmp_path, monkeypatch, code):
    monkeypatch.setattr("tempfile.mkstemp", _fail_with(code))
    with pytest.raises(OutputError, match=r"cannot write .*x\.json: .*choose a writable output folder"):
        write_json_atomic(tmp_path / "x.json", {"a": 1})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores folder permissions")
def test_really_read_only_folder(tmp_path):
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="Permission denied"):
            write_json_atomic(tmp_path / "x.json", {"a": 1})
    finally:
        tmp_path.chmod(0o755)


def test_write_failing_part_way_leaves_nothing(tmp_path, monkeypatch):
    real_save = np.save

    def half_then_full(file, arr, **kwargs):  # writes some bytes, then the disk is full
        with open(file, "wb") as fh:
            fh.write(b"\x93NUMPY partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "save", half_then_full)
    with pytest.raises(OutputError, match=r"No space left on device \(errno ENOSPC\)"):
        save_npy_atomic(tmp_path / "scores.npy", np.zeros(3))
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(np, "save", real_save)

    def torch_half(obj, f, *a, **k):
        open(f, "wb").write(b"PK\x03\x04partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", torch_half)
    with pytest.raises(OutputError):
        torch_save_atomic(tmp_path / "model.pt", {"w": torch.ones(1)})
    assert list(tmp_path.iterdir()) == []


def test_full_disk_in_cli_is_one_line(tiny_model_file, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("ammcnet.utils.io.tempfile.mkstemp", _fail_with(errno.ENOSPC))
    out = tmp_path / "m.onnx"
    code = main(["export", str(tiny_model_file), "--onnx", str(out), "--size", "32x32"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert f"cannot write {out}: No space left on device" in err and not out.exists()


@pytest.mark.parametrize("name", ["../x", "../../etc/passwd", "..", ".", "/abs/path", "a/../../b", "", "~"])
def test_names_from_data_stay_inside(tmp_path, name):
    safe = safe_name(name)
    assert "/" not in safe and safe not in (".", "..") and not safe.startswith(".")
    assert inside(tmp_path, safe) is not None and inside(tmp_path, safe).parent == tmp_path
    assert inside(tmp_path, name) is None or tmp_path in inside(tmp_path, name).parents or inside(tmp_path, name) == tmp_path


def test_detect_many_output_names_cannot_escape():
    names = output_names(["/videos/..", "../x.mp4", "rtsp://u:secret@cam/../live", "a/b/"])
    assert all("/" not in n and n not in (".", "..") and "secret" not in n for n in names)
