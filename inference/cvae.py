r"""The conditional VAE (Sohn, Lee & Yan, 2015), and the set-up check that conditional strategies share."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from unigen.inference.elbo import ELBO
from unigen.needs import Needs
from unigen.registry import STRATEGIES


@STRATEGIES.register("cvae")
@dataclass(frozen=True)
class CVAE(ELBO):
    r"""Conditional VAE (Sohn et al., 2015): the ELBO of p(x | c), labels given to model and guide.

    The bound is on :math:`\log p_\theta(x \mid c)`.

    For data pairs :math:`(x, c)` (image and class label) the model and guide maximise

    .. math::
        \mathcal{L}(\theta, \phi; x, c) = \mathbb{E}_{q_\phi(z \mid x, c)}
        \left[\log p_\theta(x \mid z, c) + \log p(z) - \log q_\phi(z \mid x, c)\right] \le \log p_\theta(x \mid c),

    estimated with ``num_particles`` reparameterised samples, averaged over the batch: the ELBO with the
    labels ``c`` passed to every program (it *is* :class:`~unigen.inference.elbo.ELBO` on a labelled batch).
    In Sohn et al.'s notation :math:`c` is the input and :math:`x` the structured output.

    Departure, stated: the prior is :math:`p(z) = \mathcal N(0, I)`, independent of the condition — the
    relaxation of :math:`p_\theta(z \mid c)` that Sohn et al. note is allowed, and the usual
    label-conditional VAE of Hu et al. (2018, Table 3).

    Needs labelled data (the trainer refuses data without labels) and a model that reads them, which
    :class:`~unigen.needs.Needs` (``labels="given"``) verifies once at set-up by generating under two labels (e.g. ``mlp_vae`` with
    ``model.conditional=true``). Labels ``-1`` (unlabelled) are not treated specially: train on fully
    labelled data (``data.label_fraction=1``). One player, ``vae``, owns the model and the guide.
    """

    needs: ClassVar[Needs] = Needs(("model", "guide"), labels="given", density=True)
