"""MkDocs hook: the root's ``BENCHMARKS.md``, included by ``docs/benchmarks.md``, with its links
rewritten for the site.

On the repository's front page ``BENCHMARKS.md`` links to pages as ``docs/NAME.md``; inside the
site the same pages are ``NAME.md``. The hook inlines the file itself (instead of the snippet
extension, which runs after hooks) and rewrites that prefix, so both stay one source.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

INCLUDE = '--8<-- "BENCHMARKS.md"'


def on_page_markdown(markdown: str, page: Any, config: Any, **kwargs: Any) -> str:
    """Inline ``BENCHMARKS.md`` where a page includes it, with ``](docs/`` links made site-relative."""
    if INCLUDE not in markdown:
        return markdown
    root = Path(config["config_file_path"]).parent
    text = (root / "BENCHMARKS.md").read_text(encoding="utf-8").replace("](docs/", "](")
    return markdown.replace(INCLUDE, text)
