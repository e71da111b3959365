r"""VAE-GAN (Larsen et al., 2016): a VAE whose samples and reconstructions must also fool a discriminator."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from pyro import poutine
from torch import Tensor

from unigen.errors import UserError
from unigen.inference.adversarial import Adversarial
from unigen.programs import Batch, Programs
from unigen.scoring import (discriminate, generate, log_prob_per_example, log_q_real, observed_value, sample_model,
                            score_model, trace_guide)
from unigen.registry import STRATEGIES
from unigen.strategy import Phase
from unigen.settings import bounded
from unigen.needs import Needs


@STRATEGIES.register("vaegan")
@dataclass(frozen=True)
class VAEGAN(Adversarial):
    r"""VAE-GAN: the ELBO plus a non-saturating GAN loss on samples and reconstructions (Larsen et al., 2016).

    With :math:`\tilde x = \mathrm{Dec}_\theta(z)`, :math:`z \sim q_\phi(z \mid x)` a reconstruction and
    :math:`x_g \sim p_\theta(x)` a sample, the two players minimise

    .. math::
        \ell_{\text{vae}}(\theta, \phi) &= -\mathbb{E}_{p_{data}}\,\mathbb{E}_{q_\phi(z \mid x)}
            \left[\log p_\theta(x, z) - \log q_\phi(z \mid x)\right]
            - \frac{\lambda}{2}\left(\mathbb{E}\log D(x_g) + \mathbb{E}\log D(\tilde x)\right), \\
        \ell_{\text{discriminator}} &= -\mathbb{E}_{p_{data}}\log D(x)
            - \tfrac12\left(\mathbb{E}\log(1 - D(x_g)) + \mathbb{E}\log(1 - D(\tilde x))\right),

    λ = ``adv_weight``; with λ = 0 it is the VAE (:class:`~unigen.inference.elbo.ELBO`, one particle).
    The reconstruction uses the same :math:`z` as the ELBO, but the adversarial term reaches the decoder
    only (:math:`z` is detached there), as in Larsen et al. and in α-GAN (Rosca et al., 2017), which is
    the same family. Samples and reconstructions are generated as in :func:`~unigen.scoring.generate`
    (a Bernoulli decoder gives its mean).

    Players: ``vae`` (model, guide) and ``discriminator``. Phases: the discriminator (``n_critic``
    times, with the ``penalty`` setting of the GAN skeleton applied between real data and samples),
    then the VAE, which so sees the updated critic.

    .. note::
        Departures from Larsen et al.: (1) their reconstruction term is a Gaussian in the features of
        the discriminator's ``l``-th layer (a learned similarity); here it is the model's own likelihood
        :math:`\log p_\theta(x \mid z)`, so the loss is the ELBO and the model remains a density model;
        (2) one player steps encoder and decoder together, rather than their three separate updates
        with the weight γ on the decoder's reconstruction term; (3) the discriminator and generator
        losses average the two kinds of fakes rather than summing them, so the optimal logit is
        :math:`\log p_{data} / \tfrac12(p_\theta + p_{rec})`. The model needs a likelihood (not a ``Delta``).

    :param adv_weight: λ, the weight of the adversarial terms in the VAE's loss (0: the VAE).
    """

    adv_weight: float = bounded(1.0, 0)
    #: not a setting here: the second phase is a VAE's, with reconstructions among the fakes
    simultaneous: ClassVar[bool] = False

    players: ClassVar[dict[str, tuple[str, ...]]] = {"discriminator": ("discriminator",), "vae": ("model", "guide")}
    needs: ClassVar[Needs] = Needs(("model", "guide", "discriminator"), density=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.adv_weight >= 0:
            raise UserError(f"adv_weight must be >= 0, got {self.adv_weight}; set adv_weight=1.0")

    def phases(self) -> tuple[Phase, ...]:
        return (Phase(("discriminator",), self.discriminator_step, self.n_critic), Phase(("vae",), self.vae_step))

    def fakes(self, programs: Programs, batch: Batch) -> tuple[Tensor, Tensor | None]:
        """Generated samples and reconstructions, pooled (the penalty uses the generated half)."""
        x_gen, _ = generate(programs, batch.x.shape[0], batch.c, like=batch.x)
        x_rec = reconstruct(programs, batch, trace_guide(programs.guide, batch.x, batch.c))
        c = None if batch.c is None else torch.cat([batch.c, batch.c])
        return torch.cat([x_gen, x_rec]), c

    def vae_step(self, programs: Programs, batch: Batch) -> dict[str, Tensor]:
        n = batch.x.shape[0]
        guide_tr = trace_guide(programs.guide, batch.x, batch.c)
        model_tr = score_model(programs.model, batch.x, batch.c, replay=guide_tr)
        elbo = (log_prob_per_example(model_tr, n) - log_prob_per_example(guide_tr, n)).mean()
        x_gen, _ = generate(programs, n, batch.c, like=batch.x)
        x_rec = reconstruct(programs, batch, detached(guide_tr))
        d_fake = torch.cat([discriminate(programs, x_gen, batch.c), discriminate(programs, x_rec, batch.c)])
        adversarial = self.generator_loss(d_fake)
        return {"vae": -elbo + self.adv_weight * adversarial, "bound": elbo, "adversarial": adversarial}

    def generator_loss(self, d_fake: Tensor) -> Tensor:
        r"""Non-saturating: :math:`-\mathbb{E} \log D(x)` over samples and reconstructions together."""
        return -log_q_real(d_fake).mean()


def reconstruct(programs: Programs, batch: Batch, guide_tr: poutine.Trace) -> Tensor:
    r""":math:`\tilde x` decoded from the guide trace's latents (see :func:`~unigen.scoring.observed_value`)."""
    return observed_value(programs, sample_model(programs, batch.x.shape[0], batch.c, replay=guide_tr, like=batch.x))


def detached(trace: poutine.Trace) -> poutine.Trace:
    """A copy of ``trace`` whose sample values are cut from the graph (the original is left as it is)."""
    out = trace.copy()
    for name, site in trace.nodes.items():
        if site["type"] == "sample":
            out.nodes[name] = {**site, "value": site["value"].detach()}
    return out
