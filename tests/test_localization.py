"""Pixel-level AUC and RBDC on hand-made maps and masks."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from ammcnet.errors import DataError
from ammcnet.metrics.localization import float16_order_keys, pixel_auc, pixel_roc_curve
from ammcnet.metrics.rbdc import match_regions, rbdc


def _masks() -> list[np.ndarray]:
    """Two videos of 16x16 frames: a moving square in video 0, frames 3-5 anomalous in video 1."""
    a = np.zeros((6, 16, 16), bool)
    for t in range(6):
        a[t, 4:8, t : t + 4] = True
    b = np.zeros((8, 16, 16), bool)
    b[3:6, 10:14, 10:14] = True
    return [a, b]


def test_float16_keys_keep_numeric_order():
    x = np.array([-np.inf, -3.5, -0.001, 0.0, 1e-6, 0.5, 2.0, 60000.0, np.inf], np.float16)
    keys = float16_order_keys(x).astype(int)
    assert np.all(np.diff(keys) > 0)


def test_pixel_auc_perfect_inverted_and_random():
    masks = _masks()
    perfect = [m.astype(np.float32) for m in masks]
    assert pixel_auc(perfect, masks) == 1.0
    assert pixel_auc([1.0 - p for p in perfect], masks) == 0.0
    rng = np.random.default_rng(0)
    noise = [rng.random(m.shape).astype(np.float32) for m in masks]
    expected = roc_auc_score(np.concatenate([m.ravel() for m in masks]),
                             np.concatenate([n.astype(np.float16).ravel() for n in noise]))
    assert pixel_auc(noise, masks) == pytest.approx(expected, abs=1e-12)
    assert 0.4 < pixel_auc(noise, masks) < 0.6


def test_pixel_auc_skip_frames_and_ties():
    masks = _masks()
    maps = [m.astype(np.float32) for m in masks]
    maps[0][0] = 1.0 - maps[0][0]  # frame 0 is wrong: skipping it restores a perfect AUC
    assert pixel_auc(maps, masks) < 1.0
    assert pixel_auc(maps, masks, skip=1) == 1.0
    const = [np.zeros(m.shape, np.float32) for m in masks]  # all ties -> 0.5
    assert pixel_auc(const, masks) == 0.5
    fpr, tpr = pixel_roc_curve(maps, masks, skip=1)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1


def test_pixel_auc_resizes_maps_and_checks_shapes():
    masks = _masks()
    small = [m[:, ::2, ::2].astype(np.float32) for m in masks]  # half-resolution maps
    assert pixel_auc(small, masks) > 0.9
    with pytest.raises(DataError, match="videos"):
        pixel_auc(small[:1], masks)
    with pytest.raises(DataError, match="same N"):
        pixel_auc([small[0][:3], small[1]], masks)


def test_pixel_auc_anomalous_frames_only():
    masks = _masks()
    maps = [m.astype(np.float32) for m in masks]
    maps[1][0, 0, 0] = 5.0  # a false alarm in a normal frame
    assert pixel_auc(maps, masks) < 1.0
    assert pixel_auc(maps, masks, frames="anomalous") == 1.0


def test_match_regions_counted_by_hand():
    import cv2

    gt = np.zeros((20, 20), np.uint8)
    gt[2:6, 2:6] = 1  # region A, 16 px
    gt[10:14, 10:14] = 1  # region B, 16 px
    det = np.zeros((20, 20), np.uint8)
    det[2:6, 2:4] = 1  # 8 px inside A: IoU 8/16 = 0.5 -> A detected
    det[10:11, 10:11] = 1  # 1 px inside B: IoU 1/16 = 0.0625 < 0.1 -> false positive, B missed
    det[17:19, 17:19] = 1  # nowhere near GT: false positive
    n_gt, gl = cv2.connectedComponents(gt, connectivity=8)
    n_det, dl = cv2.connectedComponents(det, connectivity=8)
    assert match_regions(dl, n_det, gl, n_gt, alpha=0.1) == (1, 2)
    # a lower alpha lets the 1-pixel detection count for B
    assert match_regions(dl, n_det, gl, n_gt, alpha=0.05) == (2, 1)
    # min_area drops the tiny regions entirely (neither detections nor false positives)
    assert match_regions(dl, n_det, gl, n_gt, alpha=0.05, min_area=2) == (1, 1)
    # a frame without ground truth: every kept region is a false positive
    n_empty, empty = cv2.connectedComponents(np.zeros_like(gt))
    assert match_regions(dl, n_det, empty, n_empty, alpha=0.1) == (0, 3)


def test_rbdc_perfect_and_inverted_maps():
    masks = _masks()
    n_gt = sum(int(m.reshape(len(m), -1).any(1).sum()) for m in masks)
    good = rbdc([m.astype(np.float32) for m in masks], masks, thresholds=[0.5])
    assert good.num_gt_regions == n_gt == 9
    assert good.rbdc_at_max_fpr == 1.0 and good.fpr[0] == 0.0 and good.rbdc_area == 1.0
    bad = rbdc([1.0 - m.astype(np.float32) for m in masks], masks, thresholds=[0.5])
    # the inverted map detects the background: one huge region per frame, IoU with the square < 0.1
    assert bad.rbdc[0] == 0.0 and bad.fpr[0] == 1.0
    assert bad.rbdc_at_max_fpr == 0.0


def test_rbdc_sweep_curve_and_false_positives_per_frame():
    masks = _masks()
    rng = np.random.default_rng(1)
    maps = [m.astype(np.float32) * 0.5 + rng.random(m.shape, dtype=np.float32) * 0.6 for m in masks]
    r = rbdc(maps, masks, skip=1)
    assert r.num_frames == 5 + 7
    assert len(r.thresholds) == len(r.rbdc) == len(r.fpr) > 5
    assert np.all((r.rbdc >= 0) & (r.rbdc <= 1)) and np.all(r.fpr >= 0)
    assert 0.0 <= r.rbdc_area <= r.rbdc_at_max_fpr <= 1.0
    # a stricter false-positive budget can only lower the number
    strict = rbdc(maps, masks, skip=1, thresholds=r.thresholds, max_fpr=0.25)
    assert strict.rbdc_at_max_fpr <= r.rbdc_at_max_fpr
    assert set(r.summary()) >= {"rbdc_at_max_fpr", "rbdc_area", "num_gt_regions"}
