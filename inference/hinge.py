r"""The hinge-loss GAN (Lim & Ye, 2017; Miyato et al., 2018)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch.nn.functional as F
from torch import Tensor

from unigen.inference.adversarial import Adversarial
from unigen.registry import STRATEGIES


@STRATEGIES.register("hinge")
@dataclass(frozen=True)
class HingeGAN(Adversarial):
    r"""Hinge GAN: a margin-1 SVM critic and a linear generator loss (Lim & Ye, 2017; Miyato et al., 2018).

    With :math:`d_\phi(x)` the raw output of the ``discriminator`` role,

    .. math::
        \ell_{critic} = \mathbb{E}_{p_{data}} \max(0, 1 - d_\phi(x)) + \mathbb{E}_{p_\theta} \max(0, 1 + d_\phi(x)),
        \qquad
        \ell_{gen} = -\mathbb{E}_{p_\theta} d_\phi(x).

    Pointwise the optimal critic is :math:`d^*(x) = \operatorname{sign}(p_{data}(x) - p_\theta(x))` and
    its loss is :math:`2 - 2\,\mathrm{TV}(p_{data}, p_\theta)`, so the critic estimates the total
    variation distance. Lim & Ye's "Geometric GAN" derives it from a margin-maximising hyperplane;
    Miyato et al. use it with spectrally normalised critics.

    Players: ``discriminator`` (``n_critic`` updates per step) and ``generator`` (the model).
    """

    bce_losses: ClassVar[tuple[str, ...]] = ()  # not a binary cross-entropy
    meanings: ClassVar[dict[str, str]] = {
        "discriminator": "hinge critic loss E max(0, 1 − D(x)) + E max(0, 1 + D(G(z))): 2 − 2 TV at the optimum",
        "generator": "hinge generator loss − E D(G(z))",
    }

    def critic_loss(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()

    def generator_loss(self, d_fake: Tensor) -> Tensor:
        return -d_fake.mean()
