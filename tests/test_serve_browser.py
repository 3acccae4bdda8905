"""The review app in a real browser: Debian's Chromium, headless, driven by Selenium.

Over a watch folder with two cameras, each with an event that has a real H.264 clip, the cameras
page shows both (with their live score lines drawn), an event's clip plays in its ``<video>``
(served as ``video/mp4`` with HTTP Range, so the browser reads the MP4 index and seeks), and a
"mark normal" survives a reload. Each page is saved as a PNG in the test's folder and, with
``AMMCNET_DOC_SCREENSHOTS=1``, in ``docs/images/serve-*.png`` for the docs.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason='the serve extra is not installed: pip install -e ".[serve]"')
pytest.importorskip("av", reason='PyAV makes the test clips: pip install -e ".[media]"')

from ammcnet.serve import ServeOptions, create_app  # noqa: E402
from browser import chrome_driver, serving, wait_for  # noqa: E402
from serve_folders import T0, make_watch_folder  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DOC_IMAGES = REPO / "docs" / "images"


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[str, Path, dict, list]]:
    """The app over a two-camera watch folder, on a free port of 127.0.0.1, in a uvicorn thread."""

    root, events = make_watch_folder(tmp_path / "watch", {"front": [T0, T0 + 7200], "back": [T0 + 1800]},
                                     model="model.pt", zones={"front": [["gate"], ["gate", "road"]]})
    (root / "model.pt").write_bytes(b"weights")
    calls: list = []
    app = create_app(root, ServeOptions(), teach=lambda model, normal_events: calls.append((model, normal_events)))
    with serving(app) as url:
        yield url, root, events, calls


def _shot(driver, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 5000
    if os.environ.get("AMMCNET_DOC_SCREENSHOTS") == "1":
        DOC_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOC_IMAGES / f"{name}.png")


def test_review_an_event_in_chromium(served: tuple[str, Path, dict, list], tmp_path: Path) -> None:
    url, root, events, calls = served
    with chrome_driver(tmp_path, window=(1180, 760)) as d:
        d.get(url)
        names = [e.text for e in d.find_elements("css selector", "a.camera-name")]
        assert names == ["front", "back"]
        drawn = wait_for(d, "return document.querySelectorAll('svg.spark polyline').length >= 2 "
                         "&& document.getElementById('live-status').textContent.startsWith('live')")
        assert drawn, d.find_element("id", "live-status").text  # the poll of /api/live drew both score lines
        _shot(d, tmp_path, "serve-cameras")

        d.get(url + "events")
        assert len(d.find_elements("css selector", "tr.event")) == 3
        _shot(d, tmp_path, "serve-events")

        event = events["front"][1]
        d.find_element("css selector", f"tr.event[data-id='{event['id']}'] a").click()
        state = wait_for(d, """
            var v = document.getElementById('clip');
            if (!v) return 'no video element';
            if (v.error) return 'error ' + v.error.code + ': ' + v.error.message;
            v.muted = true;
            if (v.paused && !v.ended && !window.asked) { window.asked = true; v.play().catch(function (e) { window.failed = String(e); }); }
            return v.readyState >= 2 && isFinite(v.duration) && (v.currentTime > 0 || v.ended)
                ? {ready: v.readyState, duration: v.duration, time: v.currentTime} : null;
            """)
        assert isinstance(state, dict), f"the H.264 clip did not play: {state or d.execute_script('return window.failed')}"
        assert 0.5 < state["duration"] < 2.0  # 10 frames at 10 fps
        seeked = wait_for(d, "var v = document.getElementById('clip'); if (!window.seek) { window.seek = 1; v.pause(); "
                          "v.currentTime = 0.3; } return !v.seeking && Math.abs(v.currentTime - 0.3) < 0.05;")
        assert seeked, "seeking in the clip failed"
        assert d.execute_script("return document.getElementById('snapshot').naturalWidth") == 64

        d.find_element("id", "mark-normal").click()
        assert wait_for(d, "return !!document.getElementById('marked-normal')", 5), "the mark is not shown"
        d.refresh()
        assert d.find_elements("id", "marked-normal") and len(d.find_elements("css selector", "tr.review")) == 1
        d.set_window_size(1180, 1060)
        wait_for(d, "return document.getElementById('clip').readyState === 4;", 5)
        if os.environ.get("AMMCNET_DOC_SCREENSHOTS") == "1":
            time.sleep(1.5)  # the controls' "loading" circle fades out
        _shot(d, tmp_path, "serve-event")
    assert calls == [(str(root / "model.pt"), [f"{root / 'front' / 'events.jsonl'}:{event['id']}"])]
    assert '"action": "normal"' in (root / "front" / "reviews.jsonl").read_text()
