"""Griffe extension for the API pages: show docstring ``>>>`` examples as Python console code.

Docstrings here use bare doctest lines (run by the test suite). Rendered as Markdown, ``>>>``
would become nested block quotes and ``[a]`` followed by ``[b]`` a reference link; wrapping each
run of example lines (prompts, continuations and their expected output) in a ``pycon`` fence
shows them as code, unchanged.
"""

from __future__ import annotations

from typing import Any

import griffe


def fence_examples(text: str) -> str:
    """Wrap every block of ``>>>`` lines and the output below them (up to a blank line) in a fence."""
    out: list[str] = []
    indent: str | None = None  # the open fence's indentation, None outside a fence
    for line in text.splitlines():
        stripped = line.lstrip()
        if indent is None and stripped.startswith(">>>"):
            indent = line[: len(line) - len(stripped)]
            out.append(f"{indent}```pycon")
        elif indent is not None and not stripped:
            out.append(f"{indent}```")
            indent = None
        out.append(line)
    if indent is not None:
        out.append(f"{indent}```")
    return "\n".join(out)


class DoctestFences(griffe.Extension):
    """Fences doctest blocks in every docstring before it is parsed."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_examples(obj.docstring.value)
