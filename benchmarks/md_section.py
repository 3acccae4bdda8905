"""Write one generated section of BENCHMARKS.md between its markers (the generators share this).

The section is replaced in place when its markers exist, else appended at the end; the file is
written atomically, so a killed generator never leaves half a BENCHMARKS.md.
"""

from __future__ import annotations

from pathlib import Path

from ammcnet.utils.io import write_text_atomic

TARGET = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


def write_section(name: str, body: str, target: Path = TARGET) -> str:
    """Put ``body`` between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``; returns the block."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    text = target.read_text() if target.is_file() else "# Benchmarks\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    write_text_atomic(target, text)
    return block


def replace_section(target: Path, name: str, body: str, *, write: bool = True) -> bool:
    """Put ``body`` between the existing markers ``<!-- NAME:start/end -->`` of ``target``; returns
    whether it changed anything (with ``write=False`` nothing is written: a check). Unlike
    :func:`write_section` the markers must exist, so a block never lands in the wrong place."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = target.read_text()
    if start not in text or end not in text:
        raise SystemExit(f"error: {target} has no {start} ... {end} markers; add them where the block belongs")
    head, rest = text.split(start, 1)
    new = head + f"{start}\n{body.rstrip()}\n{end}" + rest.split(end, 1)[1]
    if new != text and write:
        write_text_atomic(target, new)
    return new != text
