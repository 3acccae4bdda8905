"""AMMC-Net modules: sizes, shapes, memory behaviour, gradients and ablations."""

from __future__ import annotations

import pytest
import torch

from ammcnet.errors import ConfigError, DataError
from ammcnet.models import (
    AMMCNet,
    ModelConfig,
    PatchDiscriminator,
    StreamUNet,
    TopKMemory,
    count_parameters,
    init_weights_normal,
)

SMALL = dict(features_root=8, embed_dim=8, n_embed=16)


def _lively(net: AMMCNet) -> AMMCNet:
    """PyTorch's default (fan-in scaled) conv init: the authors' N(0, 0.02) shrinks eval-mode
    activations so much that different inputs give nearly equal outputs."""
    torch.manual_seed(0)
    for m in net.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            m.reset_parameters()
    return net


def _inputs(cfg: ModelConfig, b: int, h: int, w: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    w = w or h
    g = torch.Generator().manual_seed(0)
    frames = torch.rand(b, 3 * cfg.frames_in, h, w, generator=g) * 2 - 1
    flows = torch.randn(b, 2 * cfg.flows_in, h, w, generator=g) * 0.05
    return frames, flows


def test_paper_parameter_counts() -> None:
    with torch.device("meta"):
        net = AMMCNet(ModelConfig())
    assert count_parameters(net) == 25_049_029
    assert count_parameters(net.appearance) == 7_805_891
    assert count_parameters(net.motion) == 7_801_858
    assert count_parameters(net.amft) == 9_441_280
    assert len(net.state_dict()) == 222
    assert all(t.dtype in (torch.float32, torch.int64) for t in net.state_dict().values())
    codebook = net.appearance.memory.codebook
    assert {n for n, _ in codebook.named_buffers()} == {"embed", "cluster_size", "embed_avg"}
    assert not list(codebook.parameters())


@pytest.mark.parametrize("size,features", [((64, 64), 8), ((128, 96), 8), ((256, 256), 4)])
def test_output_shapes(size: tuple[int, int], features: int) -> None:
    cfg = ModelConfig(features_root=features, embed_dim=8, n_embed=16)
    net = AMMCNet(cfg).eval()
    h, w = size
    frames, flows = _inputs(cfg, 2, h, w)
    with torch.no_grad():
        out = net(frames, flows)
    assert out.frame_pred.shape == (2, 3, h, w)
    assert out.flow_pred.shape == (2, 2, h, w)
    assert out.frame_commit.shape == () and out.flow_commit.shape == ()
    assert out.frame_commit_per_sample.shape == (2,) and out.flow_commit_per_sample.shape == (2,)
    assert out.frame_commit_map.shape == (2, h // 8, w // 8)
    assert out.frame_codes.shape == (2, h // 8, w // 8, cfg.top_k)
    assert out.frame_pred.abs().max() < 1 and out.flow_pred.abs().max() < 1
    for t in (out.frame_pred, out.flow_pred, out.frame_commit, out.flow_commit):
        assert torch.isfinite(t).all()
    torch.testing.assert_close(out.frame_commit, out.frame_commit_per_sample.mean())
    torch.testing.assert_close(out.frame_commit_per_sample, out.frame_commit_map.mean((1, 2)))


def test_per_sample_commit_does_not_depend_on_batch() -> None:
    cfg = ModelConfig(**SMALL)
    net = _lively(AMMCNet(cfg)).eval()
    frames, flows = _inputs(cfg, 3, 32)
    with torch.no_grad():
        full = net(frames, flows)
        one = net(frames[1:2], flows[1:2])
    # equal up to float rounding of batch-size dependent kernels (a batch mean would differ by far more)
    torch.testing.assert_close(full.frame_commit_per_sample[1:2], one.frame_commit_per_sample, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(full.frame_pred[1:2], one.frame_pred, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(full.frame_commit_per_sample[0], full.frame_commit_per_sample[1])


def test_codebook_updates_only_in_train_mode() -> None:
    cfg = ModelConfig(**SMALL)
    net = AMMCNet(cfg)
    frames, flows = _inputs(cfg, 2, 16)
    buffers = lambda: {k: v.clone() for k, v in net.state_dict().items() if "codebook" in k}  # noqa: E731
    before = buffers()
    net.eval()
    with torch.no_grad():
        net(frames, flows)
    after_eval = buffers()
    for k in before:
        assert torch.equal(before[k], after_eval[k]), k
    net.train()
    with torch.no_grad():
        net(frames, flows)
    after_train = buffers()
    for k in before:
        assert not torch.equal(before[k], after_train[k]), k


def test_ema_step_matches_hand_computation() -> None:
    mem = TopKMemory(4, embed_dim=3, n_embed=5, top_k=2, decay=0.9, eps=1e-5).train()
    cb = mem.codebook
    x = torch.randn(2, 4, 2, 2)
    with torch.no_grad():
        flat = mem.enc(x).permute(0, 2, 3, 1).reshape(-1, 3)
        top1 = torch.cdist(flat, cb.embed.t()).argmin(1)
        old_size, old_avg = cb.cluster_size.clone(), cb.embed_avg.clone()
        mem(x)
    onehot = torch.nn.functional.one_hot(top1, 5).float()
    size = 0.9 * old_size + 0.1 * onehot.sum(0)
    avg = 0.9 * old_avg + 0.1 * flat.t() @ onehot
    n = size.sum()
    smoothed = (size + 1e-5) / (n + 5 * 1e-5) * n
    torch.testing.assert_close(cb.cluster_size, size)
    torch.testing.assert_close(cb.embed_avg, avg)
    torch.testing.assert_close(cb.embed, avg / smoothed)


def test_memory_output_is_residual_plus_decoded_topk_codes() -> None:
    mem = TopKMemory(16, embed_dim=4, n_embed=8, top_k=3).eval()
    x = torch.randn(2, 16, 3, 5)
    with torch.no_grad():
        out = mem(x)
        z = mem.enc(x).permute(0, 2, 3, 1)
        dist = torch.cdist(z.reshape(-1, 4), mem.codebook.embed.t())
        expect_idx = dist.argsort(1)[:, :3].reshape(2, 3, 5, 3)
        codes = mem.codebook.embed.t()[out.indices]  # (B, h, w, k, D)
        expect = x + mem.dec(codes.reshape(2, 3, 5, 12).permute(0, 3, 1, 2))
        commit = (codes[..., 0, :] - z).pow(2).mean((1, 2, 3))
    assert torch.equal(out.indices, expect_idx)
    torch.testing.assert_close(out.features, expect)
    torch.testing.assert_close(out.commit_per_sample, commit)


def test_gradients_reach_every_parameter() -> None:
    cfg = ModelConfig(**SMALL)
    net = AMMCNet(cfg).train()
    frames, flows = _inputs(cfg, 2, 16)
    out = net(frames, flows)
    target = torch.zeros_like(out.frame_pred)
    pred_loss = (out.frame_pred - target).pow(2).mean() + out.flow_pred.pow(2).mean()
    pred_loss.backward(retain_graph=True)
    no_pred_grad = {n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0}
    # spec 2.4: the codes come from a buffer, so the prediction never reaches the projection enc
    assert no_pred_grad == {
        f"{s}.memory.enc.{p}" for s in ("appearance", "motion") for p in ("weight", "bias")
    }
    (out.frame_commit + out.flow_commit).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_appearance_only_ablation() -> None:
    cfg = ModelConfig(streams="appearance", **SMALL)
    net = AMMCNet(cfg).eval()
    assert net.motion is None and net.amft is None
    frames, _ = _inputs(cfg, 2, 32)
    out = net(frames)
    assert out.flow_pred is None and out.flow_commit is None and out.flow_commit_per_sample is None
    assert out.frame_pred.shape == (2, 3, 32, 32)
    alone = StreamUNet(12, 3, 8, 8, 16)
    alone.load_state_dict({k.removeprefix("appearance."): v for k, v in net.state_dict().items()})
    with torch.no_grad():
        torch.testing.assert_close(alone.eval()(frames).pred, out.frame_pred)


def _batch_stats(net: AMMCNet) -> AMMCNet:
    """Eval mode (codebooks frozen) but BatchNorm on batch statistics, so features keep their scale."""
    net.eval()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.train()
    return net


def test_no_amft_ablation_streams_are_independent() -> None:
    cfg = ModelConfig(use_amft=False, **SMALL)
    net = _batch_stats(AMMCNet(cfg))
    assert net.amft is None and net.motion is not None
    frames, flows = _inputs(cfg, 2, 32)
    other = torch.randn_like(flows)
    with torch.no_grad():
        a = net(frames, flows)
        b = net(frames, other)
    assert torch.equal(a.frame_pred, b.frame_pred)
    assert (a.flow_pred - b.flow_pred).abs().max() > 1e-2
    full = _batch_stats(AMMCNet(ModelConfig(**SMALL)))
    with torch.no_grad():
        assert (full(frames, flows).frame_pred - full(frames, other).frame_pred).abs().max() > 1e-4


def test_amft_uses_pre_exchange_features() -> None:
    net = AMMCNet(ModelConfig(**SMALL)).eval()
    a, m = torch.randn(1, 64, 2, 2), torch.randn(1, 64, 2, 2)
    with torch.no_grad():
        a2, m2 = net.amft(a, m)
        torch.testing.assert_close(a2, a + net.amft.o2f(m))
        torch.testing.assert_close(m2, m + net.amft.f2o(a))


def test_bad_inputs_and_configs_are_refused() -> None:
    net = AMMCNet(ModelConfig(**SMALL)).eval()
    with pytest.raises(DataError, match="divisible by 8"):
        net(torch.zeros(1, 12, 36, 32), torch.zeros(1, 6, 36, 32))
    with pytest.raises(DataError, match="flows"):
        net(torch.zeros(1, 12, 32, 32))
    with pytest.raises(DataError, match=r"\(B, 12, H, W\)"):
        net(torch.zeros(1, 9, 32, 32), torch.zeros(1, 6, 32, 32))
    with pytest.raises(ConfigError, match="streams"):
        ModelConfig(streams="motion")
    with pytest.raises(ConfigError, match="top_k"):
        ModelConfig(n_embed=2, top_k=3)


def test_discriminator_shapes() -> None:
    with torch.device("meta"):
        d = PatchDiscriminator(3)
    assert d(torch.zeros(2, 3, 256, 256, device="meta")).shape == (2, 1, 34, 34)
    small = PatchDiscriminator(2, widths=(8, 16, 16))
    assert small(torch.zeros(1, 2, 64, 64)).shape == (1, 1, 18, 18)
    with pytest.raises(ValueError):
        PatchDiscriminator(3, widths=(8, 16, 32))


def test_init_weights_normal() -> None:
    net = AMMCNet(ModelConfig(features_root=16, embed_dim=8, n_embed=16))
    for m in net.modules():
        m.reset_parameters() if hasattr(m, "reset_parameters") else None
    init_weights_normal(net)
    conv = net.amft.o2f[0].weight
    assert abs(conv.std().item() - 0.02) < 0.002 and abs(conv.mean().item()) < 0.002
    bn = net.amft.o2f[1]
    assert abs(bn.weight.mean().item() - 1) < 0.01 and torch.equal(bn.bias, torch.zeros_like(bn.bias))
