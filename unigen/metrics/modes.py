r"""Mode coverage on mixtures of Gaussians (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018).

A generated sample is *high quality* if it lies within ``3 std`` of its nearest mode centre; a mode
is *captured* if it is the nearest mode of at least one high-quality sample. The protocol draws
2,500 samples. We also report the reverse KL over modes,
:math:`\mathrm{KL}(\hat p \,\|\, U) = \sum_m \hat p_m \log(M \hat p_m)`, where :math:`\hat p` is the
histogram of nearest modes over the high-quality samples and :math:`U` the uniform mixture weights.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor


def mode_stats(samples: Tensor, centres: Tensor, std: float, threshold: float = 3.0) -> dict[str, float]:
    """Modes captured, fraction of high-quality samples and KL(modes‖uniform) for ``samples`` ``(N, D)``."""
    dist = torch.cdist(samples.double(), centres.double())  # (N, M)
    nearest_d, nearest = dist.min(dim=1)
    hq = nearest_d <= threshold * std
    counts = torch.bincount(nearest[hq], minlength=centres.shape[0]).double()
    n_hq = counts.sum()
    if n_hq > 0:
        p = counts / n_hq
        nz = p > 0
        kl = float((p[nz] * torch.log(p[nz] * centres.shape[0])).sum())
    else:
        kl = math.inf
    return {"modes": int((counts > 0).sum()), "high_quality": float(hq.double().mean()),
            "kl_modes": kl, "num_modes": int(centres.shape[0])}
