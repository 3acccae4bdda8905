"""The demo's report scenes stay blind: no selection script can look at one, and the lists agree.

A scene that informed a decision (weights, thresholds, candidate parts, a probe) proves little
about unseen scenes; the demo's published numbers are over report scenes only. These tests fail
when a script that chooses or probes on demo scenes does not pass its scenes through the guard,
when a stored result was made on a report scene by anything but the leaderboard, or when the
preset's comment and the code name different lists.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

from ammcnet.demo.config import DESIGN_SEEDS, REPORT_SEEDS, refuse_report_seeds
from ammcnet.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"
#: Scripts that read demo scenes only to report (never to choose): the leaderboard and the
#: generators of BENCHMARKS.md, and two that time or tabulate runs.
REPORTERS = {"leaderboard.py", "make_leaderboard_md.py", "make_honest_md.py", "make_benchmarks_md.py",
             "bench_demo.py", "demo_scenes.py"}
GUARDS = ("design_folders(", "refuse_report_seeds(")


def _scripts() -> list[Path]:
    return sorted([*BENCH.glob("*.py"), *BENCH.glob("probes/*.py")])


def test_the_lists_are_disjoint_and_report_scenes_are_ten_fresh_seeds():
    assert len(REPORT_SEEDS) >= 10 and not set(REPORT_SEEDS) & set(DESIGN_SEEDS)
    with pytest.raises(ConfigError, match=r"report scene\(s\) \[104\]"):
        refuse_report_seeds([3, 104])


def test_the_demo_preset_names_both_lists():
    text = (REPO / "src" / "ammcnet" / "presets" / "demo.yaml").read_text()
    design = re.search(r"design scenes ([\d ]+)\(", text)
    report = re.search(r"report scenes ([\d ]+)\(", text)
    assert design and report, "presets/demo.yaml must name the design and the report scene seeds"
    assert tuple(map(int, design.group(1).split())) == DESIGN_SEEDS
    assert tuple(map(int, report.group(1).split())) == REPORT_SEEDS


@pytest.mark.parametrize("script", _scripts(), ids=lambda p: str(p.relative_to(BENCH)))
def test_every_script_that_reads_demo_scenes_is_guarded_or_only_reports(script):
    text = script.read_text()
    if script.name in REPORTERS or not re.search(r"scene|demo", text):
        return
    assert any(g in text for g in GUARDS), (
        f"{script.relative_to(REPO)} reads demo scenes but never calls design_folders() or refuse_report_seeds(): "
        "a selection script must keep the report scenes blind")


def test_a_selection_script_refuses_a_report_scene(tmp_path, monkeypatch):
    folder = tmp_path / "s105"
    (folder / "scene").mkdir(parents=True)
    (folder / "scene" / "scene.json").write_text(json.dumps({"seed": 105}))
    monkeypatch.syspath_prepend(str(BENCH))
    spec = importlib.util.spec_from_file_location("demo_fusion_select", BENCH / "demo_fusion_select.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "demo_fusion_select", module)
    spec.loader.exec_module(module)
    with pytest.raises(SystemExit, match=r"report scene\(s\) \[105\]"):
        module.main([str(folder)])


def test_no_stored_result_outside_the_leaderboard_was_made_on_a_report_scene():
    seeds = "|".join(map(str, REPORT_SEEDS))
    pattern = re.compile(rf"--seeds?(?:\s+\d+)*\s+(?:{seeds})\b|/s(?:{seeds})\b|seed(?:{seeds})\b")
    for path in (BENCH / "results").rglob("*.json"):
        if "leaderboard" in path.parts:
            continue
        data = json.loads(path.read_text())
        commands = " ".join(str(data.get(k, "")) for k in ("command", "commands"))
        assert not pattern.search(commands), f"{path.name} was made on a report scene: {commands[:200]}"
