"""The review page over a real ``ammcnet watch`` folder, in Debian's Chromium.

Two looped-clip cameras (a generated scene with bursts of fast motion, a head-only model from
``ammcnet fit``) are watched for a few seconds; ``ammcnet serve`` then shows both cameras, an
event's H.264 clip plays in the page, and "mark normal" runs the real teach and survives a reload.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason='the serve extra is not installed: pip install -e ".[serve]"')
pytest.importorskip("av", reason='PyAV writes the clips: pip install -e ".[media]"')

import ammcnet  # noqa: E402
from alarm_scene import anomaly_frames, normal_frames  # noqa: E402
from ammcnet.fleet.watch_config import WatchConfig  # noqa: E402
from ammcnet.serve import ServeOptions, create_app  # noqa: E402
from browser import chrome_driver, serving, wait_for  # noqa: E402
from helpers import write_avi  # noqa: E402

#: Seconds the two cameras are watched (each loop of the clip is 130 frames at 40 fps).
WATCH_S = 12.0


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("watched")
    model = root / "cam.pt"
    ammcnet.fit(write_avi(root / "normal.avi", normal_frames(120)), model, choose=False, cache_dir=root / "cache")
    clip = write_avi(root / "scene.avi", anomaly_frames())
    cameras = [{"name": name, "source": str(clip), "model": str(model), "loop": True, "fps": 40.0,
                "pre_capture_s": 0.5, "post_capture_s": 0.5, "update_every_s": 1.0} for name in ("gate", "yard")]
    # the gate alarms only where the fast square races, on a budget; the yard masks that part away
    cameras[0].update(zones={"zones": {"bottom": [[0, 0.6], [1, 0.6], [1, 1], [0, 1]]}, "required_zones": ["bottom"]},
                      alarms_per_hour=1000.0)
    cameras[1].update(zones={"mask": [[[0, 0.5], [1, 0.5], [1, 1], [0, 1]]]})
    config = WatchConfig.model_validate({"out": str(root / "watch"), "status_every_s": 0.5, "cameras": cameras})
    ammcnet.watch(config, seconds=WATCH_S)
    return {"root": root / "watch", "model": model}


@pytest.fixture()
def served(watched: dict) -> Iterator[str]:
    app = create_app(watched["root"], ServeOptions(model=str(watched["model"])), teach=ammcnet.teach)
    with serving(app) as url:
        yield url


def _ends(folder: Path) -> list[dict]:
    """Every ended event as last announced (its clip comes in an update after its end)."""
    lines = [json.loads(x) for x in (folder / "events.jsonl").read_text().splitlines()]
    latest = {x["event"]["id"]: x["event"] for x in lines if x["kind"] in ("new", "update", "end")}
    ended = {x["event"]["id"] for x in lines if x["kind"] == "end"}
    return [e for i, e in latest.items() if i in ended]


def test_the_watch_folder_holds_real_events_with_media_zones_and_a_budget(watched: dict) -> None:
    gate, yard = watched["root"] / "gate", watched["root"] / "yard"
    ends = _ends(gate)
    assert ends and all("bottom" in e["zones"] for e in ends)  # required_zones: only there
    assert all((gate / e["snapshot"]).is_file() for e in ends)
    assert any(e.get("clip") and (gate / e["clip"]).is_file() for e in ends)
    assert (gate / "scores.jsonl").stat().st_size > 0
    log = [json.loads(x) for x in (gate / "events.jsonl").read_text().splitlines()]
    assert any(x["kind"] == "budget" and x["per_hour"] == 1000.0 for x in log)
    masked = [e["top_score"] for e in _ends(yard)]  # the mask hides the bursts: what is left is weak
    assert max(masked, default=0.0) < 0.25 * min(e["top_score"] for e in ends)


def test_review_a_real_watch_in_chromium(watched: dict, served: str, tmp_path: Path) -> None:
    root = watched["root"]
    with chrome_driver(tmp_path) as d:
        d.get(served)
        assert sorted(e.text for e in d.find_elements("css selector", "a.camera-name")) == ["gate", "yard"]
        d.get(served + "events?camera=gate")
        rows = d.find_elements("css selector", "tr.event")
        assert rows
        with_clip = [r for r in rows if r.get_attribute("data-has-clip") in ("true", "1")] or rows
        with_clip[0].find_element("css selector", "a").click()
        state = wait_for(d, """
            var v = document.getElementById('clip');
            if (!v) return null;
            if (v.error) return 'error ' + v.error.code;
            v.muted = true; if (v.paused && !window.asked) { window.asked = 1; v.play().catch(function () {}); }
            return v.readyState >= 2 && isFinite(v.duration) ? {ready: v.readyState, duration: v.duration} : null;
            """)
        assert isinstance(state, dict), f"the event's clip did not play: {state}"
        d.find_element("id", "mark-normal").click()
        assert wait_for(d, "return !!document.getElementById('marked-normal')", 60), "the mark is not shown"
        d.refresh()
        assert d.find_elements("id", "marked-normal")
    reviews = [json.loads(x) for x in (root / "gate" / "reviews.jsonl").read_text().splitlines()]
    assert reviews[-1]["action"] == "normal" and "taught" in reviews[-1]
