"""Every flag of every command has a row in the options table of that command's docs page, and
the old spellings of renamed flags still work, each with a one-line notice naming the new flag."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from ammcnet.cli import COMMANDS, build_parser, main
from ammcnet.commands.common import resolve_device

DOCS = Path(__file__).resolve().parents[1] / "docs"

#: command -> (page, the heading of the section that holds its options table)
PAGES: dict[str, tuple[str, str]] = {
    "demo": ("demo.md", "# The demo: a generated scene, end to end"),
    "prepare": ("data.md", "## `ammcnet prepare` options"),
    "verify": ("data.md", "# Data: layouts, `ammcnet verify` and `ammcnet prepare`"),
    "synthesize": ("honest-scoring.md", "### The validation set as a dataset"),
    "train": ("training.md", "# Training: `ammcnet train` and presets"),
    "test": ("testing.md", "# Testing: `ammcnet test` and the honest protocol"),
    "calibrate": ("testing.md", "## The honest protocol (default)"),
    "fit": ("alarms.md", "## `ammcnet fit`: a camera in a minute"),
    "teach": ("alarms.md", "## `ammcnet teach`: this was normal"),
    "evaluate": ("evaluate.md", "## Options"),
    "detect": ("detect.md", "## Options"),
    "watch": ("distributed.md", "## Watching a camera fleet"),
    "serve": ("serve.md", "## Options"),
    "import-official": ("model.md", "## The authors' weights"),
    "export": ("export.md", "## Export: ONNX and the backends"),
    "info": ("reliability.md", "### `ammcnet info MODEL`"),
    "bench": ("export.md", "## `ammcnet bench`: honest throughput figures"),
}

#: old spelling -> (a command line with it, the attribute it sets, the value, the notice)
ALIASES = {
    "detect --batch": (["detect", "clip.mp4", "--model", "run", "--batch", "4"], "batch_size", 4,
                       "ammcnet detect: --batch is now --batch-size"),
    "prepare --cache": (["prepare", "data", "--cache", "c"], "cache_dir", "c",
                        "ammcnet prepare: --cache is now --cache-dir"),
    "train --cache": (["train", "data", "--cache", "c"], "cache_dir", "c", "ammcnet train: --cache is now --cache-dir"),
    "synthesize --force": (["synthesize", "data", "--out", "v", "--force"], "overwrite", True,
                           "ammcnet synthesize: --force is now --overwrite"),
    "info --json": (["info", "run", "--json"], "format", "json", "ammcnet info: --json is now --format json"),
    "export --calibrate": (["export", "run", "--onnx", "m.onnx", "--calibrate", "D"], "int8_data", "D",
                           "ammcnet export: --calibrate is now --int8-data"),
    "export --calibration-clips": (["export", "run", "--onnx", "m.onnx", "--calibration-clips", "4"], "int8_clips", 4,
                                   "ammcnet export: --calibration-clips is now --int8-clips"),
}


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def public_flags(parser: argparse.ArgumentParser) -> list[str]:
    """The long option strings ``--help`` shows (hidden aliases and ``--help`` left out)."""
    return [s for a in parser._actions if a.help != argparse.SUPPRESS and not isinstance(a, argparse._HelpAction)
            for s in a.option_strings if s.startswith("--")]


def section(page: str, heading: str) -> str:
    """The lines from ``heading`` up to the next heading of any level (code fences skipped)."""
    lines = (DOCS / page).read_text(encoding="utf-8").splitlines()
    start = lines.index(heading)
    fenced = False
    for end in range(start + 1, len(lines)):
        if lines[end].startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,6} ", lines[end]):
            return "\n".join(lines[start:end])
    return "\n".join(lines[start:])


def first_cells(text: str) -> str:
    """The first cell of every table row (``\\|`` is a pipe inside a cell)."""
    return "\n".join(re.split(r"(?<!\\)\|", line)[1] for line in text.splitlines() if line.startswith("|"))


def test_every_command_has_a_docs_section() -> None:
    assert set(PAGES) == set(COMMANDS) == set(_subparsers())
    for page, heading in PAGES.values():
        assert section(page, heading)


@pytest.mark.parametrize("command", list(PAGES))
def test_every_flag_has_a_row_in_its_docs_table(command: str) -> None:
    page, heading = PAGES[command]
    cells = first_cells(section(page, heading))
    missing = [f for f in public_flags(_subparsers()[command]) if not re.search(rf"`{re.escape(f)}(?![\w-])", cells)]
    assert not missing, f"docs/{page} ({heading}) has no table row for: {', '.join(missing)}"


def test_hidden_aliases_stay_out_of_help() -> None:
    for key in ALIASES:
        command, old = key.split()
        assert not re.search(rf"{re.escape(old)}(?![\w-])", _subparsers()[command].format_help()), key


@pytest.mark.parametrize("alias", list(ALIASES))
def test_old_spelling_still_works_with_a_notice(alias: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv, attr, value, notice = ALIASES[alias]
    args = build_parser().parse_args(argv)
    assert getattr(args, attr) == value
    err = capsys.readouterr().err
    assert notice in err and len(err.strip().splitlines()) == 1, err
    # the new spelling gives the same value and no notice
    new = notice.split(" is now ")[1].split(" (")[0].split()
    old = alias.split()[1]
    i = argv.index(old)
    new_argv = argv[:i] + new + argv[i + 1:]
    assert getattr(build_parser().parse_args(new_argv), attr) == value
    assert capsys.readouterr().err == ""


def test_device_defaults_to_auto_everywhere() -> None:
    for name, parser in _subparsers().items():
        actions = {s: a for a in parser._actions for s in a.option_strings}
        if "--device" in actions:
            assert actions["--device"].default == "auto", name
    with pytest.raises(SystemExit):
        build_parser().parse_args(["test", "run", "data", "--device", "gpu"])


def test_auto_device_is_trainings_rule() -> None:
    from ammcnet.training.api import resolve_device as training_rule

    assert resolve_device("auto") == str(training_rule("auto"))
    assert resolve_device("auto", remote=True) == "cpu" and resolve_device("cpu") == "cpu"


def test_size_spellings(capsys: pytest.CaptureFixture[str]) -> None:
    parse = build_parser().parse_args
    assert parse(["export", "run", "--onnx", "m.onnx", "--size", "64"]).size == (64, 64)
    assert parse(["export", "run", "--onnx", "m.onnx", "--size", "48x64"]).size == (48, 64)
    assert main(["prepare", "data", "--size", "16", "16", "16"]) == 2
    assert "--size takes one value" in capsys.readouterr().err
