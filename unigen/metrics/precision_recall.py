r"""Improved precision and recall of generative models (Kynkäänniemi et al., 2019).

Each set of features :math:`\Phi` is given a manifold estimate: the union of balls centred on its
points, each with the distance to that point's :math:`k`-th nearest neighbour in the set (itself
excluded) as radius,

.. math::
    f(\phi, \Phi) = \mathbb{1}\big[\exists\, \phi' \in \Phi : \lVert \phi - \phi' \rVert_2
        \le \lVert \phi' - \mathrm{NN}_k(\phi', \Phi) \rVert_2\big],

and

.. math::
    \mathrm{precision} = \frac{1}{|\Phi_g|} \sum_{\phi_g \in \Phi_g} f(\phi_g, \Phi_r), \qquad
    \mathrm{recall} = \frac{1}{|\Phi_r|} \sum_{\phi_r \in \Phi_r} f(\phi_r, \Phi_g):

precision is the fraction of generated samples inside the manifold of the real ones (quality),
recall the fraction of real samples inside the manifold of the generated ones (coverage). The
paper uses :math:`k = 3`, VGG-16 features and 50,000 samples per set; with unigen's MNIST classifier
pass :func:`unigen.metrics.classifier.extract_features` of both sets.

**Density and coverage** (Naeem et al., "Reliable Fidelity and Diversity Metrics for Generative Models", ICML 2020)
use the real manifold only, so that outliers among the real features (which inflate precision) and among the
generated ones (which inflate recall) count for less:

.. math::
    \mathrm{density} = \frac{1}{k M} \sum_{j=1}^{M} \sum_{i=1}^{N}
        \mathbb{1}\big[\phi_{g,j} \in B(\phi_{r,i}, \mathrm{NND}_k(\phi_{r,i}))\big], \qquad
    \mathrm{coverage} = \frac{1}{N} \sum_{i=1}^{N}
        \mathbb{1}\big[\exists\, j : \phi_{g,j} \in B(\phi_{r,i}, \mathrm{NND}_k(\phi_{r,i}))\big],

on the same :math:`k`-NN radii of the real features (density can exceed 1; both are 1 in expectation for two
samples of one distribution, large sets; the paper uses :math:`k = 5`, here the same :math:`k` as precision/recall).

Distances are computed with ``torch.cdist`` in blocks of ``batch_size`` rows, so memory is
:math:`O(\text{batch\_size} \cdot N)`, in the dtype of the inputs.
"""
from __future__ import annotations

import torch
from torch import Tensor


def knn_radii(features: Tensor, k: int = 3, batch_size: int = 1000) -> Tensor:
    """Distance ``(N,)`` from each row of ``features`` ``(N, D)`` to its ``k``-th nearest other row."""
    n = features.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"k must lie in 1..{n - 1} (one less than the set size), got {k}")
    # the (k+1)-th smallest distance in a row counts the row itself (distance 0) as the first
    return torch.cat([torch.cdist(features[i:i + batch_size], features).kthvalue(k + 1, dim=1).values
                      for i in range(0, n, batch_size)])


def manifold_coverage(queries: Tensor, reference: Tensor, radii: Tensor, batch_size: int = 1000) -> Tensor:
    r"""Boolean ``(M,)``: whether each query lies within ``radii[j]`` of some ``reference[j]``, i.e. :math:`f`."""
    return torch.cat([(torch.cdist(queries[i:i + batch_size], reference) <= radii).any(dim=1)
                      for i in range(0, queries.shape[0], batch_size)])


def ball_counts(queries: Tensor, reference: Tensor, radii: Tensor, batch_size: int = 1000) -> Tensor:
    """``(M,)``: in how many of the balls ``B(reference[i], radii[i])`` each query lies (density's count)."""
    return torch.cat([(torch.cdist(queries[i:i + batch_size], reference) <= radii).sum(dim=1)
                      for i in range(0, queries.shape[0], batch_size)])


@torch.no_grad()
def precision_recall(real: Tensor, fake: Tensor, k: int = 3, batch_size: int = 1000,
                     device: torch.device | str | None = None) -> dict[str, float]:
    """``{"precision", "recall", "density", "coverage"}`` of generated features ``fake`` ``(M, D)`` against ``real``
    ``(N, D)``.

    :param device: where the distances are computed (default: where ``real`` is).
    """
    device = real.device if device is None else torch.device(device)
    real, fake = real.reshape(real.shape[0], -1).to(device), fake.reshape(fake.shape[0], -1).to(device)
    radii = knn_radii(real, k, batch_size)
    precision = manifold_coverage(fake, real, radii, batch_size)
    recall = manifold_coverage(real, fake, knn_radii(fake, k, batch_size), batch_size)
    density = ball_counts(fake, real, radii, batch_size).double().sum() / (k * fake.shape[0])
    coverage = torch.cat([torch.cdist(real[i:i + batch_size], fake).min(dim=1).values <= radii[i:i + batch_size]
                          for i in range(0, real.shape[0], batch_size)])  # the nearest fake inside each real ball
    return {"precision": float(precision.double().mean()), "recall": float(recall.double().mean()),
            "density": float(density), "coverage": float(coverage.double().mean())}
