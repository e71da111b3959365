r"""The importance-weighted autoencoder (Burda, Grosse & Salakhutdinov, 2016)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from unigen.errors import UserError
from unigen.importance import log_weight_terms
from unigen.inference.kl_weight import KLWeighted
from unigen.programs import Batch, Programs
from unigen.registry import STRATEGIES
from unigen.scoring import refuse_unreparameterised_guide
from unigen.strategy import Phase, Strategy
from unigen.settings import count
from unigen.needs import Needs


@STRATEGIES.register("iwae")
@dataclass(frozen=True)
class IWAE(KLWeighted, Strategy):
    r"""IWAE: maximise the K-sample importance-weighted bound jointly in the model and the guide (Burda et al., 2016).

    .. math::
        \mathcal{L}_K(\theta, \phi; x) = \mathbb{E}_{z_{1:K} \sim q_\phi(z \mid x)}
        \left[\log \frac{1}{K} \sum_{k=1}^K w_k\right], \qquad
        w_k = \frac{p_\theta(x, z_k)}{q_\phi(z_k \mid x)},

    so that :math:`\mathrm{ELBO} = \mathcal{L}_1 \le \mathcal{L}_K \le \mathcal{L}_{K+1} \le \log p_\theta(x)`,
    and :math:`\mathcal{L}_K \to \log p_\theta(x)` as :math:`K \to \infty` when the weights are bounded.
    The loss is :math:`-\frac1B \sum_b \big(\operatorname{logsumexp}_k \log w_{k,b} - \log K\big)`
    over a batch of :math:`B` examples, one draw of :math:`K` reparameterised particles each, and
    gradients flow through the particles into :math:`\phi` as in the paper.

    One player, ``vae``, owns the model and the guide. With ``num_particles=1`` this is
    :class:`~unigen.inference.elbo.ELBO` with one particle, loss and gradients alike. With ``beta`` or a
    ``warmup`` the KL part of every log-weight is weighted before the log-sum-exp,
    :math:`\log w_{k,\beta} = \log p_\theta(x \mid z_k) + \beta_t(\log p(z_k) - \log q_\phi(z_k \mid x))`
    (:mod:`unigen.inference.kl_weight`); the logged ``bound`` stays :math:`\mathcal{L}_K`.

    :param num_particles: :math:`K`, the importance samples per example (``>= 1``).
    """

    num_particles: int = count(5, hi=10_000)

    needs: ClassVar[Needs] = Needs(("model", "guide"), density=True)
    players: ClassVar[dict[str, tuple[str, ...]]] = {"vae": ("model", "guide")}

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_particles < 1:
            raise UserError(f"num_particles must be >= 1, got {self.num_particles}; "
                            f"set num_particles=5 (1 is the ELBO)")

    def check(self, programs: Programs, data=None, probe: Batch | None = None) -> None:
        super().check(programs, data, probe)
        refuse_unreparameterised_guide(programs, probe, self.registry_name or "iwae")

    def phases(self) -> tuple[Phase, ...]:
        return (Phase(("vae",), self.loss),)

    def objectives(self, programs: Programs, batch: Batch) -> tuple[Tensor, Tensor]:
        r"""Per-example :math:`\mathcal{L}_K` and training objective (KL parts weighted by β_t), each ``(batch,)``."""
        w = log_weight_terms(programs, batch, self.num_particles)  # (K, batch) each part

        def bound(log_w: Tensor) -> Tensor:
            return torch.logsumexp(log_w, dim=0) - math.log(self.num_particles)

        plain = bound(w.total())
        return plain, (bound(w.total(self.kl_weight(batch))) if self.weighted else plain)

    def objective(self, programs: Programs, batch: Batch) -> Tensor:
        r"""Per-example estimate of :math:`\mathcal{L}_K`, shape ``(batch,)``."""
        return self.objectives(programs, batch)[0]

    def loss(self, programs: Programs, batch: Batch) -> dict[str, Tensor]:
        return self.vae_loss(batch, *self.objectives(programs, batch))
