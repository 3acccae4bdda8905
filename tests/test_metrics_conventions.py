"""Normalisation, smoothing, fusion direction, metrics and warnings on hand-computed arrays."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from ammcnet.errors import ConfigError, DataError
from ammcnet.metrics import EvalOptions, ScoreFile, average_precision, eer, evaluate_scores, paper_protocol
from ammcnet.metrics.auc import video_auc_padded
from ammcnet.metrics.records import direction_of, parse_records
from ammcnet.metrics.transforms import minmax, smooth_gauss, smooth_two_tap


def test_two_tap_uses_unsmoothed_previous_value():
    np.testing.assert_allclose(smooth_two_tap([0.0, 1.0, 0.0], 0.55), [0.0, 0.55, 0.45])
    # an EMA would give 0.45*0.55 + 0.55*1 at index 2; the FIR filter gives 0.45*1 + 0.55*1
    np.testing.assert_allclose(smooth_two_tap([0.0, 1.0, 1.0], 0.55), [0.0, 0.55, 1.0])
    np.testing.assert_allclose(smooth_two_tap([3.0, 5.0], 1.0), [3.0, 5.0])


def test_gauss_smoothing_spreads_symmetrically():
    out = smooth_gauss(np.array([0, 0, 0, 1.0, 0, 0, 0]), 1.0)
    assert out[3] == out.max() and out[2] == pytest.approx(out[4]) and out.sum() == pytest.approx(1.0)


def test_minmax():
    np.testing.assert_allclose(minmax(np.array([2.0, 4.0, 3.0])), [0.0, 1.0, 0.5])
    assert minmax(np.full(3, 7.0)).tolist() == [0.0, 0.0, 0.0]


def test_smoothing_scope_video_vs_concat():
    # warm-up 0, PSNR-like record; video 1 = [1, 0] (anomaly 0, 1), video 2 = [0, 1] (anomaly 1, 0)
    recs = {"rgb_psnr": [np.array([1.0, 0.0]), np.array([0.0, 1.0])]}
    labels = [np.array([0, 1]), np.array([1, 0])]
    two_tap = {"warmup": 0, "normalise": "video", "smooth": "paper:0.5"}
    within = evaluate_scores(recs, labels, EvalOptions(**two_tap, smooth_scope="video"))
    across = evaluate_scores(recs, labels, EvalOptions(**two_tap, smooth_scope="concat"))
    np.testing.assert_allclose(within.scores, [0.0, 0.5, 1.0, 0.5])  # each video starts afresh
    np.testing.assert_allclose(across.scores, [0.0, 0.5, 1.0, 0.5])
    recs2 = {"rgb_psnr": [np.array([1.0, 0.0]), np.array([1.0, 0.0])]}
    across = evaluate_scores(recs2, [np.array([0, 1])] * 2, EvalOptions(**two_tap, smooth_scope="concat"))
    np.testing.assert_allclose(across.scores, [0.0, 0.5, 0.5, 0.5])  # video 2 frame 0 mixes video 1's last


def test_normalisation_on_off_and_direction():
    # video 1 is bright (high PSNR), video 2 dark: only per-video min-max makes them comparable
    psnr = [np.array([0, 0, 40.0, 35.0]), np.array([0, 0, 20.0, 15.0])]
    labels = [np.array([0, 0, 0, 1]), np.array([0, 0, 0, 1])]
    on = evaluate_scores({"rgb_psnr": psnr}, labels, EvalOptions(warmup=2, normalise="video"))
    off = evaluate_scores({"rgb_psnr": psnr}, labels, EvalOptions(warmup=2))  # default: as is, one scale
    np.testing.assert_allclose(on.scores, [0.0, 1.0, 0.0, 1.0])  # 1 - per-video min-max
    np.testing.assert_allclose(off.scores, [-40.0, -35.0, -20.0, -15.0])  # flipped raw PSNR
    assert on.auc_micro == 1.0
    assert off.auc_micro == pytest.approx(0.75)  # -35 ranks below the normal -20
    err = evaluate_scores({"flow_error": psnr}, labels, EvalOptions(warmup=2, normalise="video"))
    np.testing.assert_allclose(err.scores, [1.0, 0.0, 1.0, 0.0])  # higher = anomalous: not flipped
    assert err.auc_micro == 0.0
    assert on.n_frames == 4 and on.options["warmup"] == 2 and on.options["normalise"] == "video"
    assert off.options["normalise"] == "none" and EvalOptions().normalise == "none"  # per-video only by name


def test_direction_defaults_and_overrides():
    assert direction_of("rgb_img_pred_records") == "normal" and direction_of("rgb_commit") == "anomalous"
    assert parse_records("a_psnr:0.9,b:0.1:anomalous") == {"a_psnr": (0.9, None), "b": (0.1, "anomalous")}
    with pytest.raises(ConfigError, match="unknown direction"):
        direction_of("mystery")
    with pytest.raises(ConfigError, match="is not in the scores"):
        evaluate_scores({"rgb_psnr": [np.zeros(6)]}, [np.zeros(6)], EvalOptions(records={"rgb_commit": 1.0}))


def test_eer_and_ap_by_hand():
    s, y = np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])
    assert eer(s, y) == 0.5  # ROC points (0,.5) and (.5,.5)... nearest to FPR = FNR is FPR 0.5
    assert eer(np.array([0.1, 0.2, 0.8, 0.9]), y) == 0.0
    assert average_precision(s, y) == pytest.approx((1.0 + 2 / 3) / 2)


def test_macro_pads_and_warns_on_single_class_video():
    assert video_auc_padded(np.array([0.0, 1.0]), np.array([1, 1])) == pytest.approx((0.5 + 1 + 1) / 3)
    recs = {"rgb_psnr": [np.array([5, 5, 4, 1.0]), np.array([3, 3, 9, 2.0])]}
    labels = [np.array([1, 1, 1, 1]), np.array([0, 0, 0, 1])]
    with pytest.warns(UserWarning, match=r"1 video\(s\) hold one class only \(#000\)"):
        r = evaluate_scores(recs, labels, EvalOptions(warmup=2))
    assert r.single_class_videos == ["#000"]
    assert r.per_video_auc == {"#000": pytest.approx(5 / 6), "#001": 1.0}
    assert r.auc_macro == pytest.approx((5 / 6 + 1.0) / 2)


def test_nan_scores_and_bad_labels_are_errors():
    recs = {"rgb_psnr": [np.array([1.0, 2.0, np.nan, 4.0])]}
    with pytest.raises(DataError, match=r"record 'rgb_psnr', video #000 has 1 NaN/inf value\(s\) \(first at frame 2\)"):
        evaluate_scores(recs, [np.array([0, 0, 1, 0])], EvalOptions(warmup=0))
    with pytest.raises(DataError, match="labels of video #000 have 3 frames but its scores have 4"):
        evaluate_scores({"rgb_psnr": [np.arange(4.0)]}, [np.array([0, 1, 0])], EvalOptions(warmup=0))
    with pytest.raises(DataError, match="AUC needs both classes"):
        evaluate_scores({"rgb_psnr": [np.arange(4.0)]}, [np.array([1, 0, 0, 0])], EvalOptions(warmup=1))
    with pytest.raises(ConfigError, match="smoothing 'gauss:0'"):
        EvalOptions(smooth="gauss:0").validate()


def _authors_auc(psnr, commit, labels, lf, ls):
    """Independent transcription of eval_metric.img_pred_fea_comm_single_auc (normality, pos_label=0)."""

    def norm(records):
        parts = [((d - d.min()) / (d - d.min()).max())[4:] for d in records]
        c = np.concatenate(parts)
        return (c - c.min()) / (c.max() - c.min())

    s = (1 - lf) * norm(psnr) + lf * (1 - norm(commit))
    s2 = s.copy()
    s2[1:] = (1 - ls) * s[:-1] + ls * s[1:]
    y = np.concatenate([g[4:] for g in labels])
    fpr, tpr, _ = skm.roc_curve(y, s2, pos_label=0)
    return skm.auc(fpr, tpr)


def test_paper_protocol_matches_the_authors_formula_on_random_scores():
    rng = np.random.default_rng(0)
    counts = [30, 25, 40]
    labels = [(rng.random(n) < 0.3).astype(np.uint8) for n in counts]
    psnr = [rng.normal(30, 2, n) - 3 * y for n, y in zip(counts, labels, strict=True)]
    commit = [rng.random(n) + 0.2 * y for n, y in zip(counts, labels, strict=True)]
    sf = ScoreFile.from_records({"rgb_img_pred_records": psnr, "rgb_fea_comm_records": commit})
    r = paper_protocol(sf, labels, "avenue")
    assert r.auc_micro == pytest.approx(_authors_auc(psnr, commit, labels, 0.04, 0.65), abs=1e-12)
    assert "TEST labels" in r.notes[0]
    with pytest.raises(ConfigError, match="unknown dataset 'ucf'"):
        paper_protocol(sf, labels, "ucf")
