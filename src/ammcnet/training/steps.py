"""One optimisation step of each stage: generator step, then discriminator step on the detached prediction.

Stage 1 trains each stream with its own memory, optimiser and discriminator (the two streams share
nothing, so one step updates both on the same paired batch). Stage 2 trains both streams and the
AMFT jointly with the appearance discriminator only, as the authors' ``Twostream_vq_Loss``.

>>> import torch
>>> batch = to_device({"frames": torch.zeros(2, 12, 32, 32), "video": [0, 1]}, torch.device("cpu"))
>>> batch["frames"].shape, batch["video"]
(torch.Size([2, 12, 32, 32]), [0, 1])
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ammcnet.training.config import LossWeights
from ammcnet.training.losses import adversarial_loss, discriminator_loss, gradient_loss, intensity_loss


@dataclass
class GanPart:
    """A generator (or its parameters' optimiser) paired with a discriminator.

    Attributes:
        opt_g: optimiser of the generator parameters.
        disc: the discriminator.
        opt_d: its optimiser.
        disc_replica: what the discriminator's own step calls, when that is not ``disc`` itself
            (its DistributedDataParallel wrapper under data-parallel training).
    """

    opt_g: torch.optim.Optimizer
    disc: nn.Module
    opt_d: torch.optim.Optimizer
    disc_replica: nn.Module | None = None


def _g_then_d(
    part: GanPart,
    g_loss: Tensor,
    real: Tensor,
    fake: Tensor,
) -> Tensor:
    """Generator step, then discriminator step on ``fake.detach()``; returns the D loss."""
    part.opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    part.opt_g.step()
    part.disc.requires_grad_(True)
    disc = part.disc if part.disc_replica is None else part.disc_replica
    d_loss = discriminator_loss(disc(real), disc(fake.detach().float()))
    part.opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    part.opt_d.step()
    return d_loss


def _adv(disc: nn.Module, fake: Tensor) -> Tensor:
    # D's weights get no gradient from the generator loss (saves the work, same result).
    disc.requires_grad_(False)
    return adversarial_loss(disc(fake))


def stage1_step(
    model: nn.Module,
    batch: dict[str, Tensor],
    parts: dict[str, GanPart],
    w: LossWeights,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    streams: dict[str, nn.Module] | None = None,
) -> dict[str, float]:
    """Stage 1: appearance (int + gd + adv + commit) and motion (int + adv + commit), separately.

    Args:
        model: an ``AMMCNet``; its ``appearance`` and ``motion`` streams are trained.
        batch: ``frames``, ``target``, ``flows``, ``flow_target`` on the training device.
        parts: ``"appearance"`` and (if the model has a motion stream) ``"motion"``.
        w: loss weights.
        autocast: context manager factory for mixed precision (no-op on CPU).
        streams: what to call for ``"appearance"`` and ``"motion"`` (their data-parallel
            replicas); default the model's own streams.

    Returns:
        Plain floats of every loss term.
    """
    streams = streams or {"appearance": model.appearance, "motion": getattr(model, "motion", None)}
    logs: dict[str, float] = {}
    part = parts["appearance"]
    with autocast():
        out = streams["appearance"](batch["frames"])
        l_int = intensity_loss(out.pred.float(), batch["target"])
        l_gd = gradient_loss(out.pred.float(), batch["target"])
        l_adv = _adv(part.disc, out.pred)
        g = w.lam_int * l_int + w.lam_gd * l_gd + w.lam_adv * l_adv + w.lam_latent * out.commit.float()
    d = _g_then_d(part, g, batch["target"], out.pred)
    logs.update(
        g_loss=g.item(), int=l_int.item(), gd=l_gd.item(), adv=l_adv.item(), commit=out.commit.item(), d_loss=d.item()
    )
    if getattr(model, "motion", None) is not None:
        part = parts["motion"]
        with autocast():
            out = streams["motion"](batch["flows"])
            l_int = intensity_loss(out.pred.float(), batch["flow_target"])
            l_adv = _adv(part.disc, out.pred)
            g = w.lam_int_flow * l_int + w.lam_adv_flow * l_adv + w.lam_latent * out.commit.float()
        d = _g_then_d(part, g, batch["flow_target"], out.pred)
        logs.update(
            g_loss_flow=g.item(),
            int_flow=l_int.item(),
            adv_flow=l_adv.item(),
            commit_flow=out.commit.item(),
            d_loss_flow=d.item(),
        )
    return logs


def stage2_step(
    model: nn.Module,
    batch: dict[str, Tensor],
    part: GanPart,
    w: LossWeights,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    forward: Callable | None = None,
) -> dict[str, float]:
    """Stage 2: joint loss ``lam_int*int + lam_gd*gd + lam_adv*adv + lam_latent*(c_a + c_m) + lam_int_flow*int_flow``.

    Args:
        model: the full ``AMMCNet`` (AMFT included).
        batch: paired clips on the training device.
        part: generator optimiser over all model parameters + the appearance discriminator.
        w: loss weights.
        autocast: mixed-precision context factory.
        forward: what to call instead of ``model`` (its data-parallel replica, compiled or not).
    """
    fwd = forward or model
    with autocast():
        out = fwd(batch["frames"], batch["flows"] if model.motion is not None else None)
        l_int = intensity_loss(out.frame_pred.float(), batch["target"])
        l_gd = gradient_loss(out.frame_pred.float(), batch["target"])
        l_adv = _adv(part.disc, out.frame_pred)
        commit = out.frame_commit.float()
        g = w.lam_int * l_int + w.lam_gd * l_gd + w.lam_adv * l_adv
        logs = {"int": l_int, "gd": l_gd, "adv": l_adv, "commit": out.frame_commit}
        if out.flow_pred is not None:
            l_int_flow = intensity_loss(out.flow_pred.float(), batch["flow_target"])
            commit = commit + out.flow_commit.float()
            g = g + w.lam_int_flow * l_int_flow
            logs.update(int_flow=l_int_flow, commit_flow=out.flow_commit)
        g = g + w.lam_latent * commit
    d = _g_then_d(part, g, batch["target"], out.frame_pred)
    result = {k: v.item() for k, v in logs.items()}
    result.update(g_loss=g.item(), d_loss=d.item())
    return result


@torch.no_grad()
def validation_loss(
    model: nn.Module,
    loader: torch.utils.data.DataLoader,
    w: LossWeights,
    stage: int,
    device: torch.device,
    max_batches: int,
) -> float:
    """Mean non-adversarial generator loss on held-out normal clips, in eval mode (no codebook update).

    Stage 1 runs the streams separately (no AMFT); stage 2 runs the full model.
    """
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for i, batch in enumerate(loader):
            if i >= max_batches:
                break
            batch = to_device(batch, device)
            if stage == 1:
                a = model.appearance(batch["frames"])
                loss = w.lam_int * intensity_loss(a.pred, batch["target"]) + w.lam_gd * gradient_loss(
                    a.pred, batch["target"]
                )
                loss = loss + w.lam_latent * a.commit
                if model.motion is not None:
                    m = model.motion(batch["flows"])
                    loss = loss + w.lam_int_flow * intensity_loss(m.pred, batch["flow_target"]) + w.lam_latent * m.commit
            else:
                out = model(batch["frames"], batch["flows"] if model.motion is not None else None)
                loss = w.lam_int * intensity_loss(out.frame_pred, batch["target"]) + w.lam_gd * gradient_loss(
                    out.frame_pred, batch["target"]
                )
                loss = loss + w.lam_latent * out.frame_commit
                if out.flow_pred is not None:
                    loss = loss + w.lam_int_flow * intensity_loss(out.flow_pred, batch["flow_target"])
                    loss = loss + w.lam_latent * out.flow_commit
            n = batch["frames"].shape[0]
            total += float(loss) * n
            count += n
    finally:
        model.train(was_training)
    return total / max(count, 1)


def to_device(batch: dict[str, Tensor], device: torch.device) -> dict[str, Tensor]:
    """Move the tensor entries of a collated batch to ``device``."""
    return {k: (v.to(device, non_blocking=True) if isinstance(v, Tensor) else v) for k, v in batch.items()}
