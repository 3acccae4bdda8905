"""Frame-level evaluation: score files, AUC conventions, the paper protocol.

The frame-label readers live in :mod:`ammcnet.data.labels` (reading labels is dataset I/O);
they are re-exported here, so ``from ammcnet.metrics import load_labels`` keeps working.

Scores are always turned into an anomaly score (higher = more anomalous) before any metric.

>>> import numpy as np
>>> from ammcnet.metrics import EvalOptions, evaluate_scores
>>> scores = {"rgb_psnr": [np.array([30, 30, 30, 30, 31, 20, 21, 30.0])]}
>>> labels = [np.array([0, 0, 0, 0, 0, 1, 1, 0])]
>>> evaluate_scores(scores, labels, EvalOptions(warmup=4)).auc_micro
1.0
"""

from ammcnet.data.labels import (
    intervals_to_mask,
    load_labels,
    read_concat_npy_labels,
    read_csv_labels,
    read_json_labels,
    read_mat_intervals,
    read_mat_labels,
    read_npy_folder_labels,
    read_ucsd_m_labels,
)
from ammcnet.metrics.ap import average_precision
from ammcnet.metrics.auc import auc_macro, auc_micro
from ammcnet.metrics.eer import eer
from ammcnet.metrics.evaluate import EvalOptions, EvalResult, evaluate_scores, parse_smooth
from ammcnet.metrics.plot import plot_roc
from ammcnet.metrics.protocols import PAPER_WEIGHTS, EvalReport, all_protocols, evaluate_files, paper_protocol
from ammcnet.metrics.report import format_table
from ammcnet.metrics.scorefile import ScoreFile, load_score_file, save_score_file

__all__ = [
    "PAPER_WEIGHTS",
    "EvalOptions",
    "EvalReport",
    "EvalResult",
    "ScoreFile",
    "all_protocols",
    "auc_macro",
    "auc_micro",
    "average_precision",
    "eer",
    "evaluate_files",
    "evaluate_scores",
    "format_table",
    "intervals_to_mask",
    "load_labels",
    "load_score_file",
    "paper_protocol",
    "parse_smooth",
    "plot_roc",
    "read_concat_npy_labels",
    "read_csv_labels",
    "read_json_labels",
    "read_mat_intervals",
    "read_mat_labels",
    "read_npy_folder_labels",
    "read_ucsd_m_labels",
    "save_score_file",
]
