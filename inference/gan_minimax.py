r"""The original minimax GAN (Goodfellow et al., 2014)."""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from unigen.inference.adversarial import Adversarial
from unigen.scoring import log_q_fake
from unigen.registry import STRATEGIES


@STRATEGIES.register("minimax_gan")
@dataclass(frozen=True)
class MinimaxGAN(Adversarial):
    r"""Minimax GAN: the generator minimises E log(1 - D(G(z))), the original game (Goodfellow et al., 2014).

    The generator minimises :math:`\mathbb{E}_{p_\theta} \log(1 - D(x))`:

    .. math::
        \min_\theta \max_\phi \; \mathbb{E}_{p_{data}} \log D_\phi(x)
        + \mathbb{E}_{p_\theta} \log(1 - D_\phi(x)), \qquad D_\phi = \sigma(d_\phi).

    With the optimal discriminator the generator minimises :math:`2\,\mathrm{JSD}(p_{data} \| p_\theta)
    - \log 4`. Its gradient vanishes when the discriminator rejects fakes confidently (saturation),
    which is why :class:`~unigen.inference.gan_nonsaturating.NonSaturatingGAN` is used in practice.
    """

    def generator_loss(self, d_fake: Tensor) -> Tensor:
        return log_q_fake(d_fake).mean()
