"""CUDA paths: the same scores on the GPU as on the CPU, training and mixed precision on the GPU.

Skipped where no CUDA device is visible (the default CI machine); run on a GPU machine with
``python -m pytest -q tests/test_cuda.py``.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from ammcnet.export import TorchBackend
from ammcnet.models import AMMCNet, ModelConfig
from helpers import write_square_video  # the same moving-squares videos as the CPU training tests

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible")

RECORDS = ("rgb_psnr", "rgb_commit", "flow_error", "flow_commit")


def _inputs(batch: int, size: int = 64, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, 12, size, size, generator=g) * 2 - 1, torch.rand(batch, 3, size, size, generator=g) * 2 - 1,
            torch.randn(batch, 6, size, size, generator=g) * 0.05, torch.randn(batch, 2, size, size, generator=g) * 0.05)


@pytest.fixture()
def exact_fp32():
    """cuDNN uses TF32 for float32 convolutions by default; the CPU comparison needs true float32."""
    old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


def test_gpu_scores_equal_cpu_scores(exact_fp32) -> None:
    torch.manual_seed(0)
    model = AMMCNet(ModelConfig(features_root=8, embed_dim=16, n_embed=32)).eval()
    x = _inputs(4)
    cpu = TorchBackend(model).score(*x)
    for channels_last in (False, True):
        gpu = TorchBackend(model, device="cuda", channels_last=channels_last).score(*(t.cuda() for t in x))
        for k in RECORDS:
            np.testing.assert_allclose(gpu[k], cpu[k], rtol=1e-4, atol=1e-5, err_msg=f"{k} channels_last={channels_last}")
    # a model already on the GPU is fused there (BatchNorm folding must not mix devices)
    on_gpu = TorchBackend(copy.deepcopy(model).cuda(), device="cuda").score(*(t.cuda() for t in x))
    np.testing.assert_allclose(on_gpu["rgb_psnr"], cpu["rgb_psnr"], rtol=1e-4)


@pytest.mark.parametrize("precision", ["float16", "bfloat16"])
def test_half_precision_scores_track_float32(precision: str) -> None:
    torch.manual_seed(0)
    model = AMMCNet(ModelConfig(features_root=8, embed_dim=16, n_embed=32)).eval()
    x = tuple(t.cuda() for t in _inputs(16, seed=1))
    ref = TorchBackend(model, device="cuda").score(*x)
    half = TorchBackend(model, device="cuda", channels_last=True, precision=precision).score(*x)
    for k in ("rgb_psnr", "flow_error"):
        assert half[k].dtype == np.float32 and np.isfinite(half[k]).all()
        assert np.corrcoef(ref[k], half[k])[0, 1] > 0.98, k


@pytest.mark.parametrize("bf16", [False, True])
def test_two_stage_training_on_the_gpu(tmp_path: Path, bf16: bool) -> None:
    from ammcnet.data.cache import prepare_dataset
    from ammcnet.models import load_model_file
    from ammcnet.training import load_preset, train
    from ammcnet.training.metrics_log import read_metrics

    for v in range(2):
        write_square_video(tmp_path / "data" / "train" / f"v{v}", 14, v)
    overrides = ["stage1.iterations=4", "stage2.iterations=4", "stage1.batch_size=8", "stage2.batch_size=8",
                 "run.checkpoint_every=2", "run.log_every=1", f"run.bf16={str(bf16).lower()}"]
    cfg = load_preset("tiny", overrides)
    prepared = prepare_dataset(tmp_path / "data", size=cfg.data.size, flow=cfg.data.flow, flow_preset=cfg.data.flow_preset,
                               cache_dir=tmp_path / "cache", splits=("train",), progress=False)
    out = tmp_path / "run"
    train(prepared.root, cfg, out, device="cuda", progress=False)
    loaded = load_model_file(out / "model.pt")
    assert loaded.calibration is not None
    rows = read_metrics(out / "metrics.csv")
    losses = [float(r["g_loss"]) for r in rows if r.get("g_loss") not in (None, "")]
    assert losses and all(np.isfinite(losses))
    for p in loaded.model.parameters():
        assert p.device.type == "cpu" and torch.isfinite(p).all()  # the model file loads on a CPU-only machine
