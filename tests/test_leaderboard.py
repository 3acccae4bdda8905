"""Published numbers are generated and checkable: the leaderboards, the README and the docs agree
with the result files, every result file carries its provenance, and the figures are causal and
computed on the same frames for every scoring mode."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ammcnet.metrics.figures import macro_two_class, mode_figures

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"


def _bench_module(name: str, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return __import__(name)


def test_readme_docs_and_benchmarks_agree_with_the_result_files():
    """Rebuilding every generated block from the JSONs changes nothing (a typed or stale number fails)."""
    proc = subprocess.run([sys.executable, str(BENCH / "make_leaderboard_md.py"), "--check"], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr + proc.stdout


def test_every_leaderboard_file_records_how_it_was_made(monkeypatch):
    provenance = _bench_module("provenance", monkeypatch)
    files = sorted((BENCH / "results" / "leaderboard").glob("*.json"))
    assert files, "no leaderboard results"
    for path in files:
        data = provenance.check_provenance(path.name, json.loads(path.read_text()))
        assert data["commit"] != "unknown" and isinstance(data["dirty"], bool)
        assert data["settings"], path.name


def test_a_result_without_provenance_is_refused(tmp_path, monkeypatch):
    board = _bench_module("make_leaderboard_md", monkeypatch)
    (tmp_path / "ped2-x.json").write_text(json.dumps({"command": "python x.py", "scoring_modes": {}}))
    monkeypatch.setattr(board, "RESULTS", tmp_path)
    with pytest.raises(ValueError, match=r"ped2-x.json: no commit, dirty, machine, seed, settings, versions recorded"):
        board.load("ped2-*.json")


def test_a_test_figure_of_another_head_than_the_probe_chose_is_marked(tmp_path, monkeypatch):
    """The validation table quotes the leaderboard's figure beside the probe's choice: when the
    leaderboard's head was fitted with other settings (an older choice), the cell says so."""
    board = _bench_module("make_leaderboard_md", monkeypatch)
    head = {"window": 0.14, "static": 0.002, "weights": {"place": 1.0, "appearance": 1.0, "moving_look": 0.0},
            "appearance_descriptor": "edges+tone"}
    modes = {"motion-head": {"causal_micro": 0.97}, "region": {"causal_micro": 0.96}}
    (tmp_path / "ped2-cpu-lite-net0-head0.json").write_text(json.dumps(
        {"scoring_modes": {"modes": modes}, "settings": {"region_head": head}}))
    monkeypatch.setattr(board, "RESULTS", tmp_path)
    assert board._test_figure("ped2:0", head) == "97.00 -> 96.00"
    assert board._test_figure("ped2:0", {**head, "appearance_descriptor": "edges", "moving_look": 1.0}).endswith("an older choice)")
    moved = {**head, "weights": {**head["weights"], "moving_look": 0.5}}
    assert "another head" in board._test_figure("ped2:0", moved)
    assert board._test_figure("ped2:0", {**head, "try_appearance": False}) == "97.00 -> 96.00"  # not a head setting


def test_the_headline_is_causal_and_the_centred_score_looks_ahead():
    # an event at frames 20-29: a centred smoothing rises before it starts, a causal one cannot
    labels = np.zeros(60, int)
    labels[20:30] = 1
    raw = labels.astype(float)
    k = np.exp(-0.5 * (np.arange(-9, 10) / 3.0) ** 2)
    centred = np.convolve(raw, k / k.sum(), mode="same")
    causal = np.array([raw[max(0, t - 9):t + 1] @ (k[:10] / k[:10].sum())[-min(t + 1, 10):] for t in range(60)])
    figs = mode_figures([centred], [causal], [labels], live_threshold=0.5, first=4)
    assert figs["centred_micro"] > figs["causal_micro"]  # looking ahead is rewarded offline only
    assert figs["frames"] == 56 and figs["first_frame"] == 4
    op = figs["operator"]
    assert op["events"] == 1 and op["events_caught"] == 1 and op["median_delay"] > 0  # a causal alarm comes late
    assert mode_figures([centred], [causal], [labels], None, 4)["operator"] is None


def test_macro_leaves_out_one_class_videos_and_says_how_many():
    y = [np.array([0, 1, 1, 0]), np.zeros(4, int), np.ones(4, int)]
    s = [np.array([0.1, 0.9, 0.8, 0.2]), np.array([0.5, 0.4, 0.3, 0.2]), np.array([0.1, 0.2, 0.3, 0.4])]
    assert macro_two_class(s, y) == (1.0, 1, 2)
    figs = mode_figures(s, s, y, None, 0)
    assert figs["macro"] == 1.0 and figs["macro_excluded"] == 2
    assert figs["macro_padded"] != figs["macro"]  # the padded convention scores the one-class videos too


@pytest.mark.parametrize("name", ["provenance", "make_leaderboard_md"])
def test_the_generator_examples_hold(name, monkeypatch):
    import doctest

    module = _bench_module(name, monkeypatch)
    assert doctest.testmod(module).failed == 0
