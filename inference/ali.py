r"""Adversarial inference, ALI / BiGAN (Dumoulin et al., 2017; Donahue et al., 2017): a critic on joint (x, z) pairs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from unigen.errors import UserError
from unigen.inference.aae import latent_code
from unigen.needs import Needs
from unigen.programs import Batch, Programs
from unigen.scoring import (guide_sites, log_q_fake, log_q_real, observed_value, sample_model, trace_guide,
                            with_condition)
from unigen.registry import STRATEGIES
from unigen.roles import Critic
from unigen.settings import count
from unigen.strategy import Phase, Strategy

JOINT = Critic("joint_discriminator", on=("x", "z"))


@STRATEGIES.register("ali")
@dataclass(frozen=True)
class ALI(Strategy):
    r"""Adversarial inference (ALI/BiGAN): a joint critic on (x, z) tells encoder pairs from decoder pairs (Dumoulin et al., 2017).

    The encoder joint :math:`q(x, z) = p_{data}(x)\,q_\phi(z \mid x)` and the decoder joint
    :math:`p(x, z) = p(z)\,p_\theta(x \mid z)` are told apart by a critic :math:`D_\psi(x, z) = \sigma(d_\psi)`
    that labels encoder pairs 1 and decoder pairs 0. The value function is

    .. math::
        V(\psi; \theta, \phi) = \mathbb{E}_{q(x, z)} \log D_\psi(x, z)
            + \mathbb{E}_{p(x, z)} \log\big(1 - D_\psi(x, z)\big),

    maximised by the critic at :math:`D^* = q / (q + p)`, i.e. the logit
    :math:`d^*(x, z) = \log q(x, z) - \log p(x, z)`, where :math:`V = 2\,\mathrm{JSD}(q \,\|\, p) - \log 4`;
    at the joint optimum :math:`q(x, z) = p(x, z)`, and with deterministic maps the encoder inverts the
    generator. With :math:`d_q = d_\psi(x, z_q)`, :math:`z_q \sim q_\phi(z \mid x)`, and
    :math:`d_p = d_\psi(x_p, z_p)`, :math:`(z_p, x_p) \sim p_\theta`, the two players minimise

    .. math::
        \ell_{\text{discriminator}}(\psi) &= \mathbb{E}\,\mathrm{softplus}(-d_q) + \mathbb{E}\,\mathrm{softplus}(d_p), \\
        \ell_{\text{generator}}(\theta, \phi) &= \mathbb{E}\,\mathrm{softplus}(d_q) + \mathbb{E}\,\mathrm{softplus}(-d_p),

    the generator's loss being the critic's with the labels swapped (the non-saturating form). Gradients
    reach the encoder through :math:`z_q` and the generator through :math:`x_p`, so both must be
    reparameterised: a guide whose latent sites cannot be reparameterised is refused; a likelihood that
    cannot (Bernoulli) contributes its mean, as in :func:`~unigen.scoring.observed_value`.

    The critic is the role ``joint_discriminator``, ``joint_discriminator(x, z, c=None) -> (batch,)``,
    which every model spec builds from its features (:class:`~unigen.roles.Critic`). ``z`` is the
    guide's latent sites flattened and concatenated (for unigen's specs, ``"z"``), read from the guide
    trace for encoder pairs and from the model trace for decoder pairs. The model's own sites that the
    guide does not sample (InfoGAN codes) are not shown to the critic.

    Players: ``discriminator`` (joint_discriminator) and ``generator`` (model, guide). Phases: the
    critic ``n_critic`` times, then encoder and generator (ALI); with ``simultaneous`` one phase in which
    both players are differentiated from the same pairs and stepped together (BiGAN, registered as
    ``bigan`` with this default). :func:`reconstruct` maps x → z → x with a trained run.

    .. note::
        Departures, stated: (1) the papers write the minimax value; encoder and generator here minimise
        the swapped-label loss above, the non-saturating form of Goodfellow et al. (2014), as is usual in
        practice; (2) encoder and generator are one player with one optimiser (ALI steps them together
        too; BiGAN uses one update of all three); (3) BiGAN's encoder is deterministic: pass a guide with
        a ``Delta`` site for that, the strategy does not change it. Diagnostics ``d_real``/``d_fake``: the
        mean logit on encoder and on decoder pairs.

    :param n_critic: critic updates per encoder/generator update, each on a fresh batch (unused when
        ``simultaneous``).
    :param simultaneous: one phase stepping critic and encoder/generator from the same pairs (BiGAN).
    """

    n_critic: int = count(1, hi=1000)
    simultaneous: bool = False

    needs: ClassVar[Needs] = Needs(("model", "guide", JOINT.name))
    networks: ClassVar[tuple[Critic, ...]] = (JOINT,)
    players: ClassVar[dict[str, tuple[str, ...]]] = {"discriminator": (JOINT.name,), "generator": ("model", "guide")}
    bce_losses: ClassVar[tuple[str, ...]] = ("discriminator",)  # BCE: 2 ln 2 at D = 1/2

    def __post_init__(self) -> None:
        if self.n_critic < 1:
            raise UserError(f"n_critic must be >= 1, got {self.n_critic}; set n_critic=1")

    def phases(self) -> tuple[Phase, ...]:
        if self.simultaneous:
            return (Phase(("discriminator", "generator"), self.joint_step),)
        return (Phase(("discriminator",), self.discriminator_step, self.n_critic),
                Phase(("generator",), self.generator_step))

    def check(self, programs: Programs, data=None, probe: Batch | None = None) -> None:
        super().check(programs, data, probe)
        if probe is None:
            return
        names, bad = guide_sites(programs, probe)
        if not names:
            raise UserError("the guide samples no latent site; the joint critic needs z ~ q(z|x): write "
                            "pyro.sample('z', ...) in the guide")
        if bad:
            raise UserError(f"the guide's site(s) {', '.join(map(repr, bad))} cannot be reparameterised, so the "
                            f"critic's gradient cannot reach the encoder; use a reparameterisable distribution "
                            f"(Normal, Delta) for them")

    # ------------------------------------------------------------------------------------ the pairs
    def logits(self, programs: Programs, batch: Batch) -> tuple[Tensor, Tensor]:
        r"""Critic logits :math:`(d_q, d_p)` on encoder pairs :math:`(x, z_q)` and decoder pairs
        :math:`(x_p, z_p)`, each ``(batch,)``, differentiable in every role."""
        n = batch.x.shape[0]
        guide_tr = trace_guide(programs.guide, batch.x, batch.c)
        model_tr = sample_model(programs, n, batch.c, like=batch.x)
        d_q = critic(programs, batch.x, latent_code(guide_tr, guide_tr, n), batch.c)
        d_p = critic(programs, observed_value(programs, model_tr), latent_code(model_tr, guide_tr, n), batch.c)
        return d_q, d_p

    # ------------------------------------------------------------------------------------ the steps
    def discriminator_step(self, programs: Programs, batch: Batch) -> dict[str, Tensor]:
        n = batch.x.shape[0]
        with torch.no_grad():  # the critic's phase: the pairs are data to it
            guide_tr = trace_guide(programs.guide, batch.x, batch.c)
            model_tr = sample_model(programs, n, batch.c, like=batch.x)
            z_q, z_p = latent_code(guide_tr, guide_tr, n), latent_code(model_tr, guide_tr, n)
            x_p = observed_value(programs, model_tr)
        d_q, d_p = critic(programs, batch.x, z_q, batch.c), critic(programs, x_p, z_p, batch.c)
        return {"discriminator": self.critic_loss(d_q, d_p), "d_real": d_q.mean(), "d_fake": d_p.mean()}

    def generator_step(self, programs: Programs, batch: Batch) -> dict[str, Tensor]:
        d_q, d_p = self.logits(programs, batch)
        return {"generator": self.generator_loss(d_q, d_p), "d_real": d_q.mean(), "d_fake": d_p.mean()}

    def joint_step(self, programs: Programs, batch: Batch) -> dict[str, Tensor]:
        d_q, d_p = self.logits(programs, batch)
        return {"discriminator": self.critic_loss(d_q, d_p), "generator": self.generator_loss(d_q, d_p),
                "d_real": d_q.mean(), "d_fake": d_p.mean()}

    # ------------------------------------------------------------------------------------ the losses
    @staticmethod
    def critic_loss(d_q: Tensor, d_p: Tensor) -> Tensor:
        r""":math:`-\mathbb{E}\log D(x, z_q) - \mathbb{E}\log(1 - D(x_p, z_p))` (encoder pairs labelled real)."""
        return -(log_q_real(d_q).mean() + log_q_fake(d_p).mean())

    @staticmethod
    def generator_loss(d_q: Tensor, d_p: Tensor) -> Tensor:
        r"""The labels swapped: :math:`-\mathbb{E}\log(1 - D(x, z_q)) - \mathbb{E}\log D(x_p, z_p)`."""
        return -(log_q_fake(d_q).mean() + log_q_real(d_p).mean())


@STRATEGIES.register("bigan")
@dataclass(frozen=True)
class BiGAN(ALI):
    r"""BiGAN: ALI's joint critic, with critic, encoder and generator stepped together (Donahue et al., 2017).

    :class:`ALI` with ``simultaneous=True`` by default: one phase computes the pairs once and steps both
    players from them. For the paper's deterministic encoder give the guide a ``Delta`` site.
    """

    simultaneous: bool = True


def critic(programs: Programs, x: Tensor, z: Tensor, c: Tensor | None = None) -> Tensor:
    r"""Logits :math:`d_\psi(x, z)` of the joint critic, ``(batch,)``."""
    return with_condition(programs.joint_discriminator, x, z, c=c)


@torch.no_grad()
def reconstruct(programs: Programs, x: Tensor, c: Tensor | None = None) -> Tensor:
    r""":math:`\hat x = \mathbb{E}\,p_\theta(x \mid z)`, :math:`z \sim q_\phi(z \mid x)`: x → z → x with trained programs.

    Without gradient. The decoder's mean (its point for a ``Delta`` generator), where
    :func:`unigen.inference.vaegan.reconstruct` takes the likelihood's sample; ``z`` is drawn from the guide
    (BiGAN's deterministic encoder: its point).
    """
    guide_tr = trace_guide(programs.guide, x, c)
    model_tr = sample_model(programs, x.shape[0], c, replay=guide_tr, like=x)
    return model_tr.nodes[programs.obs_name]["fn"].mean
