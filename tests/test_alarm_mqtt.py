"""The MQTT sink against a real mosquitto broker: Frigate-shaped topics, availability, outages, auth."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from alarm_servers import (  # noqa: F401
    AUTH_PASSWORD,
    AUTH_USER,
    MOSQUITTO,
    SKIP_MOSQUITTO,
    Mosquitto,
    Subscriber,
    ids,
    lifecycle,
    mosquitto_auth_fixture,
    mosquitto_fixture,
    numbered,
    wait_until,
)
from ammcnet.alarms import MqttOptions, MqttSink, Sink
from ammcnet.alarms.sinks_config import make_sinks
from ammcnet.fleet.watch_config import CameraConfig
from ammcnet.utils.optional import MissingDependencyError

pytest.importorskip("paho.mqtt.client", reason="paho-mqtt not installed: pip install -e '.[mqtt]'")

#: Short retry settings: the tests wait tenths of a second, not the production half-second to 30 s.
FAST = {"backoff_initial_s": 0.05, "backoff_max_s": 0.3}


def options(broker: Mosquitto, spool: Path, **fields) -> MqttOptions:
    return MqttOptions(host=broker.host, port=broker.port, spool_dir=str(spool), **{**FAST, **fields})


def connected(sink: MqttSink) -> MqttSink:
    wait_until(lambda: sink.stats()["connected"])
    return sink


def test_lifecycle_messages_reach_a_subscriber(mosquitto, tmp_path):
    with Subscriber(mosquitto, "ammcnet/+/events") as sub:
        sink = MqttSink(options(mosquitto, tmp_path / "spool"))
        assert isinstance(sink, Sink)
        messages = lifecycle("1733570000.123456-k3x9qa", camera="front")
        for message in messages:
            sink.publish(message)
        got = sub.wait_for(3)
        sink.close()
    assert [m.json for m in got] == messages  # the payload is exactly the lifecycle message
    assert [m.json["type"] for m in got] == ["new", "update", "end"]
    assert {m.topic for m in got} == {"ammcnet/front/events"} and {m.qos for m in got} == {1}
    stats = sink.stats()
    assert (stats["published"], stats["delivered"], stats["pending"]) == (3, 3, 0)


def test_camera_option_and_topic_prefix_shape_the_topic(mosquitto, tmp_path):
    with Subscriber(mosquitto, "site/#") as sub:
        sink = MqttSink(options(mosquitto, tmp_path / "spool", camera="gate/2", topic_prefix="site"))
        sink.publish(lifecycle("x", camera="front")[0])
        topics = [m.topic for m in sub.wait_for(2) if not m.topic.endswith("available")]
        sink.close()
    assert topics == ["site/gate_2/events"]


def test_availability_online_retained_then_offline_on_close(mosquitto, tmp_path):
    sink = connected(MqttSink(options(mosquitto, tmp_path / "spool")))
    with Subscriber(mosquitto, "ammcnet/available") as late:  # subscribes after the fact: sees the retained one
        first = late.wait_for(1)[0]
        assert (first.payload, first.retain) == (b"online", True)
        sink.close()
        assert late.wait_for(2)[1].payload == b"offline"
    with Subscriber(mosquitto, "ammcnet/available") as after:
        last = after.wait_for(1)[0]
    assert (last.payload, last.retain) == (b"offline", True)


def test_last_will_says_offline_when_the_process_dies(mosquitto, tmp_path):
    script = textwrap.dedent(f"""
        import time
        from ammcnet.alarms import MqttOptions, MqttSink
        sink = MqttSink(MqttOptions(host={mosquitto.host!r}, port={mosquitto.port}, spool_dir={str(tmp_path / "s")!r},
                                    client_id="doomed", backoff_initial_s=0.05, backoff_max_s=0.3))
        while not sink.stats()["connected"]:
            time.sleep(0.02)
        print("connected", flush=True)
        time.sleep(60)
    """)
    with Subscriber(mosquitto, "ammcnet/available") as sub:
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "connected"
            wait_until(lambda: b"online" in sub.payloads())
        finally:
            proc.kill()  # SIGKILL: no DISCONNECT, the broker sends the will
            proc.wait()
        wait_until(lambda: sub.payloads()[-1:] == [b"offline"])
    with Subscriber(mosquitto, "ammcnet/available") as after:
        assert (after.wait_for(1)[0].payload, after.got()[0].retain) == (b"offline", True)


def test_broker_restart_mid_stream_loses_nothing(mosquitto, tmp_path):
    # a persistent subscriber: the restarted broker keeps what arrives before it is back
    sub = Subscriber(mosquitto, "ammcnet/+/events", client_id="collector", persistent=True)
    sink = connected(MqttSink(options(mosquitto, tmp_path / "spool")))
    try:
        for message in numbered(3):
            sink.publish(message)
        sub.wait_for(3)
        mosquitto.stop()
        slowest = 0.0
        for message in numbered(4, start=3):
            t0 = time.monotonic()
            sink.publish(message)
            slowest = max(slowest, time.monotonic() - t0)
        wait_until(lambda: not sink.stats()["connected"])
        assert sink.stats()["pending"] == 4
        mosquitto.start()
        wait_until(lambda: sink.stats()["pending"] == 0)
        got = [m.json["after"]["id"] for m in sub.wait_for(7)]
    finally:
        sink.close()
        sub.close()
    first_seen = list(dict.fromkeys(got))  # QoS 1 is at least once: a duplicate is allowed, a loss is not
    assert first_seen == [f"e{i}" for i in range(7)]
    assert slowest < 0.25, f"publish took {slowest:.3f} s while the broker was down"


def test_new_sink_on_the_same_spool_delivers_leftovers(tmp_path):
    if not MOSQUITTO:
        pytest.skip(SKIP_MOSQUITTO)
    broker = Mosquitto(tmp_path / "broker")  # configured, not running yet
    first = MqttSink(MqttOptions(host=broker.host, port=broker.port, spool_dir=str(tmp_path / "spool"), **FAST))
    for message in numbered(3):
        first.publish(message)
    first.close(timeout_s=0.2)
    assert first.stats()["pending"] == 3 and not first.stats()["connected"]
    broker.start()
    try:
        with Subscriber(broker, "ammcnet/+/events") as sub:
            second = MqttSink(MqttOptions(host=broker.host, port=broker.port, spool_dir=str(tmp_path / "spool"),
                                          **FAST))
            second.publish(numbered(1, start=3)[0])
            assert ids([m.json for m in sub.wait_for(4)]) == ["e0", "e1", "e2", "e3"]
            second.close()
    finally:
        broker.kill()


def test_password_auth_and_masked_credentials(mosquitto_auth, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("AMMCNET_MQTT_PASSWORD", AUTH_PASSWORD)  # the default place of the password
    caplog.set_level(logging.DEBUG, logger="ammcnet.alarms")
    with Subscriber(mosquitto_auth, "ammcnet/+/events", username=AUTH_USER, password=AUTH_PASSWORD) as sub:
        sink = MqttSink(options(mosquitto_auth, tmp_path / "good", username=AUTH_USER))
        sink.publish(lifecycle("a")[0])
        assert sub.wait_for(1)[0].json["after"]["id"] == "a"
        sink.close()
    assert sink.stats()["target"] == f"mqtt://{AUTH_USER}:***@127.0.0.1:{mosquitto_auth.port}"
    wrong = "Wr0ng-passw0rd"
    bad = MqttSink(options(mosquitto_auth, tmp_path / "bad", username=AUTH_USER, password=wrong))
    bad.publish(lifecycle("b")[0])
    wait_until(lambda: "refused the connection" in (bad.stats()["last_error"] or ""))
    stats = bad.stats()
    bad.close(timeout_s=0.2)
    assert "not authori" in stats["last_error"].lower() and stats["pending"] == 1
    for text in (repr(stats), repr(sink.stats()), caplog.text):
        assert AUTH_PASSWORD not in text and wrong not in text


def test_missing_paho_names_the_extra(tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "paho" or m.startswith("paho.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "paho", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "ammcnet\[mqtt\]"') as err:
        MqttSink(MqttOptions(host="localhost", spool_dir=str(tmp_path / "spool")))
    assert "\n" not in str(err.value) and not (tmp_path / "spool").exists()


def test_payload_is_plain_json_on_the_wire(mosquitto, tmp_path):
    import numpy as np

    with Subscriber(mosquitto, "ammcnet/+/events") as sub:
        sink = MqttSink(options(mosquitto, tmp_path / "spool"))
        message = lifecycle("n")[0]
        message["after"] = {**message["after"], "score": np.float32(2.5), "top_score": float("nan")}
        sink.publish(message)
        body = json.loads(sub.wait_for(1)[0].payload)
        sink.close()
    assert body["after"]["score"] == 2.5 and body["after"]["top_score"] is None


def test_watch_cameras_each_have_their_own_availability(mosquitto, tmp_path: Path) -> None:
    cams = [CameraConfig(name=n, source="x.mp4", model="m.pt", mqtt=f"{mosquitto.host}:{mosquitto.port}")
            for n in ("gate", "yard")]
    with Subscriber(mosquitto, "ammcnet/+/available") as sub:
        sinks = [make_sinks(c.alarm_options().sinks, c.name, tmp_path / c.name)[0] for c in cams]
        sub.wait_for(2)
        sinks[0].close()  # the gate stops; the yard is still online
        got = {}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and got.get("ammcnet/gate/available") != b"offline":
            got = {g.topic: g.payload for g in sub.got()}
            time.sleep(0.05)
        sinks[1].close()
    assert got == {"ammcnet/gate/available": b"offline", "ammcnet/yard/available": b"online"}
