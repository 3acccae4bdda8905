"""``report.html``: one self-contained page per test, to open from any folder or to mail.

Images are inline PNG ``data:`` URIs, the style and the few lines of script that sort the
per-video table are inline, and a Content-Security-Policy forbids the page any other source, so
it loads nothing from the network (nor from the disk: links to the raw files are relative and
only followed on a click). The template is rendered by Jinja2 with autoescaping on: a video name
or a path from a data file is shown as text, never as markup.

>>> import numpy as np, tempfile, pathlib
>>> from ammcnet.report.inputs import ReportInputs, VideoTrace
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> inputs = ReportInputs(metrics={}, videos=[VideoTrace("01", np.r_[0.1, 0.9, 0.2], np.r_[0, 1, 0])])
>>> write_report(folder, inputs).name
'report.html'
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from pathlib import Path
from typing import Any

import jinja2

from ammcnet.errors import ConfigError
from ammcnet.report.figures import curve_uri, roc_uri, top_frames_uri
from ammcnet.report.inputs import ReportInputs
from ammcnet.report.view import build_view
from ammcnet.utils.io import atomic_path
from ammcnet.version import __version__

#: The page's template, in ``ammcnet/report/templates``.
TEMPLATE = "report.html.j2"


@functools.cache
def _environment() -> jinja2.Environment:
    """Templates from the package, autoescaped, an undefined name an error rather than blank."""
    return jinja2.Environment(loader=jinja2.PackageLoader("ammcnet.report", "templates"), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _figures(inputs: ReportInputs) -> dict[str, Any]:
    """The page's figures as data URIs: one curve per video, the ROC, the top frames."""
    return {
        "curves": [curve_uri(t, inputs.threshold, inputs.first_frame, inputs.score_name) for t in inputs.videos],
        "roc": roc_uri(inputs.roc) if inputs.roc else None,
        "top_frames": top_frames_uri(inputs.top_frames),
        "top_captions": [f"{f.video} frame {f.frame}: score {f.score:.3g}" for f in inputs.top_frames],
        "boxes": any(f.box is not None for f in inputs.top_frames),
        "truth": any(f.truth is not None for f in inputs.top_frames),
    }


def render_report(folder: str | os.PathLike[str], inputs: ReportInputs) -> str:
    """The page's HTML, its links relative to ``folder`` (where it is to be written)."""
    view = build_view(Path(folder), inputs)
    view.update(_figures(inputs))
    view["written"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    view["version"] = __version__
    return _environment().get_template(TEMPLATE).render(**view)


def write_report(out_dir: str | os.PathLike[str], inputs: ReportInputs) -> Path:
    """Write ``out_dir/report.html`` (``inputs.extras.name``) atomically and return its path.

    Raises:
        ConfigError: the report's name is not a plain ``.html`` file name.
        OutputError: the folder cannot be written.
    """
    name = inputs.extras.name
    if Path(name).name != name or not name.endswith(".html"):
        raise ConfigError(f"report name {name!r}: give a plain file name ending in .html, such as report.html")
    folder = Path(out_dir)
    path = folder / name
    html = render_report(folder, inputs)
    with atomic_path(path) as tmp:  # UTF-8 whatever the locale: the page declares it
        tmp.write_text(html, encoding="utf-8")
    return path
