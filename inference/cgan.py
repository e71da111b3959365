r"""The conditional GAN (Mirza & Osindero, 2014)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from unigen.inference.gan_nonsaturating import NonSaturatingGAN
from unigen.registry import STRATEGIES
from unigen.needs import Needs


@STRATEGIES.register("cgan")
@dataclass(frozen=True)
class CGAN(NonSaturatingGAN):
    r"""Conditional GAN (Mirza & Osindero, 2014): the non-saturating GAN with class labels given to both players.

    Generator and discriminator both read the label :math:`c`: :math:`x = G_\theta(z, c)` and
    :math:`D_\phi(x, c) = \sigma(d(x, c))`. Each step the discriminator minimises

    .. math::
        -\mathbb{E}_{p_{data}(x, c)} \log D_\phi(x, c) - \mathbb{E}_{p(c)\, p_\theta(x \mid c)} \log(1 - D_\phi(x, c)),

    then the generator minimises :math:`-\mathbb{E}_{p(c)\, p_\theta(x \mid c)} \log D_\phi(x, c)`. Generated
    samples take the labels of the real batch, so :math:`p(c)` is the data's label distribution. At its
    optimum :math:`d(x, c) = \log p_{data}(x \mid c) / p_\theta(x \mid c)`: in Hu et al.'s (2018) view the
    label is one more observed input of :math:`q_\phi(y \mid x, c)`.

    Departure, stated: Mirza & Osindero write the minimax game, whose generator minimises
    :math:`\mathbb{E} \log(1 - D)`; this is its non-saturating form (Goodfellow et al., 2014), as in
    :class:`~unigen.inference.gan_nonsaturating.NonSaturatingGAN`, the loss used in practice.

    Needs labelled data (the trainer refuses data without labels) and conditional programs
    (e.g. ``model.conditional=true``): :meth:`check` verifies once at set-up that generated samples change
    with the label, and refuses a discriminator whose signature cannot take it (an ``nn.Sequential``); that the
    discriminator uses the label it takes is left to the model. Labels ``-1`` (unlabelled)
    are not treated specially: train on fully labelled data. Players: ``discriminator``; ``generator``
    (the model).
    """

    needs: ClassVar[Needs] = Needs(("model", "discriminator"), labels="given")
