r"""Importance log-weights :math:`\log w_k = \log p_\theta(x, z_k) - \log q_\phi(z_k \mid x)`, shared by the
VAE-family strategies (ELBO, IWAE, reweighted wake-sleep).
"""
from __future__ import annotations

from torch import Tensor

from unigen.programs import Batch, Programs, latent_names, log_prob_per_example, trace_guide, trace_model


def repeat_batch(batch: Batch, k: int) -> Batch:
    """Stack ``k`` copies of a batch along the batch axis, copy-major: ``(k * batch, ...)``."""
    if k == 1:
        return batch
    x = batch.x.repeat(k, *([1] * (batch.x.dim() - 1)))
    c = None if batch.c is None else batch.c.repeat(k)
    return Batch(x, c)


def log_weights(programs: Programs, batch: Batch, num_particles: int = 1) -> Tensor:
    r"""Log importance weights of ``num_particles`` guide samples per example, shape ``(K, batch)``.

    The guide is traced on ``K`` stacked copies of the batch and the model is replayed against it
    with ``x`` conditioned, so one vectorised pass scores all particles. Model latents the guide does
    not infer (e.g. InfoGAN codes under a VAE objective) are drawn from their prior and left out of
    both densities: :math:`p(x, z) / q(z \mid x)` is then the weight of the guided latents, with the
    unguided ones marginalised by sampling.
    """
    n = batch.x.shape[0]
    big = repeat_batch(batch, num_particles)
    guide_tr = trace_guide(programs.guide, big.x, big.c)
    model_tr = trace_model(programs.model, big.x.shape[0], big.c, x=big.x, replay=guide_tr)
    m = big.x.shape[0]
    unguided = latent_names(model_tr) - latent_names(guide_tr)
    log_w = log_prob_per_example(model_tr, m, exclude=unguided) - log_prob_per_example(guide_tr, m)
    return log_w.reshape(num_particles, n)
