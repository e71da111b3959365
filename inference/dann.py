r"""Adversarial domain adaptation (Ganin et al., 2016) in the unified view of Hu et al. (2018, §3.1)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from unigen.errors import UserError
from unigen.needs import Needs
from unigen.programs import Batch, Programs
from unigen.scoring import log_prob_per_example, log_q_fake, log_q_real, score_model
from unigen.registry import STRATEGIES
from unigen.settings import bounded, check_choices, choice, count
from unigen.strategy import Phase, Strategy

FORMS = ("flipped", "reversal", "none")


@STRATEGIES.register("dann")
@dataclass(frozen=True)
class DANN(Strategy):
    r"""Domain adaptation: source labels plus features that a domain discriminator cannot tell apart (Ganin et al., 2016).

    Hu et al.'s (2018, §3.1) reading: an example :math:`z` of either domain is the "code", its feature
    :math:`x = G_\theta(z)` is the "generated sample" (the feature extractor is the generator), and the domain
    discriminator is the inference network :math:`q_\phi(y \mid x)` over the domain indicator, ``y = 1`` for the
    source and ``y = 0`` for the target. A label classifier :math:`p_\theta(c \mid x)` on source features
    completes the model. The players minimise

    .. math::
        \ell_{\text{domain\_discriminator}}(\phi) &= -\mathbb{E}_{src} \log q_\phi(y{=}1 \mid G(z))
            - \mathbb{E}_{tgt} \log q_\phi(y{=}0 \mid G(z)) \;=:\; \mathcal L_D, \\
        \ell_{\text{feature\_extractor}}(\theta) &= -\mathbb{E}_{src} \log p_\theta(c \mid G_\theta(z))
            + \lambda_p\, \mathcal L_G,

    with the feature loss :math:`\mathcal L_G` of ``form``:

    * ``"flipped"`` (Hu et al.'s preferred, non-saturating form): the domain NLL with the labels flipped,
      :math:`\mathcal L_G = -\mathbb{E}_{src} \log q_\phi(y{=}0 \mid G_\theta(z)) - \mathbb{E}_{tgt}
      \log q_\phi(y{=}1 \mid G_\theta(z))`, i.e. :math:`\max_\theta \mathbb{E} \log q^r_\phi(y \mid x)` with
      :math:`q^r(y \mid x) = q(1 - y \mid x)`;
    * ``"reversal"`` (DANN's gradient reversal layer :math:`R_\lambda`: the identity forward, :math:`-\lambda`
      times the gradient backward): :math:`\lambda_p \mathcal L_G` is replaced by :math:`\mathcal L_D` of
      :math:`R_{\lambda_p}(G_\theta(z))`, whose gradient in θ is :math:`-\lambda_p \nabla_\theta \mathcal L_D`:
      the features descend the saturating minimax loss. (Its logged value is :math:`\mathcal L_D` itself.)
    * ``"none"``: no feature loss, the source-only baseline on the same networks; the domain discriminator
      still trains, as a probe of how separable the two domains' features are (``domain_acc``).

    The weight follows DANN's schedule :math:`\lambda_p = w\,\big(2 / (1 + e^{-10 p}) - 1\big)`,
    :math:`p` = ``Batch.step`` / ``schedule_steps`` (:math:`\lambda_p = w` when ``schedule_steps = 0``, and
    outside training, where a batch has no step).

    Roles: ``model`` is :math:`p_\theta(c \mid z)`, a Pyro program whose deterministic site ``"feature"`` is
    :math:`G_\theta(z)` and whose observed site ``"c"`` is masked on target examples (label ``-1``);
    ``domain_discriminator(x) -> (batch,)`` is the logit of :math:`q_\phi(y{=}1 \mid x)` on features
    (``model.name=dann``). The data have two domains (source 0, target 1) and partial labels.

    Departures, stated: DANN takes one backward pass through the reversal layer for both players; here the
    domain discriminator steps first on its own batch, then the feature extractor on a fresh batch (the GAN
    skeleton's order), for both forms, so that the two forms differ only in :math:`\mathcal L_G`. The
    schedule :math:`\lambda_p` weighs the flipped form too (Hu et al. give no schedule). DANN's learning-rate
    annealing :math:`0.01 / (1 + 10p)^{0.75}` is left to the optimiser's settings.

    :param form: ``"flipped"``, ``"reversal"`` or ``"none"`` (source only).
    :param weight: :math:`w`, the final weight of the feature loss.
    :param schedule_steps: the steps over which :math:`p` runs from 0 to 1 (0: :math:`\lambda_p = w` throughout).
    """

    form: str = choice("flipped", FORMS)
    weight: float = bounded(1.0, 0)
    schedule_steps: int = count(10_000, lo=0, hi=10**9)

    needs: ClassVar[Needs] = Needs(("model", "domain_discriminator"), labels="partial", domains=True)
    players: ClassVar[dict[str, tuple[str, ...]]] = {"domain_discriminator": ("domain_discriminator",),
                                                     "feature_extractor": ("model",)}
    bce_losses: ClassVar[tuple[str, ...]] = ("domain_discriminator",)  # BCE: 2 ln 2 at D = 1/2
    meanings: ClassVar[dict[str, str]] = {
        "feature_extractor": "DANN: source label NLL + weighted feature adversarial term (nats)",
        "domain_discriminator": "DANN: domain classifier NLL, source = 1, target = 0 (nats)",
        "d_source": "DANN: mean domain logit on source features",
        "d_target": "DANN: mean domain logit on target features",
        "domain_acc": "DANN: domain classifier accuracy on the batch (0.5 = domains confused)",
        "lambda": "DANN: weight λ_p of the feature adversarial term at this step",
        "class_nll": "DANN: source label NLL (nats)",
    }

    def __post_init__(self) -> None:
        check_choices(self)
        if not self.weight >= 0:
            raise UserError(f"weight must be >= 0, got {self.weight}; set weight=1.0")

    def phases(self) -> tuple[Phase, ...]:
        return (Phase(("domain_discriminator",), self.discriminator_step),
                Phase(("feature_extractor",), self.feature_step))

    # ------------------------------------------------------------------------------------ the steps
    def discriminator_step(self, programs: Programs, batch: Batch) -> dict[str, Tensor]:
        with torch.no_grad():
            _, f_src, f_tgt = self.features(programs, batch)
        d_src, d_tgt = programs.domain_discriminator(f_src), programs.domain_discriminator(f_tgt)  # (half,)
        accuracy = ((d_src > 0).float().mean() + (d_tgt < 0).float().mean()) / 2
        return {"domain_discriminator": domain_nll(d_src, d_tgt), "d_source": d_src.mean(),
                "d_target": d_tgt.mean(), "domain_acc": accuracy}

    def feature_step(self, programs: Programs, batch: Batch) -> dict[str, Tensor]:
        log_p, f_src, f_tgt = self.features(programs, batch)
        lam = self.adaptation_weight(batch.step, f_src)
        class_nll = -log_p.mean()
        out = {"class_nll": class_nll, "lambda": lam}
        if self.form == "none":  # a setting: fixed at build time
            out["feature_extractor"] = class_nll
            return out
        d = programs.domain_discriminator
        if self.form == "flipped":  # labels flipped: the target scored as source, the source as target
            adversarial = lam * domain_nll(d(f_tgt), d(f_src))
        else:  # the domain loss itself, through the gradient reversal layer
            adversarial = domain_nll(d(reverse_gradient(f_src, lam)), d(reverse_gradient(f_tgt, lam)))
        return {**out, "feature_extractor": class_nll + adversarial, "adversarial": adversarial}

    # ------------------------------------------------------------------------------------ the parts
    @staticmethod
    def features(programs: Programs, batch: Batch) -> tuple[Tensor, Tensor, Tensor]:
        r""":math:`\log p_\theta(c \mid G(z))` of the source examples ``(half,)`` and the features of both domains.

        One pass of the model over the interleaved batch (the feature extractor works example by example):
        target rows carry the label -1, which the label site masks out.
        """
        if batch.domain is None:
            raise ValueError("dann reads two-domain batches (TensorData with `domain`): even rows source, odd target")
        n = batch.x.shape[0]
        tr = score_model(programs.model, batch.x, batch.c)
        log_p = log_prob_per_example(tr, n, sites={programs.obs_name})[0::2]  # source rows, as in split_domains
        features = tr.nodes["feature"]["value"]  # (batch, width)
        return log_p, features[0::2], features[1::2]

    def adaptation_weight(self, step: Tensor | None, like: Tensor) -> Tensor:
        r""":math:`\lambda_p = w\,(2 / (1 + e^{-10 p}) - 1)`, :math:`p` = ``step / schedule_steps``: a 0-dim tensor."""
        if step is None or self.schedule_steps == 0:
            return like.new_full((), self.weight)
        p = step.detach() / self.schedule_steps
        return self.weight * (2 / (1 + torch.exp(-10 * p)) - 1)


def domain_nll(d_src: Tensor, d_tgt: Tensor) -> Tensor:
    r""":math:`-\mathbb{E}_{src} \log q(y{=}1 \mid x) - \mathbb{E}_{tgt} \log q(y{=}0 \mid x)` from logits ``(half,)``."""
    return -(log_q_real(d_src).mean() + log_q_fake(d_tgt).mean())


class _Reversal(torch.autograd.Function):
    """The gradient reversal layer: the identity forward, ``-lam * grad`` backward."""

    @staticmethod
    def forward(ctx, x: Tensor, lam: Tensor) -> Tensor:
        ctx.save_for_backward(lam)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        (lam,) = ctx.saved_tensors
        return -lam * grad, None


def reverse_gradient(x: Tensor, lam: Tensor) -> Tensor:
    r""":math:`R_\lambda(x)`: ``x`` forward; the gradient :math:`-\lambda\, \partial\ell/\partial x` backward (Ganin et al., 2016)."""
    return _Reversal.apply(x, lam.detach())
