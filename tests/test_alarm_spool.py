"""The on-disk spool of alarm messages, and the JSON-lines sink: order, restarts, bounds, refusals."""

from __future__ import annotations

import json
import logging

import pytest

from ammcnet.alarms import JsonlSink, Sink, Spool
from ammcnet.alarms.sink import encode_message
from ammcnet.errors import ConfigError
from ammcnet.utils.lock import FolderBusyError


def test_order_survives_a_restart_and_numbers_go_on(tmp_path):
    spool = Spool(tmp_path / "s")
    assert [spool.put(f"m{i}".encode()) for i in range(3)] == [1, 2, 3]
    spool.remove(1)
    spool.close()
    (tmp_path / "s" / ".0000000000000009.json.tmp").write_bytes(b"half a mess")  # a write a crash cut short
    again = Spool(tmp_path / "s")
    assert again.pending() == [2, 3] and again.head() == (2, b"m1")
    assert again.put(b"m3") == 4  # never reuses a number that may still be on disk
    assert not list((tmp_path / "s").glob(".*.tmp"))
    assert sorted(p.name for p in (tmp_path / "s").glob("*.json")) == [
        "0000000000000002.json", "0000000000000003.json", "0000000000000004.json"]
    again.close()


def test_bounded_drops_the_oldest_with_a_counted_warning(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="ammcnet.alarms")
    spool = Spool(tmp_path / "s", max_messages=3)
    for i in range(15):
        spool.put(str(i).encode())
    assert [spool.head()[1], len(spool), spool.dropped] == [b"12", 3, 12]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2  # the 1st and the 10th drop, not one per message
    assert "dropped the oldest (10 dropped so far)" in warnings[1] and str(tmp_path / "s") in warnings[1]
    spool.close()


def test_reject_moves_the_message_and_says_why(tmp_path):
    spool = Spool(tmp_path / "s")
    spool.put(b'{"a": 1}')
    spool.put(b'{"a": 2}')
    moved = spool.reject(1, "HTTP 400 Bad Request")
    assert moved == tmp_path / "s" / "rejected" / "0000000000000001.json"
    assert moved.read_bytes() == b'{"a": 1}'
    assert moved.with_suffix(".reason.txt").read_text() == "HTTP 400 Bad Request\n"
    assert spool.head() == (2, b'{"a": 2}')
    spool.close()
    assert Spool(tmp_path / "s").put(b"x") == 3  # rejected numbers are not reused either


def test_one_holder_per_folder_and_bad_bound(tmp_path):
    spool = Spool(tmp_path / "s")
    with pytest.raises(FolderBusyError):
        Spool(tmp_path / "s")
    spool.close()
    with pytest.raises(ConfigError, match="max_messages must be at least 1"):
        Spool(tmp_path / "t", max_messages=0)


def test_jsonl_sink_writes_one_line_per_message(tmp_path):
    sink = JsonlSink(tmp_path / "logs" / "alarms.jsonl")
    assert isinstance(sink, Sink)
    messages = [{"type": "new", "before": None, "after": {"id": "a", "score": float("inf")}},
                {"type": "end", "before": None, "after": {"id": "a", "score": 2.0}}]
    for message in messages:
        sink.publish(message)
    sink.close()
    lines = (tmp_path / "logs" / "alarms.jsonl").read_text().splitlines()
    assert [json.loads(line)["type"] for line in lines] == ["new", "end"]
    assert json.loads(lines[0])["after"]["score"] is None  # inf is not JSON: null
    assert sink.stats()["published"] == sink.stats()["delivered"] == 2


def test_encode_message_refuses_objects_in_one_line():
    with pytest.raises(TypeError, match="holds a object, which is not JSON"):
        encode_message({"after": object()})
