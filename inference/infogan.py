r"""InfoGAN (Chen et al., 2016): a non-saturating GAN whose generator also maximises a variational bound
on the mutual information between its latent codes and its samples."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pyro import poutine
from torch import Tensor

from unigen.errors import UserError
from unigen.inference.gan_nonsaturating import NonSaturatingGAN
from unigen.programs import Batch, Programs
from unigen.scoring import log_prob_per_example, trace_guide
from unigen.registry import STRATEGIES
from unigen.settings import bounded
from unigen.needs import Needs


@STRATEGIES.register("infogan")
@dataclass(frozen=True)
class InfoGAN(NonSaturatingGAN):
    r"""InfoGAN: a non-saturating GAN that also maximises a mutual-information bound on its codes (Chen et al., 2016).

    The generator :math:`G_\theta(z, \text{code})` and the code posterior :math:`q_\phi(\text{code} \mid x)`
    minimise

    .. math::
        -\mathbb{E}_{p_\theta}\log D(x)
        \;-\; \lambda\, \mathbb{E}_{\text{code} \sim p(\text{code}),\, x = G_\theta(z, \text{code})}
        \log q_\phi(\text{code} \mid x),

    where the second expectation plus :math:`H(\text{code})` is the lower bound
    :math:`L_I \le I(\text{code}; x)` of Chen et al. (eq. 4; the entropy is constant, so it is left out of
    the loss). The discriminator minimises the usual binary cross-entropy. λ is ``info_weight``.

    Players: ``discriminator`` (discriminator) and ``generator`` (model with the code posterior). The
    code posterior is the ``code_posterior`` role when the model has one (sites ``"code_cat"``,
    ``"code"``). Without it, *every latent site of the model is the code* and the ``guide`` plays
    :math:`q_\phi`: a continuous InfoGAN over :math:`z`. In Hu et al.'s (2018) view the code posterior is
    one more inference network, like the guide, fitted on generated samples (the "sleep" direction).

    Diagnostics: ``info`` :math:`= -\mathbb{E}\log q_\phi(\text{code} \mid x)` and ``mutual_info``
    :math:`= \mathbb{E}[\log q_\phi(\text{code} \mid x) - \log p(\text{code})]`, the single-sample estimate of
    the bound :math:`L_I` (exact for uniform codes, whose :math:`-\log p` is their entropy).

    .. note::
        Chen et al. share the discriminator's body with :math:`q_\phi`; in unigen the two are separate
        roles with their own parameters (a choice of the model specs, not of this strategy). Fake
        samples are scored by the code posterior only (not on real data), as in the paper.

    :param info_weight: λ, the weight of the mutual-information term.
    """

    info_weight: float = bounded(1.0, 0)

    needs: ClassVar[Needs] = Needs(("model", "discriminator", ("code_posterior", "guide")))
    players: ClassVar[dict[str, tuple[str, ...]]] = {"discriminator": ("discriminator",),
                                                     "generator": ("model", "code_posterior", "guide")}
    meanings: ClassVar[dict[str, str]] = {
        "info": "InfoGAN term: − E log q(code | G(z)) (nats)",
        "mutual_info": "mutual-information lower bound (nats)",
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.info_weight >= 0:
            raise UserError(f"info_weight must be >= 0, got {self.info_weight}; "
                            f"set info_weight=1.0 (0 is a plain non-saturating GAN)")

    def generator_terms(self, programs: Programs, batch: Batch, x_fake: Tensor, model_tr,
                        d_fake: Tensor) -> dict[str, Tensor]:
        adversarial = self.generator_loss(d_fake)
        log_q, log_p = code_log_probs(programs, x_fake, model_tr, batch.c)  # (batch,) each
        info = -log_q.mean()
        return {"generator": adversarial + self.info_weight * info, "adversarial": adversarial,
                "info": info, "mutual_info": (log_q - log_p).mean()}


def code_log_probs(programs: Programs, x: Tensor, model_tr: poutine.Trace, c: Tensor | None = None
                   ) -> tuple[Tensor, Tensor]:
    r""":math:`\log q_\phi(\text{code} \mid x)` and :math:`\log p(\text{code})` per example, ``(batch,)`` each.

    The code posterior (``code_posterior``, else the ``guide``) is replayed against the model trace that
    generated ``x``, so it scores the codes that made ``x``; its sample sites are the code.
    """
    n = x.shape[0]
    posterior = programs.code_posterior if programs.has("code_posterior") else programs.guide
    post_tr = trace_guide(poutine.replay(posterior, trace=model_tr), x, c)
    log_q = log_prob_per_example(post_tr, n)
    names = {name for name, site in post_tr.nodes.items() if site["type"] == "sample"}
    return log_q, log_prob_per_example(model_tr, n, sites=names)
