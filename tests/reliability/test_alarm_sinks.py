"""Alarm sinks under bad settings and bad conditions: one clear line, nothing blocked, nothing lost.

Rows: a bad webhook URL, a bad MQTT broker spec (each a one-line ConfigError, secrets masked, no
spool folder made), a spool on a full disk (ENOSPC: a one-line OutputError naming the folder, no
temporary file left, the sink usable again once there is space), and receivers that are not
there (publish returns at once, the messages wait in the spool).
"""

from __future__ import annotations

import errno
import os
import socket
import time

import pytest

from alarm_servers import free_port, numbered, wait_until
from ammcnet.alarms import MqttOptions, MqttSink, WebhookOptions, WebhookSink, parse_broker
from ammcnet.errors import ConfigError, OutputError

FAST = {"backoff_initial_s": 0.05, "backoff_max_s": 0.2}

BAD_URLS = [
    ("ftp-scheme", "ftp://hooks.example.com/x"),
    ("no-host", "http://"),
    ("no-scheme", "hooks.example.com/ammcnet"),
    ("port-out-of-range", "https://hooks.example.com:70000/x"),
    ("port-not-a-number", "http://hooks.example.com:80a/x"),
    ("password-no-host", "https://bob:pw-hidden@/x"),
]

BAD_BROKERS = [
    ("port-not-a-number", "host:notaport", "is not HOST\\[:PORT\\]"),
    ("empty", "", "is not HOST\\[:PORT\\]"),
    ("no-host", ":1883", "is not HOST\\[:PORT\\]"),
    ("port-zero", "host:0", "is not HOST\\[:PORT\\]"),
    ("port-too-big", "host:65536", "is not HOST\\[:PORT\\]"),
    ("bad-scheme", "http://host:1883", "is not HOST\\[:PORT\\]"),
    ("credentials", "mqtt://bob:pw-hidden@host:1883", "carries credentials"),
]


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and text.strip() == text, text
    assert "pw-hidden" not in text, text
    return text


@pytest.mark.parametrize("url", [u for _, u in BAD_URLS], ids=[i for i, _ in BAD_URLS])
def test_bad_webhook_url(url, tmp_path):
    with pytest.raises(ConfigError) as err:
        WebhookSink(WebhookOptions(url=url, spool_dir=str(tmp_path / "spool")))
    assert "is not an http:// or https:// URL with a host" in _one_line(err.value)
    assert not (tmp_path / "spool").exists()


@pytest.mark.parametrize("spec,pattern", [(s, p) for _, s, p in BAD_BROKERS], ids=[i for i, _, _ in BAD_BROKERS])
def test_bad_broker_spec(spec, pattern, tmp_path):
    with pytest.raises(ConfigError, match=pattern) as err:
        parse_broker(spec)
    _one_line(err.value)
    with pytest.raises(ConfigError, match=pattern):
        MqttSink(MqttOptions(host=spec, spool_dir=str(tmp_path / "spool")))
    assert not (tmp_path / "spool").exists()


def test_bad_mqtt_port_option(tmp_path):
    with pytest.raises(ConfigError, match="MQTT port 0 is not a number from 1 to 65535"):
        MqttSink(MqttOptions(host="localhost", port=0, spool_dir=str(tmp_path / "spool")))


def test_password_env_named_but_unset(tmp_path, monkeypatch):
    monkeypatch.delenv("NO_SUCH_MQTT_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match="NO_SUCH_MQTT_PASSWORD \\(the MQTT password\\) is not set") as err:
        MqttSink(MqttOptions(host="localhost", username="u", password_env="NO_SUCH_MQTT_PASSWORD",
                             spool_dir=str(tmp_path / "spool")))
    _one_line(err.value)
    with pytest.raises(ConfigError, match="an MQTT password needs a username"):
        MqttSink(MqttOptions(host="localhost", password="pw-hidden", spool_dir=str(tmp_path / "spool")))
    assert not (tmp_path / "spool").exists()


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("call", ["write", "fsync"])
def test_spool_on_a_full_disk(call, tmp_path, monkeypatch):
    spool = tmp_path / "spool"
    sink = WebhookSink(WebhookOptions(url=f"http://127.0.0.1:{free_port()}/x", spool_dir=str(spool), **FAST))
    try:
        with monkeypatch.context() as m:
            m.setattr(os, call, _enospc)
            with pytest.raises(OutputError) as err:
                sink.publish(numbered(1)[0])
        text = _one_line(err.value)
        assert str(spool) in text and "ENOSPC" in text and "free some space" in text
        assert [p.name for p in spool.iterdir() if p.name != ".ammcnet.lock"] == []  # no temporary file left
        assert sink.stats()["published"] == 0
        sink.publish(numbered(1)[0])  # space is back: the sink goes on
        assert sink.stats()["published"] == 1 and len(list(spool.glob("*.json"))) == 1
    finally:
        sink.close(timeout_s=0.1)


def test_unreachable_broker_does_not_block_publish(tmp_path):
    port = free_port()  # nothing listens there
    sink = MqttSink(MqttOptions(host="127.0.0.1", port=port, spool_dir=str(tmp_path / "spool"), **FAST))
    t0 = time.monotonic()
    for message in numbered(20):
        sink.publish(message)
    took = time.monotonic() - t0
    assert took < 1.0, f"20 publishes took {took:.2f} s with the broker unreachable"
    wait_until(lambda: "cannot reach the MQTT broker" in (sink.stats()["last_error"] or ""))
    stats = sink.stats()
    assert (stats["connected"], stats["pending"], stats["delivered"]) == (False, 20, 0)
    t0 = time.monotonic()
    sink.close(timeout_s=0.5)
    assert time.monotonic() - t0 < 3.0
    assert len(list((tmp_path / "spool").glob("*.json"))) == 20  # kept for the next start


def test_silent_webhook_receiver_does_not_block_publish_or_close(tmp_path):
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/x"
        sink = WebhookSink(WebhookOptions(url=url, spool_dir=str(tmp_path / "spool"), timeout_s=5.0, **FAST))
        t0 = time.monotonic()
        for message in numbered(5):
            sink.publish(message)
        assert time.monotonic() - t0 < 0.5
        t0 = time.monotonic()
        sink.close(timeout_s=0.3)
        assert time.monotonic() - t0 < 2.0  # the close deadline, plus a short grace; not the 5 s request timeout
    assert sink.stats()["pending"] == 5
