r"""The f-divergences of f-GAN (Nowozin et al., 2016, Tables 1 and 2) and their MonoFlow vector fields.

An f-divergence is :math:`D_f(P \| Q) = \int q(x)\, f\!\left(p(x)/q(x)\right) dx` for a convex
:math:`f` with :math:`f(1) = 0`; here ``P`` is the data and ``Q`` the generator, so the ratio is
:math:`r = p_{data}/p_\theta` and :math:`\log r` is what a BCE discriminator's logit estimates. Each
entry of :data:`DIVERGENCES` holds, as capture-safe torch functions:

* ``f(s)`` — the generator function at :math:`r = e^s`, and ``f_prime(s)`` — :math:`f'(r)`, the
  optimal critic :math:`T^*(x) = f'(p(x)/q(x))`;
* ``activation(v)`` — Nowozin's output activation :math:`g_f`, mapping the critic's raw output
  ``V`` into the domain of :math:`f^*`, and ``inverse_activation(t)``;
* ``conjugate(t)`` — the Fenchel conjugate :math:`f^*(t) = \sup_u\, u t - f(u)`, and
  ``conjugate_activation(v)`` — :math:`f^*(g_f(v))` fused into one numerically stable expression;
* ``h(s)`` — the MonoFlow map :math:`h(r) = r f'(r) - f(r) = f^*(f'(r))` (Yi et al., 2023), strictly
  increasing in :math:`\log r` because :math:`dh/d\log r = r^2 f''(r) > 0`;
* ``log_ratio(t)`` — the inverse of :math:`f'` read in :math:`\log r`: the critic's output
  :math:`T` mapped back to :math:`\log r`.

Everything is written as a function of :math:`s = \log r` (``expm1``, ``softplus``, ``logsigmoid``)
so that large or tiny ratios do not overflow.

.. note::
    Nowozin et al.'s Table 2 gives no output activation for the Neyman :math:`\chi^2`; we use
    :math:`g_f(v) = 1 - e^{-v}`, which maps onto :math:`\operatorname{dom} f^* = (-\infty, 1)` as
    for the squared Hellinger distance. ``gan`` is their "GAN" row, whose divergence is
    :math:`2\,\mathrm{JSD} - \log 4`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

LOG2 = math.log(2.0)
Fn = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class Divergence:
    """One row of the table; every field is a tensor function (see the module docstring)."""

    f: Fn  # f(r) at r = exp(s)
    f_prime: Fn  # f'(r) at r = exp(s): the optimal critic T*
    activation: Fn  # g_f(v)
    inverse_activation: Fn  # g_f^{-1}(t)
    conjugate: Fn  # f*(t)
    conjugate_activation: Fn  # f*(g_f(v)), stable
    h: Fn  # h(r) = r f'(r) - f(r) at r = exp(s)
    log_ratio: Fn  # (f')^{-1}(t) as log r


DIVERGENCES: dict[str, Divergence] = {
    # f(u) = u log u;  T* = 1 + log r;  f*(t) = exp(t - 1);  h = r
    "kl": Divergence(
        f=lambda s: s * s.exp(), f_prime=lambda s: 1 + s,
        activation=lambda v: v, inverse_activation=lambda t: t,
        conjugate=lambda t: (t - 1).exp(), conjugate_activation=lambda v: (v - 1).exp(),
        h=lambda s: s.exp(), log_ratio=lambda t: t - 1),
    # f(u) = -log u;  T* = -1/r;  f*(t) = -1 - log(-t);  h = log r - 1
    "reverse_kl": Divergence(
        f=lambda s: -s, f_prime=lambda s: -(-s).exp(),
        activation=lambda v: -(-v).exp(), inverse_activation=lambda t: -torch.log(-t),
        conjugate=lambda t: -1 - torch.log(-t), conjugate_activation=lambda v: v - 1,
        h=lambda s: s - 1, log_ratio=lambda t: -torch.log(-t)),
    # f(u) = (u - 1)^2;  T* = 2(r - 1);  f*(t) = t^2/4 + t;  h = r^2 - 1
    "pearson": Divergence(
        f=lambda s: torch.expm1(s) ** 2, f_prime=lambda s: 2 * torch.expm1(s),
        activation=lambda v: v, inverse_activation=lambda t: t,
        conjugate=lambda t: t ** 2 / 4 + t, conjugate_activation=lambda v: v ** 2 / 4 + v,
        h=lambda s: torch.expm1(2 * s), log_ratio=lambda t: torch.log1p(t / 2)),
    # f(u) = (1 - u)^2 / u;  T* = 1 - 1/r^2;  f*(t) = 2 - 2 sqrt(1 - t);  h = 2 - 2/r
    "neyman": Divergence(
        f=lambda s: 4 * torch.sinh(s / 2) ** 2, f_prime=lambda s: -torch.expm1(-2 * s),
        activation=lambda v: -torch.expm1(-v), inverse_activation=lambda t: -torch.log1p(-t),
        conjugate=lambda t: 2 - 2 * torch.sqrt(1 - t), conjugate_activation=lambda v: 2 - 2 * (-v / 2).exp(),
        h=lambda s: -2 * torch.expm1(-s), log_ratio=lambda t: -0.5 * torch.log1p(-t)),
    # f(u) = (sqrt u - 1)^2;  T* = 1 - 1/sqrt r;  f*(t) = t / (1 - t);  h = sqrt r - 1
    "hellinger": Divergence(
        f=lambda s: torch.expm1(s / 2) ** 2, f_prime=lambda s: -torch.expm1(-s / 2),
        activation=lambda v: -torch.expm1(-v), inverse_activation=lambda t: -torch.log1p(-t),
        conjugate=lambda t: t / (1 - t), conjugate_activation=lambda v: torch.expm1(v),
        h=lambda s: torch.expm1(s / 2), log_ratio=lambda t: -2 * torch.log1p(-t)),
    # f(u) = -(u + 1) log((1 + u)/2) + u log u;  T* = log(2r/(1 + r));  f*(t) = -log(2 - e^t);  h = log((1 + r)/2)
    "js": Divergence(
        f=lambda s: s * s.exp() - (1 + s.exp()) * (F.softplus(s) - LOG2), f_prime=lambda s: LOG2 + F.logsigmoid(s),
        activation=lambda v: LOG2 + F.logsigmoid(v), inverse_activation=lambda t: t - torch.log(2 - t.exp()),
        conjugate=lambda t: -torch.log(2 - t.exp()), conjugate_activation=lambda v: F.softplus(v) - LOG2,
        h=lambda s: F.softplus(s) - LOG2, log_ratio=lambda t: t - torch.log(2 - t.exp())),
    # f(u) = u log u - (u + 1) log(u + 1);  T* = log(r/(1 + r));  f*(t) = -log(1 - e^t);  h = log(1 + r)
    "gan": Divergence(
        f=lambda s: s * s.exp() - (1 + s.exp()) * F.softplus(s), f_prime=F.logsigmoid,
        activation=F.logsigmoid, inverse_activation=lambda t: t - torch.log(-torch.expm1(t)),
        conjugate=lambda t: -torch.log(-torch.expm1(t)), conjugate_activation=F.softplus,
        h=F.softplus, log_ratio=lambda t: t - torch.log(-torch.expm1(t))),
}
