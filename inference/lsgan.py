r"""The least-squares GAN (Mao et al., 2017)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor

from unigen.errors import UserError
from unigen.inference.adversarial import Adversarial
from unigen.registry import STRATEGIES


@STRATEGIES.register("lsgan")
@dataclass(frozen=True)
class LSGAN(Adversarial):
    r"""Least-squares GAN: the critic regresses real samples to b and fakes to a (Mao et al., 2017).

    With :math:`d_\phi(x)` the raw output of the ``discriminator`` role (no sigmoid),

    .. math::
        \ell_{critic} = \tfrac12 \mathbb{E}_{p_{data}} (d_\phi(x) - b)^2 + \tfrac12 \mathbb{E}_{p_\theta} (d_\phi(x) - a)^2,
        \qquad
        \ell_{gen} = \tfrac12 \mathbb{E}_{p_\theta} (d_\phi(x) - c)^2.

    The optimal critic is :math:`d^*(x) = \dfrac{b\,p_{data}(x) + a\,p_\theta(x)}{p_{data}(x) + p_\theta(x)}`;
    with the default 0-1 coding (a = 0, b = c = 1) it is :math:`D^*(x) = p_{data}/(p_{data} + p_\theta)`,
    the optimal discriminator probability of the standard GAN, here reached without a sigmoid.
    Mao et al. show that with :math:`b - c = 1` and :math:`b - a = 2` (e.g. a = −1, b = 1, c = 0) the
    generator minimises the Pearson :math:`\chi^2` divergence between :math:`p_{data} + p_\theta` and
    :math:`2 p_\theta`; they use the 0-1 coding in their experiments, as here.

    Players: ``discriminator`` (``n_critic`` updates per step) and ``generator`` (the model).

    :param a: target of generated samples in the critic loss.
    :param b: target of real samples in the critic loss.
    :param c: the value the generator wants the critic to give its samples.
    """

    a: float = 0.0
    b: float = 1.0
    c: float = 1.0

    bce_losses: ClassVar[tuple[str, ...]] = ()  # not a binary cross-entropy
    meanings: ClassVar[dict[str, str]] = {
        "discriminator": "LSGAN critic loss ½ E (D(x) − b)² + ½ E (D(G(z)) − a)²",
        "generator": "LSGAN generator loss ½ E (D(G(z)) − c)²",
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.a == self.b:
            raise UserError(f"a and b are both {self.a}: the critic cannot tell real from "
                            f"fake; use distinct targets, e.g. a=0 b=1")

    def critic_loss(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        return 0.5 * ((d_real - self.b) ** 2).mean() + 0.5 * ((d_fake - self.a) ** 2).mean()

    def generator_loss(self, d_fake: Tensor) -> Tensor:
        return 0.5 * ((d_fake - self.c) ** 2).mean()
