r"""Likelihood bounds on held-out data: the ELBO and the IWAE estimate of :math:`\log p_\theta(x)`.

.. math::
    \hat{\mathcal{L}}_K(x) = \log \frac{1}{K} \sum_{k=1}^K \frac{p_\theta(x, z_k)}{q_\phi(z_k \mid x)},
    \quad z_k \sim q_\phi(z \mid x), \qquad \mathcal{L}_1 = \mathrm{ELBO} \le \mathcal{L}_K \le \log p_\theta(x)

(Burda et al., 2016). Large ``K`` (e.g. 1,000) gives the usual log-likelihood estimate.
"""
from __future__ import annotations

import math

import torch

from unigen.data.base import TensorData
from unigen.importance import log_weights
from unigen.programs import Batch, Programs
from unigen.scoring import has_density


def has_likelihood(programs: Programs, data: TensorData) -> bool:
    """Whether a likelihood bound applies: the programs have a guide and the model a density at ``x``."""
    c = None if data.c is None else data.c[:2].clamp(min=0)
    if c is not None:  # host-streamed training data: the labels travel to the programs' device
        c = c.to(next(iter(programs.parameters()), c).device)
    return programs.has("guide") and has_density(programs, c)


@torch.no_grad()
def likelihood_bounds(programs: Programs, data: TensorData, k: int = 100, batch_size: int = 100,
                      max_batches: int = 0) -> dict[str, float]:
    """Mean test ELBO and IWAE(``k``) bound in nats per example, over ``data`` in order."""
    programs.eval()
    n = len(data) if not max_batches else min(len(data), max_batches * batch_size)
    elbo_sum, iw_sum = 0.0, 0.0
    chunk = max(1, batch_size // max(1, k // 10))  # keep K*chunk bounded
    for start in range(0, n, chunk):
        x = data.x[start:start + chunk]
        c = None if data.c is None else data.c[start:start + chunk]
        lw = log_weights(programs, Batch(x, c), k)  # (K, b)
        elbo_sum += float(lw.mean(0).sum())
        iw_sum += float((torch.logsumexp(lw, 0) - math.log(k)).sum())
    return {"test_elbo": elbo_sum / n, f"test_log_px_iw{k}": iw_sum / n}
