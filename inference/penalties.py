r"""Gradient penalties on the discriminator, composable with every adversarial strategy.

Each takes the discriminator as a function ``d(x) -> (batch,)`` and the real and generated batches,
and returns the (unweighted) penalty. :class:`~unigen.inference.adversarial.Adversarial` adds
``penalty_weight * penalty`` to the critic loss when its ``penalty`` setting names one of them; e.g.
WGAN-GP is ``strategy.name=wgan strategy.clip=0 strategy.penalty=gp``.

* ``gp`` — WGAN-GP (Gulrajani et al., 2017): :math:`\mathbb{E}_{\hat x}[(\|\nabla_x d(\hat x)\|_2 - 1)^2]`,
  :math:`\hat x = \alpha x_r + (1 - \alpha) x_f`, :math:`\alpha \sim U[0, 1]` per example (λ = 10).
* ``r1`` — Mescheder et al. (2018): :math:`\tfrac12 \mathbb{E}_{p_{data}} \|\nabla_x d(x)\|^2`, so
  ``penalty_weight`` is their γ (their reference code's ``reg_param`` multiplies the mean without ½).
* ``r2`` — the same on generated samples.
* ``dragan`` — Kodali et al. (2017): :math:`\mathbb{E}[(\|\nabla_x d(\hat x)\|_2 - 1)^2]` at
  :math:`\hat x = x_r + \alpha\,\delta`, :math:`\delta = 0.5\,\mathrm{std}(x_r)\,u`, :math:`u, \alpha \sim U[0,1]`
  (the authors' code; λ = 10).

With a batch-normalised critic the per-example gradient mixes examples; use ``model.disc_norm=layer``
or ``none`` for penalised critics, as Gulrajani et al. advise.
"""
from __future__ import annotations

from contextlib import nullcontext
from typing import Callable

import torch
from torch import Tensor

Critic = Callable[[Tensor], Tensor]


def _autocast_on(device_type: str) -> bool:
    """Whether autocast is on for ``device_type`` (torch < 2.4 has no per-device query)."""
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:
        return torch.is_autocast_cpu_enabled() if device_type == "cpu" else torch.is_autocast_enabled()


def grad_norm(critic: Critic, x: Tensor) -> Tensor:
    """Per-example :math:`\\|\\nabla_x d(x)\\|_2`, shape ``(batch,)``, differentiable (create_graph). Always in
    float32: under mixed precision (``train.precision``) the critic runs here with autocast off, on float32
    inputs (a half-precision double backward is where WGAN-GP goes NaN)."""
    mixed = _autocast_on(x.device.type)
    x = (x.detach().float() if x.dtype in (torch.float16, torch.bfloat16) else x.detach()).requires_grad_(True)
    with torch.autocast(x.device.type, enabled=False) if mixed else nullcontext():
        (g,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return g.reshape(x.shape[0], -1).norm(dim=1)


def _per_example(u: Tensor, x: Tensor) -> Tensor:
    """Broadcast one scalar per example, shape ``(batch, 1, ..., 1)``."""
    return u.reshape(x.shape[0], *([1] * (x.dim() - 1)))


def gradient_penalty(critic: Critic, x_real: Tensor, x_fake: Tensor) -> Tensor:
    """WGAN-GP: E (||grad d(x_hat)|| - 1)^2 on real/fake interpolates (Gulrajani et al., 2017)."""
    alpha = _per_example(torch.rand(x_real.shape[0], device=x_real.device, dtype=x_real.dtype), x_real)
    x_hat = alpha * x_real + (1 - alpha) * x_fake.detach()
    return ((grad_norm(critic, x_hat) - 1) ** 2).mean()


def r1_penalty(critic: Critic, x_real: Tensor, x_fake: Tensor) -> Tensor:
    """R1: 1/2 E ||grad d(x)||^2 on real data (Mescheder et al., 2018)."""
    return 0.5 * (grad_norm(critic, x_real) ** 2).mean()


def r2_penalty(critic: Critic, x_real: Tensor, x_fake: Tensor) -> Tensor:
    """R2: 1/2 E ||grad d(x)||^2 on generated samples (Mescheder et al., 2018)."""
    return 0.5 * (grad_norm(critic, x_fake) ** 2).mean()


def dragan_penalty(critic: Critic, x_real: Tensor, x_fake: Tensor) -> Tensor:
    """DRAGAN: E (||grad d(x_hat)|| - 1)^2 around perturbed real data (Kodali et al., 2017)."""
    u = torch.rand_like(x_real)
    alpha = _per_example(torch.rand(x_real.shape[0], device=x_real.device, dtype=x_real.dtype), x_real)
    x_hat = x_real + alpha * 0.5 * x_real.std() * u
    return ((grad_norm(critic, x_hat) - 1) ** 2).mean()


PENALTIES: dict[str, Callable[[Critic, Tensor, Tensor], Tensor]] = {
    "gp": gradient_penalty, "r1": r1_penalty, "r2": r2_penalty, "dragan": dragan_penalty,
}
