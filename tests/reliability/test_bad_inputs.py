"""Every row of the bad-input corpus: expected exit status, one clear line, no partial file."""

from __future__ import annotations

import re

import pytest

from ammcnet.cli import main

from .corpus import CASES


def _partial_files(folder):
    """Temporary files of an atomic write that was not finished (lock files are not output)."""
    return [p for p in folder.rglob("*") if p.is_file() and ".tmp" in p.name]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, tmp_path, capsys):
    d, out = tmp_path / "in", tmp_path / "out"
    d.mkdir()
    case.build(d)
    argv = [a.format(d=d, out=out) for a in case.argv]
    code = main(argv)
    captured = capsys.readouterr()
    text = captured.err.strip() if case.code and captured.err.strip() else captured.out
    assert code == case.code, (argv, captured.err)
    if case.code and text is not captured.out:  # (`info` reports a damaged file on stdout, exit 2)
        assert len(text.splitlines()) == 1, text  # one line, no traceback
        assert text.startswith(f"ammcnet {argv[0]}: error: ")
    assert re.search(case.pattern, text), text
    assert _partial_files(tmp_path) == []
    if case.code and out.exists():  # a failed command leaves nothing in its output folder
        assert [p.name for p in out.rglob("*") if p.is_file() and not p.name.endswith(".lock")] == []


def test_corpus_covers_the_listed_cases():
    ids = {c.id for c in CASES}
    assert len(ids) == len(CASES) >= 35
