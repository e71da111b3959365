r"""Fréchet distance between Gaussians fitted to features of real and generated images (Heusel et al., 2017).

.. math::
    \mathrm{FID} = \lVert \mu_r - \mu_g \rVert_2^2
        + \operatorname{Tr}\big(\Sigma_r + \Sigma_g - 2\,(\Sigma_r \Sigma_g)^{1/2}\big)

with :math:`\mu, \Sigma` the mean and the unbiased covariance (divisor :math:`N - 1`) of the features
:math:`\phi(x)` of each set. The statistics are accumulated in float64 and the distance computed by
``torchmetrics.image.fid.FrechetInceptionDistance`` (its trace of the square root is the sum of the
square roots of the eigenvalues of :math:`\Sigma_r \Sigma_g`), given our feature network as a custom
``nn.Module`` with a ``num_features`` attribute.

:func:`fid` uses the 128-d penultimate features of the data set's own classifier
(:func:`unigen.metrics.classifier.feature_classifier`), not Inception v3's pool features, and names the
value after it: ``"FID (MNIST-classifier features)"``, ``"FID (Fashion-MNIST-classifier features)"``. It is
comparable only with values from the same classifier and the same sample sizes (FID is biased upwards at
small N; full runs compare 10,000 samples with the 10,000 test images, ``eval.num_images=10000``).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance

from unigen.metrics.classifier import MNIST_LABEL, MNISTClassifier

FID_NAME = f"FID ({MNIST_LABEL} features)"


def fid_name(classifier: MNISTClassifier) -> str:
    """``"FID (<classifier label> features)"``."""
    return f"FID ({classifier.label} features)"


class FeatureExtractor(nn.Module):
    """A feature network as torchmetrics takes it: ``forward(x) -> (N, d)`` and an int ``num_features``."""

    def __init__(self, fn: nn.Module, num_features: int, support: str | None = None):
        super().__init__()
        self.fn, self.num_features, self.support = fn, num_features, support

    def forward(self, x: Tensor) -> Tensor:
        out = self.fn.features(x, self.support) if self.support is not None else self.fn(x)
        return out.reshape(x.shape[0], -1)


@torch.no_grad()
def frechet_distance(real: Tensor, fake: Tensor, extractor: nn.Module, batch_size: int = 500,
                     device: torch.device | str | None = None) -> float:
    r"""FID between ``real`` and ``fake`` under any feature network ``extractor`` (``(N, ...) -> (N, d)``).

    :param device: where the features are computed (default: where ``extractor``'s parameters are,
        else the CPU); ``extractor`` is moved there.
    """
    check_sizes("FID", real, fake, 2)
    if isinstance(extractor, MNISTClassifier):
        raise TypeError("pass an MNISTClassifier to fid(), which picks its features and support")
    return _fid(real, fake, *wrap_extractor(extractor, real, device), batch_size)


def check_sizes(metric: str, real: Tensor, fake: Tensor, least: int) -> None:
    """Refuse sets of fewer than ``least`` samples, naming ``metric``."""
    if real.shape[0] < least or fake.shape[0] < least:
        raise ValueError(f"{metric} needs at least {least} samples in each set, got {real.shape[0]} real and "
                         f"{fake.shape[0]} fake")


def wrap_extractor(extractor: nn.Module, real: Tensor,
                   device: torch.device | str | None) -> tuple[FeatureExtractor, torch.device]:
    """Any ``(N, ...) -> (N, d)`` network as torchmetrics takes it, on ``device`` (default: its parameters')."""
    if device is None:
        device = next(iter(extractor.parameters()), torch.empty(0)).device
    device = torch.device(device)
    extractor = extractor.to(device)
    num_features = int(extractor(real[:2].to(device)).reshape(2, -1).shape[1])
    return FeatureExtractor(extractor, num_features), device


def wrap_classifier(classifier: MNISTClassifier, support: str,
                    device: torch.device | str | None) -> tuple[FeatureExtractor, torch.device]:
    """A classifier's penultimate features of images in ``support``, on ``device`` (default: where it is)."""
    device = torch.device(device) if device is not None else classifier.device
    classifier.to(device)
    return FeatureExtractor(classifier, classifier.num_features, support), device


def update_metric(metric, real: Tensor, fake: Tensor, batch_size: int, device: torch.device):
    """Feed ``real`` and ``fake`` to a torchmetrics image metric (``update(x, real=...)``) in batches."""
    metric = metric.to(device)
    for x, is_real in ((real, True), (fake, False)):
        for i in range(0, x.shape[0], batch_size):
            metric.update(x[i:i + batch_size].to(device), real=is_real)
    return metric


def _fid(real: Tensor, fake: Tensor, features: FeatureExtractor, device: torch.device, batch_size: int) -> float:
    metric = FrechetInceptionDistance(feature=features, normalize=True)
    return float(update_metric(metric, real, fake, batch_size, device).compute())


@torch.no_grad()
def fid(real: Tensor, fake: Tensor, classifier: MNISTClassifier, support: str = "unit", batch_size: int = 500,
        device: torch.device | str | None = None) -> dict[str, float]:
    """``{"FID (<label> features)": value}`` between image sets ``real`` and ``fake``, ``label`` the classifier's.

    :param real: ``(N, 1, 28|32, 28|32)`` images in ``support``, e.g. the test split (10,000 for full
        MNIST or Fashion-MNIST).
    :param fake: generated images of the same shape and support (the usual protocol draws as many).
    :param device: where the classifier runs (default: where it is).
    """
    check_sizes("FID", real, fake, 2)
    return {fid_name(classifier): _fid(real, fake, *wrap_classifier(classifier, support, device), batch_size)}
