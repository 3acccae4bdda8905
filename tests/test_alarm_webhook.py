"""The webhook sink against a real local HTTP receiver: order, token, outages, restarts, refusals."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from alarm_servers import HttpReceiver, http_receiver_fixture, ids, lifecycle, numbered  # noqa: F401
from ammcnet.alarms import Sink, WebhookOptions, WebhookSink
from ammcnet.errors import ConfigError
from ammcnet.utils.lock import FolderBusyError

TOKEN = "tok-7f3a9c2e51"
#: Short retry settings: the tests wait tenths of a second, not the production half-second to 30 s.
FAST = {"backoff_initial_s": 0.05, "backoff_max_s": 0.2, "timeout_s": 2.0}


def options(receiver: HttpReceiver, spool: Path, **fields) -> WebhookOptions:
    return WebhookOptions(url=receiver.url, spool_dir=str(spool), **{**FAST, **fields})


def test_delivers_in_order_with_bearer_token(http_receiver, tmp_path, monkeypatch):
    monkeypatch.setenv("AMMCNET_WEBHOOK_TOKEN", TOKEN)
    sink = WebhookSink(options(http_receiver, tmp_path / "spool"))
    assert isinstance(sink, Sink)
    messages = lifecycle("1733570000.123456-k3x9qa") + numbered(5)
    for message in messages:
        sink.publish(message)
    assert http_receiver.wait_for(len(messages)) == messages
    sink.close()
    first = http_receiver.requests[0]
    assert first.headers["Authorization"] == f"Bearer {TOKEN}"
    assert first.headers["Content-Type"] == "application/json" and first.path == "/hook"
    stats = sink.stats()
    assert (stats["published"], stats["delivered"], stats["pending"], stats["failures"]) == (8, 8, 0, 0)
    assert TOKEN not in repr(stats)
    assert list((tmp_path / "spool").glob("*.json")) == []


def test_token_env_named_but_unset_is_one_line_error(http_receiver, tmp_path, monkeypatch):
    monkeypatch.delenv("MY_HOOK_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="MY_HOOK_TOKEN .*is not set") as err:
        WebhookSink(options(http_receiver, tmp_path / "spool", token_env="MY_HOOK_TOKEN"))
    assert "\n" not in str(err.value)


def test_receiver_down_then_back_loses_nothing_and_never_blocks(http_receiver, tmp_path):
    sink = WebhookSink(options(http_receiver, tmp_path / "spool"))
    sink.publish(numbered(1)[0])
    http_receiver.wait_for(1)
    http_receiver.stop()
    down_at, slowest = time.monotonic(), 0.0
    for message in numbered(6, start=1):
        t0 = time.monotonic()
        sink.publish(message)
        slowest = max(slowest, time.monotonic() - t0)
        time.sleep(0.3)
    time.sleep(max(0.0, 2.0 - (time.monotonic() - down_at)))  # down for about 2 s in all
    assert http_receiver.delivered == numbered(1)  # nothing got through while it was down
    assert sink.stats()["pending"] == 6 and sink.stats()["failures"] >= 2
    assert "cannot reach" in sink.stats()["last_error"]
    http_receiver.start()
    assert ids(http_receiver.wait_for(7)) == [f"e{i}" for i in range(7)]
    sink.close()
    assert slowest < 0.25, f"publish took {slowest:.3f} s while the receiver was down"
    assert sink.stats()["pending"] == 0 and sink.stats()["delivered"] == 7


def test_slow_receiver_does_not_slow_publish(http_receiver, tmp_path):
    http_receiver.delay_s = 0.4
    sink = WebhookSink(options(http_receiver, tmp_path / "spool"))
    t0 = time.monotonic()
    for message in numbered(4):
        sink.publish(message)
    took = time.monotonic() - t0
    assert took < 0.3, f"4 publishes took {took:.3f} s against a receiver answering in 0.4 s"
    assert ids(http_receiver.wait_for(4)) == ["e0", "e1", "e2", "e3"]
    sink.close()


def test_new_sink_on_the_same_spool_delivers_leftovers_first(tmp_path):
    receiver = HttpReceiver()  # not started: down
    spool = tmp_path / "spool"
    first = WebhookSink(options(receiver, spool))
    for message in numbered(3):
        first.publish(message)
    t0 = time.monotonic()
    first.close(timeout_s=0.3)
    assert time.monotonic() - t0 < 2.0
    assert first.stats()["pending"] == 3 and len(list(spool.glob("*.json"))) == 3
    with receiver:
        second = WebhookSink(options(receiver, spool))
        second.publish(numbered(1, start=3)[0])
        assert ids(receiver.wait_for(4)) == ["e0", "e1", "e2", "e3"]
        second.close()
    assert second.stats()["delivered"] == 4


def test_leftovers_of_a_killed_process_are_delivered(tmp_path):
    receiver = HttpReceiver()  # down while the first process publishes
    spool = tmp_path / "spool"
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from alarm_servers import numbered
        from ammcnet.alarms import WebhookOptions, WebhookSink
        sink = WebhookSink(WebhookOptions(url={receiver.url!r}, spool_dir={str(spool)!r}, backoff_initial_s=0.05,
                                          backoff_max_s=0.2))
        for message in numbered(3):
            sink.publish(message)
        print("published", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "published"
    finally:
        proc.kill()  # SIGKILL: no close, no flush
        proc.wait()
    with receiver:
        sink = WebhookSink(options(receiver, spool))
        assert ids(receiver.wait_for(3)) == ["e0", "e1", "e2"]
        sink.close()


def test_4xx_goes_to_rejected_and_the_rest_goes_on(http_receiver, tmp_path):
    http_receiver.statuses = [400, 503, 429]  # refused for good, then two passing failures
    http_receiver.headers_out = {"Retry-After": "0"}
    sink = WebhookSink(options(http_receiver, tmp_path / "spool"))
    for message in numbered(3):
        sink.publish(message)
    assert ids(http_receiver.wait_for(2)) == ["e1", "e2"]
    sink.close()
    assert [r.status for r in http_receiver.requests] == [400, 503, 429, 200, 200]
    stats = sink.stats()
    assert (stats["delivered"], stats["rejected"], stats["failures"], stats["pending"]) == (2, 1, 3, 0)
    rejected = sorted((tmp_path / "spool" / "rejected").glob("*.json"))
    assert len(rejected) == 1 and '"e0"' in rejected[0].read_text()
    assert "HTTP 400" in rejected[0].with_suffix(".reason.txt").read_text()


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "http://", "hooks.example.com/ammcnet",
                                 "http://host:99999/x", "http://user:pw-secret@:80/x", ""])
def test_bad_url_is_one_line_config_error(url, tmp_path):
    with pytest.raises(ConfigError, match="is not an http:// or https:// URL with a host") as err:
        WebhookSink(WebhookOptions(url=url, spool_dir=str(tmp_path / "spool")))
    assert "\n" not in str(err.value) and "pw-secret" not in str(err.value)
    assert not (tmp_path / "spool").exists()


def test_basic_auth_from_url_is_sent_and_masked(http_receiver, tmp_path):
    url = http_receiver.url.replace("http://", "http://alice:pw-secret@")
    sink = WebhookSink(WebhookOptions(url=url, spool_dir=str(tmp_path / "spool"), **FAST))
    sink.publish(numbered(1)[0])
    http_receiver.wait_for(1)
    sink.close()
    assert http_receiver.requests[0].headers["Authorization"] == "Basic YWxpY2U6cHctc2VjcmV0"
    assert "pw-secret" not in repr(sink.stats()) and "alice:***@" in sink.stats()["target"]


def test_one_sink_per_spool_folder(http_receiver, tmp_path):
    sink = WebhookSink(options(http_receiver, tmp_path / "spool"))
    try:
        with pytest.raises(FolderBusyError, match="in use by ammcnet webhook alarm sink"):
            WebhookSink(options(http_receiver, tmp_path / "spool"))
    finally:
        sink.close()
    WebhookSink(options(http_receiver, tmp_path / "spool")).close()  # free again


def test_a_redirect_is_refused_not_followed(http_receiver, tmp_path):
    http_receiver.statuses = [301]
    http_receiver.headers_out = {"Location": "https://elsewhere.example.com/hook?token=abc123"}
    with WebhookSink(options(http_receiver, tmp_path / "spool")) as sink:
        for message in numbered(2):
            sink.publish(message)
        assert ids(http_receiver.wait_for(1)) == ["e1"]
    assert sink.stats()["rejected"] == 1 and len(http_receiver.requests) == 2  # never followed to "elsewhere"
    reason = next((tmp_path / "spool" / "rejected").glob("*.reason.txt")).read_text()
    assert "redirects (HTTP 301) to https://elsewhere.example.com/hook?token=***" in reason
