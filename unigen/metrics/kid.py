r"""Kernel distance between features of real and generated images, KID (Bińkowski et al., 2018).

The squared maximum mean discrepancy under the cubic polynomial kernel on :math:`d`-dimensional
features :math:`\phi(x)`,

.. math::
    k(a, b) = \Big(\frac{a^\top b}{d} + 1\Big)^3, \qquad
    \widehat{\mathrm{MMD}}{}^2_u = \frac{1}{m(m-1)} \sum_{i \ne j} k(x_i, x_j)
        + \frac{1}{m(m-1)} \sum_{i \ne j} k(y_i, y_j) - \frac{2}{m^2} \sum_{i, j} k(x_i, y_j),

the unbiased estimator (its expectation is the population MMD², which is 0 exactly when the two feature
distributions agree, so unlike FID it has no small-sample bias; it can be negative). KID is its mean over
``subsets`` random subsets of :math:`m` = ``subset_size`` real and :math:`m` generated feature vectors,
reported with the standard deviation over the subsets (``ddof=0``). The subsets are drawn by
``torchmetrics.image.kid.KernelInceptionDistance``, here seeded, so a value is reproducible;
``subset_size`` is at most 1,000 (Bińkowski et al.'s choice) and at most the smaller set. When it equals
both sets' sizes every subset is the whole set reordered, so the std is 0: it measures the spread over
subsets, not the error of the mean. :func:`kid` (the metric of ``eval.json`` and the reproductions) therefore
takes subsets of at most half the smaller set, so that they differ; :func:`kernel_distance` takes the size
it is given (the whole sets give the exact MMD² of the two).

:func:`kid` uses the data set's own classifier features (:mod:`unigen.metrics.classifier`), not
Inception v3's, and names the value after it, e.g. ``"KID (Fashion-MNIST-classifier features)"``.
"""
from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn
from torchmetrics.image.kid import KernelInceptionDistance

from unigen.metrics.classifier import MNISTClassifier
from unigen.metrics.fid import FeatureExtractor, check_sizes, update_metric, wrap_classifier, wrap_extractor

SUBSETS = 100
SUBSET_SIZE = 1000


#: KID's scale, said in its display label (eval.json's ``labels``, the end-of-run headline): the value is the MMD²
#: itself, where many papers print it multiplied by 10³ (or 100)
SCALE = "MMD² ×1; papers often print ×10³"


def kid_label(name: str) -> str:
    """A KID key's display label with its scale: ``"KID (… features)"`` -> ``"KID (… features; MMD² ×1; ...)"``."""
    return f"{name[:-1]}; {SCALE})" if name.startswith("KID (") and name.endswith(")") else name


def kid_name(classifier: MNISTClassifier) -> str:
    """``"KID (<classifier label> features)"``."""
    return f"KID ({classifier.label} features)"


@torch.no_grad()
def kernel_distance(real: Tensor, fake: Tensor, extractor: nn.Module, subsets: int = SUBSETS,
                    subset_size: int = SUBSET_SIZE, seed: int = 0, batch_size: int = 500,
                    device: torch.device | str | None = None) -> tuple[float, float]:
    r"""KID mean and std over subsets between ``real`` and ``fake`` under any ``extractor`` (``(N, ...) -> (N, d)``).

    :param subset_size: :math:`m`, capped at the smaller set's size.
    :param seed: seeds the draw of the subsets (the global RNG is left as it was).
    :param device: where the features are computed (default: where ``extractor``'s parameters are, else the CPU).
    """
    check_sizes("KID", real, fake, 2)
    if isinstance(extractor, MNISTClassifier):
        raise TypeError("pass an MNISTClassifier to kid(), which picks its features and support")
    return _kid(real, fake, *wrap_extractor(extractor, real, device), subsets, subset_size, seed, batch_size)


def _kid(real: Tensor, fake: Tensor, features: FeatureExtractor, device: torch.device, subsets: int,
         subset_size: int, seed: int, batch_size: int) -> tuple[float, float]:
    m = min(subset_size, real.shape[0], fake.shape[0])
    with warnings.catch_warnings():  # it keeps every feature vector: here 128 floats an image, a few MB
        warnings.filterwarnings("ignore", message=".*will save all extracted features", category=UserWarning)
        metric = KernelInceptionDistance(feature=features, subsets=subsets, subset_size=m)
    metric = update_metric(metric, real, fake, batch_size, device)
    with torch.random.fork_rng(devices=[]):  # the subsets are drawn with the CPU generator
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)


@torch.no_grad()
def kid(real: Tensor, fake: Tensor, classifier: MNISTClassifier, support: str = "unit", subsets: int = SUBSETS,
        subset_size: int = SUBSET_SIZE, seed: int = 0, batch_size: int = 500,
        device: torch.device | str | None = None) -> dict[str, float]:
    """``{"KID (<label> features)": mean, "... std": std, "kid_subsets": S, "kid_subset_size": m}`` of two image sets.

    :param real: ``(N, 1, 28|32, 28|32)`` images in ``support``, e.g. the test split.
    :param fake: generated images of the same shape and support.
    :param device: where the classifier runs (default: where it is).
    """
    check_sizes("KID", real, fake, 4)
    m = min(subset_size, real.shape[0] // 2, fake.shape[0] // 2)  # subsets that differ: a std that means something
    mean, std = _kid(real, fake, *wrap_classifier(classifier, support, device), subsets, m, seed, batch_size)
    name = kid_name(classifier)
    return {name: mean, f"{name} std": std, "kid_subsets": subsets, "kid_subset_size": m}
