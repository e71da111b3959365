r"""The Wasserstein GAN (Arjovsky et al., 2017), with weight clipping or a gradient penalty."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from unigen.errors import UserError
from unigen.inference.adversarial import Adversarial
from unigen.programs import Programs
from unigen.registry import STRATEGIES
from unigen.settings import bounded, count


@STRATEGIES.register("wgan")
@dataclass(frozen=True)
class WGAN(Adversarial):
    r"""Wasserstein GAN: a Lipschitz critic estimates the Wasserstein-1 distance (Arjovsky et al., 2017).

    By Kantorovich–Rubinstein duality
    :math:`W_1(p_{data}, p_\theta) = \sup_{\|d\|_L \le 1} \mathbb{E}_{p_{data}} d(x) - \mathbb{E}_{p_\theta} d(x)`.
    The critic :math:`d_\phi` (the ``discriminator`` role, read as an unbounded score rather than
    the logit of :math:`q_\phi(y \mid x)`) and the generator minimise

    .. math::
        \ell_{critic} = \mathbb{E}_{p_\theta} d_\phi(x) - \mathbb{E}_{p_{data}} d_\phi(x),
        \qquad
        \ell_{gen} = -\mathbb{E}_{p_\theta} d_\phi(x).

    Players: ``discriminator`` (the critic, ``n_critic`` = 5 updates per step, each on a fresh batch)
    and ``generator`` (the model).

    :param clip: after every critic update each critic parameter is clamped to
        :math:`[-c, c]`, a crude way of keeping :math:`d_\phi` K-Lipschitz (c = 0.01 in the paper).
        ``clip=0`` disables clipping. Only ``nn.Module`` parameters of the critic are clipped (the
        ``discriminator`` role is a module in every unigen model).

    WGAN-GP (Gulrajani et al., 2017) is this strategy with ``clip=0 penalty=gp``: the Lipschitz
    constraint is replaced by :math:`\lambda\,\mathbb{E}_{\hat x}(\|\nabla_x d(\hat x)\|_2 - 1)^2` added
    to :math:`\ell_{critic}` (``penalty_weight`` = λ; 10 in the paper, 0.1 for its 2-D toys).
    Clipping together with a unit-norm penalty (``gp``, ``dragan``) is refused: the clipped critic
    cannot reach unit gradients, so the two constraints fight.

    .. note::
        Recommended optimisers: RMSProp, lr 5e-5, for clipping (Arjovsky et al. found momentum
        unstable); Adam, lr 1e-4, betas (0.5, 0.9), for the gradient penalty (Gulrajani et al.).
        Set them with ``train.optim`` / ``train.players.NAME``; unigen does not change them for you.
    """

    n_critic: int = count(5, hi=1000)
    clip: float = bounded(0.01, 0)

    bce_losses: ClassVar[tuple[str, ...]] = ()  # not a binary cross-entropy
    meanings: ClassVar[dict[str, str]] = {
        "discriminator": "WGAN critic loss E D(G(z)) − E D(x) (+ λ · penalty): minus the critic's W₁ estimate",
        "generator": "WGAN generator loss − E D(G(z))",
    }

    #: names users bring for a WGAN setting (``strategy.name=wgan_gp``): the registry answers with the recipe
    aliases: ClassVar[dict[str, str]] = {
        name: "strategy.name=wgan strategy.clip=0 strategy.penalty=gp (WGAN-GP)" for name in ("wgan_gp", "wgan-gp",
                                                                                               "wgangp")}

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.clip >= 0:
            raise UserError(f"clip must be >= 0 (0 disables clipping), got {self.clip}")
        if self.clip > 0 and self.penalty in ("gp", "dragan"):
            raise UserError(f"penalty={self.penalty} replaces weight clipping; "
                            f"set clip=0 to use it (WGAN-GP)")

    def critic_loss(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        return d_fake.mean() - d_real.mean()

    def generator_loss(self, d_fake: Tensor) -> Tensor:
        return -d_fake.mean()

    def after_update(self, programs: Programs, player: str) -> None:
        """Clamp every critic parameter to ``[-clip, clip]`` in place after a critic update."""
        if player != "discriminator" or self.clip == 0:  # settings, not data
            return
        critic = programs.discriminator
        if isinstance(critic, nn.Module):
            with torch.no_grad():
                for p in critic.parameters():
                    p.clamp_(-self.clip, self.clip)
