r"""The importance weighted GAN (Hu et al., 2018): IWAE's weighting transferred to the generator."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from unigen.inference.adversarial import Adversarial
from unigen.programs import Batch, Programs
from unigen.scoring import log_q_real
from unigen.registry import STRATEGIES
from unigen.settings import bounded


@STRATEGIES.register("iwgan")
@dataclass(frozen=True)
class IWGAN(Adversarial):
    r"""Importance weighted GAN: the non-saturating generator reweighted by exp(d) over the batch (Hu et al., 2018).

    Hu et al. read the generator as inference of :math:`x` under the reversed posterior
    :math:`q^r_\phi(y{=}0 \mid x) = q_\phi(y{=}1 \mid x) = D(x)`, with proposal :math:`q_\phi(y{=}0 \mid x)`,
    and import IWAE's weighting (their eq. 16). For :math:`K` generated samples :math:`x_i = G_\theta(z_i)`,

    .. math::
        \nabla_\theta \mathcal{L}_K = \mathbb{E}_{z_{1..K}}\Big[\sum_{i=1}^K \tilde w_i\,
        \nabla_\theta \log D(x_i)\Big], \qquad
        w_i = \frac{q^r_\phi(y{=}0 \mid x_i)}{q_\phi(y{=}0 \mid x_i)} = \frac{D(x_i)}{1 - D(x_i)} = e^{d(x_i)},
        \qquad \tilde w = \mathrm{softmax}(d(x_{1..K})).

    The generator minimises :math:`-\sum_i \mathrm{sg}(\tilde w_i) \log \sigma(d(x_i))`: the weights are
    importance weights and are not differentiated (``sg`` = stop-gradient), so the gradient is exactly
    eq. 16. :math:`K` is the minibatch, as in the paper. With equal logits :math:`\tilde w_i = 1/K` and
    the loss is the non-saturating one. The discriminator is unchanged: binary cross-entropy, i.e. the
    NLL of :math:`y` under :math:`q_\phi` (``n_critic`` updates per step; penalties compose as usual).

    Players: ``discriminator``; ``generator`` (the model). Diagnostic ``ess``: the effective sample
    size :math:`1 / \sum_i \tilde w_i^2` of the weights (``K`` when uniform, 1 when one sample dominates).

    ``temperature`` :math:`T` tempers the weights, :math:`\tilde w = \mathrm{softmax}(d / T)`: :math:`T = 1` is
    the paper's estimator; a larger :math:`T` flattens them towards the non-saturating loss (:math:`T \to \infty`),
    an ablation for when a few confident logits take the whole batch's weight (a low ``ess``).

    :param temperature: :math:`T > 0`, the weights' temperature (1: Hu et al.'s importance weights).
    """

    temperature: float = bounded(1.0, 0, lo_open=True)

    def importance_weights(self, d_fake: Tensor) -> Tensor:
        r"""Normalised, detached weights :math:`\tilde w = \mathrm{softmax}(d / T)` over the batch, shape ``(batch,)``."""
        d = d_fake.detach()
        return torch.softmax(d if self.temperature == 1.0 else d / self.temperature, dim=0)

    def generator_loss(self, d_fake: Tensor) -> Tensor:
        return -(self.importance_weights(d_fake) * log_q_real(d_fake)).sum()

    def generator_terms(self, programs: Programs, batch: Batch, x_fake: Tensor, model_tr,
                        d_fake: Tensor) -> dict[str, Tensor]:
        w = self.importance_weights(d_fake)  # d_fake: (batch,)
        return {"generator": self.generator_loss(d_fake), "ess": 1.0 / (w ** 2).sum()}
