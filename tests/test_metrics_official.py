"""The authors' reported AUCs, recomputed from their released per-frame records (needs ../shared)."""

from __future__ import annotations

import pytest

from ammcnet.metrics import EvalOptions, evaluate_scores, load_labels, load_score_file, paper_protocol
from helpers import shared_path

pytestmark = [pytest.mark.shared, pytest.mark.filterwarnings("ignore:macro AUC:UserWarning")]

CASES = [
    ("ped2", ("benchmarks", "ped2", "ped2.mat"), 0.965650),
    ("avenue", ("benchmarks", "labels", "frame_labels_avenue.npy"), 0.865656),
    ("shanghaitech", ("benchmarks", "labels", "frame_labels_shanghai.npy"), 0.736954),
]


@pytest.mark.parametrize(("dataset", "labels", "expected"), CASES, ids=[c[0] for c in CASES])
def test_paper_protocol_reproduces_reported_auc(dataset, labels, expected):
    sf = load_score_file(shared_path("benchmarks", "official_scores", f"{dataset}.npz"))
    ys = load_labels(shared_path(*labels), sf.num_frames, sf.videos)
    result = paper_protocol(sf, ys, dataset)
    assert round(result.auc_micro, 6) == expected
    assert result.n_frames == int(sf.num_frames.sum()) - 4 * len(sf.num_frames)


def test_ped2_mat_equals_concatenated_labels_and_psnr_only_row():
    sf = load_score_file(shared_path("benchmarks", "official_scores", "ped2.npz"))
    from_mat = load_labels(shared_path("benchmarks", "ped2", "ped2.mat"), sf.num_frames)
    from_npy = load_labels(shared_path("benchmarks", "labels", "frame_labels_ped2.npy"), sf.num_frames)
    assert all((a == b).all() for a, b in zip(from_mat, from_npy, strict=True))
    assert sum(int(m.sum()) for m in from_mat) == 1648
    psnr = evaluate_scores(sf, from_mat, EvalOptions(records={"rgb_img_pred_records": 1.0}, normalise="video"))
    raw = evaluate_scores(sf, from_mat, EvalOptions(records={"rgb_img_pred_records": 1.0}))  # default: as is
    assert round(psnr.auc_micro, 6) == 0.958793  # spec section 5: RGB PSNR only, per-video min-max
    assert round(raw.auc_micro, 6) == 0.882361  # ... and without normalisation
    assert len(psnr.single_class_videos) == 4  # videos 08-11 are anomalous throughout
