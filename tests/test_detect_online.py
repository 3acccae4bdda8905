"""Online detection equals offline scoring; auto threshold; events; the CLI in-process."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from ammcnet.cli import main
from ammcnet.data import prepare_dataset
from ammcnet.detect import DetectOptions, Detector, EventTracker, events_from_scores, run_detection
from ammcnet.models import AMMCNet, ModelConfig, load_model_file, save_model_file
from ammcnet.scoring.calibration import calibration_from_records, threshold_for_fpr
from ammcnet.scoring.fusion import Smoothing, fuse_records, smooth
from ammcnet.scoring.inference import score_prepared
from ammcnet.scoring.motion_prior import MotionPrior, MotionPriorConfig
from ammcnet.scoring.scorer import Scorer

SIZE = (32, 32)
N_FRAMES = 11
F = 4


def _frames(n: int, h: int = 36, w: int = 44, seed: int = 0) -> list[np.ndarray]:
    """A textured background with a bright square moving right, then jumping (the anomaly)."""
    rng = np.random.default_rng(seed)
    bg = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), (5, 5), 0)
    out = []
    for i in range(n):
        img = bg.copy()
        x = 2 + 2 * i if i < n - 4 else 2 + 6 * i
        img[10:20, x % (w - 10): x % (w - 10) + 10] = (240, 220, 60)
        out.append(img)
    return out

@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("detect")
    frames = _frames(N_FRAMES)
    d = root / "data" / "test" / "clip"
    d.mkdir(parents=True)
    for i, f in enumerate(frames):
        cv2.imwrite(str(d / f"{i:03d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    prepared = prepare_dataset(root / "data", size=SIZE, flow="dis", flow_preset="ultrafast",
                               cache_dir=root / "cache", splits=("test",), progress=False)
    torch.manual_seed(0)
    model = AMMCNet(ModelConfig(features_root=4, embed_dim=8, n_embed=16)).eval()
    # a motion prior fitted on the first frames' flows: its record must also agree online
    first = torch.from_numpy(np.asarray(prepared.flows("test", "clip")[:5], np.float32)).permute(0, 3, 1, 2)
    scorer = Scorer({"motion_prior": MotionPrior.fit([first], size=SIZE, config=MotionPriorConfig(rows=4))})
    offline = score_prepared(model, prepared, "test", scorer=scorer, batch_size=5)
    assert "motion_prior" in offline.records
    # statistics of the clip's own scores stand in for held-out normal clips (only the arithmetic is tested)
    cal = calibration_from_records([{k: v[0][F:] * 0.9 for k, v in offline.records.items()}])
    run = root / "run"
    train_config = {"data": {"size": list(SIZE), "flow": "dis", "flow_preset": "ultrafast"}}
    save_model_file(run / "model.pt", model, calibration=cal, train_config=train_config, scorer=scorer.state())
    return {"root": root, "prepared": prepared, "offline": offline, "cal": cal, "run": run,
            "folder": root / "data" / "test" / "clip", "frames": frames}


def test_online_equals_offline(setup: dict) -> None:
    det = Detector.from_run(setup["run"], threshold=None)
    assert det.size == SIZE and det.flow_backend.params()["preset"] == "ultrafast"
    results = [det.update(f, timestamp=i / 10) for i, f in enumerate(setup["frames"])]
    assert all(r is None for r in results[:F]) and all(r is not None for r in results[F:])
    offline = setup["offline"].records
    for name in offline:  # every record the scorer gave offline, online too
        online = np.array([r.records[name] for r in results[F:]])
        np.testing.assert_allclose(online, offline[name][0][F:], rtol=0, atol=1e-5, err_msg=name)
    fused_off = fuse_records({k: v[0] for k, v in offline.items()}, setup["cal"], det.weights)
    np.testing.assert_allclose([r.fused for r in results[F:]], fused_off[F:], atol=1e-5)
    # causal smoothing online == the causal filter applied offline (warm-up entries copy entry F)
    smoothed = smooth(fused_off, Smoothing(sigma=det.smoothing.sigma, causal=True))
    np.testing.assert_allclose([r.score for r in results[F:]], smoothed[F:], atol=1e-5)
    assert [r.index for r in results[F:]] == list(range(F, N_FRAMES))


def test_batched_run_detection_equals_offline(setup: dict, tmp_path: Path) -> None:
    summary = run_detection(setup["folder"], setup["run"], DetectOptions(threshold=None, batch_size=3, progress=False),
                            out=tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "frames.jsonl").read_text().splitlines()]
    assert summary.frames_read == N_FRAMES and len(rows) == N_FRAMES - F
    np.testing.assert_allclose([r["records"]["rgb_psnr"] for r in rows],
                               setup["offline"].records["rgb_psnr"][0][F:], atol=1e-5)
    assert not any(r["alarm"] for r in rows) and summary.events == []


def test_threshold_auto_matches_calibrated_rate(setup: dict, tmp_path: Path) -> None:
    # calibrate on the test video itself with the online (causal) smoothing: the auto threshold
    # must then alarm on exactly the frames whose offline smoothed score exceeds it
    offline = setup["offline"].records
    causal = Smoothing(sigma=3.0, causal=True)
    cal = calibration_from_records([{k: v[0][F:] for k, v in offline.items()}], smoothing=causal)
    loaded = load_model_file(setup["run"])
    # the model file's settings are the calibration's (they are stored once, in the training settings)
    train_config = {**loaded.train_config, "scoring": {"smoothing": causal.to_dict()}}
    save_model_file(tmp_path / "model.pt", loaded.model, calibration=cal, train_config=train_config)
    det = Detector.from_run(tmp_path, threshold="auto", fpr=0.25)
    assert det.threshold == pytest.approx(threshold_for_fpr(cal, 0.25))
    results = [r for r in det.process(setup["frames"]) if r is not None]
    expected = smooth(fuse_records({k: v[0][F:] for k, v in offline.items()}, cal, det.weights), causal)
    assert [r.alarm for r in results] == list(expected > det.threshold)
    assert 1 <= sum(r.alarm for r in results) <= 4  # ~25 % of 10 frames


def test_events_from_known_scores() -> None:
    s = [0, 3, 3, 0, 3, 0, 0, 3, 0, 0, 0, 5, 4, 0]
    assert [(e.start, e.end, e.peak_frame) for e in events_from_scores(s, 1)] == [
        (1, 2, 1), (4, 4, 4), (7, 7, 7), (11, 12, 11)]
    merged = events_from_scores(s, 1, min_gap=2)
    assert [(e.start, e.end, e.alarmed_frames) for e in merged] == [(1, 7, 4), (11, 12, 2)]
    assert [(e.start, e.end) for e in events_from_scores(s, 1, min_frames=2)] == [(1, 2), (11, 12)]
    assert merged[1].peak_score == 5.0
    tr = EventTracker()
    for i, v in enumerate([0, 2, 2]):
        tr.update(i, v, v > 1)
    assert tr.active and [(e.start, e.end) for e in tr.snapshot()] == [(1, 2)] and tr.events == []


def test_cli_on_avi_writes_jsonl_events_and_mp4(setup: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    avi = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(avi), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (44, 36))
    for f in setup["frames"]:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    out, mp4 = tmp_path / "out", tmp_path / "overlay.mp4"
    rc = main(["detect", str(avi), "--model", str(setup["run"]), "--out", str(out), "--video", str(mp4),
               "--threshold=-1e9", "--no-progress", "--batch", "4"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "11 frames read, 7 scored" in printed and "latency" in printed
    rows = [json.loads(line) for line in (out / "frames.jsonl").read_text().splitlines()]
    assert len(rows) == N_FRAMES - F and all(r["alarm"] for r in rows)
    assert set(rows[0]) == {"index", "timestamp", "score", "fused", "alarm", "valid", "records", "box"}
    events = json.loads((out / "events.json").read_text())
    assert events["complete"] and [(e["start_frame"], e["end_frame"]) for e in events["events"]] == [(F, N_FRAMES - 1)]
    cap = cv2.VideoCapture(str(mp4))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    assert n == N_FRAMES
    assert json.loads((out / "summary.json").read_text())["frames_scored"] == N_FRAMES - F
    # user errors: one line, exit status 2
    assert main(["detect", str(avi), "--model", str(tmp_path / "nope")]) == 2
    assert main(["detect", str(tmp_path / "missing.avi"), "--model", str(setup["run"])]) == 2
    assert main(["detect", str(avi), "--model", str(setup["run"]), "--threshold", "high"]) == 2
    assert "error:" in capsys.readouterr().err


def test_many_sources_over_worker_processes_equal_one_process(setup: dict, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture) -> None:
    """`detect A B C --workers 2`: each source in OUT/<name>/, scores equal a sequential run."""
    other = tmp_path / "src" / "clip"  # a second clip with the same name: folders must not collide
    other.mkdir(parents=True)
    for i, f in enumerate(_frames(N_FRAMES, seed=3)):
        cv2.imwrite(str(other / f"{i:03d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    sources = [str(setup["folder"]), str(other), str(tmp_path / "missing")]
    seq, par = tmp_path / "seq", tmp_path / "par"
    assert main(["detect", *sources, "--model", str(setup["run"]), "--out", str(seq), "--no-progress"]) == 0
    assert main(["detect", *sources, "--model", str(setup["run"]), "--out", str(par), "--no-progress",
                 "--workers", "2", "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    assert "failed" in printed and "index:" in printed
    for out in (seq, par):
        index = json.loads((out / "detections.json").read_text())["sources"]
        assert [Path(s["folder"]).name for s in index] == ["clip", "clip-2", "missing"]
        assert index[0]["error"] is None and index[1]["error"] is None and "missing" in index[2]["error"]
        assert index[0]["frames_scored"] == N_FRAMES - F
    for name in ("clip", "clip-2"):
        a = [json.loads(x)["score"] for x in (seq / name / "frames.jsonl").read_text().splitlines()]
        b = [json.loads(x)["score"] for x in (par / name / "frames.jsonl").read_text().splitlines()]
        assert len(a) == N_FRAMES - F
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    a0 = [json.loads(x)["score"] for x in (seq / "clip" / "frames.jsonl").read_text().splitlines()]
    a1 = [json.loads(x)["score"] for x in (seq / "clip-2" / "frames.jsonl").read_text().splitlines()]
    assert not np.allclose(a0, a1)  # two different clips really were scored
    # several sources need --out; one file for --video cannot serve many sources
    assert main(["detect", *sources[:2], "--model", str(setup["run"])]) == 2
    assert main(["detect", *sources[:2], "--model", str(setup["run"]), "--out", str(tmp_path / "v"),
                 "--video", str(tmp_path / "v.mp4")]) == 2
    assert "--out" in capsys.readouterr().err
