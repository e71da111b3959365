r"""CycleGAN (Zhu et al., 2017): two generators and two critics between unpaired domains, tied by cycle consistency."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from unigen.needs import Needs
from unigen.programs import Batch, Programs, split_domains
from unigen.registry import STRATEGIES
from unigen.settings import bounded
from unigen.strategy import Phase, Strategy


@STRATEGIES.register("cyclegan")
@dataclass(frozen=True)
class CycleGAN(Strategy):
    r"""CycleGAN: translators A to B and B to A, a least-squares critic per domain, and a cycle loss (Zhu et al., 2017).

    On two-domain data (batches interleave :math:`a \sim p_A` and :math:`b \sim p_B`, split by
    :func:`~unigen.programs.split_domains`), the generators :math:`G: A \to B` (role ``generator_ab``) and
    :math:`F: B \to A` (``generator_ba``) and the critics :math:`D_A`, :math:`D_B` (``critic_a``, ``critic_b``;
    raw scores, LSGAN targets 1 real and 0 translated, Mao et al., 2017) minimise

    .. math::
        \ell_{critics} &= \tfrac12\big[\mathbb{E}_{p_B}(D_B(b) - 1)^2 + \mathbb{E}_{p_A} D_B(G(a))^2\big]
                        + \tfrac12\big[\mathbb{E}_{p_A}(D_A(a) - 1)^2 + \mathbb{E}_{p_B} D_A(F(b))^2\big], \\
        \ell_{generators} &= \mathbb{E}_{p_A}(D_B(G(a)) - 1)^2 + \mathbb{E}_{p_B}(D_A(F(b)) - 1)^2
            + \lambda\big[\|F(G(a)) - a\|_1 + \|G(F(b)) - b\|_1\big]
            + \mu\lambda\big[\|G(b) - b\|_1 + \|F(a) - a\|_1\big],

    with λ = ``cycle_weight`` (10) and μ = ``identity_weight`` (0: off; Zhu et al. use 0.5 for paintings ↔
    photos). :math:`\|\cdot\|_1` is the mean absolute difference per coordinate (their code's ``L1Loss``).
    With :math:`F = G^{-1}` the cycle term is 0; the critics alone would accept any :math:`G` with
    :math:`G_\# p_A = p_B`, and the cycle term keeps the pair a bijection. In Hu et al.'s (2018) view each
    critic is :math:`q_\phi(y \mid x)` on one domain, and each generator's "prior" is the other domain's data
    (the ``model`` role of the ``cyclegan`` spec, :class:`unigen.models.cyclegan.CycleModel`).

    Players: ``critics`` (critic_a, critic_b) then ``generators`` (generator_ab, generator_ba), so that the
    generators meet the critics they have just updated. Logged: ``adversarial`` (the two LSGAN generator
    terms), ``cycle`` and ``identity`` (their L1 errors before the weights), ``d_real``/``d_fake``.

    A critic may score patches rather than examples (the ``cyclegan`` spec's PatchGAN returns ``(batch, H', W')``):
    each expectation above is then the mean over the patches too, as Zhu et al.'s ``MSELoss`` on the patch map.

    .. note:: Departures, stated. Zhu et al. feed each critic from a history of the 50 last translations;
        here the critics see the current batch's translations only. Their code updates the generators before
        the critics in each iteration; here the critics go first (the order of every unigen GAN). The
        ``cyclegan`` spec builds their networks (ResNet translators, PatchGAN critics) by default, at a reduced
        width; MLPs on request.
    """

    cycle_weight: float = bounded(10.0, 0)
    identity_weight: float = bounded(0.0, 0)

    needs: ClassVar[Needs] = Needs(("generator_ab", "generator_ba", "critic_a", "critic_b"), domains=True)
    players: ClassVar[dict[str, tuple[str, ...]]] = {"critics": ("critic_a", "critic_b"),
                                                     "generators": ("generator_ab", "generator_ba")}
    meanings: ClassVar[dict[str, str]] = {
        "critics": "CycleGAN: the two critics' LSGAN losses, summed",
        "generators": "CycleGAN: the generators' adversarial + weighted cycle (+ identity) loss",
        "cycle": "CycleGAN: cycle error ‖F(G(a)) − a‖₁ + ‖G(F(b)) − b‖₁ (mean per coordinate, before λ)",
        "identity": "CycleGAN: identity error ‖G(b) − b‖₁ + ‖F(a) − a‖₁ (mean per coordinate, before its weight)",
    }

    def phases(self) -> tuple[Phase, ...]:
        return (Phase(("critics",), self.critics_step), Phase(("generators",), self.generators_step))

    def critics_step(self, programs: Programs, batch: Batch) -> dict[str, Tensor]:
        a, b = (half.x for half in split_domains(batch))
        with torch.no_grad():
            fake_b, fake_a = programs.generator_ab(a), programs.generator_ba(b)
        real_a, real_b = programs.critic_a(a), programs.critic_b(b)  # (batch / 2,) each
        on_fake_a, on_fake_b = programs.critic_a(fake_a), programs.critic_b(fake_b)
        loss = lsgan_critic(real_b, on_fake_b) + lsgan_critic(real_a, on_fake_a)
        return {"critics": loss, "d_real": torch.cat([real_a, real_b]).mean(),
                "d_fake": torch.cat([on_fake_a, on_fake_b]).mean()}

    def generators_step(self, programs: Programs, batch: Batch) -> dict[str, Tensor]:
        a, b = (half.x for half in split_domains(batch))
        G, F = programs.generator_ab, programs.generator_ba
        fake_b, fake_a = G(a), F(b)
        adversarial = lsgan_generator(programs.critic_b(fake_b)) + lsgan_generator(programs.critic_a(fake_a))
        cycle = l1(F(fake_b), a) + l1(G(fake_a), b)
        out = {"adversarial": adversarial, "cycle": cycle}
        loss = adversarial + self.cycle_weight * cycle
        if self.identity_weight > 0:  # a setting: fixed for the run, so the step stays static
            out["identity"] = identity = l1(G(b), b) + l1(F(a), a)
            loss = loss + self.identity_weight * self.cycle_weight * identity
        return {"generators": loss, **out}


def lsgan_critic(real: Tensor, fake: Tensor) -> Tensor:
    r""":math:`\tfrac12[\mathbb{E}(D(\text{real}) - 1)^2 + \mathbb{E} D(\text{fake})^2]` from the critic's scores."""
    return 0.5 * (((real - 1) ** 2).mean() + (fake ** 2).mean())


def lsgan_generator(fake: Tensor) -> Tensor:
    r""":math:`\mathbb{E}(D(\text{fake}) - 1)^2`: the translations scored as real."""
    return ((fake - 1) ** 2).mean()


def l1(x: Tensor, target: Tensor) -> Tensor:
    r""":math:`\|x - \text{target}\|_1` as the mean absolute difference per coordinate."""
    return (x - target).abs().mean()
