r"""Importance log-weights :math:`\log w_k = \log p_\theta(x, z_k) - \log q_\phi(z_k \mid x)`, shared by the
VAE-family strategies (ELBO, IWAE, wake-sleep, reweighted wake-sleep, SVAE) and the likelihood bounds of
:mod:`unigen.metrics.likelihood`: core maths, so that neither imports the other.
"""
from __future__ import annotations

import weakref
from typing import NamedTuple

import pyro
import torch
from pyro import poutine
from torch import Tensor

from unigen.programs import Batch, Programs
from unigen.scoring import latent_names, log_prob_per_example, site_is_subsample, trace_guide, score_model


def repeat_batch(batch: Batch, k: int) -> Batch:
    """Stack ``k`` copies of a batch along the batch axis, copy-major: ``(k * batch, ...)``."""
    if k == 1:
        return batch
    x = batch.x.repeat(k, *([1] * (batch.x.dim() - 1)))
    c = None if batch.c is None else batch.c.repeat(k)
    return Batch(x, c)


class LogWeights(NamedTuple):
    r"""The two parts of the log importance weights, each ``(K, batch)``: ``likelihood`` :math:`\log
    p_\theta(x \mid z_k)` (the model's observed sites) and ``ratio`` :math:`\log p(z_k) - \log q_\phi(z_k
    \mid x)` (its guided latents), so that :math:`\log w_k` = likelihood + ratio."""

    likelihood: Tensor
    ratio: Tensor

    def total(self, beta: Tensor | float | None = None) -> Tensor:
        r""":math:`\log p(x \mid z) + \beta (\log p(z) - \log q(z \mid x))`; the log-weights themselves for ``None``."""
        if beta is None:
            return self.likelihood + self.ratio
        return self.likelihood + beta * self.ratio


def log_weights(programs: Programs, batch: Batch, num_particles: int = 1) -> Tensor:
    r"""Log importance weights :math:`\log w_k` of ``num_particles`` guide samples per example, ``(K, batch)``."""
    return log_weight_terms(programs, batch, num_particles).total()


def log_weight_terms(programs: Programs, batch: Batch, num_particles: int = 1) -> LogWeights:
    r"""The log importance weights of ``num_particles`` guide samples per example, in two parts (:class:`LogWeights`).

    The model is scored on ``K`` stacked copies of the batch with ``x`` conditioned, so one vectorised
    pass scores all particles. The guide's network runs once per example when the guide has a single,
    reparameterisable latent site (:func:`_shared_guide`: ``K`` draws from that one distribution);
    any other guide is traced on the ``K`` stacked copies and the model replayed against it. Model
    latents the guide does
    not infer (e.g. InfoGAN codes under a VAE objective) are drawn from their prior and left out of
    both densities: :math:`p(x, z) / q(z \mid x)` is then the weight of the guided latents, with the
    unguided ones marginalised by sampling.
    """
    n = batch.x.shape[0]
    big = repeat_batch(batch, num_particles)
    if num_particles > 1:
        shared = _shared_guide(programs, batch, big, num_particles)
        if shared is not None:
            return shared
    guide_tr = trace_guide(programs.guide, big.x, big.c)
    model_tr = score_model(programs.model, big.x, big.c, replay=guide_tr)
    m = big.x.shape[0]
    guided = latent_names(guide_tr)
    unguided = latent_names(model_tr) - guided
    return _split(model_tr, m, guided, unguided, log_prob_per_example(guide_tr, m), num_particles, n)


def _split(model_tr, m: int, guided: set[str], unguided: set[str], log_q: Tensor, k: int, n: int) -> LogWeights:
    """The likelihood (observed sites) and the ratio (guided latents' prior minus ``log_q``), each ``(k, n)``."""
    likelihood = log_prob_per_example(model_tr, m, exclude=guided | unguided)
    prior = log_prob_per_example(model_tr, m, sites=guided) if guided else torch.zeros_like(likelihood)
    return LogWeights(likelihood.reshape(k, n), prior.reshape(k, n) - log_q.reshape(k, n))


#: guide module -> the name of its single shareable latent site, or None (probed once per guide)
_SHAREABLE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _shareable_site(programs: Programs, batch: Batch) -> str | None:
    r"""The guide's latent site if it is its only one, reparameterisable, under the data plate alone,
    unscaled and unmasked; else ``None``. Probed once per guide on two rows, with the RNG state restored."""
    guide = programs.guide
    if guide in _SHAREABLE:
        return _SHAREABLE[guide]
    devices = [batch.x.device] if batch.x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        tr = trace_guide(guide, batch.x[:2], None if batch.c is None else batch.c[:2])
    sites = [(name, s) for name, s in tr.nodes.items()
             if s["type"] == "sample" and not s["is_observed"] and not site_is_subsample(s)]
    name = None
    if len(sites) == 1:
        site = sites[0][1]
        if (site["fn"].has_rsample and site.get("mask") is None and site.get("scale", 1.0) == 1.0
                and len(site["cond_indep_stack"]) == 1 and site["cond_indep_stack"][0].dim == -1):
            name = sites[0][0]
    _SHAREABLE[guide] = name
    return name


def _shared_guide(programs: Programs, batch: Batch, big: Batch, k: int) -> LogWeights | None:
    r"""``log_weights`` with one guide network pass for all particles, or ``None`` if the guide does not allow it.

    For a guide with one latent site :math:`q_\phi(z \mid x)` (see :func:`_shareable_site`), the guide
    runs once on the batch under an outer plate of ``K`` particles, so its site draws :math:`(K, B)`
    values: the same draws, in the same order, as tracing it on ``K`` stacked copies of the batch.
    The model then scores :math:`(x, z_k)` with both conditioned.
    """
    name = _shareable_site(programs, batch)
    if name is None:
        return None
    n = batch.x.shape[0]
    with pyro.plate("particles", k, dim=-2, device=batch.x.device):  # (a device: no probe tensor a step)
        guide_tr = trace_guide(programs.guide, batch.x, batch.c)
    site = guide_tr.nodes[name]
    z = site["value"]  # (K, batch, *event)
    log_q = site["fn"].log_prob(z)  # (K, batch)
    model = poutine.condition(programs.model, data={name: z.reshape((k * n,) + tuple(z.shape[2:]))})
    model_tr = score_model(model, big.x, big.c)
    unguided = latent_names(model_tr)  # model latents the guide does not infer (z itself is conditioned)
    return _split(model_tr, k * n, {name}, unguided, log_q, k, n)
