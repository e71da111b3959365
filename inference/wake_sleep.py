r"""The wake-sleep algorithm (Hinton, Dayan, Frey & Neal, 1995), amortised over Pyro programs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from pyro import poutine
from torch import Tensor

from unigen.importance import log_weights
from unigen.programs import Batch, Programs
from unigen.scoring import latent_names, log_prob_per_example, trace_guide, sample_model, score_model
from unigen.registry import STRATEGIES
from unigen.strategy import Phase, Strategy
from unigen.needs import Needs


def sleep_log_q(programs: Programs, batch: Batch) -> Tensor:
    r""":math:`\log q_\phi(z \mid x)` on dreams :math:`(x, z) \sim p_\theta(x, z)`, shape ``(batch,)``.

    One dream per row of ``batch`` (only its size and labels ``c`` are used). The dream is detached:
    it is a sample of the ``"x"`` site, so a Bernoulli likelihood dreams a binary sample, not its mean.
    The guide is replayed at the dreamt latents.
    """
    n = batch.x.shape[0]
    with torch.no_grad():
        model_tr = sample_model(programs, n, batch.c, like=batch.x)
    x_dream = model_tr.nodes[programs.obs_name]["value"]
    guide_tr = trace_guide(poutine.replay(programs.guide, trace=model_tr), x_dream, batch.c)
    return log_prob_per_example(guide_tr, n, sites=latent_names(model_tr))


@STRATEGIES.register("wake_sleep")
@dataclass(frozen=True)
class WakeSleep(Strategy):
    r"""Wake-sleep: fit the model on guide samples (wake), then the guide on model dreams (sleep) (Hinton et al., 1995).

    Two players in two phases, each on its own batch:

    * wake, player ``model``: :math:`\min_\theta\; -\mathbb{E}_{p_{data}(x)}\,\mathbb{E}_{q_\phi(z \mid x)}
      \log p_\theta(x, z)` with :math:`z` detached. In :math:`\theta` this is the ELBO, i.e. it
      minimises :math:`\mathrm{KL}(q_\phi(z \mid x) \,\|\, p_\theta(z \mid x)) - \log p_\theta(x)`.
    * sleep, player ``guide``: dream :math:`(x, z) \sim p_\theta(x, z)` (detached) and
      :math:`\min_\phi\; -\mathbb{E}_{p_\theta(x, z)} \log q_\phi(z \mid x)
      = \mathbb{E}_{p_\theta(x)}\,\mathrm{KL}(p_\theta(z \mid x) \,\|\, q_\phi(z \mid x)) + \text{const}`,
      the *opposite* KL direction to the ELBO's, and an expectation over the model's
      :math:`p_\theta(x)` rather than the data.

    The wake phase scores :math:`\log p_\theta(x \mid z)`, so the model needs a density: a ``Delta``
    likelihood (an implicit generator) is refused before training.

    Hu et al. (2018) read the two phases as the two halves of their unified view: VAEs extend the
    wake phase (:math:`\mathrm{KL}(q \| p)`), GANs the sleep phase (:math:`\mathrm{KL}(p \| q)`).

    Departures from Hinton et al. (1995): the networks are any Pyro programs trained by gradient
    steps on the two losses (not layer-wise delta rules on binary units), one guide sample per data
    example in the wake phase and one dream per batch row in the sleep phase, averaged over the batch.
    """

    needs: ClassVar[Needs] = Needs(("model", "guide"), density=True)
    players: ClassVar[dict[str, tuple[str, ...]]] = {"model": ("model",), "guide": ("guide",)}

    def phases(self) -> tuple[Phase, ...]:
        return (Phase(("model",), self.wake), Phase(("guide",), self.sleep))

    def objective(self, programs: Programs, batch: Batch) -> Tensor:
        """Per-example one-particle ELBO estimate, shape ``(batch,)`` (the VAE family's common interface)."""
        return log_weights(programs, batch, 1)[0]

    def wake(self, programs: Programs, batch: Batch) -> dict[str, Tensor]:
        n = batch.x.shape[0]
        with torch.no_grad():
            guide_tr = trace_guide(programs.guide, batch.x, batch.c)
            log_q = log_prob_per_example(guide_tr, n)
        model_tr = score_model(programs.model, batch.x, batch.c, replay=guide_tr)
        log_p = log_prob_per_example(model_tr, n)  # log p_θ(x, z), (batch,)
        return {"model": -log_p.mean(), "bound": (log_p.detach() - log_q).mean()}

    def sleep(self, programs: Programs, batch: Batch) -> dict[str, Tensor]:
        log_q = sleep_log_q(programs, batch)
        return {"guide": -log_q.mean()}  # the sleep-φ loss itself

