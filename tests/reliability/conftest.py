"""Fixtures of the reliability suite: tiny model files, run folders and data."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import CALIBRATION, write_squares_video


@pytest.fixture
def tiny_model_file(tmp_path: Path) -> Path:
    """A small, sealed model file (no training: random weights)."""
    import torch

    from ammcnet.models import AMMCNet, ModelConfig, save_model_file

    torch.manual_seed(0)
    path = tmp_path / "run" / "model.pt"
    save_model_file(path, AMMCNet(ModelConfig(features_root=4, embed_dim=8, n_embed=16)), calibration=CALIBRATION,
                    train_config={"data": {"size": [32, 32], "flow": "dis", "flow_preset": "ultrafast"}},
                    meta={"preset": "tiny", "dataset": "/data/x", "train_videos": 2, "train_frames": 40})
    return path


@pytest.fixture(scope="session")
def squares_root(tmp_path_factory) -> Path:
    """A dataset root with 2 training videos and 1 test video of 14 frames (48x48 PNGs)."""
    root = tmp_path_factory.mktemp("squares")
    for v in range(2):
        write_squares_video(root / "train" / f"v{v}", 14, v)
    write_squares_video(root / "test" / "t0", 14, 2)
    return root


@pytest.fixture(scope="session")
def squares_cache(squares_root, tmp_path_factory) -> Path:
    """``squares_root`` prepared at the tiny preset's size (training split)."""
    from ammcnet.data.cache import prepare_dataset
    from ammcnet.training import load_preset

    cfg = load_preset("tiny")
    cache = tmp_path_factory.mktemp("cache")
    p = prepare_dataset(squares_root, size=cfg.data.size, flow=cfg.data.flow, flow_preset=cfg.data.flow_preset,
                        cache_dir=cache, splits=("train",), progress=False)
    return p.root
