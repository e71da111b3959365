r"""Adversarial variational Bayes (Mescheder, Nowozin & Geiger, 2017): the ELBO with its KL term estimated by a critic."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from unigen.inference.aae import latent_code
from unigen.needs import Needs
from unigen.programs import Batch, Programs
from unigen.scoring import (latent_names, log_prob_per_example, log_q_fake, log_q_real, score_model, trace_guide,
                            with_condition)
from unigen.registry import STRATEGIES
from unigen.roles import Critic
from unigen.settings import count
from unigen.strategy import Phase, Strategy

#: the critic T(x, z), a role no spec names: every spec builds it from its x and z features
AVB_CRITIC = Critic("avb_critic", on=("x", "z"))


@STRATEGIES.register("avb")
@dataclass(frozen=True)
class AVB(Strategy):
    r"""AVB: a VAE whose guide may be implicit, its KL term estimated by a critic T(x, z) (Mescheder et al., 2017).

    The guide is any sampler :math:`z = f_\phi(x, \epsilon)`; its density :math:`q_\phi(z \mid x)` is never
    evaluated. A critic :math:`T_\psi(x, z)` (role ``avb_critic``) is trained by logistic regression to tell
    encoder pairs :math:`(x, z \sim q_\phi(z \mid x))` (label 1) from prior pairs :math:`(x, z \sim p(z))`
    (label 0), :math:`x \sim p_{data}` in both:

    .. math::
        \ell_{\text{critic}}(\psi) = -\mathbb{E}_{p_{data}} \Big[\mathbb{E}_{q_\phi(z \mid x)} \log \sigma(T_\psi(x, z))
            + \mathbb{E}_{p(z)} \log\big(1 - \sigma(T_\psi(x, z))\big)\Big],

    whose optimum is :math:`T^*(x, z) = \log q_\phi(z \mid x) - \log p(z)`. With it the ELBO
    :math:`\mathbb{E}_{q}[\log p_\theta(x \mid z) - \log q_\phi(z \mid x) + \log p(z)]` reads

    .. math::
        \ell_{\text{vae}}(\theta, \phi) = -\mathbb{E}_{p_{data}} \mathbb{E}_{\epsilon}
            \big[\log p_\theta(x \mid z) - T_\psi(x, z)\big], \quad z = f_\phi(x, \epsilon),

    minimised in the model and the guide with :math:`T_\psi` held fixed: since
    :math:`\mathbb{E}_q[\nabla_\phi T^*] = 0` (shown in the paper) the gradient reaches φ only through the
    reparameterised :math:`z`. The batch mean of :math:`\log p_\theta(x \mid z) - T_\psi(x, z)` is logged as
    ``bound`` (an estimate, not a guaranteed bound: it is the ELBO only where :math:`T = T^*`), its parts as
    ``reconstruction`` and ``kl`` (:math:`\mathbb{E}_q T`, the critic's estimate of
    :math:`\mathrm{KL}(q_\phi(z \mid x) \,\|\, p(z))`).

    :math:`\log p_\theta(x \mid z)` is the model scored on ``x`` with the guide's latents replayed, every latent
    site's prior term left out (:math:`\log p(x, z) - \log p(z)`). Prior pairs take the latent sites of a
    trace of the model, so any prior works; the critic reads the guide's latent sites flattened and
    concatenated (for the unigen specs, ``"z"``) and the label when the model is conditional. An implicit
    guide draws its noise with ``torch.randn`` or as a site marked ``infer={"is_auxiliary": True}``, and
    returns :math:`z` as any site, e.g. ``pyro.sample("z", dist.Delta(f(x, eps), event_dim=1))``.

    Players: ``critic`` (avb_critic), ``vae`` (model, guide). Phases: the critic ``critic_steps`` times, then
    the VAE. In Hu et al.'s (2018) view the critic is one more inference network over an indicator, here
    "drawn from the encoder" against "drawn from the prior".

    Departures, stated: the adaptive-contrast variant of the paper is not implemented: T contrasts q with the
    prior itself, which the paper finds hard for T once q is far from p; the paper's toy critic adds
    :math:`\|z\|^2` to its output, while here T is the spec's critic (``Critic("avb_critic", on=("x", "z"))``)
    unless the programs bring their own.
    """

    critic_steps: int = count(1, hi=1000)

    needs: ClassVar[Needs] = Needs(("model", "guide", "avb_critic"), density=True)
    networks: ClassVar[tuple[Critic, ...]] = (AVB_CRITIC,)
    players: ClassVar[dict[str, tuple[str, ...]]] = {"critic": ("avb_critic",), "vae": ("model", "guide")}
    meanings: ClassVar[dict[str, str]] = {
        "critic": "AVB critic T(x, z): BCE of encoder pairs against prior pairs (nats)",
        "kl": "KL(q(z | x) ‖ p(z)) per example, or its estimate (AVB: E_q T(x, z)) (nats)",
    }

    def phases(self) -> tuple[Phase, ...]:
        return (Phase(("critic",), self.critic_loss, self.critic_steps), Phase(("vae",), self.loss))

    def critic_loss(self, programs: Programs, batch: Batch) -> dict[str, Tensor]:
        n = batch.x.shape[0]
        with torch.no_grad():
            guide_tr = trace_guide(programs.guide, batch.x, batch.c)
            prior_tr = score_model(programs.model, batch.x, batch.c)  # z ~ p(z): the model's own draw
        t_q = self.critic(programs, batch.x, latent_code(guide_tr, guide_tr, n), batch.c)  # (batch,)
        t_prior = self.critic(programs, batch.x, latent_code(prior_tr, guide_tr, n), batch.c)  # (batch,)
        loss = -(log_q_real(t_q).mean() + log_q_fake(t_prior).mean())
        return {"critic": loss, "d_real": t_q.mean(), "d_fake": t_prior.mean()}  # encoder, prior pairs

    def terms(self, programs: Programs, batch: Batch) -> tuple[Tensor, Tensor]:
        r"""Per-example :math:`(\log p_\theta(x \mid z), T(x, z))` at one guide draw, each ``(batch,)``."""
        n = batch.x.shape[0]
        guide_tr = trace_guide(programs.guide, batch.x, batch.c)
        model_tr = score_model(programs.model, batch.x, batch.c, replay=guide_tr)
        log_lik = log_prob_per_example(model_tr, n, exclude=latent_names(model_tr))  # log p(x, z) − log p(z)
        return log_lik, self.critic(programs, batch.x, latent_code(guide_tr, guide_tr, n), batch.c)

    def objective(self, programs: Programs, batch: Batch) -> Tensor:
        r"""Per-example estimate :math:`\log p_\theta(x \mid z) - T(x, z)`, ``(batch,)`` (the VAE family's interface)."""
        log_lik, t = self.terms(programs, batch)
        return log_lik - t

    def loss(self, programs: Programs, batch: Batch) -> dict[str, Tensor]:
        log_lik, t = self.terms(programs, batch)
        bound = (log_lik - t).mean()
        return {"vae": -bound, "bound": bound, "reconstruction": -log_lik.mean(), "kl": t.mean()}

    @staticmethod
    def critic(programs: Programs, x: Tensor, z: Tensor, c: Tensor | None = None) -> Tensor:
        r"""The critic's logits :math:`T_\psi(x, z)`, ``(batch,)``."""
        return with_condition(programs.avb_critic, x, z, c=c)
