"""The event lifecycle, zones and the alarm budget, on hand-made score sequences."""

from __future__ import annotations

import numpy as np
import pytest

from ammcnet.alarms.budget import alarm_budget_threshold, count_events
from ammcnet.alarms.lifecycle import AlarmEvent, EventLifecycle, FrameVerdict, LifecycleOptions
from ammcnet.alarms.zones import ZoneConfig, ZoneSet, parse_zones
from ammcnet.errors import ConfigError

PLAIN = LifecycleOptions(camera="c")


def _run(scores, threshold=1.0, options=PLAIN, boxes=None, zones=None, wall_step=1.0):
    life, messages = EventLifecycle(options), []
    for i, s in enumerate(scores):
        box = boxes[i] if boxes else (0, 0, 4, 4)
        verdict = FrameVerdict(i, float(s), s > threshold, box, tuple(zones[i]) if zones else ())
        messages += life.frame(verdict, wall=1000.0 + i * wall_step)
    return life, messages + life.finish()


def test_a_flicker_within_the_quiet_gap_stays_one_event() -> None:
    life, messages = _run([0, 2, 0, 0, 2, 0, 2, 0, 0, 0, 0], options=LifecycleOptions("c", min_gap=2, update_every_s=0))
    assert [m["type"] for m in messages] == ["new", "end"]
    (event,) = life.ended
    assert (event.start_frame, event.end_frame, event.alarmed_frames) == (1, 6, 3)
    assert messages[0]["before"] is None and messages[1]["before"]["end_frame"] is None


def test_a_quiet_gap_longer_than_min_gap_splits_events_and_ids_differ() -> None:
    life, messages = _run([2, 0, 0, 2], options=LifecycleOptions("c", min_gap=1))
    assert [m["type"] for m in messages] == ["new", "end", "new", "end"]
    assert life.ended[0].id != life.ended[1].id and life.ended[0].id < life.ended[1].id


def test_updates_are_throttled_and_sent_only_on_change() -> None:
    scores = [2, 3, 4, 5, 6, 6, 6, 0]
    _, every = _run(scores, options=LifecycleOptions("c", update_every_s=0))
    _, throttled = _run(scores, options=LifecycleOptions("c", update_every_s=2.5))
    assert [m["type"] for m in every].count("update") == 4  # peaks 3, 4, 5, 6; repeats of 6 are not news
    assert [m["type"] for m in throttled].count("update") == 2
    assert throttled[-1]["after"]["top_score"] == 6.0 and throttled[-1]["after"]["peak_frame"] == 4


def test_min_frames_holds_the_announcement_back_and_drops_flickers() -> None:
    life, messages = _run([2, 0, 0, 2, 2, 2, 0, 0], options=LifecycleOptions("c", min_frames=3))
    assert [m["type"] for m in messages] == ["new", "end"]
    assert messages[0]["after"]["start_frame"] == 3 and life.ended[0].alarmed_frames == 3


def test_zones_are_collected_and_the_peak_keeps_its_box() -> None:
    boxes = [(0, 0, 1, 1), (1, 1, 2, 2), (5, 5, 9, 9), (2, 2, 3, 3), (0, 0, 1, 1)]
    zones = [[], ["a"], ["b"], ["a"], []]
    life, messages = _run([0, 2, 5, 3, 0], boxes=boxes, zones=zones)
    event = life.ended[0]
    assert event.zones == ["a", "b"] and event.current_zones == ["a"] and event.box == [5, 5, 9, 9]
    assert AlarmEvent.from_dict(messages[-1]["after"]) == event


def test_attach_announces_a_clip_after_the_end() -> None:
    life, messages = _run([2, 0])
    update = life.attach(life.ended[0].id, clip="clips/x.mp4")
    assert update["type"] == "update" and update["after"]["has_clip"] and not update["before"]["has_clip"]
    assert life.attach("no-such-id", clip="x") is None


