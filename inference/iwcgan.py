r"""The importance weighted conditional GAN (Hu et al., 2018)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from unigen.inference.iwgan import IWGAN
from unigen.registry import STRATEGIES
from unigen.needs import Needs


@STRATEGIES.register("iwcgan")
@dataclass(frozen=True)
class IWCGAN(IWGAN):
    r"""Importance weighted conditional GAN: IWGAN with labels given to the model and discriminator (Hu et al., 2018).

    The maths is :class:`~unigen.inference.iwgan.IWGAN`'s with every program conditioned on the
    labels ``c`` of the batch (Mirza & Osindero, 2014): generated samples are
    :math:`x_i = G_\theta(z_i, c_i)`, logits are :math:`d(x_i, c_i)`, and the generator minimises

    .. math::
        -\sum_{i=1}^K \mathrm{sg}(\tilde w_i) \log \sigma(d(x_i, c_i)),
        \qquad \tilde w = \mathrm{softmax}_i\, d(x_i, c_i).

    The weights are normalised over the whole minibatch (all classes together, :math:`K` = batch size),
    as in the unconditional case; Hu et al. do not state a per-class normalisation.
    Players: ``discriminator``; ``generator`` (the model). Needs labelled data and conditional programs
    (e.g. ``model.conditional=true``).
    """

    needs: ClassVar[Needs] = Needs(("model", "discriminator"), labels="given")
