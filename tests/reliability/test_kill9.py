"""``kill -9`` at random moments: nothing half-written, and a rerun completes the work.

The default run kills one cheap command (``export``) at a random moment. The full series, one
random point of each of ``prepare``, ``train`` (then ``--resume``, weights bit-equal to an
uninterrupted run), ``calibrate``, ``test`` and ``export``, takes a few minutes on 2 cores: it
runs with ``AMMCNET_KILL9=1`` (and ``benchmarks/kill_points.py`` runs many points for BENCHMARKS.md).
"""

from __future__ import annotations

import os
import random

import pytest

from .killpoints import kill_series, partial_files, run_and_kill, run_ok, temp_files


def test_export_killed_at_a_random_moment(tiny_model_file, tmp_path):
    out = tmp_path / "onnx"
    args = ["export", str(tiny_model_file), "--onnx", str(out / "m.onnx"), "--size", "32x32"]
    seconds = run_ok(args[:3] + [str(tmp_path / "ref.onnx")] + args[4:], tmp_path)
    fraction = random.Random(os.environ.get("AMMCNET_KILL_SEED", "16")).uniform(0.1, 0.9)
    run_and_kill(args, tmp_path, fraction * seconds)
    assert partial_files(out) == []
    run_ok(args, tmp_path)
    assert partial_files(out) == [] and (out / "m.onnx").is_file()
    assert temp_files(out) == []  # the rerun swept the killed write's hidden temporary file


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("AMMCNET_KILL9") != "1", reason="a few minutes: set AMMCNET_KILL9=1")
def test_every_command_killed_once(tmp_path):
    result = kill_series(tmp_path, points=1, seed=int(os.environ.get("AMMCNET_KILL_SEED", "16")), log=lambda s: None)
    failed = [p for p in result["points"] if not p["passed"]]
    assert not failed, failed
