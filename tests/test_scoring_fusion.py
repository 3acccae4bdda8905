"""Calibration statistics and honest fusion on known arrays (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest

from ammcnet.errors import ConfigError
from ammcnet.scoring import (
    CausalSmoother,
    FusionWeights,
    Smoothing,
    calibration_from_records,
    fuse_frame,
    fused_scores,
    smooth,
    threshold_for_fpr,
)
from ammcnet.scoring.fusion import settings_fingerprint


def _normal_videos(seed: int = 0) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        {
            "rgb_psnr": 30 + 2 * rng.standard_normal(n),
            "rgb_commit": 0.5 + 0.1 * rng.standard_normal(n),
            "flow_error": 0.01 + 0.002 * rng.standard_normal(n),
            "flow_commit": 0.3 + 0.05 * rng.standard_normal(n),
        }
        for n in (400, 600)
    ]


def test_calibration_statistics_of_known_arrays():
    cal = calibration_from_records([{"rgb_psnr": np.arange(0.0, 11.0)}, {"rgb_psnr": np.arange(11.0, 21.0)}])
    st = cal["records"]["rgb_psnr"]
    assert cal["num_frames"] == 21 and cal["num_videos"] == 2
    assert st["mean"] == 10.0 and st["min"] == 0.0 and st["max"] == 20.0
    assert st["std"] == pytest.approx(np.arange(21.0).std())
    assert st["quantiles"]["0.5"] == 10.0 and st["quantiles"]["0.9"] == pytest.approx(18.0)
    import json

    json.dumps(cal)  # JSON-able


def test_fusion_is_normalised_and_monotonic():
    cal = calibration_from_records(_normal_videos())
    w = FusionWeights()
    base = {"rgb_psnr": 30.0, "rgb_commit": 0.5, "flow_error": 0.01, "flow_commit": 0.3}
    s0 = fuse_frame(base, cal, w)
    assert abs(s0) < 0.5  # the normal mean fuses to about 0
    # lower PSNR, higher errors and commitments each raise the anomaly score
    for name, delta in (("rgb_psnr", -5.0), ("rgb_commit", 0.2), ("flow_error", 0.01), ("flow_commit", 0.1)):
        assert fuse_frame({**base, name: base[name] + delta}, cal, w) > s0
    # one standard deviation of PSNR moves the score by exactly its weight
    sd = cal["records"]["rgb_psnr"]["std"]
    assert fuse_frame({**base, "rgb_psnr": 30.0 - sd}, cal, w) - s0 == pytest.approx(w.rgb_psnr)
    # normal frames fuse to mean ~0 (unsmoothed) under the calibration itself
    v = _normal_videos(seed=5)[0]
    fused = fused_scores({k: [a] for k, a in v.items()}, cal, w, Smoothing(sigma=0))[0]
    assert abs(fused.mean()) < 0.2


def test_online_and_offline_agree_exactly():
    cal = calibration_from_records(_normal_videos())
    v = _normal_videos(seed=3)[1]
    v["rgb_psnr"][100:120] -= 8  # an anomalous burst
    sm = Smoothing(sigma=3.0, causal=True)
    offline = fused_scores({k: [a] for k, a in v.items()}, cal, FusionWeights(), sm)[0]
    online = CausalSmoother(sm)
    per_frame = [online.update(fuse_frame({k: a[i] for k, a in v.items()}, cal, FusionWeights())) for i in range(len(v["rgb_psnr"]))]
    assert np.array_equal(np.asarray(per_frame), offline)
    assert offline[100:125].mean() > offline[:90].mean() + 2


def test_smoothing_within_video_and_causality():
    x = np.zeros(50)
    x[25] = 1.0
    sym = smooth(x, Smoothing(sigma=3.0))
    cau = smooth(x, Smoothing(sigma=3.0, causal=True))
    assert sym.sum() == pytest.approx(1.0) and cau.sum() == pytest.approx(1.0)
    assert sym[20] > 0 and np.all(cau[:25] == 0)  # causal: nothing before the event
    assert np.argmax(sym) == 25 and np.argmax(cau) == 25
    assert np.array_equal(smooth(x, Smoothing(sigma=0)), x)
    # per video: a spike at the end of video 0 does not leak into video 1
    cal = {"records": {"rgb_psnr": {"mean": 0.0, "std": 1.0}}}
    out = fused_scores({"rgb_psnr": [-x[:26], np.zeros(10)]}, cal, FusionWeights(), Smoothing())
    assert np.all(out[1] == 0)


def test_threshold_for_fpr_matches_normal_distribution():
    cal = calibration_from_records(_normal_videos(), smoothing=Smoothing(sigma=0))
    fresh = _normal_videos(seed=9)
    fused = np.concatenate(fused_scores({k: [v[k] for v in fresh] for k in fresh[0]}, cal, smoothing=Smoothing(sigma=0)))
    for fpr in (0.05, 0.01):
        thr = threshold_for_fpr(cal, fpr)
        assert (fused > thr).mean() == pytest.approx(fpr, abs=0.02)
    assert threshold_for_fpr(cal, 0.01) > threshold_for_fpr(cal, 0.05)
    assert cal["thresholds"]["0.01"] == threshold_for_fpr(cal, 0.01)
    with pytest.raises(ConfigError, match="differ"):
        threshold_for_fpr(cal, 0.01, weights=FusionWeights(rgb_psnr=2.0))
    with pytest.raises(ConfigError, match="false-alarm rate"):
        threshold_for_fpr(cal, 1.5)


def test_bad_inputs_give_clear_errors():
    with pytest.raises(ConfigError, match="no calibration statistics"):
        fused_scores({"rgb_psnr": [np.zeros(5)]}, None)
    cal = calibration_from_records([{"rgb_psnr": np.arange(10.0)}])
    with pytest.raises(ConfigError, match="flow_error"):
        fuse_frame({"rgb_psnr": 1.0, "flow_error": 0.1}, cal, FusionWeights())
    with pytest.raises(ConfigError, match="unknown fusion weight"):
        FusionWeights.from_dict({"psnr": 1.0})
    # an appearance-only model: motion weights simply have nothing to weigh
    assert fuse_frame({"rgb_psnr": 4.5}, cal, FusionWeights()) == pytest.approx(0.0)


def test_optional_weights_leave_older_fingerprints_alone():
    # a fusion that does not weigh the later records keeps the fingerprint files written before carry
    assert set(FusionWeights().to_dict()) == {"rgb_psnr", "rgb_commit", "flow_error", "flow_commit", "motion_prior"}
    assert settings_fingerprint(FusionWeights(region=0.0), Smoothing()) == settings_fingerprint(FusionWeights(), Smoothing())
    weighted = FusionWeights.from_dict({"region": 2.0, "rgb_error_local": 0.5})
    assert weighted.to_dict()["region"] == 2.0 and weighted.to_dict()["rgb_error_local"] == 0.5
    assert settings_fingerprint(weighted, Smoothing()) != settings_fingerprint(FusionWeights(), Smoothing())
    cal = {"records": {"rgb_psnr": {"mean": 30.0, "std": 2.0}, "region": {"mean": 1.0, "std": 0.5}}}
    # the head's record is fused like any other (high = anomalous), and counted only when weighted
    assert fuse_frame({"rgb_psnr": 30.0, "region": 2.0}, cal, FusionWeights(region=1.0)) == pytest.approx(2.0)
    assert fuse_frame({"rgb_psnr": 30.0, "region": 2.0}, cal, FusionWeights()) == pytest.approx(0.0)
    per_video = fused_scores({"rgb_psnr": [np.full(3, 30.0)], "region": [np.full(3, 2.0)]}, cal,
                              FusionWeights(region=1.0, rgb_commit=0.0, flow_error=0.0, flow_commit=0.0), Smoothing(sigma=0))
    np.testing.assert_allclose(per_video[0], 2.0)
