r"""β-VAE and KL annealing: a weight on the KL part of every VAE-family bound (shared settings).

The importance log-weight of a guide sample splits into a likelihood and a KL part,

.. math::
    \log w = \underbrace{\log p_\theta(x \mid z)}_{\text{likelihood}}
    + \underbrace{\log p(z) - \log q_\phi(z \mid x)}_{-\text{KL part}}
    \qquad\Longrightarrow\qquad
    \log w_\beta = \log p_\theta(x \mid z) + \beta_t \big(\log p(z) - \log q_\phi(z \mid x)\big)

(:class:`unigen.importance.LogWeights`). Averaged over guide samples, :math:`\log w_\beta` gives
:math:`\mathbb{E}_q \log p_\theta(x \mid z) - \beta\,\mathrm{KL}(q_\phi(z \mid x) \,\|\, p(z))`, the β-VAE
objective of Higgins et al. (2017) (β = 4 their common choice; β > 1 trades likelihood for a more
factorised code). Raising :math:`\beta_t` from 0 to β over the first steps is KL annealing (Bowman et al.,
2016), which keeps the decoder from ignoring z early in training. β = 1 without a warm-up is the plain
bound, and is then computed by the plain code path.

Warm-ups, with :math:`s = \min(1, t / T)`, :math:`t` the completed training steps (``Batch.step``) and
:math:`T` ``warmup_steps``:

* ``linear``: :math:`\beta_t = \beta s` (Bowman et al.'s linear schedule, :math:`\min(1, t/t_0)`);
* ``logistic``: :math:`\beta_t = \beta\,\frac{\sigma(k(s - \frac12)) - \sigma(-\frac k2)}{\sigma(\frac k2) -
  \sigma(-\frac k2)}` with :math:`k = 10`: Bowman et al.'s logistic curve, centred at :math:`T/2` and
  rescaled to be exactly 0 at :math:`t = 0` and exactly β from :math:`t = T` on.

A batch made outside the trainer (``Batch.step is None``: evaluation, a hand call) gets the final β.
Departure, stated: Bowman et al. give :math:`k` and :math:`t_0` directly (0.0025 and 2,500); here the
curve is fixed by :math:`T` alone (:math:`k = 10/T` in steps, :math:`t_0 = T/2`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from unigen.programs import Batch
from unigen.settings import bounded, check_choices, choice, count

WARMUPS = ("none", "linear", "logistic")
_K = 10.0
_LO, _HI = 1 / (1 + math.exp(_K / 2)), 1 / (1 + math.exp(-_K / 2))  # σ(−k/2), σ(k/2)


@dataclass(frozen=True)
class KLWeighted:
    r"""The settings of a weighted KL term (mixed into the VAE-family strategies).

    :param beta: β, the weight of the KL part of the bound once warmed up (1: the plain bound; β-VAE: 4).
    :param warmup: ``none``, ``linear`` or ``logistic``: how the weight rises from 0 to β.
    :param warmup_steps: T, the training step at which the weight reaches β.
    """

    beta: float = bounded(1.0, 0)
    warmup: str = choice("none", WARMUPS)
    warmup_steps: int = count(1, hi=10 ** 9)

    def __post_init__(self) -> None:
        check_choices(self)

    @property
    def weighted(self) -> bool:
        """Whether the KL part is weighted at all (a structural fact, fixed when the step is built)."""
        return self.warmup != "none" or self.beta != 1.0

    def kl_weight(self, batch: Batch) -> Tensor | float:
        r""":math:`\beta_t` at ``batch.step`` (a device tensor under the trainer; β when ``step`` is ``None``)."""
        if self.warmup == "none" or batch.step is None:
            return self.beta
        s = (batch.step / self.warmup_steps).clamp(0.0, 1.0)
        if self.warmup == "logistic":
            s = ((torch.sigmoid(_K * (s - 0.5)) - _LO) / (_HI - _LO)).clamp(0.0, 1.0)
        return self.beta * s

    def vae_loss(self, batch: Batch, bound: Tensor, objective: Tensor) -> dict[str, Tensor]:
        """The ``vae`` player's loss from per-example ``objective`` ``(batch,)``, the mean ``bound`` and, when
        the KL part is weighted, :math:`\beta_t` as ``kl_weight``."""
        out = {"vae": -objective.mean(), "bound": bound.mean()}
        if self.weighted:  # structural: fixed by the settings
            out["kl_weight"] = self.logged_weight(batch, out["bound"])
        return out

    def logged_weight(self, batch: Batch, like: Tensor) -> Tensor:
        r""":math:`\beta_t` as a 0-dim tensor on ``like``'s device, for the log (a float β filled in, capture-safe)."""
        return torch.zeros_like(like).detach() + self.kl_weight(batch)
