r"""Adversarial variational Bayes (Mescheder, Nowozin & Geiger, 2017): the ELBO with its KL term estimated by a critic."""
from __future__ import annotations

import warnings
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
from unigen.settings import check_choices, choice, count
from unigen.strategy import Phase, Strategy

#: the critic T(x, z), a role no spec names: every spec builds it from its x and z features
AVB_CRITIC = Critic("avb_critic", on=("x", "z"))
#: what T contrasts q(z | x) with: the prior p(z), or the Gaussian r_α(z | x) with q's moments (§3.3)
CONTRASTS = ("prior", "adaptive")
#: added to the estimated variance of q(z | x) before r_α's std is taken (the authors' code adds the same)
VAR_FLOOR = 1e-4
#: T's accuracy on its own task (a window's mean of ``critic_acc``) at or above which :class:`CriticWatch` warns
SATURATED = 0.95


class UnreliableCritic(UserWarning):
    """AVB's critic separates its two kinds of pairs almost perfectly: its KL estimate is unreliable."""


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

    **Adaptive contrast** (``contrast=adaptive``, the paper's §3.3). Where :math:`q_\phi(z \mid x)` is far from
    :math:`p(z)` (a narrow posterior, many latent dimensions) the two kinds of pairs are separated almost
    perfectly, the logistic loss no longer pins :math:`T` down where :math:`q` puts its mass, and the estimate
    of :math:`\log q - \log p` is off (a training can then look converged with a wrong posterior). T is instead
    asked to tell :math:`q_\phi(z \mid x)` from a Gaussian with its moments,
    :math:`r_\alpha(z \mid x) = \mathcal N(z; \mu(x), \operatorname{diag}\sigma^2(x))`. For any fixed
    :math:`\alpha = (\mu, \sigma)` the identity

    .. math::
        \mathrm{ELBO}(x) = \mathbb{E}_{q_\phi(z \mid x)}\big[\log p_\theta(x \mid z) + \log p(z)
            - \log r_\alpha(z \mid x)\big] - \mathrm{KL}\big(q_\phi(z \mid x) \,\|\, r_\alpha(z \mid x)\big)

    holds, and :math:`r_\alpha` is close to :math:`q_\phi`, so the remaining KL is small and easy to estimate.
    :math:`\mu(x)` and :math:`\sigma(x)` are the mean and the standard deviation (each coordinate of the
    flattened latent code; :data:`VAR_FLOOR` added to the variance) of ``contrast_samples`` draws of the guide
    at :math:`x`, drawn apart from the draw they normalise and held constant (no gradient flows through
    them). T sees the normalised code :math:`\tilde z = (z - \mu(x)) / \sigma(x)` against
    :math:`\epsilon \sim \mathcal N(0, I)`:

    .. math::
        \ell_{\text{critic}}(\psi) = -\mathbb{E}_{p_{data}} \Big[\mathbb{E}_{q_\phi} \log \sigma(T_\psi(x, \tilde z))
            + \mathbb{E}_{\mathcal N(\epsilon; 0, I)} \log\big(1 - \sigma(T_\psi(x, \epsilon))\big)\Big],

    with optimum :math:`T^*(x, \tilde z) = \log \tilde q(\tilde z \mid x) - \log \mathcal N(\tilde z; 0, I)
    = \log q_\phi(z \mid x) - \log r_\alpha(z \mid x)` (an affine map of both densities leaves their ratio), and
    the model and guide minimise

    .. math::
        \ell_{\text{vae}}(\theta, \phi) = -\mathbb{E}_{p_{data}} \mathbb{E}_{\epsilon}
            \big[\log p_\theta(x \mid z) + \log p(z) - \log r_\alpha(z \mid x) - T_\psi(x, \tilde z)\big],

    as in the authors' code (``KL = Td + logr − logz``), logged as ``bound``; ``kl`` is then
    :math:`\mathbb{E}_q[T_\psi(x, \tilde z) + \log r_\alpha(z \mid x) - \log p(z)]`. The gradient in φ again
    passes through :math:`z` only (T held fixed, :math:`\alpha` constant): for a fixed :math:`r_\alpha`,
    :math:`\nabla_\phi \mathrm{KL}(q_\phi \,\|\, r_\alpha) = \mathbb{E}_\epsilon[\nabla_z T^* \, \partial z/\partial\phi]`.
    The latents must be real-valued (a Gaussian contrast in their space); any prior works for the log-density
    term, which is the model's own latent sites at the guide's draw. Each update runs the guide
    ``contrast_samples`` more times, without gradients (memory: ``contrast_samples`` × the batch). T does not see
    :math:`\alpha`: at its optimum it is the log-ratio of the normalised draws pooled over the noise of the moment
    estimate, so its KL estimate is low by the information :math:`I(\tilde z; \alpha \mid x)`, of order (latent
    dimensions) / ``contrast_samples`` nats for a nearly Gaussian q; more draws shrink it, at their cost.

    **Diagnostic**: the critic phase logs ``critic_acc``, T's accuracy on its own task (encoder pairs with
    :math:`T > 0`, contrast pairs with :math:`T < 0`). At the optimum it is :math:`\tfrac12 + \tfrac12
    \mathrm{TV}(q, \text{contrast})`; near 1 the densities barely overlap and T's estimate where q puts its mass
    rests on almost no contrast samples. :meth:`log_hook` returns a :class:`CriticWatch`, which warns once, in one
    line (:class:`UnreliableCritic`), when a window's mean reaches :data:`SATURATED`; it is
    attached by every :class:`~unigen.Trainer` (and so by ``unigen train``).

    :math:`\log p_\theta(x \mid z)` is the model scored on ``x`` with the guide's latents replayed, every latent
    site's prior term left out (:math:`\log p(x, z) - \log p(z)`). Prior pairs take the latent sites of a
    trace of the model, so any prior works; the critic reads the guide's latent sites flattened and
    concatenated (for the unigen specs, ``"z"``) and the label when the model is conditional. An implicit
    guide draws its noise with ``torch.randn`` or as a site marked ``infer={"is_auxiliary": True}``, and
    returns :math:`z` as any site, e.g. ``pyro.sample("z", dist.Delta(f(x, eps), event_dim=1))``.

    Players: ``critic`` (avb_critic), ``vae`` (model, guide). Phases: the critic ``critic_steps`` times, then
    the VAE. In Hu et al.'s (2018) view the critic is one more inference network over an indicator, here
    "drawn from the encoder" against "drawn from the prior" (or from :math:`r_\alpha`).

    Departures, stated: the default contrast is the prior (the method's first form: any prior, any latent
    support, no extra guide draws, and the behaviour of earlier runs); with ``contrast=adaptive`` the moments are
    estimated from independent guide draws per example, where the authors' encoder computes them from its own
    noise basis; the paper's toy critic adds :math:`\|z\|^2` to its output, while here T is the spec's critic
    (``Critic("avb_critic", on=("x", "z"))``) unless the programs bring their own.
    """

    critic_steps: int = count(1, hi=1000)
    contrast: str = choice("prior", CONTRASTS)
    contrast_samples: int = count(16, lo=2, hi=4096)

    needs: ClassVar[Needs] = Needs(("model", "guide", "avb_critic"), density=True)
    networks: ClassVar[tuple[Critic, ...]] = (AVB_CRITIC,)
    players: ClassVar[dict[str, tuple[str, ...]]] = {"critic": ("avb_critic",), "vae": ("model", "guide")}
    bce_losses: ClassVar[tuple[str, ...]] = ("critic",)  # BCE: 2 ln 2 at D = 1/2
    meanings: ClassVar[dict[str, str]] = {
        "critic": "AVB critic T(x, z): BCE of encoder pairs against prior pairs (adaptive contrast: r(z | x)) (nats)",
        "d_real": "AVB: mean critic logit on encoder pairs (x, z ~ q(z | x))",
        "d_fake": "AVB: mean critic logit on prior pairs (x, z ~ p(z)) (adaptive contrast: (x, ε ~ N(0, I)))",
        "kl": "KL(q(z | x) ‖ p(z)) per example, or its estimate (AVB: E_q T(x, z), adaptive: E_q[T + log r − log p]) "
              "(nats)",
        "critic_acc": "AVB: the critic's accuracy on its own pairs; near 1, its KL estimate is unreliable",
    }

    def __post_init__(self) -> None:
        check_choices(self)

    @property
    def adaptive(self) -> bool:
        return self.contrast == "adaptive"

    def phases(self) -> tuple[Phase, ...]:
        return (Phase(("critic",), self.critic_loss, self.critic_steps), Phase(("vae",), self.loss))

    def critic_loss(self, programs: Programs, batch: Batch) -> dict[str, Tensor]:
        n = batch.x.shape[0]
        with torch.no_grad():
            guide_tr = trace_guide(programs.guide, batch.x, batch.c)
            if self.adaptive:
                mu, sigma = self.moments(programs, batch)
                z_q = (latent_code(guide_tr, guide_tr, n) - mu) / sigma  # q's draw, normalised
                z_contrast = torch.randn_like(z_q)  # r_α's draw, normalised: N(0, I)
            else:
                prior_tr = score_model(programs.model, batch.x, batch.c)  # z ~ p(z): the model's own draw
                z_q, z_contrast = latent_code(guide_tr, guide_tr, n), latent_code(prior_tr, guide_tr, n)
        t_q = self.critic(programs, batch.x, z_q, batch.c)  # (batch,)
        t_prior = self.critic(programs, batch.x, z_contrast, batch.c)  # (batch,)
        loss = -(log_q_real(t_q).mean() + log_q_fake(t_prior).mean())
        accuracy = ((t_q.detach() > 0).float().mean() + (t_prior.detach() < 0).float().mean()) / 2
        return {"critic": loss, "d_real": t_q.mean(), "d_fake": t_prior.mean(),  # encoder, contrast pairs
                "critic_acc": accuracy}

    def moments(self, programs: Programs, batch: Batch) -> tuple[Tensor, Tensor]:
        r""":math:`(\mu(x), \sigma(x))` of :math:`r_\alpha`, each ``(batch, width)``: the mean and the std (with
        :data:`VAR_FLOOR`) of ``contrast_samples`` fresh guide draws per example, without gradients."""
        n, k = batch.x.shape[0], self.contrast_samples
        with torch.no_grad():
            x = batch.x.repeat(k, *(1,) * (batch.x.dim() - 1))  # row i·n + j holds x_j
            c = None if batch.c is None else batch.c.repeat(k, *(1,) * (batch.c.dim() - 1))
            tr = trace_guide(programs.guide, x, c)
            z = latent_code(tr, tr, k * n).reshape(k, n, -1).float()
            return z.mean(0), (z.var(0) + VAR_FLOOR).sqrt()

    def terms(self, programs: Programs, batch: Batch) -> tuple[Tensor, Tensor]:
        r"""Per-example :math:`\log p_\theta(x \mid z)` and the KL estimate at one guide draw, each ``(batch,)``:
        :math:`T(x, z)` (prior contrast), :math:`T(x, \tilde z) + \log r_\alpha(z \mid x) - \log p(z)` (adaptive)."""
        n = batch.x.shape[0]
        guide_tr = trace_guide(programs.guide, batch.x, batch.c)
        model_tr = score_model(programs.model, batch.x, batch.c, replay=guide_tr)
        latents = latent_names(model_tr)
        log_lik = log_prob_per_example(model_tr, n, exclude=latents)  # log p(x, z) − log p(z)
        z = latent_code(guide_tr, guide_tr, n)
        if not self.adaptive:
            return log_lik, self.critic(programs, batch.x, z, batch.c)
        mu, sigma = self.moments(programs, batch)  # constants
        log_prior = log_prob_per_example(model_tr, n, sites=latents)
        log_r = torch.distributions.Normal(mu, sigma).log_prob(z).sum(-1)
        t = self.critic(programs, batch.x, (z - mu) / sigma, batch.c)
        return log_lik, t + log_r - log_prior

    def objective(self, programs: Programs, batch: Batch) -> Tensor:
        r"""Per-example estimate of the ELBO, ``(batch,)`` (the VAE family's interface): :math:`\log p_\theta(x
        \mid z) - T(x, z)`, or with adaptive contrast :math:`\log p_\theta(x \mid z) + \log p(z) - \log r_\alpha(z
        \mid x) - T(x, \tilde z)`."""
        log_lik, kl = self.terms(programs, batch)
        return log_lik - kl

    def loss(self, programs: Programs, batch: Batch) -> dict[str, Tensor]:
        log_lik, kl = self.terms(programs, batch)
        bound = (log_lik - kl).mean()
        return {"vae": -bound, "bound": bound, "reconstruction": -log_lik.mean(), "kl": kl.mean()}

    @staticmethod
    def critic(programs: Programs, x: Tensor, z: Tensor, c: Tensor | None = None) -> Tensor:
        r"""The critic's logits :math:`T_\psi(x, z)`, ``(batch,)``."""
        return with_condition(programs.avb_critic, x, z, c=c)

    def log_hook(self) -> CriticWatch:
        """A :class:`CriticWatch` for this strategy (the trainer attaches it)."""
        return CriticWatch(self)


class CriticWatch:
    """A trainer's ``log_hook`` over AVB's windows: warns once (:class:`UnreliableCritic`, one line) when a
    window's mean ``critic_acc`` reaches ``threshold`` (:data:`SATURATED`), naming the fixes; adds nothing to
    the logged values. ``fired`` holds the step it warned at (``None`` before)."""

    def __init__(self, strategy: AVB, threshold: float = SATURATED):
        self.strategy, self.threshold, self.fired = strategy, threshold, None

    def __call__(self, step: int, values: dict[str, float]) -> dict[str, float]:
        accuracy = values.get("critic_acc")
        if self.fired is None and accuracy is not None and accuracy >= self.threshold:
            self.fired = step
            if self.strategy.adaptive:
                fix = "raise strategy.critic_steps or widen the critic"
                what = "its Gaussian contrast r(z|x)"
            else:
                fix = ("set strategy.contrast=adaptive (Mescheder et al. 2017, §3.3), or raise "
                       "strategy.critic_steps")
                what = "the prior"
            warnings.warn(f"AVB: by step {step} the critic T(x, z) tells q(z|x) from {what} in {accuracy:.1%} of "
                          f"pairs (>= {self.threshold:.0%}): its KL estimate is unreliable, and the logged bound "
                          f"and the posterior with it; {fix}", UnreliableCritic, stacklevel=2)
        return {}
