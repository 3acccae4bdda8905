"""`ammcnet evaluate` in-process: the honest default, outputs, JSON, and one-line errors with exit status 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from ammcnet.choices import DEFAULT_EVAL_PROTOCOL
from ammcnet.cli import build_parser, main
from ammcnet.errors import ConfigError
from ammcnet.metrics import EvalOptions, evaluate_files, save_score_file
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


@pytest.fixture()
def two_scales(tmp_path):
    """A bright video and a dark one: each video's anomalies lie 4 dB below its own normal frames,
    but the dark video's normal frames lie far below the bright video's anomalies. Per-video
    min-max separates both videos perfectly; one global scale does not."""
    rng = np.random.default_rng(3)
    labels = [np.r_[np.zeros(14), np.ones(6)], np.r_[np.zeros(10), np.ones(8)]]
    psnr = [40 - 4 * labels[0] + rng.normal(0, 0.3, 20), 22 - 4 * labels[1] + rng.normal(0, 0.3, 18)]
    scores = tmp_path / "scales.npz"
    save_score_file(scores, {"rgb_psnr": psnr}, [20, 18], videos=["bright", "dark"])
    (tmp_path / "scales.csv").write_text("video,start,end\nbright,15,20\ndark,11,18\n")
    global_auc = roc_auc_score(np.r_[labels[0][4:], labels[1][4:]], -np.r_[psnr[0][4:], psnr[1][4:]])
    return scores, tmp_path / "scales.csv", global_auc


def test_default_is_honest_one_global_scale(two_scales, tmp_path, capsys):
    """No --protocol: each record as is on one scale for both videos, never per-video min-max."""
    scores, labels, global_auc = two_scales
    assert main(["evaluate", str(scores), "--labels", str(labels), "--json", str(tmp_path / "d.json")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == ("protocol: honest (one global scale: every record as is, the same for every "
                                   "video; no per-video statistic, no weight from test labels)")
    data = json.loads((tmp_path / "d.json").read_text())
    assert data["protocol"] == "honest" == DEFAULT_EVAL_PROTOCOL and data["name"] == "honest"
    assert data["options"]["normalise"] == "none" and not data["options"]["global_normalise"]
    assert data["protocol_text"] == out.splitlines()[0]
    assert data["auc_micro"] == pytest.approx(global_auc, abs=1e-12) and global_auc < 0.9
    # per-video min-max, chosen by name, gives another number: the default is not it
    assert main(["evaluate", str(scores), "--labels", str(labels), "--protocol", "custom", "--normalise", "video",
                 "--json", str(tmp_path / "v.json")]) == 0
    assert "per-video min-max uses each test video's own min and max" in capsys.readouterr().out.splitlines()[0]
    assert json.loads((tmp_path / "v.json").read_text())["auc_micro"] == 1.0


def test_defaults_defined_once():
    """The command, evaluate_files and ammcnet.evaluate (tests/test_api.py) share one default."""
    import inspect

    args = build_parser().parse_args(["evaluate", "s.npz", "--labels", "l.csv"])
    assert args.protocol == DEFAULT_EVAL_PROTOCOL
    assert inspect.signature(evaluate_files).parameters["protocol"].default == DEFAULT_EVAL_PROTOCOL
    assert EvalOptions().normalise == "none" and not EvalOptions().global_normalise


def test_honest_refuses_per_video_or_cross_video_conventions(two_scales):
    scores, labels, _ = two_scales
    for bad in (EvalOptions(normalise="video"), EvalOptions(global_normalise=True), EvalOptions(smooth_scope="concat")):
        with pytest.raises(ConfigError, match="the honest protocol scores each record as is"):
            evaluate_files(scores, labels, options=bad)
    kept = evaluate_files(scores, labels, options=EvalOptions(smooth="gauss:2", warmup=2))
    assert kept.results[0].options["smooth"] == "gauss:2" and kept.results[0].n_frames == 38 - 4


def test_honest_takes_records_and_smoothing(tiny, tmp_path, capsys):
    scores, labels = tiny
    assert main(["evaluate", str(scores), "--labels", str(labels), "--records", "rgb_psnr:1.0,rgb_commit:0.1",
                 "--smooth", "gauss:2", "--json", str(tmp_path / "h.json")]) == 0
    assert capsys.readouterr().out.startswith("protocol: honest (")
    data = json.loads((tmp_path / "h.json").read_text())
    assert data["protocol"] == "honest" and data["options"]["normalise"] == "none"
    assert data["records"]["rgb_commit"]["weight"] == 0.1 and data["options"]["smooth"] == "gauss:2"


def test_custom_protocol_table_and_json(tiny, tmp_path, capsys):
    scores, labels = tiny
    out_json = tmp_path / "out.json"
    rc = main(["evaluate", str(scores), "--labels", str(labels), "--protocol", "custom",
               "--records", "rgb_psnr:1.0,rgb_commit:0.1", "--normalise", "video",
               "--smooth", "gauss:2", "--warmup", "4", "--json", str(out_json), "--roc", str(tmp_path / "roc.png")])
    assert rc == 0
    text = capsys.readouterr().out
    assert text.startswith("protocol: custom (the conventions in the columns, as given; per-video min-max")
    assert "1*rgb_psnr[N] + 0.1*rgb_commit[A]" in text and "gauss s=2 per video" in text
    data = json.loads(out_json.read_text())
    assert data["protocol"] == "custom" and data["n_frames"] == 36 - 8
    assert data["options"]["normalise"] == "video"
    assert data["options"]["smooth"] == "gauss:2" and data["options"]["warmup"] == 4
    assert 0.9 < data["auc_micro"] <= 1.0 and set(data["per_video_auc"]) == {"cam1", "cam2"}
    assert "higher = more anomalous" in data["score"]
    assert (tmp_path / "roc.png").stat().st_size > 1000


def test_all_protocol_prints_one_table(tiny, tmp_path, capsys):
    scores, labels = tiny
    assert main(["evaluate", str(scores), "--labels", str(labels), "--protocol", "all",
                 "--json", str(tmp_path / "a.json")]) == 0
    out = capsys.readouterr().out
    assert out.count("micro AUC") == 1 and out.startswith("protocol: all (every convention side by side")
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
    assert captured.out.splitlines()[0] == ("protocol: paper (per-video min-max, fusion and smoothing weights "
                                            "tuned on test labels by the authors)")
    assert "TEST labels" in captured.out
    assert "one class only" in captured.err  # macro warning for the all-anomalous videos


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--protocol", "paper", "--dataset", "ucf"], "unknown dataset 'ucf'"),
        (["--protocol", "paper", "--smooth", "none"], "--smooth does not apply to --protocol paper"),
        (["--normalise", "video"], "--normalise does not apply to --protocol honest"),
        (["--smooth-scope", "concat", "--normalise", "video"], "--normalise, --smooth-scope do not apply"),
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
