r"""The two-player skeleton shared by adversarial strategies.

In the unified view (Hu et al., 2018) the discriminator is an inference network
:math:`q_\phi(y \mid x)` over a real/fake indicator (``y = 1`` real, ``y = 0`` generated); its logit
``d(x)`` estimates :math:`\log p_{data}(x) / p_\theta(x)`. Each step first fits :math:`q_\phi`
(``n_critic`` times, each on a fresh batch, on detached generated samples), then updates the
generator through :math:`q_\phi` with one generator loss; with ``simultaneous`` both players are
differentiated at the same parameters, from one draw of generated samples, and stepped together. Subclasses
supply ``generator_loss`` and may replace ``critic_loss`` (WGAN, LSGAN, hinge, f-GAN), ``generator_terms``
(IWGAN's weights, InfoGAN's code term) or ``phases`` and ``fakes`` (VAE-GAN). A gradient penalty from
:mod:`unigen.inference.penalties` composes with any of them through the ``penalty`` setting, and LeCam's
regulariser (:mod:`unigen.inference.lecam`) through ``lecam_weight``, beside it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from unigen.augment import ada_statistic, reports_ada
from unigen.errors import UserError
from unigen.inference.lecam import NAME as LECAM
from unigen.inference.lecam import LeCamAnchors, lecam_penalty
from unigen.inference.penalties import PENALTIES
from unigen.programs import Batch, Programs
from unigen.scoring import discriminate, generate, log_q_fake, log_q_real
from unigen.strategy import Phase, Strategy
from unigen.settings import bounded, check_choices, choice, count
from unigen.needs import Needs


@dataclass(frozen=True)
class Adversarial(Strategy):
    r"""Base of the GAN family: a discriminator phase then a generator phase, or one simultaneous phase.

    :param n_critic: discriminator updates per generator update, each on a fresh batch.
    :param penalty: ``"none"`` or a gradient penalty on the discriminator: ``gp``, ``r1``, ``r2``, ``dragan``.
    :param penalty_weight: its weight (λ for ``gp``/``dragan``, γ for ``r1``/``r2``).
    :param lecam_weight: λ of LeCam's regulariser on the critic's raw outputs (Tseng et al. 2021; 0: off), logged
        as ``lecam`` before its weight.
    :param lecam_decay: the decay of its real and fake anchors (exponential moving averages of the mean outputs).
    :param simultaneous: one phase instead of two: the critic's and the generator's gradients are taken at the same
        parameters, from one draw of generated samples, and both players step together (simultaneous gradient
        descent, the update of PacGAN's and ALI's reference code and of Mescheder et al.'s (2017) analysis; the
        alternating default lets the generator see the critic it just updated). Needs ``n_critic=1``.

    On the bilinear game :math:`\ell_{critic} = \phi\theta = -\ell_{gen}` (a linear WGAN critic on a point
    generator and data at 0) one step of plain gradient descent at rate :math:`\eta` maps the players'
    squared norm :math:`\theta^2 + \phi^2` to :math:`(1 + \eta^2)(\theta^2 + \phi^2)` when simultaneous, so
    they spiral outwards, while the alternating map has determinant 1 and keeps them on a bounded orbit
    (Mescheder et al. 2017; Gidel et al. 2019): ``tests/inference/test_simultaneous.py``.
    """

    n_critic: int = count(1, hi=1000)
    penalty: str = choice("none", lambda: ("none", *PENALTIES))
    penalty_weight: float = bounded(10.0, 0)
    lecam_weight: float = bounded(0.0, 0)
    lecam_decay: float = bounded(0.99, 0, 1, hi_open=True)
    simultaneous: bool = False

    def __post_init__(self) -> None:
        if self.n_critic < 1:
            raise UserError(f"n_critic must be >= 1, got {self.n_critic}")
        check_choices(self)
        if not self.simultaneous:
            return
        if self.n_critic != 1:
            raise UserError(f"simultaneous=true steps each player once per step, but n_critic={self.n_critic}; "
                            f"set n_critic=1 (or simultaneous=false for {self.n_critic} critic updates)")
        own = [m for m in ("phases", "discriminator_step", "generator_step", "fakes")
               if getattr(type(self), m) is not getattr(Adversarial, m)]
        if own:  # the simultaneous step calls critic_terms and generator_terms, not these
            name = getattr(self, "registry_name", "") or type(self).__name__
            raise UserError(f"{name} overrides {', '.join(own)}, which simultaneous=true does not run; set "
                            f"simultaneous=false (or override critic_terms / generator_terms instead)")

    needs: ClassVar[Needs] = Needs(("model", "discriminator"))
    players: ClassVar[dict[str, tuple[str, ...]]] = {"discriminator": ("discriminator",),
                                                     "generator": ("model",)}
    #: the logged losses that are a critic's binary cross-entropy, real against generated: 2 ln 2 where it cannot
    #: tell them apart (D = 1/2), the line ``losses.png`` draws; a critic loss of another form declares none
    bce_losses: ClassVar[tuple[str, ...]] = ("discriminator",)

    def attach(self, programs: Programs) -> None:
        """LeCam's anchors, when it is on (:mod:`unigen.inference.lecam`)."""
        if self.lecam_weight and LECAM not in programs.strategy_state:
            programs.strategy_state[LECAM] = LeCamAnchors().to(programs.anchor.device)

    def regularise(self, programs: Programs, d_real: Tensor, d_fake: Tensor, out: dict[str, Tensor]) -> None:
        """Add LeCam's term to the critic's loss in ``out`` (in place), when it is on."""
        if self.lecam_weight:
            reg = lecam_penalty(d_real, d_fake, programs.strategy_state[LECAM], self.lecam_decay)
            out["discriminator"] = out["discriminator"] + self.lecam_weight * reg
            out["lecam"] = reg

    def phases(self) -> tuple[Phase, ...]:
        if self.simultaneous:
            return (Phase(("discriminator", "generator"), self.simultaneous_step),)
        return (Phase(("discriminator",), self.discriminator_step, self.n_critic),
                Phase(("generator",), self.generator_step))

    # ------------------------------------------------------------------------------ the two steps
    def fakes(self, programs: Programs, batch: Batch) -> tuple[Tensor, Tensor | None]:
        """Generated samples the critic sees and their labels (called without gradient).

        The default draws one sample per real example; hybrids add others (reconstructions). The
        gradient penalty pairs the ``i``-th real example with the ``i``-th fake.
        """
        x_fake, _ = generate(programs, batch.x.shape[0], batch.c, like=batch.x)
        return x_fake, batch.c

    @reports_ada  # it adds ADA's r_t when ADA is on (unigen.augment)
    def discriminator_step(self, programs: Programs, batch: Batch) -> dict[str, Tensor]:
        with torch.no_grad():
            x_fake, c_fake = self.fakes(programs, batch)
        d_real = discriminate(programs, batch.x, batch.c)  # (batch,)
        d_fake = discriminate(programs, x_fake, c_fake)  # (fakes,)
        return self.critic_terms(programs, batch, x_fake, d_real, d_fake)

    def generator_step(self, programs: Programs, batch: Batch) -> dict[str, Tensor]:
        x_fake, model_tr = generate(programs, batch.x.shape[0], batch.c, like=batch.x)
        return self.generator_terms(programs, batch, x_fake, model_tr, discriminate(programs, x_fake, batch.c))

    @reports_ada
    def simultaneous_step(self, programs: Programs, batch: Batch) -> dict[str, Tensor]:
        """Both players' losses from one draw of generated samples, at the same parameters (``simultaneous``).
        The trainer back-propagates each loss into its own player only, so the critic's loss does not move the
        generator although its fakes carry the generator's graph."""
        x_fake, model_tr = generate(programs, batch.x.shape[0], batch.c, like=batch.x)
        d_real = discriminate(programs, batch.x, batch.c)
        d_fake = discriminate(programs, x_fake, batch.c)
        out = self.critic_terms(programs, batch, x_fake.detach(), d_real, d_fake)
        return {**out, **self.generator_terms(programs, batch, x_fake, model_tr, d_fake)}

    def critic_terms(self, programs: Programs, batch: Batch, x_fake: Tensor, d_real: Tensor,
                     d_fake: Tensor) -> dict[str, Tensor]:
        """The critic's loss (with the penalty and LeCam's term when on) and its diagnostics, from its logits on a
        real batch and on generated samples ``x_fake`` (detached)."""
        out = {"discriminator": self.critic_loss(d_real, d_fake), "d_real": d_real.mean(), "d_fake": d_fake.mean()}
        out.update(ada_statistic(programs, d_real))  # ADA's r_t, only when it is on (unigen.augment)
        pen = self.penalty_term(lambda x: discriminate(programs, x, batch.c), batch.x, x_fake[: batch.x.shape[0]])
        if pen is not None:
            out["discriminator"] = out["discriminator"] + self.penalty_weight * pen
            out["penalty"] = pen
        self.regularise(programs, d_real, d_fake, out)
        return out

    def generator_terms(self, programs: Programs, batch: Batch, x_fake: Tensor, model_tr,
                        d_fake: Tensor) -> dict[str, Tensor]:
        """The generator's loss and its diagnostics from its samples ``x_fake`` (with their model trace
        ``model_tr``) and the critic's logits on them; subclasses add terms (IWGAN's weights, InfoGAN's code)."""
        return {"generator": self.generator_loss(d_fake)}

    # ------------------------------------------------------------------------------- the losses
    def penalty_term(self, critic, x_real: Tensor, x_fake: Tensor) -> Tensor | None:
        """The gradient penalty ``penalty`` (unweighted; :mod:`unigen.inference.penalties`) of ``critic(x) -> (batch,)``
        at a real and a generated batch of the same size, or ``None`` when ``penalty="none"``."""
        return None if self.penalty == "none" else PENALTIES[self.penalty](critic, x_real, x_fake)

    def critic_loss(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        r"""Negative log-likelihood of the indicator under :math:`q_\phi`:
        :math:`-\mathbb{E}_{p_{data}} \log q_\phi(y{=}1 \mid x) - \mathbb{E}_{p_\theta} \log q_\phi(y{=}0 \mid x)`
        (binary cross-entropy with logits; its optimum is :math:`d = \log p_{data}/p_\theta`)."""
        return -(log_q_real(d_real).mean() + log_q_fake(d_fake).mean())

    def generator_loss(self, d_fake: Tensor) -> Tensor:
        """Generator loss from the logits of generated samples, shape ``(batch,)`` → scalar."""
        raise NotImplementedError
