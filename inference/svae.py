r"""The semi-supervised VAE, model M2 of Kingma, Rezende, Mohamed & Welling (2014)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from unigen.errors import UserError
from unigen.importance import LogWeights, log_weight_terms, repeat_batch
from unigen.inference.kl_weight import KLWeighted
from unigen.programs import Batch, Programs
from unigen.registry import STRATEGIES
from unigen.strategy import Phase, Strategy
from unigen.settings import count
from unigen.needs import Needs


@STRATEGIES.register("svae")
@dataclass(frozen=True)
class SVAE(KLWeighted, Strategy):
    r"""Semi-supervised VAE (Kingma et al., 2014, M2): label-given and label-summed bounds plus a classifier.

    The model is :math:`p(y)\, p(z)\, p_\theta(x \mid y, z)` and the guide :math:`q_\phi(y \mid x)\,
    q_\phi(z \mid x, y)` (roles ``classifier`` and ``guide``, e.g. ``model.name=ssvae``). A labelled
    example :math:`(x, y)` has the bound

    .. math::
        \mathcal L(x, y) = \mathbb{E}_{q_\phi(z \mid x, y)}\big[\log p_\theta(x, y, z) - \log q_\phi(z \mid x, y)\big]
        \le \log p_\theta(x, y),

    an unlabelled one (label ``-1``) the bound with :math:`y` summed out exactly,

    .. math::
        \mathcal U(x) = \sum_{y=0}^{K-1} q_\phi(y \mid x)\, \mathcal L(x, y) + \mathcal H\big(q_\phi(y \mid x)\big)
        \le \log p_\theta(x),

    whose gap is :math:`\mathrm{KL}(q_\phi(y \mid x) \,\|\, p_\theta(y \mid x)) + \sum_y q_\phi(y \mid x)\,
    \mathrm{KL}(q_\phi(z \mid x, y) \,\|\, p_\theta(z \mid x, y))` in expectation. The sum over :math:`y` is
    exact: all :math:`K` labels are enumerated in one vectorised pass (the batch repeated :math:`K` times, copy
    :math:`k` labelled :math:`k`). With :math:`m_b = [c_b \ge 0]`, the player minimises over a batch of
    :math:`B`

    .. math::
        -\frac1B \sum_b \big[m_b\, \mathcal L(x_b, c_b) + (1 - m_b)\, \mathcal U(x_b)\big]
        - \alpha\, \frac{\sum_b m_b \log q_\phi(c_b \mid x_b)}{\max(1, \sum_b m_b)},

    Kingma et al.'s :math:`\mathcal J^\alpha` divided by the data-set size :math:`N`: their weight
    :math:`\alpha = 0.1 \cdot N` on :math:`\mathbb{E}_{\tilde p_l(x, y)}[-\log q_\phi(y \mid x)]` is
    ``alpha = 0.1`` here (their code weighs each labelled :math:`\log q_\phi(y \mid x)` by
    :math:`0.1 \cdot N / N_l`, the same thing). On a short budget that weight leaves the classifier far from
    trained (2,000 steps on 4,500 MNIST digits: test accuracy 0.47 with 1% of the labels); the ``hu2018-aavae``
    reproduction uses ``alpha = 50`` (0.66). Rows are mixed with masks, never by selecting a subset:
    every row is scored once under its label (a placeholder for unlabelled rows) and once under each of the
    :math:`K` labels, :math:`(K + 1) B` rows per batch, and ``torch.where`` on :math:`c \ge 0` picks the bound.

    Departures, stated: batch means instead of data-set sums (a scale); the classification term averages
    over the labelled rows of each batch (zero when a batch has none), a ratio estimator of the
    expectation over labelled data. With ``beta`` or a ``warmup`` (:mod:`unigen.inference.kl_weight`) the
    weight :math:`\beta_t` multiplies the KL part of z, :math:`\log p(z) - \log q_\phi(z \mid x, y)`, in
    every :math:`\mathcal L(x, y)`; the label terms :math:`\log p(y)` and :math:`\mathcal H(q_\phi(y \mid
    x))` stay unweighted (a choice: β-VAE is defined for one continuous code).

    :param alpha: weight of the classification log-likelihood, per unit of per-example bound.
    :param num_particles: guide samples of :math:`z` per example and label.

    One player, ``vae``, owns the model, the guide and the classifier. :meth:`objective` returns the
    per-example bound (:math:`\mathcal L(x, c)` or :math:`\mathcal U(x)`), for AA-SVAE
    (``strategy.name=aavae strategy.base=svae``, Hu et al., 2018).
    """

    alpha: float = 0.1
    num_particles: int = count(1, hi=10_000)

    needs: ClassVar[Needs] = Needs(("model", "guide", "classifier"), labels="partial", density=True)
    players: ClassVar[dict[str, tuple[str, ...]]] = {"vae": ("model", "guide", "classifier")}
    meanings: ClassVar[dict[str, str]] = {
        "class_nll": "classifier NLL on labelled examples (nats)",
        "class_acc": "classifier accuracy on labelled examples",
        "labelled": "fraction of the batch labelled",
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.alpha >= 0:
            raise UserError(f"alpha must be >= 0 (0 drops the classification term), got {self.alpha}")
        if self.num_particles < 1:
            raise UserError(f"num_particles must be >= 1, got {self.num_particles}")

    def phases(self) -> tuple[Phase, ...]:
        return (Phase(("vae",), self.loss),)

    # ---------------------------------------------------------------------------------- the bounds
    # Each bound is kept in two parts, (likelihood, z's KL part), each (batch,), so that β weighs the second.
    def labelled_parts(self, programs: Programs, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        r""":math:`\mathcal L(x, y)` for labels ``y`` in ``0..K-1`` in its two parts, each ``(batch,)``."""
        w = log_weight_terms(programs, Batch(x, y), self.num_particles)
        return w.likelihood.mean(0), w.ratio.mean(0)

    def unlabelled_parts(self, programs: Programs, x: Tensor, log_q: Tensor) -> tuple[Tensor, Tensor]:
        r""":math:`\mathcal U(x)` in two parts ``(batch,)``, from the classifier's :math:`\log q_\phi(y \mid x)`
        ``(batch, K)``; the label terms (:math:`\log p(y)`, the entropy) are in the first."""
        n, k = log_q.shape
        labels = torch.arange(k, device=x.device).repeat_interleave(n)  # (K * batch,), copy k has label k
        parts = self.labelled_parts(programs, repeat_batch(Batch(x), k).x, labels)  # (K * batch,) each
        lik, ratio = (p.reshape(k, n).transpose(0, 1) for p in parts)  # (batch, K): parts of L(x_b, y)
        q = log_q.exp()
        return (q * (lik - log_q)).sum(-1), (q * ratio).sum(-1)  # Σ_y q (L - log q) = Σ_y q L + H(q)

    def labelled_bound(self, programs: Programs, x: Tensor, y: Tensor) -> Tensor:
        r""":math:`\mathcal L(x, y)` for labels ``y`` in ``0..K-1``, shape ``(batch,)``."""
        return sum(self.labelled_parts(programs, x, y))

    def unlabelled_bound(self, programs: Programs, x: Tensor, log_q: Tensor) -> Tensor:
        r""":math:`\mathcal U(x)` ``(batch,)`` from the classifier's :math:`\log q_\phi(y \mid x)` ``(batch, K)``."""
        return sum(self.unlabelled_parts(programs, x, log_q))

    def terms(self, programs: Programs, batch: Batch) -> tuple[tuple[Tensor, Tensor], Tensor]:
        """The per-example bound's two parts ``(batch,)`` and the classifier's log-probabilities ``(batch, K)``."""
        log_q = torch.log_softmax(programs.classifier(batch.x), dim=-1)  # (batch, K)
        if batch.c is None:  # structural: no labels at all
            return self.unlabelled_parts(programs, batch.x, log_q), log_q
        labelled = self.labelled_parts(programs, batch.x, batch.c.clamp(min=0))  # unlabelled rows masked below
        unlabelled = self.unlabelled_parts(programs, batch.x, log_q)
        return tuple(torch.where(batch.c >= 0, a, b) for a, b in zip(labelled, unlabelled)), log_q

    def objectives(self, programs: Programs, batch: Batch) -> tuple[Tensor, Tensor]:
        """The per-example bound and training objective (z's KL part weighted by β_t), each ``(batch,)``."""
        return self._objectives(self.terms(programs, batch)[0], batch)

    def _objectives(self, parts: tuple[Tensor, Tensor], batch: Batch) -> tuple[Tensor, Tensor]:
        parts = LogWeights(*parts)  # per example here, not per particle: the same two-part sum
        bound = parts.total()
        return bound, (parts.total(self.kl_weight(batch)) if self.weighted else bound)

    def objective(self, programs: Programs, batch: Batch) -> Tensor:
        r"""Per-example bound ``(batch,)``: :math:`\mathcal L(x, c)` where ``c >= 0``, else :math:`\mathcal U(x)`."""
        return self.objectives(programs, batch)[0]

    # ------------------------------------------------------------------------------------ the loss
    def classification(self, log_q: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """Mean ``log q(c|x)`` and accuracy over the labelled rows, and the labelled fraction."""
        if c is None:  # structural: no labels at all
            c = torch.full(log_q.shape[:1], -1, dtype=torch.long, device=log_q.device)
        mask = (c >= 0).to(log_q.dtype)  # (batch,)
        safe = c.clamp(min=0)
        log_q_c = log_q.gather(-1, safe.unsqueeze(-1)).squeeze(-1)  # (batch,)
        n_labelled = mask.sum().clamp(min=1.0)
        log_lik = (mask * log_q_c).sum() / n_labelled
        accuracy = (mask * (log_q.argmax(-1) == safe).to(log_q.dtype)).sum() / n_labelled
        return log_lik, accuracy, mask.mean()

    def auxiliary_loss(self, programs: Programs, batch: Batch) -> Tensor:
        r"""The part of the loss outside the per-example bound: :math:`-\alpha\,\overline{\log q_\phi(c \mid x)}`
        over labelled rows (used by ``aavae`` with ``base=svae``, Hu et al.'s AA-SVAE)."""
        log_q = torch.log_softmax(programs.classifier(batch.x), dim=-1)
        return -self.alpha * self.classification(log_q, batch.c)[0]

    def loss(self, programs: Programs, batch: Batch) -> dict[str, Tensor]:
        parts, log_q = self.terms(programs, batch)
        out = self.vae_loss(batch, *self._objectives(parts, batch))
        log_lik, accuracy, labelled = self.classification(log_q, batch.c)
        out["vae"] = out["vae"] - self.alpha * log_lik
        return {**out, "class_nll": -log_lik, "class_acc": accuracy, "labelled": labelled}
