r"""MonoFlow: the generator as a particle flow along a monotone map of the log density ratio (Yi et al., 2023)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from unigen.errors import UserError
from unigen.settings import choice
from unigen.inference.adversarial import Adversarial
from unigen.inference.divergences import DIVERGENCES
from unigen.registry import STRATEGIES

# the f-GAN generators in MonoFlow form, h(log r) = r f'(r) - f(r); "minimax" is the GAN row
F_HS = {"kl": "kl", "reverse_kl": "reverse_kl", "pearson": "pearson", "neyman": "neyman",
        "hellinger": "hellinger", "js": "js", "minimax": "gan"}
H_NAMES = ("logit", "ns", "vanilla", "arcsinh", "exp", *F_HS)
GRID = (-8.0, 8.0, 1601)  # logits on which h must be strictly increasing


@STRATEGIES.register("monoflow")
@dataclass(frozen=True)
class MonoFlow(Adversarial):
    r"""MonoFlow: a BCE critic estimates log r; the generator ascends any increasing h(log r) (Yi et al., 2023).

    The discriminator is the usual BCE classifier, so its logit :math:`d \approx \log r`,
    :math:`r = p_{data}/p_\theta`. Its samples then follow the particle flow
    :math:`\dot x = \nabla_x h(\log r(x)) = h'(\log r)\,\nabla_x \log r`, which decreases
    :math:`\mathrm{KL}(p_\theta \| p_{data})` for every strictly increasing :math:`h`
    (:math:`\tfrac{d}{dt}\mathrm{KL} = -\mathbb{E}\, h' \|\nabla \log r\|^2`). The generator loss is

    .. math::
        \ell_G(\theta) = -\,\mathbb{E}_{z}\; h\big(d(G_\theta(z))\big),

    whose gradient on each sample is :math:`-h'(d)\,\nabla_\theta d(G_\theta(z))`. Choices of ``h``:

    * ``logit``: :math:`h = d`; ``ns``: :math:`h = \log\sigma(d)` (the non-saturating GAN);
      ``arcsinh``: :math:`h = \operatorname{arcsinh} d`; ``exp``: :math:`h = e^{\alpha d}`;
    * ``vanilla``: :math:`h = -\log(1 - \sigma(d + C))`, i.e. the authors' loss
      :math:`\mathbb{E}\log(1 - \sigma(d + C))`, a minimax GAN shifted by ``C`` out of saturation;
    * the f-GAN generators, :math:`h(r) = r f'(r) - f(r)` in :math:`d = \log r`: ``kl`` (:math:`r`),
      ``reverse_kl`` (:math:`\log r - 1`), ``pearson`` (:math:`r^2 - 1`), ``neyman``
      (:math:`2 - 2/r`), ``hellinger`` (:math:`\sqrt r - 1`), ``js`` (:math:`\log\frac{1 + r}{2}`),
      ``minimax`` (:math:`\log(1 + r)`, the minimax GAN).

    Players: ``discriminator`` (BCE, ``n_critic`` steps) then ``generator`` (the model).

    :param h: the increasing function of the logit d, by name (each is defined in the class docstring).
    :param C: the shift of ``vanilla`` (the authors use 5).
    :param alpha: the exponent of ``exp`` (1.5 in the paper's toy).
    :param custom_h: a tensor function ``h(d)`` given from Python; it replaces the named ``h``.
    :param allow_non_monotone: skip the check that ``h`` is strictly increasing on
        :math:`d \in [-8, 8]` (for controls that break the theory on purpose).
    """

    h: str = choice("logit", H_NAMES)
    C: float = 5.0
    alpha: float = 1.5
    custom_h: Any = None
    allow_non_monotone: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.custom_h is not None and not callable(self.custom_h):
            raise UserError(f"custom_h must be a function of the logits, got {type(self.custom_h).__name__}; "
                            f"pass e.g. custom_h=torch.tanh")
        grid = torch.linspace(*GRID, dtype=torch.float64)
        name = "custom_h" if self.custom_h is not None else f"h={self.h!r}"
        try:
            with torch.no_grad():
                values = torch.as_tensor(self.h_function()(grid))
        except Exception as e:  # a user function that cannot take a tensor
            raise UserError(f"MonoFlow {name} failed on a tensor of logits ({type(e).__name__}: {e}); "
                            f"write it with torch operations") from None
        if values.shape != grid.shape or not bool(torch.isfinite(values).all()):
            raise UserError(f"MonoFlow {name} must map logits elementwise to finite values; "
                            f"write it with elementwise torch operations")
        if not self.allow_non_monotone and not bool((values.diff() > 0).all()):
            raise UserError(f"MonoFlow {name} is not strictly increasing on logits in [{GRID[0]:g}, {GRID[1]:g}], "
                            f"so the flow need not decrease KL; use an increasing h or set allow_non_monotone=true")

    def h_function(self) -> Callable[[Tensor], Tensor]:
        """The map :math:`h` applied to the critic's logits (capture-safe torch operations only)."""
        if self.custom_h is not None:
            return self.custom_h
        if self.h in F_HS:
            return DIVERGENCES[F_HS[self.h]].h
        C, alpha = self.C, self.alpha
        return {"logit": lambda d: d,
                "ns": F.logsigmoid,
                "vanilla": lambda d: F.softplus(d + C),
                "arcsinh": torch.asinh,
                "exp": lambda d: torch.exp(alpha * d)}[self.h]

    def generator_loss(self, d_fake: Tensor) -> Tensor:
        return -self.h_function()(d_fake).mean()
