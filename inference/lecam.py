r"""LeCam regularisation of a critic (Tseng et al., "Regularizing Generative Adversarial Networks under Limited
Data", CVPR 2021), a penalty any adversarial strategy takes beside the gradient penalties.

With :math:`\alpha_R` and :math:`\alpha_F` exponential moving averages of the critic's mean output on real and on
generated examples,

.. math::

    R_{LC} = \mathbb{E}_{x \sim p_{data}} \lVert D(x) - \alpha_F \rVert^2
           + \mathbb{E}_{z \sim p(z)} \lVert D(G(z)) - \alpha_R \rVert^2 ,

added to the critic's loss with weight :math:`\lambda` (``strategy.lecam_weight``; the paper uses 0.3 on
CIFAR-10 with BigGAN, and 0.01–0.1 with StyleGAN2). It pulls real outputs towards the fake anchor and fake
outputs towards the real one; Tseng et al. show that under the optimal critic the GAN objective then minimises
a LeCam divergence, which is more robust when data are few.

The anchors are updated with this batch's detached means before the penalty is computed,
:math:`\alpha \leftarrow \delta\,\alpha + (1 - \delta)\,\bar D` with :math:`\delta` = ``strategy.lecam_decay``
(0.99, as the authors' code), and start at 0. They are buffers of :class:`LeCamAnchors`, which the strategy
attaches to ``programs.strategy_state``: checkpoints and exports hold them, a resumed run continues them, and a
traced update updates them in its graph.

.. note::
    Under data parallelism (``torchrun``) each process moves its anchors with its own slice of the batch; only
    rank 0's are checkpointed, so a resumed multi-process LeCam run is not bit for bit (one process is).

.. note::
    Departure, stated: the authors' code uses the one-sided form
    :math:`\mathbb{E}\,\mathrm{ReLU}(D(x) - \alpha_F)^2 + \mathbb{E}\,\mathrm{ReLU}(\alpha_R - D(G(z)))^2`;
    this is the paper's two-sided equation (3).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

#: where the anchors live in ``programs.strategy_state``
NAME = "lecam"


class LeCamAnchors(nn.Module):
    r"""The two anchors :math:`(\alpha_R, \alpha_F)` as float32 buffers (checkpointed, traced as state)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("real", torch.zeros(()))
        self.register_buffer("fake", torch.zeros(()))


def lecam_penalty(d_real: Tensor, d_fake: Tensor, anchors: LeCamAnchors, decay: float) -> Tensor:
    r""":math:`R_{LC}` of the module docstring, after moving the anchors by this batch's detached means (in place,
    capture-safe). ``d_real`` ``(batch,)`` and ``d_fake`` ``(fakes,)`` are the critic's raw outputs; float32."""
    d_real, d_fake = d_real.float(), d_fake.float()
    with torch.no_grad():
        anchors.real.lerp_(d_real.mean(), 1 - decay)
        anchors.fake.lerp_(d_fake.mean(), 1 - decay)
    return ((d_real - anchors.fake) ** 2).mean() + ((d_fake - anchors.real) ** 2).mean()
