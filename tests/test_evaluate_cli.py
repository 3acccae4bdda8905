"""`ammcnet evaluate` in-process: outputs, JSON, and one-line errors with exit status 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ammcnet.cli import main
from ammcnet.metrics import save_score_file
from helpers import shared_path


@pytest.fixture()
def tiny(tmp_path):
    rng = np.random.default_rng(1)
    counts = [20, 16]
    labels = [np.r_[np.zeros(10), np.ones(10)], np.r_[np.zeros(12), np.ones(4)]]
    psnr = [30 - 5 * y + rng.normal(0, 1, len(y)) for y in labels]
    commit = [0.1 + 0.05 * y + rng.normal(0, 0.01, len(y)) for y in labels]
    scores = tmp_path / "scores.npz"
    save_score_file(scores, {"rgb_psnr": psnr, "rgb_commit": commit}, counts, videos=["cam1", "cam2"])
    (tmp_path / "labels.csv").write_text("video,start,end\ncam1,11,20\ncam2,13,16\n")
    return scores, tmp_path / "labels.csv"


def _error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_custom_protocol_table_and_json(tiny, tmp_path, capsys):
    scores, labels = tiny
    out_json = tmp_path / "out.json"
    rc = main(["evaluate", str(scores), "--labels", str(labels), "--records", "rgb_psnr:1.0,rgb_commit:0.1",
               "--smooth", "gauss:2", "--warmup", "4", "--json", str(out_json), "--roc", str(tmp_path / "roc.png")])
    assert rc == 0
    text = capsys.readouterr().out
    assert "1*rgb_psnr[N] + 0.1*rgb_commit[A]" in text and "gauss s=2 per video" in text
    data = json.loads(out_json.read_text())
    assert data["protocol"] == "custom" and data["n_frames"] == 36 - 8
    assert data["options"]["smooth"] == "gauss:2" and data["options"]["warmup"] == 4
    assert 0.9 < data["auc_micro"] <= 1.0 and set(data["per_video_auc"]) == {"cam1", "cam2"}
    assert "higher = more anomalous" in data["score"]
    assert (tmp_path / "roc.png").stat().st_size > 1000


def test_all_protocol_prints_one_table(tiny, tmp_path, capsys):
    scores, labels = tiny
    assert main(["evaluate", str(scores), "--labels", str(labels), "--protocol", "all",
                 "--json", str(tmp_path / "a.json")]) == 0
    out = capsys.readouterr().out
    assert out.count("micro AUC") == 1
    names = [r["name"] for r in json.loads((tmp_path / "a.json").read_text())["results"]]
    assert {"PSNR only", "PSNR only, raw", "PSNR only, Gaussian", "commitment only",
            "all records, equal weights"} <= set(names)


def test_all_protocol_on_a_file_of_another_dataset(tiny, tmp_path, capsys):
    """A score file from `ammcnet test` on your own data stores its dataset's name: `--protocol all`
    then leaves out the paper rows instead of refusing the file; naming a wrong --dataset still fails."""
    scores, labels = tiny
    sf = tmp_path / "walkway.npz"
    with np.load(scores) as z:
        np.savez(sf, **dict(z), dataset=np.array("walkway"))
    assert main(["evaluate", str(sf), "--labels", str(labels), "--protocol", "all", "--json", str(tmp_path / "w.json")]) == 0
    names = [r["name"] for r in json.loads((tmp_path / "w.json").read_text())["results"]]
    assert "PSNR only" in names and not any(n.startswith("paper") for n in names)
    capsys.readouterr()
    assert main(["evaluate", str(sf), "--labels", str(labels), "--protocol", "all", "--dataset", "walkway"]) == 2
    assert "unknown dataset 'walkway'" in _error_line(capsys)


def test_paper_protocol_on_official_ped2(tmp_path, capsys):
    scores = shared_path("benchmarks", "official_scores", "ped2.npz")
    labels = shared_path("benchmarks", "ped2", "ped2.mat")
    out = tmp_path / "p.json"
    assert main(["evaluate", str(scores), "--labels", str(labels), "--protocol", "paper", "--dataset", "ped2",
                 "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert round(data["auc_micro"], 6) == 0.965650
    captured = capsys.readouterr()
    assert "tuned" in captured.out or "TEST labels" in captured.out
    assert "one class only" in captured.err  # macro warning for the all-anomalous videos


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--protocol", "paper", "--dataset", "ucf"], "unknown dataset 'ucf'"),
        (["--protocol", "paper", "--smooth", "none"], "--smooth only apply to --protocol custom"),
        (["--records", "rgb_flow:1"], "record 'rgb_flow' is not in score file"),
        (["--smooth", "box:3"], "smoothing 'box:3'"),
        (["--protocol", "paper"], "needs --dataset"),
    ],
)
def test_bad_options_give_one_line(tiny, capsys, extra, message):
    scores, labels = tiny
    assert main(["evaluate", str(scores), "--labels", str(labels), *extra]) == 2
    assert message in _error_line(capsys)


def test_missing_files_nan_and_label_mismatch(tiny, tmp_path, capsys):
    scores, labels = tiny
    assert main(["evaluate", str(tmp_path / "nope.npz"), "--labels", str(labels)]) == 2
    assert "nope.npz not found" in _error_line(capsys)
    assert main(["evaluate", str(scores), "--labels", str(tmp_path / "nope.csv")]) == 2
    assert "nope.csv not found" in _error_line(capsys)
    bad = tmp_path / "nan.npz"
    save_score_file(bad, {"rgb_psnr": [np.r_[np.ones(19), np.nan], np.ones(16)]}, [20, 16], videos=["cam1", "cam2"])
    assert main(["evaluate", str(bad), "--labels", str(labels)]) == 2
    assert "video cam1 has 1 NaN/inf" in _error_line(capsys)
    np.save(tmp_path / "short.npy", np.zeros(35))
    assert main(["evaluate", str(scores), "--labels", str(tmp_path / "short.npy")]) == 2
    assert "35 frame labels but the scores' 2 videos have 36 frames" in _error_line(capsys)
    np.savez(tmp_path / "keys.npz", frames=np.zeros(3))
    assert main(["evaluate", str(tmp_path / "keys.npz"), "--labels", str(labels)]) == 2
    assert "no 'num_frames'" in _error_line(capsys)
