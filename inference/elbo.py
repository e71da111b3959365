r"""The evidence lower bound: the variational autoencoder (Kingma & Welling, 2014)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor

from unigen.importance import log_weight_terms
from unigen.inference.kl_weight import KLWeighted
from unigen.needs import Needs
from unigen.programs import Batch, Programs
from unigen.registry import STRATEGIES
from unigen.scoring import refuse_unreparameterised_guide
from unigen.settings import count
from unigen.strategy import Phase, Strategy


@STRATEGIES.register("elbo")
@dataclass(frozen=True)
class ELBO(KLWeighted, Strategy):
    r"""VAE: maximise the ELBO jointly in the model and the guide (Kingma & Welling, 2014).

    .. math::
        \mathcal{L}(\theta, \phi; x) = \mathbb{E}_{q_\phi(z \mid x)}
        \left[\log p_\theta(x, z) - \log q_\phi(z \mid x)\right]
        = \log p_\theta(x) - \mathrm{KL}(q_\phi(z \mid x) \,\|\, p_\theta(z \mid x)),

    estimated with ``num_particles`` reparameterised guide samples and averaged over the batch. In
    the unified view (Hu et al., 2018) this is the "wake" direction of KL, the degenerate
    adversarial case in which generated samples never reach training.

    With ``beta`` ≠ 1 or a ``warmup`` the KL part of the bound is weighted (β-VAE, KL annealing;
    :mod:`unigen.inference.kl_weight`); the logged ``bound`` stays the ELBO itself.

    One player, ``vae``, owns the model and the guide.

    :param num_particles: guide samples per example, averaged.
    """

    num_particles: int = count(1, hi=10_000)

    needs: ClassVar[Needs] = Needs(("model", "guide"), density=True)
    players: ClassVar[dict[str, tuple[str, ...]]] = {"vae": ("model", "guide")}

    def check(self, programs: Programs, data=None, probe: Batch | None = None) -> None:
        super().check(programs, data, probe)
        refuse_unreparameterised_guide(programs, probe, self.registry_name or "elbo")

    def phases(self) -> tuple[Phase, ...]:
        return (Phase(("vae",), self.loss),)

    def objectives(self, programs: Programs, batch: Batch) -> tuple[Tensor, Tensor]:
        """The per-example ELBO and training objective (its KL part weighted by β_t), each ``(batch,)``."""
        w = log_weight_terms(programs, batch, self.num_particles)  # (K, batch) each part
        bound = w.total().mean(0)
        return bound, (w.total(self.kl_weight(batch)).mean(0) if self.weighted else bound)

    def objective(self, programs: Programs, batch: Batch) -> Tensor:
        """Per-example ELBO estimate, shape ``(batch,)`` (the VAE family's common interface)."""
        return self.objectives(programs, batch)[0]

    def loss(self, programs: Programs, batch: Batch) -> dict[str, Tensor]:
        return self.vae_loss(batch, *self.objectives(programs, batch))
