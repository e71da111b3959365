r"""The conditional VAE (Sohn, Lee & Yan, 2015), and the set-up check that conditional strategies share."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from unigen.errors import UserError
from unigen.inference.elbo import ELBO
from unigen.programs import Programs, generate
from unigen.registry import STRATEGIES


def require_labels_used(programs: Programs, strategy: str) -> None:
    """Refuse programs whose model ignores the labels ``c``, with a one-line fix.

    A set-up check, not part of a step: it generates two examples under the labels 0 and then 1 from the
    same random state, in eval mode and without gradients, and compares them; the random state and every
    module's train/eval mode are restored afterwards. A model that draws exactly the same ``x`` under both
    labels ignores them. (A conditional model whose label weights start at exactly zero would be refused
    too; initialise them randomly.)
    """
    devices = sorted({p.device.index or 0 for p in programs.parameters() if p.device.type == "cuda"})
    device = next(iter(programs.parameters()), torch.empty(0)).device
    modes = [(m, m.training) for m in programs.modules()]
    programs.eval()
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=devices):
            draws = []
            for label in (0, 1):
                torch.manual_seed(0)
                draws.append(generate(programs, 2, torch.full((2,), label, dtype=torch.long, device=device))[0])
    except TypeError as e:  # a model without a ``c`` parameter
        raise UserError(f"strategy {strategy!r} passes labels c to the model, but it does not take them ({e}); "
                        f"use a conditional model, e.g. model.conditional=true") from None
    finally:
        for module, training in modes:
            module.training = training
    if torch.equal(draws[0], draws[1]):
        raise UserError(f"strategy {strategy!r} needs a model whose samples depend on the labels c, but this "
                        f"model ignores them; set model.conditional=true")


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
    :meth:`check` verifies once at set-up by generating under two labels (e.g. ``mlp_vae`` with
    ``model.conditional=true``). Labels ``-1`` (unlabelled) are not treated specially: train on fully
    labelled data (``data.label_fraction=1``). One player, ``vae``, owns the model and the guide.
    """

    needs_labels: ClassVar[bool] = True

    def check(self, programs: Programs) -> None:
        super().check(programs)
        require_labels_used(programs, self.registry_name)
