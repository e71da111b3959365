r"""Reweighted wake-sleep (Bornschein & Bengio, 2015; Le et al., 2019)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from unigen.errors import UserError
from unigen.inference.wake_sleep import sleep_log_q
from unigen.importance import repeat_batch
from unigen.programs import Batch, Programs
from unigen.scoring import log_prob_per_example, score_model, trace_guide
from unigen.registry import STRATEGIES
from unigen.strategy import Phase, Strategy
from unigen.settings import bounded, count
from unigen.needs import Needs


def detached_log_densities(programs: Programs, batch: Batch, k: int) -> tuple[Tensor, Tensor]:
    r""":math:`\log p_\theta(x, \bar z_k)` and :math:`\log q_\phi(\bar z_k \mid x)`, each ``(K, batch)``,
    at ``K`` guide particles :math:`\bar z_k` detached from :math:`\phi` (no reparameterisation path)."""
    n = batch.x.shape[0]
    big = repeat_batch(batch, k)  # (K * batch, ...), copy-major
    guide_tr = trace_guide(programs.guide, big.x, big.c)
    guide_tr.detach_()  # the densities still depend on φ, the sampled values no longer do
    model_tr = score_model(programs.model, big.x, big.c, replay=guide_tr)
    m = big.x.shape[0]
    return (log_prob_per_example(model_tr, m).reshape(k, n),
            log_prob_per_example(guide_tr, m).reshape(k, n))


@STRATEGIES.register("rws")
@dataclass(frozen=True)
class ReweightedWakeSleep(Strategy):
    r"""Reweighted wake-sleep: model and guide fit by self-normalised importance weights (Bornschein & Bengio, 2015).

    From one draw of :math:`K` guide particles :math:`z_k \sim q_\phi(z \mid x)` per example, detached,
    with log-weights :math:`\log w_k = \log p_\theta(x, z_k) - \log q_\phi(z_k \mid x)` and normalised
    weights :math:`\tilde w_k = \operatorname{softmax}_k(\log w_k)` (constants, no gradient):

    * wake-:math:`\theta`, player ``model``: the loss is
      :math:`-\mathcal{L}_K = -(\operatorname{logsumexp}_k \log w_k - \log K)`, whose
      :math:`\theta`-gradient is :math:`-\sum_k \tilde w_k \nabla_\theta \log p_\theta(x, z_k)`, the
      self-normalised estimate of :math:`-\nabla_\theta \log p_\theta(x)` (Fisher's identity);
    * wake-:math:`\phi`, player ``guide``: :math:`-\sum_k \tilde w_k \log q_\phi(z_k \mid x)`, whose
      gradient estimates :math:`\nabla_\phi \mathrm{KL}(p_\theta(z \mid x) \,\|\, q_\phi(z \mid x))`;
    * optionally sleep-:math:`\phi`: :math:`-\mathbb{E}_{p_\theta(x, z)} \log q_\phi(z \mid x)` on
      :math:`K` detached dreams per example (as in :class:`~unigen.inference.wake_sleep.WakeSleep`).

    The guide's loss is :math:`(1 - \lambda)\,\text{wake-}\phi + \lambda\,\text{sleep-}\phi` with
    :math:`\lambda` = ``sleep_phi``. Both players are differentiated from the same particles and stepped
    together in one phase. Losses are averaged over the batch. Diagnostics, averaged over the batch:
    ``bound`` (:math:`\mathcal{L}_K`), ``wake_phi`` and, for :math:`\lambda > 0`, ``sleep_phi`` (the two
    terms of the guide's loss), and ``ess``, the effective sample size :math:`1 / \sum_k \tilde w_k^2`.

    Departures and conventions: Pyro's ``ReweightedWakeSleep`` calls :math:`1 - \lambda` ``insomnia``
    and sums over the batch; Bornschein & Bengio (2015) also use the sleep-:math:`\phi` term, while
    Le et al. (2019) recommend pure wake-:math:`\phi` (the default, :math:`\lambda = 0`).

    :param num_particles: :math:`K`, importance samples per example (``>= 2`` unless ``sleep_phi=1``).
    :param sleep_phi: :math:`\lambda \in [0, 1]`, the weight of the sleep-:math:`\phi` term.
    """

    num_particles: int = count(5, hi=10_000)
    sleep_phi: float = bounded(0.0, 0, 1)

    needs: ClassVar[Needs] = Needs(("model", "guide"), density=True)
    players: ClassVar[dict[str, tuple[str, ...]]] = {"model": ("model",), "guide": ("guide",)}
    meanings: ClassVar[dict[str, str]] = {
        "sleep_phi": "sleep-φ loss (nats)",
        "wake_phi": "wake-φ loss (nats)",
        "model": "wake-θ loss: − log p(x, z) per example (nats)",
    }

    def __post_init__(self) -> None:
        if not 0.0 <= self.sleep_phi <= 1.0:
            raise UserError(f"sleep_phi must be in [0, 1], got {self.sleep_phi}; "
                            f"0 is pure wake-phi, 1 pure sleep-phi")
        if self.num_particles < 1 or (self.num_particles < 2 and self.sleep_phi < 1.0):
            raise UserError(f"num_particles must be >= 2 for the self-normalised wake-phi "
                            f"update, got {self.num_particles}; set num_particles=5")

    def phases(self) -> tuple[Phase, ...]:
        return (Phase(("model", "guide"), self.loss),)

    def objective(self, programs: Programs, batch: Batch) -> Tensor:
        r"""Per-example estimate of the IWAE bound :math:`\mathcal{L}_K`, shape ``(batch,)``."""
        log_p, log_q = detached_log_densities(programs, batch, self.num_particles)
        return torch.logsumexp(log_p - log_q, dim=0) - math.log(self.num_particles)

    def loss(self, programs: Programs, batch: Batch) -> dict[str, Tensor]:
        log_p, log_q = detached_log_densities(programs, batch, self.num_particles)  # (K, batch) each
        log_w = log_p - log_q.detach()  # the θ loss must not reach φ
        bound = torch.logsumexp(log_w, dim=0) - math.log(self.num_particles)  # (batch,)
        w = torch.softmax(log_w, dim=0).detach()  # (K, batch)
        guide = -(w * log_q).sum(0).mean()
        out = {"model": -bound.mean(), "bound": bound.detach().mean(), "wake_phi": guide.detach(),
               "ess": (1.0 / (w ** 2).sum(0)).mean()}
        if self.sleep_phi > 0.0:  # a setting, fixed when the step is built
            sleep = -sleep_log_q(programs, repeat_batch(batch, self.num_particles)).mean()
            guide = (1.0 - self.sleep_phi) * guide + self.sleep_phi * sleep
            out["sleep_phi"] = sleep.detach()
        out["guide"] = guide
        return out
