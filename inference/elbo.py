r"""The evidence lower bound: the variational autoencoder (Kingma & Welling, 2014)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor

from unigen.programs import Batch, Programs
from unigen.registry import STRATEGIES
from unigen.strategy import Phase, Strategy
from unigen.importance import log_weights
from unigen.settings import count
from unigen.needs import Needs


@STRATEGIES.register("elbo")
@dataclass(frozen=True)
class ELBO(Strategy):
    r"""VAE: maximise the ELBO jointly in the model and the guide (Kingma & Welling, 2014).

    .. math::
        \mathcal{L}(\theta, \phi; x) = \mathbb{E}_{q_\phi(z \mid x)}
        \left[\log p_\theta(x, z) - \log q_\phi(z \mid x)\right]
        = \log p_\theta(x) - \mathrm{KL}(q_\phi(z \mid x) \,\|\, p_\theta(z \mid x)),

    estimated with ``num_particles`` reparameterised guide samples and averaged over the batch. In
    the unified view (Hu et al., 2018) this is the "wake" direction of KL, the degenerate
    adversarial case in which generated samples never reach training.

    One player, ``vae``, owns the model and the guide.
    """

    num_particles: int = count(1, hi=10_000)

    needs: ClassVar[Needs] = Needs(("model", "guide"), density=True)
    players: ClassVar[dict[str, tuple[str, ...]]] = {"vae": ("model", "guide")}

    def phases(self) -> tuple[Phase, ...]:
        return (Phase(("vae",), self.loss),)

    def objective(self, programs: Programs, batch: Batch) -> Tensor:
        """Per-example ELBO estimate, shape ``(batch,)`` (the VAE family's common interface)."""
        return log_weights(programs, batch, self.num_particles).mean(0)

    def loss(self, programs: Programs, batch: Batch) -> dict[str, Tensor]:
        elbo = self.objective(programs, batch).mean()
        return {"vae": -elbo, "bound": elbo}
