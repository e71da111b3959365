r"""The adversarial autoencoder (Makhzani et al., 2016): reconstruction plus a GAN in latent space."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from pyro import poutine
from torch import Tensor

from unigen.errors import UserError
from unigen.programs import Batch, Programs
from unigen.scoring import (latent_names, log_prob_per_example, log_q_fake, log_q_real, sample_model, score_model,
                            trace_guide, with_condition)
from unigen.registry import STRATEGIES
from unigen.strategy import Phase, Strategy
from unigen.settings import bounded
from unigen.needs import Needs


@STRATEGIES.register("aae")
@dataclass(frozen=True)
class AAE(Strategy):
    r"""Adversarial autoencoder: reconstruction plus a latent critic that matches q(z) to p(z) (Makhzani et al., 2016).

    A latent discriminator :math:`D_\psi(z)` (logit :math:`d_\psi`) tells prior samples
    :math:`z \sim p(z)` (real) from codes :math:`z \sim q_\phi(z \mid x)`, :math:`x \sim p_{data}` (fake),
    so that the aggregate posterior :math:`q_\phi(z) = \mathbb{E}_{p_{data}} q_\phi(z \mid x)` matches the
    prior. The two players minimise

    .. math::
        \ell_{\text{autoencoder}}(\theta, \phi) &= \mathbb{E}_{p_{data}}\,\mathbb{E}_{q_\phi(z \mid x)}
            \left[-\log p_\theta(x \mid z) - \lambda \log D_\psi(z)\right], \\
        \ell_{\text{latent\_discriminator}}(\psi) &= -\mathbb{E}_{p(z)} \log D_\psi(z)
            - \mathbb{E}_{p_{data}}\mathbb{E}_{q_\phi(z \mid x)} \log\big(1 - D_\psi(z)\big),

    with :math:`z` reparameterised, the encoder's adversarial term non-saturating, and λ = ``adv_weight``.
    Prior samples are the latent sites' values of a trace of the ``model``, so any prior works; the
    discriminator reads the guide's latent sites (for the unigen specs, ``"z"``) flattened and
    concatenated, with the label when the model is conditional.

    Players: ``autoencoder`` (model, guide) and ``latent_discriminator`` (latent_discriminator). Phases:
    the latent discriminator first, then the autoencoder, so that the encoder is pushed by the critic
    it has just updated (the order of the GAN skeleton, :mod:`unigen.inference.adversarial`).

    .. note::
        Makhzani et al. take three steps per batch (reconstruction; discriminator; encoder as
        generator); here the reconstruction and the encoder's adversarial term form one loss of one
        player, stepped once. The model needs a likelihood (not a ``Delta``): e.g. ``model.likelihood=normal``.
        In Hu et al.'s (2018) view the latent discriminator is an inference network :math:`q_\psi(y \mid z)`
        over the indicator of "drawn from the prior".

    :param adv_weight: λ, the weight of the encoder's adversarial term against its reconstruction.
    """

    adv_weight: float = bounded(1.0, 0)

    needs: ClassVar[Needs] = Needs(("model", "guide", "latent_discriminator"), density=True)
    players: ClassVar[dict[str, tuple[str, ...]]] = {"autoencoder": ("model", "guide"),
                                                     "latent_discriminator": ("latent_discriminator",)}
    bce_losses: ClassVar[tuple[str, ...]] = ("latent_discriminator",)  # BCE: 2 ln 2 at D = 1/2
    meanings: ClassVar[dict[str, str]] = {
        "latent_discriminator": "latent discriminator loss (nats)",
        "d_real": "AAE: mean critic logit on prior draws of z",
        "d_fake": "AAE: mean critic logit on codes of q(z | x)",
        "autoencoder": "autoencoder loss: reconstruction + weighted adversarial term",
    }

    def __post_init__(self) -> None:
        if not self.adv_weight >= 0:
            raise UserError(f"adv_weight must be >= 0, got {self.adv_weight}; set adv_weight=1.0")

    def phases(self) -> tuple[Phase, ...]:
        return (Phase(("latent_discriminator",), self.latent_discriminator_step),
                Phase(("autoencoder",), self.autoencoder_step))

    def latent_discriminator_step(self, programs: Programs, batch: Batch) -> dict[str, Tensor]:
        n = batch.x.shape[0]
        with torch.no_grad():
            guide_tr = trace_guide(programs.guide, batch.x, batch.c)
            prior_tr = sample_model(programs, n, batch.c, like=batch.x)
        d_prior = self.critic(programs, latent_code(prior_tr, guide_tr, n), batch.c)  # (batch,)
        d_code = self.critic(programs, latent_code(guide_tr, guide_tr, n), batch.c)  # (batch,)
        loss = -(log_q_real(d_prior).mean() + log_q_fake(d_code).mean())
        return {"latent_discriminator": loss, "d_real": d_prior.mean(), "d_fake": d_code.mean()}

    def autoencoder_step(self, programs: Programs, batch: Batch) -> dict[str, Tensor]:
        n = batch.x.shape[0]
        guide_tr = trace_guide(programs.guide, batch.x, batch.c)
        model_tr = score_model(programs.model, batch.x, batch.c, replay=guide_tr)
        reconstruction = -log_prob_per_example(model_tr, n, sites={programs.obs_name}).mean()
        adversarial = -log_q_real(self.critic(programs, latent_code(guide_tr, guide_tr, n), batch.c)).mean()
        return {"autoencoder": reconstruction + self.adv_weight * adversarial,
                "reconstruction": reconstruction, "adversarial": adversarial}

    @staticmethod
    def critic(programs: Programs, z: Tensor, c: Tensor | None = None) -> Tensor:
        r"""Logits :math:`d_\psi(z)` of the latent discriminator, ``(batch,)``."""
        return with_condition(programs.latent_discriminator, z, c=c)


def latent_code(trace: poutine.Trace, guide_tr: poutine.Trace, n: int) -> Tensor:
    """The values in ``trace`` of the guide's latent sites, flattened and concatenated: ``(n, width)``."""
    names = latent_names(guide_tr)
    return torch.cat([trace.nodes[k]["value"].reshape(n, -1) for k in guide_tr.nodes if k in names], dim=-1)
