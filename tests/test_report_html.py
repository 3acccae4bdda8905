"""report.html is self-contained and safe: images inline, nothing from the network, links relative
and inside its folder, one table row per video, every value from a data file escaped; and
``ammcnet test`` writes it and prints its path."""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from ammcnet.errors import ConfigError
from ammcnet.report import ReportExtras, ReportInputs, VideoTrace, write_report
from report_fixtures import FIRST, synthetic_inputs

HOSTILE = "<script>alert(1)</script>"


class Page(HTMLParser):
    """Every tag with its attributes, the rows of each table body, and the ids on the page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.ids: set[str] = set()
        self.rows: dict[str, list[list[str]]] = {}
        self._table: list[str | None] = []
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "table":
            self._table.append(a.get("id"))
        elif tag == "tr" and self._table:
            self.rows.setdefault(self._table[-1] or "", []).append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table.pop()
        elif tag in ("td", "th") and self._cell is not None and self._table:
            self.rows[self._table[-1] or ""][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def attrs(self, name: str) -> list[str]:
        return [a[name] for _, a in self.tags if a.get(name) is not None]


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, str, ReportInputs]:
    folder = tmp_path_factory.mktemp("report")
    inputs = synthetic_inputs(folder, ["01", "02", HOSTILE, "04"])
    outside = folder.parent / "outside.json"
    outside.write_text("{}")
    inputs = replace(inputs, files={**inputs.files, "outside": outside})
    path = write_report(folder, inputs)
    return path, path.read_text(encoding="utf-8"), inputs


def test_every_image_is_an_inline_png(written) -> None:
    _, html, inputs = written
    srcs = Page(html).attrs("src")
    # a curve per video, the ROC, the top frames; nothing else
    assert len(srcs) == len(inputs.videos) + 2
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_nothing_comes_from_the_network(written) -> None:
    _, html, _ = written
    page = Page(html)
    for ref in page.attrs("src") + page.attrs("href"):
        assert not re.match(r"^([a-z][a-z0-9+.-]*:)?//", ref, re.I), ref
    assert not any(tag == "link" for tag, _ in page.tags), "no external stylesheet"
    assert all("src" not in a for tag, a in page.tags if tag == "script"), "the script is inline"
    csp = [a["content"] for tag, a in page.tags if tag == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0] and "img-src data:" in csp[0]
    assert "@import" not in html and "url(" not in html


def test_links_are_relative_and_resolve_inside_the_folder(written) -> None:
    path, html, _ = written
    folder = path.parent.resolve()
    hrefs = Page(html).attrs("href")
    files = [h for h in hrefs if not h.startswith("#")]
    assert {"metrics.json", "table.txt", "scores.npz", "plots/roc.png", "plots/curves/01.png"} <= set(files)
    for href in files:
        assert not href.startswith("/") and ":" not in href, href
        target = (folder / urllib.parse.unquote(href)).resolve()
        assert target.is_relative_to(folder) and target.is_file(), href
    # the file outside the folder and the one never written are not linked
    assert "outside" not in html and "honest_scores.npz" not in files and not any(h.endswith(".npy") for h in files)
    anchors = [h[1:] for h in hrefs if h.startswith("#")]
    assert anchors and set(anchors) <= Page(html).ids


def test_the_table_has_one_row_per_video_in_order(written) -> None:
    _, html, inputs = written
    rows = Page(html).rows["video-table"]
    header, body = rows[0], rows[1:]
    assert header[0] == "video" and len(body) == len(inputs.videos)
    assert [r[0] for r in body] == [v.name for v in inputs.videos]
    # each number cell carries a sort key; missing figures sort below every number
    keys = re.findall(r'<td class="num" data-sort="([^"]*)"', html)
    assert len(keys) == len(inputs.videos) * (len(header) - 2)
    assert all(k == "-Infinity" or np.isfinite(float(k)) for k in keys)


def test_a_hostile_video_name_is_escaped(written) -> None:
    _, html, _ = written
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("<script") == 1  # the page's own sorting script


def test_the_summary_shows_the_causal_auc_and_the_operator_figures(written) -> None:
    _, html, inputs = written
    m = inputs.metrics["scoring_modes"]["modes"]["fusion"]
    op = m["operator"]
    assert f"{m['causal_micro']:.4f}" in html and "honest causal AUC" in html
    assert f"{op['false_alarm_rate']:.2%}" in html
    assert f"{op['events_caught']} / {op['events']}" in html and f"{op['median_delay']:g} frames" in html
    assert "0.9731" in html and "weights tuned on test labels" in html  # the paper's figure, labelled
    assert "cyclist" in html and "speed 1, direction 1" in html  # the caller's events, the head's settings


def test_a_report_without_labels_or_threshold(tmp_path) -> None:
    trace = VideoTrace("cam", np.linspace(0, 1, 20))
    html = write_report(tmp_path, ReportInputs(metrics={"note": "no frame labels"}, videos=[trace],
                                               first_frame=FIRST)).read_text()
    page = Page(html)
    assert len(page.attrs("src")) == 1 and "no frame labels" in html
    assert page.rows["video-table"][1][:4] == ["cam", "20", "n/a", "n/a"]


def test_the_name_must_be_a_plain_html_file(tmp_path) -> None:
    inputs = ReportInputs(metrics={}, videos=[], extras=ReportExtras(name="../x.html"))
    with pytest.raises(ConfigError, match="plain file name"):
        write_report(tmp_path, inputs)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict:
    """A generated scene of 3 short test videos and a random tiny model calibrated on one (no training)."""
    from helpers import tiny_scene_run

    return tiny_scene_run(tmp_path_factory.mktemp("tiny"))


def test_ammcnet_test_writes_the_report_and_prints_its_path(tiny, tmp_path, capsys) -> None:
    from ammcnet.cli import main

    out = tmp_path / "test"
    assert main(["test", str(tiny["run"]), str(tiny["prepared"].root), "--out", str(out), "--maps",
                 "--no-progress", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert f"report: {out / 'report.html'}" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["files"]["report"] == str(out / "report.html")
    page = Page((out / "report.html").read_text())
    srcs = page.attrs("src")
    # a curve per video, the ROC and the top frames (the test wrote error maps)
    assert len(srcs) == len(tiny["folders"]) + 2 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert len(page.rows["video-table"]) == 1 + len(tiny["folders"])
    for href in (h for h in page.attrs("href") if not h.startswith("#")):
        assert (out / urllib.parse.unquote(href)).resolve().is_file()


def test_the_paper_protocol_reports_psnr_without_threshold(tiny, tmp_path) -> None:
    from ammcnet.cli import main

    out = tmp_path / "paper"
    assert main(["test", str(tiny["run"]), str(tiny["prepared"].root), "--out", str(out), "--protocol", "paper",
                 "--no-progress", "--device", "cpu", "--quiet"]) == 0
    html = (out / "report.html").read_text()
    page = Page(html)
    assert "1 - normalised PSNR" in html and "honest causal AUC" not in html
    assert len(page.attrs("src")) == len(tiny["folders"]) + 1  # curves and the ROC; no maps, no top frames
    assert all(row[4] == "n/a" for row in page.rows["video-table"][1:])  # no threshold: no event caught
