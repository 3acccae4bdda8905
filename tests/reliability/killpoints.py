"""``kill -9`` at a random moment of a command, then check what it left and that a rerun completes it.

Used by ``tests/reliability/test_kill9.py`` (one point per command) and
``benchmarks/kill_points.py`` (many points, results for BENCHMARKS.md).

For each command an uninterrupted reference run is timed first. Then the command is started in
a fresh subprocess, killed with SIGKILL after a random fraction of the reference time, and:

* every file it left under a final name must be complete (:func:`partial_files` opens each one:
  model files and checkpoints load and match their digest, JSON/YAML/CSV/NPZ/NPY/ONNX/PNG parse);
  hidden temporary files of unfinished atomic writes are allowed until the rerun;
* the rerun (``train --resume`` for training, the same command otherwise) must succeed, leave no
  temporary file, and give the reference result: bit-equal weights for training, equal arrays
  for prepare and test, an equal calibration, a loadable ONNX graph equal to the reference's.
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .helpers import write_squares_video

REPO = Path(__file__).resolve().parents[2]
TRAIN_SETTINGS = ("--preset", "tiny", "--set", "stage1.iterations=6", "--set", "stage2.iterations=6",
                  "--set", "run.checkpoint_every=1")
COMMANDS = ("prepare", "train", "calibrate", "test", "export")


def cli(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "ammcnet", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_ok(args: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    proc = cli(args, cwd)
    out, err = proc.communicate(timeout=900)
    if proc.returncode != 0:
        raise AssertionError(f"ammcnet {' '.join(args)} failed ({proc.returncode}): {err.strip()[-800:]}")
    return time.perf_counter() - t0


def run_and_kill(args: list[str], cwd: Path, after_s: float) -> bool:
    """Start the command, SIGKILL it after ``after_s``; True when it was killed (not already done)."""
    proc = cli(args, cwd)
    try:
        proc.wait(timeout=after_s)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        return True


def _is_temp(p: Path) -> bool:
    return p.name.startswith(".") and ".tmp" in p.name


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and _is_temp(p)] if folder.exists() else []


def _check_file(p: Path) -> None:
    suffix = p.suffix.lower()
    if suffix == ".pt":
        import torch

        from ammcnet.utils.digest import check_digest

        obj = torch.load(p, map_location="cpu", weights_only=True)
        assert not isinstance(obj, dict) or check_digest(obj) is not False, "digest mismatch"
    elif suffix == ".json":
        json.loads(p.read_text())
    elif suffix == ".jsonl":
        for line in p.read_text().splitlines():
            json.loads(line)
    elif suffix in (".yaml", ".yml"):
        import yaml

        yaml.safe_load(p.read_text())
    elif suffix == ".csv":
        rows = list(csv.reader(p.open(newline="")))
        assert all(len(r) == len(rows[0]) for r in rows), "ragged CSV (a row cut short)"
    elif suffix == ".npz":
        with np.load(p) as z:
            for k in z.files:
                z[k]
    elif suffix == ".npy":
        np.load(p, mmap_mode="r")
    elif suffix == ".onnx":
        import onnx

        onnx.checker.check_model(onnx.load(str(p)))
    elif suffix == ".png":
        import cv2

        assert cv2.imread(str(p)) is not None, "unreadable PNG"


def partial_files(folder: Path) -> list[str]:
    """Files under final names in ``folder`` that do not open completely (with the reason)."""
    bad = []
    if not folder.exists():
        return bad
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or _is_temp(p) or p.name.endswith(".lock"):
            continue
        try:
            _check_file(p)
        except Exception as exc:  # noqa: BLE001 - any failure to open is what we look for
            bad.append(f"{p.relative_to(folder)}: {type(exc).__name__}: {str(exc)[:120]}")
    return bad


@dataclass
class Workspace:
    """A tiny dataset, its prepared cache and a trained run, with reference results of each command."""

    root: Path
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def build(self) -> Workspace:
        for v in range(2):
            write_squares_video(self.data / "train" / f"v{v}", 14, v)
        write_squares_video(self.data / "test" / "t0", 14, 2)
        for cmd in COMMANDS:
            self.seconds[cmd] = run_ok(self.args(cmd, "ref"), self.root)
        # the reference training also prepared the shared cache: time a run on the warm cache
        self.seconds["train"] = run_ok(self.args("train", "warm"), self.root)
        return self

    def args(self, cmd: str, tag: str) -> list[str]:
        """The command line of ``cmd`` writing into outputs named by ``tag`` (inputs from the reference).

        ``prepare`` writes its own ``cache-TAG`` folder; the other commands share ``cache``, which the
        reference training fills (so the prepare reference holds exactly what one prepare writes).
        """
        return {
            "prepare": ["prepare", "data", "--size", "32", "32", "--flow-preset", "ultrafast", "--cache-dir",
                        f"cache-{tag}", "--no-progress"],
            "train": ["train", "data", *TRAIN_SETTINGS, "--out", f"run-{tag}", "--cache-dir", "cache", "--no-progress"],
            "calibrate": ["calibrate", "run-ref", "data", "--out", f"cal-{tag}/model.pt", "--cache-dir", "cache",
                          "--no-progress"],
            "test": ["test", "run-ref", "data", "--out", f"test-{tag}", "--cache-dir", "cache", "--no-progress",
                     "--no-plots"],
            "export": ["export", "run-ref", "--onnx", f"onnx-{tag}/m.onnx"],
        }[cmd]

    def output(self, cmd: str, tag: str) -> Path:
        name = {"prepare": "cache", "train": "run", "calibrate": "cal", "test": "test", "export": "onnx"}[cmd]
        return self.root / f"{name}-{tag}"


def _same_tree_arrays(a: Path, b: Path, pattern: str) -> None:
    fa = sorted(p.relative_to(a) for p in a.rglob(pattern))
    fb = sorted(p.relative_to(b) for p in b.rglob(pattern))
    assert [str(p) for p in fa] == [str(p) for p in fb] and fa, f"{pattern}: {fa} != {fb}"
    for rel in fa:
        if rel.suffix == ".npz":
            with np.load(a / rel) as za, np.load(b / rel) as zb:
                assert sorted(za.files) == sorted(zb.files)
                for k in za.files:
                    assert np.array_equal(za[k], zb[k]), f"{rel}:{k} differs"
        else:
            assert np.array_equal(np.load(a / rel), np.load(b / rel)), f"{rel} differs"


def same_result(ws: Workspace, cmd: str, tag: str) -> None:
    """Assert the rerun's result equals the reference run's."""
    import torch

    out, ref = ws.output(cmd, tag), ws.output(cmd, "ref")
    if cmd == "prepare":
        _same_tree_arrays(ref, out, "*.npy")
    elif cmd == "train":
        a = torch.load(ref / "model.pt", weights_only=True)["state_dict"]
        b = torch.load(out / "model.pt", weights_only=True)["state_dict"]
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), "weights differ"
    elif cmd == "calibrate":
        reference = ws.root / "cal-ref" / "model.pt"
        a = torch.load(reference, weights_only=True)["calibration"]
        b = torch.load(out / "model.pt", weights_only=True)["calibration"]
        assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True), "calibration differs"
    elif cmd == "test":
        _same_tree_arrays(ref, out, "*.npz")
    elif cmd == "export":
        import onnx

        assert onnx.load(str(out / "m.onnx")).graph == onnx.load(str(ref / "m.onnx")).graph, "graph differs"


def kill_point(ws: Workspace, cmd: str, fraction: float, tag: str) -> dict[str, Any]:
    """Kill ``cmd`` at ``fraction`` of its reference time, check, rerun, compare; returns the record."""
    after = max(0.2, fraction * ws.seconds[cmd])
    killed = run_and_kill(ws.args(cmd, tag), ws.root, after)
    out = ws.output(cmd, tag)
    record: dict[str, Any] = {"command": cmd, "fraction": round(fraction, 3), "kill_after_s": round(after, 2),
                              "killed": killed, "partial_files": partial_files(out),
                              "temp_files_left_by_kill": len(temp_files(out))}
    rerun = ws.args(cmd, tag) + (["--resume"] if cmd == "train" and (out / "checkpoints").exists() else [])
    try:
        run_ok(rerun, ws.root)
        record["temp_files_after_rerun"] = [str(p.relative_to(out)) for p in temp_files(out)]
        same_result(ws, cmd, tag)
        record["rerun"] = "completed, equal to the uninterrupted run"
    except AssertionError as exc:
        record["rerun"] = f"FAILED: {str(exc)[:300]}"
    record["passed"] = (not record["partial_files"] and record["rerun"].startswith("completed")
                        and not record.get("temp_files_after_rerun"))
    return record


def kill_series(root: Path, points: int, seed: int, commands: tuple[str, ...] = COMMANDS,
                log: Callable[[str], None] = print) -> dict[str, Any]:
    ws = Workspace(root).build()
    rng = random.Random(seed)
    records = []
    for cmd in commands:
        for i in range(points):
            # after the first ~30 % the command is past its imports and doing its work
            rec = kill_point(ws, cmd, rng.uniform(0.3, 0.97), f"k{i}")
            records.append(rec)
            log(json.dumps(rec))
            shutil.rmtree(ws.output(cmd, f"k{i}"), ignore_errors=True)
    return {"seed": seed, "reference_seconds": {k: round(v, 2) for k, v in ws.seconds.items()}, "points": records}
