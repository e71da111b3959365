r"""Sliced Wasserstein-1 distance between two samples (Rabin et al., 2011; Bonneel et al., 2015).

.. math::
    \mathrm{SW}_1(\mu, \nu) = \mathbb{E}_{\theta \sim U(S^{D-1})}\, W_1(\theta^\top_\# \mu, \theta^\top_\# \nu),

estimated with ``projections`` seeded random unit directions; each 1-D :math:`W_1` between two samples
of equal size is the mean absolute difference of their sorted projections.
"""
from __future__ import annotations

import math

import torch

#: random directions of :func:`sliced_w1` (``gp-stabilises`` uses its default)
PROJECTIONS = 256


def sliced_w1(x: torch.Tensor, y: torch.Tensor, projections: int = PROJECTIONS, seed: int = 0) -> float:
    """Sliced W1 between ``x`` ``(N, D)`` and the first ``N`` rows of ``y``; ``inf`` if ``x`` is not finite."""
    if not bool(torch.isfinite(x).all()):
        return math.inf
    g = torch.Generator().manual_seed(seed)
    p = torch.nn.functional.normalize(torch.randn(x.shape[1], projections, generator=g, dtype=torch.float64), dim=0)
    a = (x.double() @ p).sort(0).values  # (N, projections)
    b = (y[: x.shape[0]].double() @ p).sort(0).values
    return float((a - b).abs().mean())
