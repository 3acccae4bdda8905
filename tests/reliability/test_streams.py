"""Streams: reconnect with backoff, gaps in the events log, masked credentials, NaN frames never alarm."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ammcnet.cli import main
from ammcnet.detect import DetectOptions, DetectorOptions, run_detection
from ammcnet.detect.detector import Detector
from ammcnet.detect.reconnect import ReconnectingCapture, ReconnectPolicy
from ammcnet.detect.sources import open_source
from ammcnet.errors import ConfigError, DataError, ModelOutputError
from ammcnet.models import AMMCNet, ModelConfig
from ammcnet.utils.redact import mask_url

from .helpers import CALIBRATION


class Dropping:
    """A camera that delivers ``good`` frames, then fails every read until reopened."""

    opened = 0

    def __init__(self, good: int = 6) -> None:
        Dropping.opened += 1
        self.good, self.n = good, 0

    def read(self):
        self.n += 1
        if self.n > self.good:
            return False, None
        return True, np.full((24, 24, 3), (40 * self.n + 17 * Dropping.opened) % 255, np.uint8)

    def release(self) -> None:
        pass


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_backoff_doubles_up_to_the_limit_then_gives_up():
    waits = []

    def opener():
        raise DataError("cannot open stream rtsp://u:***@cam/x")

    cap = ReconnectingCapture(opener, ReconnectPolicy(initial_delay_s=0.5, max_delay_s=3.0, max_attempts=5),
                              first=Dropping(good=1), name="rtsp://u:***@cam/x", sleep=waits.append)
    assert cap.read()[0]
    with pytest.raises(StopIteration):
        cap.read()
    assert waits == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert "after 5 reconnect attempts" in cap.stop_reason and "\n" not in cap.stop_reason
    assert len(cap.gaps) == 1 and cap.gaps[0]["recovered"] is False and cap.gaps[0]["attempts"] == 5


def test_stalled_read_counts_as_a_drop():
    import threading

    release = threading.Event()

    class Stalling(Dropping):
        def read(self):
            if self.n >= 2:
                release.wait(5)
                return False, None
            return super().read()

    opened = [Stalling(), Dropping()]
    cap = ReconnectingCapture(lambda: opened.pop(0), ReconnectPolicy(stall_s=0.2, initial_delay_s=0.0),
                              sleep=lambda s: None)
    got = [cap.read()[0] for _ in range(4)]
    release.set()
    assert got == [True] * 4 and cap.reconnects == 1 and cap.gaps[0]["reason"] == "stalled"


def test_policy_is_validated():
    with pytest.raises(ConfigError):
        ReconnectPolicy(max_attempts=0)


def test_detect_survives_drops_and_logs_gaps(tmp_path):
    det = Detector(AMMCNet(ModelConfig(features_root=4, embed_dim=8, n_embed=16)), CALIBRATION,
                   DetectorOptions(size=(32, 32), flow_preset="ultrafast", threshold=0.0))
    cap = ReconnectingCapture(lambda: Dropping(good=6), ReconnectPolicy(drop_after=2, initial_delay_s=0.01),
                              name="rtsp://cam/x")
    summary = run_detection(cap, det, DetectOptions(max_frames=20, progress=False), out=tmp_path)
    assert summary.frames_read == 20 and summary.reconnects == 3 and len(summary.gaps) == 3
    rows = _lines(tmp_path / "events.jsonl")  # every line is valid JSON
    kinds = [r["kind"] for r in rows]
    assert kinds[0] == "start" and kinds[-1] == "stop" and kinds.count("gap") == 3
    gap = next(r for r in rows if r["kind"] == "gap")
    assert gap["start"] <= gap["end"] and gap["seconds"] >= 0 and gap["recovered"] is True


def test_nan_output_is_never_an_alarm_and_stops_the_run(tmp_path):
    net = AMMCNet(ModelConfig(features_root=4, embed_dim=8, n_embed=16))
    with torch.no_grad():
        next(p for p in net.parameters() if p.dim() == 4).fill_(float("nan"))
    det = Detector(net, CALIBRATION, DetectorOptions(size=(32, 32), flow_preset="ultrafast", threshold=-1e9))
    with pytest.raises(ModelOutputError, match=r"NaN or inf for 3 frames in a row \(frames 4-6\)"):
        run_detection(Dropping(good=50), det, DetectOptions(max_invalid=3, progress=False), out=tmp_path)
    frames = _lines(tmp_path / "frames.jsonl")
    assert [r["valid"] for r in frames] == [False] * 3 and not any(r["alarm"] for r in frames)
    assert all(r["score"] is None for r in frames)
    log = _lines(tmp_path / "events.jsonl")
    assert [r["kind"] for r in log] == ["start", "invalid", "invalid", "invalid", "stop"]
    assert "NaN or inf" in log[-1]["reason"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["invalid_frames"] == 3 and summary["alarmed_frames"] == 0


def test_masking():
    assert mask_url("rtsp://admin:hunter2@10.0.0.5:554/s") == "rtsp://admin:***@10.0.0.5:554/s"
    with pytest.raises(DataError) as err:
        open_source("rtsp://admin:hunter2@127.0.0.1:1/live", reconnect=False)
    assert "hunter2" not in str(err.value) and "admin:***@127.0.0.1" in str(err.value)


def test_cli_never_prints_the_password(tiny_model_file, tmp_path, capsys):
    code = main(["detect", "--model", str(tiny_model_file), "rtsp://admin:hunter2@127.0.0.1:1/live",
                 "--threshold", "1.0", "--out", str(tmp_path / "o"), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 2 and "hunter2" not in captured.err + captured.out
    assert "admin:***@" in captured.err and len(captured.err.strip().splitlines()) == 1


def test_video_segments_survive_an_abrupt_stop(tmp_path):
    import cv2

    from ammcnet.detect.overlay import OverlayWriter

    w = OverlayWriter(tmp_path / "live.mp4", fps=10, threshold=1.0, segment_frames=5)
    for i in range(12):
        w.write(np.full((48, 64, 3), 20 * i, np.uint8), score=float(i), alarm=False, index=i)
    # no close(): as after kill -9, the open segment is lost, the closed ones play
    done = sorted(p.name for p in tmp_path.glob("live-*.mp4"))
    assert done == ["live-00000.mp4", "live-00001.mp4"]
    for name in done:
        cap = cv2.VideoCapture(str(tmp_path / name))
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 5 and cap.read()[0]
        cap.release()
    assert w.close().name == "live-00000.mp4" and len(w.segments) == 3
