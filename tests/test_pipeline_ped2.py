"""End to end on the real UCSD Ped2 frames, scaled down: prepare -> train (tiny) -> test.

A reduced Ped2 (2 training and 2 test videos, linked from ../shared, with a ped2.mat holding only
those test videos' intervals) runs through the same commands a user runs. The checks: every file
of the run and of the test appears; the AUC in metrics.json is the AUC of the written scores
against the test videos' own labels; the calibration comes from training clips only.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from sklearn.metrics import roc_auc_score

from ammcnet.cli import main
from ammcnet.metrics import load_labels, load_score_file
from ammcnet.models import load_model_file
from helpers import shared_path

TRAIN_VIDEOS = ("01", "02")
TEST_VIDEOS = ("01", "02")  # both have normal and anomalous frames after the 4 warm-up frames


@pytest.fixture(scope="module")
def mini_ped2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ped2 = shared_path("benchmarks", "ped2")
    root = tmp_path_factory.mktemp("data") / "ped2"
    for split, videos in (("training", TRAIN_VIDEOS), ("testing", TEST_VIDEOS)):
        (root / split / "frames").mkdir(parents=True)
        for v in videos:
            (root / split / "frames" / v).symlink_to(ped2 / split / "frames" / v, target_is_directory=True)
    gt = scipy.io.loadmat(ped2 / "ped2.mat")["gt"].ravel()
    keep = np.empty((1, len(TEST_VIDEOS)), dtype=object)
    for i, v in enumerate(TEST_VIDEOS):
        keep[0, i] = gt[int(v) - 1]
    scipy.io.savemat(root / "ped2.mat", {"gt": keep})
    return root


def test_ped2_pipeline_end_to_end(mini_ped2: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMMCNET_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    run = tmp_path / "run"
    assert main(["train", str(mini_ped2), "--preset", "tiny", "--out", str(run), "--no-progress"]) == 0
    for name in ("config.yaml", "metrics.csv", "stage1.pt", "model.pt"):
        assert (run / name).is_file(), name

    loaded = load_model_file(run)
    cal = loaded.calibration
    assert cal and cal["records"]["rgb_psnr"]["std"] > 0
    # calibrated on held-out clips of the training videos only (the last 20 % of each, tiny preset)
    assert cal["num_videos"] == len(TRAIN_VIDEOS)

    out = tmp_path / "test"
    assert main(["test", str(run), str(mini_ped2), "--out", str(out), "--no-progress", "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    scores = load_score_file(out / "scores.npz")
    assert list(scores.videos) == list(TEST_VIDEOS)
    assert set(scores.records) >= {"rgb_psnr", "rgb_commit", "flow_error", "flow_commit"}

    labels = load_labels(mini_ped2 / "ped2.mat", scores.num_frames)
    honest = load_score_file(out / "honest_scores.npz").records["anomaly"]
    warm = loaded.config.frames_in
    y = np.concatenate([lab[warm:] for lab in labels])
    s = np.concatenate([h[warm:] for h in honest])
    assert len(y) == metrics["scored_frames"] == sum(int(n) - warm for n in scores.num_frames)
    assert 0 < y.sum() < len(y)
    assert metrics["honest"]["auc_micro"] == pytest.approx(roc_auc_score(y, s), abs=1e-9)
    # the paper protocol row is computed from the label-free records of the same file
    assert metrics["paper"] is not None and 0.0 <= metrics["paper"]["auc_micro"] <= 1.0
    assert (out / "table.txt").is_file() and (out / "plots" / "roc.png").is_file()
