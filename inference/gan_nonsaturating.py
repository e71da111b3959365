r"""The non-saturating GAN (Goodfellow et al., 2014), read as posterior inference (Hu et al., 2018)."""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from unigen.inference.adversarial import Adversarial
from unigen.scoring import log_q_real
from unigen.registry import STRATEGIES


@STRATEGIES.register("ns_gan")
@dataclass(frozen=True)
class NonSaturatingGAN(Adversarial):
    r"""Non-saturating GAN: the generator minimises -E log D(G(z)) (Goodfellow et al., 2014).

    The generator minimises :math:`-\mathbb{E}_{p_\theta} \log D(x)`.

    In Hu et al. (2018) this is the generator maximising the *reversed* posterior
    :math:`q^r_\phi(y{=}0 \mid x) = q_\phi(y{=}1 \mid x)` on its own samples. With the discriminator
    frozen at its optimum for :math:`\theta_0` (Lemma 1),

    .. math::
        \nabla_\theta \, \mathbb{E}_{p_\theta}[-\log D^*(x)]\big|_{\theta_0}
        = \nabla_\theta \left[\mathrm{KL}(p_\theta \| p_{data}) - 2\,\mathrm{JSD}(p_\theta \| p_{data})\right]\big|_{\theta_0},

    a reverse-KL ("sleep") direction, opposite to the VAE's. In MonoFlow's terms (Yi et al., 2023) it
    is the particle flow with :math:`h(\log r) = -\log(1 + 1/r)`.
    """

    def generator_loss(self, d_fake: Tensor) -> Tensor:
        return -log_q_real(d_fake).mean()
