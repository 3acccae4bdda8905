"""Streams that fail, stall, change resolution or carry corrupt frames end cleanly with valid outputs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from ammcnet.detect import DetectOptions, Detector, DetectorOptions, FrameReader, open_source, run_detection
from ammcnet.errors import DataError
from ammcnet.models import AMMCNet, ModelConfig
from ammcnet.scoring.fusion import RECORDS

F = 4

@pytest.fixture(scope="module")
def detector_factory():
    torch.manual_seed(1)
    model = AMMCNet(ModelConfig(features_root=4, embed_dim=8, n_embed=16)).eval()
    cal = {"records": {r: {"mean": 0.0, "std": 1.0} for r in RECORDS}}

    def make(threshold: float | None = 0.0) -> Detector:
        return Detector(model, cal, DetectorOptions(size=(32, 32), flow="dis", flow_preset="ultrafast", threshold=threshold))

    return make


def _frame(i: int, h: int = 24, w: int = 32) -> np.ndarray:
    img = np.full((h, w, 3), 60, np.uint8)
    img[4:12, (2 * i) % (w - 8):(2 * i) % (w - 8) + 8] = 220
    return img  # BGR for a capture: channel order does not matter here


class FlakyCapture:
    """Frames with a raised error, a dropped read and a resolution change, then a dead feed."""

    def __init__(self) -> None:
        self.i = 0
        self.released = False

    def read(self) -> tuple[bool, np.ndarray | None]:
        self.i += 1
        if self.i == 4:
            raise RuntimeError("decoder hiccup")
        if self.i == 6:
            return False, None
        if self.i > 12:
            return False, None  # the camera went away
        return True, _frame(self.i, *((40, 56) if self.i >= 9 else (24, 32)))

    def release(self) -> None:
        self.released = True


def _check_outputs(out: Path, scored: int) -> dict:
    rows = [json.loads(line) for line in (out / "frames.jsonl").read_text().splitlines()]
    assert len(rows) == scored and [r["index"] for r in rows] == list(range(F, F + scored))
    assert all(np.isfinite(r["score"]) for r in rows)
    events = json.loads((out / "events.json").read_text())
    assert events["complete"] is True
    for e in events["events"]:
        assert e["start_frame"] <= e["peak_frame"] <= e["end_frame"]
    return json.loads((out / "summary.json").read_text())


def test_flaky_capture_with_resolution_change(detector_factory, tmp_path: Path) -> None:
    cap = FlakyCapture()
    summary = run_detection(cap, detector_factory(), DetectOptions(max_failures=3, read_timeout=5.0, progress=False),
                            out=tmp_path, video=tmp_path / "o.mp4")
    # reads 1..12: #4 raises, #6 fails -> 10 frames; then 3 failures in a row stop it
    assert summary.frames_read == 10 and summary.read_failures == 5
    assert summary.stop_reason == "too many consecutive read failures (3)" and cap.released
    saved = _check_outputs(tmp_path, 10 - F)
    assert saved["frames_read"] == 10 and saved["read_failures"] == 5
    assert (tmp_path / "o.mp4").stat().st_size > 0 and not list(tmp_path.glob(".*tmp*"))


def test_stalled_stream_stops_cleanly(detector_factory, tmp_path: Path) -> None:
    class Stalls(FlakyCapture):
        def read(self):
            self.i += 1
            if self.i > 6:
                time.sleep(3.0)
            return True, _frame(self.i)

    t0 = time.monotonic()
    summary = run_detection(Stalls(), detector_factory(), DetectOptions(read_timeout=0.5, progress=False), out=tmp_path)
    assert summary.stop_reason.startswith("stalled") and summary.frames_read == 6
    assert time.monotonic() - t0 < 30
    _check_outputs(tmp_path, 6 - F)


def test_frame_folder_with_corrupt_jpeg(detector_factory, tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(9):
        cv2.imwrite(str(folder / f"{i:02d}.jpg"), _frame(i))
    (folder / "04.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    data = (folder / "06.jpg").read_bytes()
    (folder / "06.jpg").write_bytes(data[: len(data) // 2])  # truncated
    summary = run_detection(folder, detector_factory(), DetectOptions(progress=False), out=tmp_path / "out")
    assert summary.frames_read == 7 and summary.read_failures == 2 and summary.stop_reason == "end of stream"
    _check_outputs(tmp_path / "out", 7 - F)


def test_interrupt_leaves_complete_files(detector_factory, tmp_path: Path, monkeypatch) -> None:
    det = detector_factory(threshold=-1e9)  # every scored frame alarms: one open event
    real = det.process
    calls = {"n": 0}

    def process(frames, timestamps=None):
        calls["n"] += 1
        if calls["n"] == 8:
            raise KeyboardInterrupt
        return real(frames, timestamps)

    monkeypatch.setattr(det, "process", process)
    with pytest.raises(KeyboardInterrupt):
        run_detection(FlakyCapture(), det, DetectOptions(batch_size=1, progress=False), out=tmp_path)
    saved = _check_outputs(tmp_path, 7 - F)
    assert saved["stop_reason"] == "interrupted"
    events = json.loads((tmp_path / "events.json").read_text())["events"]
    assert [(e["start_frame"], e["end_frame"]) for e in events] == [(F, 6)]


def test_reader_and_sources() -> None:
    class Eof:
        def __init__(self):
            self.n = 0

        def read(self):
            self.n += 1
            if self.n > 3:
                raise StopIteration
            return True, np.zeros((8, 8), np.uint8)  # grey frames become RGB

        def release(self):
            pass

    frames = list(FrameReader(Eof()))
    assert len(frames) == 3 and frames[0].rgb.shape == (8, 8, 3)
    with pytest.raises(DataError, match="does not exist"):
        open_source("/no/such/video.mp4")
    with pytest.raises(DataError, match="not a supported video"):
        open_source(__file__)