def test_zone_geometry_pixels_fractions_and_required() -> None:
    cfg = parse_zones({"zones": {"left": [[0, 0], [50, 0], [50, 100], [0, 100]]}, "required_zones": ["left"]})
    z = ZoneSet(cfg, (100, 200))
    assert not cfg.in_fractions() and z.touched((40, 10, 60, 20)) == ("left",) and z.touched((60, 0, 80, 10)) == ()
    assert z.allows(("left",)) and not z.allows(())
    frac = ZoneSet(ZoneConfig(mask=[[[0, 0], [0.5, 0], [0.5, 1], [0, 1]]]), (100, 200))
    centres = np.array([[[0.5, 0.1], [0.5, 0.9]]])  # (row, column) fractions
    assert frac.window_mask(centres).tolist() == [[True, False]]
    drawn = frac.draw(np.zeros((100, 200, 3), np.uint8))
    assert drawn[50, 20].any() and not drawn[50, 180].any()


@pytest.mark.parametrize("bad, words", [
    ({"zones": {"a": [[0, 0], [1, 1]]}}, "at least 3"),
    ({"mask": [[[0, 0], [-1, 0], [1, 1]]]}, "negative"),
    ({"zones": {"a": [[0, 0], [1, 0], [1, 1]]}, "required_zones": ["b"]}, "not a zone"),
    ({"zone": {}}, "zone"),
])
def test_bad_polygons_are_one_line_errors(bad, words) -> None:
    with pytest.raises(ConfigError) as err:
        parse_zones(bad, where="cameras.yaml: cameras.0.zones")
    assert words in str(err.value) and "\n" not in str(err.value) and "cameras.yaml" in str(err.value)


def test_budget_counts_events_as_the_lifecycle_does() -> None:
    rng = np.random.default_rng(0)
    normal = [rng.normal(0, 1, 3600) for _ in range(3)]  # 3 h at 1 fps
    for per_hour in (0.5, 2.0, 10.0):
        r = alarm_budget_threshold(normal, fps=1.0, per_hour=per_hour, min_gap=2)
        assert r.events_per_hour <= per_hour and r.events == count_events(normal, r.threshold, 2)
        life_events = sum(len(_run(s, threshold=r.threshold, options=LifecycleOptions("c", min_gap=2))[0].ended)
                          for s in normal)
        assert life_events == r.events
    loose, tight = (alarm_budget_threshold(normal, 1.0, b, min_gap=2).threshold for b in (10.0, 0.5))
    assert loose < tight
    with pytest.raises(ConfigError):
        alarm_budget_threshold(normal, 1.0, -1)


def test_a_long_lived_camera_keeps_a_bounded_history() -> None:
    scores = [2, 0, 0] * 10 + [2]  # ten events, then one still open at the end of the stream
    life, messages = _run(scores, options=LifecycleOptions("c", min_gap=1, keep_ended=3))
    assert life.ended_count == 11 and len(life.ended) == 3 and len(life.tracker.events) == 3
    assert [m["type"] for m in messages].count("end") == 11 and messages[-1]["after"]["start_frame"] == 30


def test_the_pipeline_forgets_an_event_once_it_ended(tmp_path) -> None:
    """Snapshots written, then the event ends: nothing of it stays in the pipeline's memory."""
    from types import SimpleNamespace

    from ammcnet.alarms.pipeline import AlarmOptions, AlarmPipeline

    pipe = AlarmPipeline(AlarmOptions(clips=False), LifecycleOptions("c", min_gap=0), tmp_path, 10.0)
    frame = np.zeros((32, 32, 3), np.uint8)
    for i, s in enumerate([0, 3, 5, 0, 0, 4, 0]):
        pipe.frame(frame, i, None, SimpleNamespace(score=float(s), alarm=s > 1, valid=True, box=(1, 1, 8, 8)))
    pipe.finish()
    assert pipe.events.ended_count == 2 and len(list((tmp_path / "snapshots").glob("*.jpg"))) == 2
    assert pipe._snapped == {} and pipe._peak is None
