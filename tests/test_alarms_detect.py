"""Alarms that reach people: ``detect`` with a real webhook receiver and a real mosquitto broker.

A head-only model (``ammcnet fit``) is fitted on a generated clip of a square sliding slowly;
the detected clip has two bursts of fast motion. The events must arrive, the same on every sink
(webhook, MQTT, the JSONL log), through an outage of the receiver, each with a snapshot and a
browser-playable H.264 clip.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import cv2
import pytest

import ammcnet
from alarm_scene import FAST, FPS, SIZE, anomaly_frames, normal_frames, scene_frame
from alarm_servers import HttpReceiver, Subscriber, mosquitto_fixture, wait_until  # noqa: F401 - fixture
from ammcnet.cli import main
from ammcnet.data.video import open_video
from ammcnet.errors import ConfigError, DataError
from ammcnet.media.encoder import probe
from helpers import write_avi

NO_CLIPS = ammcnet.AlarmOptions(clips=False)


@pytest.fixture(scope="module")
def head_model(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("alarms")
    train = write_avi(root / "normal.avi", normal_frames(120))
    model = root / "head.pt"
    result = ammcnet.fit(train, model, choose=False, cache_dir=root / "cache")
    clip = write_avi(root / "scene.avi", anomaly_frames())
    return {"root": root, "model": model, "train": train, "clip": clip, "fit": result}


class PacedClip:
    """The anomaly clip as a live camera: ``read`` waits ``dt`` seconds a frame."""

    fps = FPS

    def __init__(self, clip: Path, dt: float) -> None:
        self.frames, self.dt, self.i = list(open_video(clip)), dt, 0  # as decoded: the footage fitted on was too

    def __len__(self) -> int:
        return len(self.frames)

    def read(self):
        if self.i >= len(self.frames):
            raise StopIteration  # the end of the footage, not a failed read
        time.sleep(self.dt)
        self.i += 1
        return True, cv2.cvtColor(self.frames[self.i - 1], cv2.COLOR_RGB2BGR)  # as OpenCV's captures give them

    def release(self) -> None:
        pass


def _kinds(messages: list[dict]) -> list[tuple[str, str]]:
    return [(m["type"], m["after"]["id"]) for m in messages]


def test_events_reach_webhook_mqtt_and_log_through_a_10_s_outage(head_model, mosquitto, tmp_path) -> None:
    out = tmp_path / "out"
    receiver = HttpReceiver().start()
    sub = Subscriber(mosquitto, "ammcnet/#")
    opts = ammcnet.DetectOptions(progress=False, batch_size=1, alarms=ammcnet.AlarmOptions(
        camera="yard", pre_s=1.0, post_s=1.0, update_every_s=0.5,
        sinks=ammcnet.SinkOptions(webhook=receiver.url, mqtt=f"{mosquitto.host}:{mosquitto.port}")))

    def outage() -> None:  # down from about frame 15 to frame 115: both bursts happen while it is down
        time.sleep(1.5)
        receiver.stop()
        time.sleep(10.0)
        receiver.start()

    t = threading.Thread(target=outage)
    t.start()
    t0 = time.perf_counter()
    summary = ammcnet.detect(PacedClip(head_model["clip"], 0.1), head_model["model"], opts, out=out)
    t.join()
    assert time.perf_counter() - t0 < 25, "detection must not wait for the receiver"
    assert len(summary.events) == 2
    assert all(a <= e.start_frame <= a + 2 for e, (a, _) in zip(summary.events, FAST, strict=True))
    log = [json.loads(x) for x in (out / "events.jsonl").read_text().splitlines()]
    logged = [{"type": x["kind"], "after": x["event"]} for x in log if x["kind"] in ("new", "update", "end")]
    assert [k for k, _ in _kinds(logged)].count("new") == 2 and [k for k, _ in _kinds(logged)].count("end") == 2
    webhook = receiver.wait_for(len(logged), timeout=20)

    def events() -> list[dict]:
        return [g.json for g in sub.got() if g.topic == "ammcnet/yard/events"]

    wait_until(lambda: len(events()) >= len(logged), timeout=20)
    mqtt = events()
    assert _kinds(webhook) == _kinds(logged) == _kinds(mqtt)  # nothing lost, in order, on every sink
    assert all(r.headers.get("Content-Type") == "application/json" for r in receiver.requests)
    assert b"online" in [g.payload for g in sub.got() if g.topic == "ammcnet/available"]
    assert {k: (v["delivered"], v["pending"]) for k, v in summary.sinks.items()} == {
        "webhook": (len(logged), 0), "mqtt": (len(logged), 0)}
    assert "webhook: " in summary.report()
    for event in summary.events:
        e = event.to_dict()
        snap = cv2.imread(str(out / e["snapshot"]))
        assert snap is not None and snap.shape[:2] == (SIZE, SIZE)
        info = probe(out / e["clip"])
        assert info["codec"] == "h264" and info["pix_fmt"] == "yuv420p" and info["faststart"]
        assert info["frames"] >= (e["end_frame"] - e["start_frame"] + 1) + 10  # pre- and post-capture
    ends = [m for m in logged if m["type"] == "end"]
    assert all(m["after"]["box"] is not None and m["after"]["top_score"] > summary.threshold for m in ends)
    receiver.stop()
    sub.close()
    _review_page_lists(out, summary.events)


def _review_page_lists(out: Path, events: list) -> None:
    """``ammcnet serve`` over this real detect folder lists its events and serves their media."""
    pytest.importorskip("starlette", reason='the serve extra is not installed: pip install -e ".[serve]"')
    from starlette.testclient import TestClient

    from ammcnet.serve import ServeOptions, create_app

    client = TestClient(create_app(out, ServeOptions()), base_url="http://127.0.0.1")
    page = client.get("/events")
    assert page.status_code == 200 and all(e.id in page.text for e in events)
    clip = client.get(f"/media/{events[0].to_dict()['clip']}")
    assert clip.status_code == 200 and clip.headers["content-type"] == "video/mp4"


def test_masks_required_zones_and_show_zones(head_model, tmp_path) -> None:
    zones = tmp_path / "zones.yaml"
    zones.write_text("mask: [[[0, 0.5], [1, 0.5], [1, 1], [0, 1]]]\n")  # the fast square's rows
    out = tmp_path / "masked"
    rc = main(["detect", str(head_model["clip"]), "--model", str(head_model["model"]), "--out", str(out),
               "--zones", str(zones), "--no-progress", "--no-clips", "--video", str(tmp_path / "v.mp4"),
               "--show-zones"])
    assert rc == 0
    plain = ammcnet.detect(head_model["clip"], head_model["model"], out=tmp_path / "plain", alarms=NO_CLIPS)
    assert len(plain.events) == 2 and all(e.box[1] >= SIZE // 2 for e in plain.events)  # the fast square's
    masked = [ammcnet.AlarmEvent.from_dict(e) for e in json.loads((out / "events.json").read_text())["events"]]
    rows = [json.loads(x) for x in (out / "frames.jsonl").read_text().splitlines()]
    assert all(r["box"] is None or (r["box"][1] + r["box"][3]) / 2 < SIZE // 2 for r in rows)  # never scored there
    assert max([e.top_score for e in masked], default=0.0) < 0.25 * min(e.top_score for e in plain.events)
    required = tmp_path / "required.yaml"
    required.write_text("zones:\n  top: [[0, 0], [1, 0], [1, 0.3], [0, 0.3]]\n  bottom: [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]\n"
                        "required_zones: [top]\n")
    only_top = ammcnet.detect(head_model["clip"], head_model["model"], 
                              alarms=ammcnet.AlarmOptions(clips=False, zones=ammcnet.load_zones(required)))
    weak = 0.25 * min(e.top_score for e in plain.events)  # a blip of flow spilling upwards may remain
    assert all(e.zones == ["top"] and e.top_score < weak for e in only_top.events)
    both = ammcnet.detect(head_model["clip"], head_model["model"], alarms=ammcnet.AlarmOptions(clips=False,
        zones=ammcnet.load_zones(required).model_copy(update={"required_zones": []})))
    assert len(both.events) == 2 and all("bottom" in e.zones for e in both.events)
    frame = cv2.VideoCapture(str(tmp_path / "v.mp4")).read()[1]
    assert frame is not None and frame.std() > 0


def test_alarms_per_hour_sets_a_threshold_from_held_out_footage(head_model) -> None:
    strict = ammcnet.detect(head_model["clip"], head_model["model"], alarms=NO_CLIPS, alarms_per_hour=0.0)
    loose = ammcnet.detect(head_model["clip"], head_model["model"], alarms=NO_CLIPS, alarms_per_hour=1000.0)
    assert strict.budget.events == 0 and strict.threshold >= loose.threshold
    assert loose.budget.events_per_hour <= 1000.0 and "events/h" in strict.report()
    info = ammcnet.info(head_model["model"])
    assert info["alarms"]["budgets"]["1"]["events_per_hour"] <= 1.0 and info["alarms"]["fps"] == FPS


def test_the_api_yields_events_as_they_happen(head_model) -> None:
    model = ammcnet.load(head_model["model"])
    assert model.network is None
    kinds = [m["type"] for m in model.watch(head_model["clip"], alarms=NO_CLIPS)]
    assert kinds.count("new") == 2 and kinds.count("end") == 2
    first = next(iter(model.watch(head_model["clip"], alarms=NO_CLIPS)))  # leaving the loop stops the run
    assert first["type"] == "new" and first["before"] is None


def test_teach_an_event_as_normal_stops_that_alarm(head_model, tmp_path) -> None:
    out = tmp_path / "d"
    first = ammcnet.detect(head_model["clip"], head_model["model"], out=out, alarms=NO_CLIPS)
    event = first.events[0].id
    result = ammcnet.teach(head_model["model"], normal_events=[f"{out / 'events.jsonl'}:{event}"], force=True)
    assert result.model.exists() and head_model["model"].exists() and result.model != head_model["model"]
    again = ammcnet.detect(head_model["clip"], result.model, alarms=NO_CLIPS)
    assert len(again.events) < len(first.events) or again.threshold > first.threshold
    info = ammcnet.info(result.model)
    assert info["taught"][0]["spans"][0]["event"] == event
    with pytest.raises(DataError, match="no event"):
        ammcnet.teach(head_model["model"], normal_events=[f"{out / 'events.jsonl'}:nope"], force=True)
    with pytest.raises(ConfigError, match="EVENTS.jsonl:ID"):
        ammcnet.teach(head_model["model"], normal_events=["just-an-id"])


def test_teach_checks_the_validation_and_refuses_a_blinding_teach(head_model, tmp_path) -> None:
    fast = write_avi(tmp_path / "fast.avi", [scene_frame(3 * i, 10 * i) for i in range(60)])
    with pytest.raises(ConfigError, match="teach refused"):
        ammcnet.teach(head_model["model"], normal=[str(fast)], margin=0.0, out=tmp_path / "t.pt")
    assert not (tmp_path / "t.pt").exists()
    ok = ammcnet.teach(head_model["model"], normal=[str(fast)], margin=1.0, out=tmp_path / "t.pt")
    assert ok.auc_before is not None and ok.auc_after <= ok.auc_before
    assert "synthetic AUC" in ok.report()


def test_fit_is_reachable_from_the_cli_and_refuses_to_overwrite(head_model, tmp_path, capsys) -> None:
    assert head_model["fit"].frames == 120 and head_model["fit"].peak_rss_mb > 0
    out = tmp_path / "m.pt"
    assert main(["fit", str(head_model["train"]), "--out", str(out), "--no-choose", "--end", "60", "--no-progress",
                 "--cache-dir", str(tmp_path / "c")]) == 0
    assert "fitted on 60 frames" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="--overwrite"):
        ammcnet.fit(head_model["train"], out)


def test_fit_records_a_stream_for_the_seconds_asked(head_model, tmp_path) -> None:
    """``ammcnet fit URL --seconds S``: a stream (here the normal clip served over HTTP) is recorded
    for S seconds of its frames, then fitted on."""
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(head_model["root"]))
    handler.log_message = lambda *a: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/normal.avi"
        result = ammcnet.fit(url, tmp_path / "live.pt", seconds=5.0, choose=False, cache_dir=tmp_path / "cache")
    finally:
        server.shutdown()
    assert result.frames == int(5.0 * FPS)  # 5 s at the stream's 10 fps
    assert result.footage[0]["name"] == "recording" and ammcnet.load(result.model).network is None
    assert ammcnet.info(result.model)["alarms"]["fps"] == FPS  # the stream's rate, kept for the alarm budget
