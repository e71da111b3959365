r"""f-GAN: variational divergence minimisation (Nowozin et al., 2016)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor

from unigen.settings import choice
from unigen.inference.adversarial import Adversarial
from unigen.inference.divergences import DIVERGENCES
from unigen.registry import STRATEGIES

GENERATORS = ("saturating", "alternative")


@STRATEGIES.register("fgan")
@dataclass(frozen=True)
class FGAN(Adversarial):
    r"""f-GAN: minimise any f-divergence through its variational lower bound (Nowozin et al., 2016).

    The discriminator role outputs the raw variational function :math:`V_\omega(x)`, and the critic is
    :math:`T_\omega = g_f(V_\omega)` with the output activation :math:`g_f` of Nowozin et al.'s
    Table 2 (see :mod:`unigen.inference.divergences`). With :math:`P = p_{data}`, :math:`Q = p_\theta`,

    .. math::
        \min_\theta \max_\omega \; F(\theta, \omega) =
        \mathbb{E}_{P}\, g_f(V_\omega(x)) - \mathbb{E}_{Q}\, f^*\!\big(g_f(V_\omega(x))\big)
        \;\le\; D_f(P \| Q),

    with equality at :math:`T^*(x) = f'(p(x)/q(x))`. The critic loss is :math:`-F`. The generator loss is

    * ``generator="saturating"``: :math:`-\mathbb{E}_Q f^*(g_f(V))`, the exact minimax game. At the
      optimal critic :math:`f^*(f'(r)) = r f'(r) - f(r) = h(r)`, so this is MonoFlow's
      :math:`-\mathbb{E}_Q h(r)` (Yi et al., 2023): :class:`~unigen.inference.monoflow.MonoFlow` with the
      same divergence, fed :math:`\log r` recovered from :math:`T`.
    * ``generator="alternative"``: :math:`-\mathbb{E}_Q g_f(V)`, Nowozin et al.'s generalisation of
      the :math:`-\log D` trick, which for ``divergence="gan"`` is the non-saturating GAN.

    Players: ``discriminator`` (:math:`V_\omega`, ``n_critic`` steps) then ``generator`` (the model).

    :param divergence: ``kl``, ``reverse_kl``, ``pearson``, ``neyman``, ``hellinger``, ``js`` or ``gan``.
    :param generator: ``saturating`` or ``alternative``.

    .. note::
        Nowozin et al. update both players with one simultaneous gradient step (their Algorithm 1):
        ``simultaneous=true``; by default, as in every :class:`~unigen.inference.adversarial.Adversarial`
        strategy, the critic steps first and the generator then sees the updated critic. Their Table 2 has no activation for the Neyman
        :math:`\chi^2`; we use :math:`1 - e^{-v}` (its :math:`f^*` needs :math:`t < 1`).
    """

    divergence: str = choice("js", DIVERGENCES)
    generator: str = choice("saturating", GENERATORS)

    meanings: ClassVar[dict[str, str]] = {
        "discriminator": "f-GAN critic loss: minus its variational lower bound on D_f(data ‖ model)",
        "generator": "f-GAN generator loss (its form: strategy.generator)",
    }

    @property
    def bce_losses(self) -> tuple[str, ...]:
        """The ``gan`` divergence's critic loss is the binary cross-entropy; the others' are not."""
        return ("discriminator",) if self.divergence == "gan" else ()

    def __post_init__(self) -> None:
        super().__post_init__()

    def critic_loss(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        r""":math:`-\big(\mathbb{E}_P g_f(V) - \mathbb{E}_Q f^*(g_f(V))\big)` from the raw outputs ``V``."""
        div = DIVERGENCES[self.divergence]
        return -(div.activation(d_real).mean() - div.conjugate_activation(d_fake).mean())

    def generator_loss(self, d_fake: Tensor) -> Tensor:
        div = DIVERGENCES[self.divergence]
        if self.generator == "saturating":  # a setting, fixed before the step
            return -div.conjugate_activation(d_fake).mean()
        return -div.activation(d_fake).mean()
