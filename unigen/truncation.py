r"""The truncation trick (Brock et al., 2019, BigGAN §3.1): draw every Gaussian latent of a model from its prior
truncated to :math:`|u| \le T` in standard units, trading variety for fidelity as :math:`T` falls.

For a latent site :math:`z \sim \mathcal N(\mu, \sigma^2)` (elementwise; ``Independent`` and expanded forms
included) :class:`Truncate` draws :math:`u` from the standard normal truncated to :math:`[-T, T]`
(``torch.nn.init.trunc_normal_``, inverse-CDF sampling, no rejection loop) and sets :math:`z = \mu + \sigma u`.
It is a Pyro messenger, so it works on any model program: latents that depend on earlier ones see the truncated
values, discrete latents (an InfoGAN category, M2's label) and non-Gaussian continuous ones are drawn as usual,
and the data site is never touched.
"""
from __future__ import annotations

import torch
from pyro.poutine.messenger import Messenger
from torch.distributions import Normal

from unigen.errors import UserError

#: the largest threshold accepted: beyond it a standard normal is not truncated in float32
MAX_T = 10.0


def check_truncation(t: float | None) -> None:
    """Refuse, in one line, a threshold that is not a positive number of standard deviations."""
    if t is not None and not 0 < t <= MAX_T:
        raise UserError(f"--truncation {t}: the threshold is in standard deviations of the prior, > 0 and <= "
                        f"{MAX_T:g} (BigGAN used 0.04-2); e.g. --truncation 1")


def _gaussian(fn) -> Normal | None:
    """The elementwise Normal under ``Independent``/expanded wrappers, or ``None``."""
    while not isinstance(fn, Normal) and hasattr(fn, "base_dist"):
        fn = fn.base_dist
    return fn if isinstance(fn, Normal) else None


class Truncate(Messenger):
    """Draw the Gaussian latents of the programs run inside it from their truncated priors.

    :param threshold: :math:`T`, in standard deviations.
    :param skip: the data site's name (``programs.obs_name``), never truncated.
    :ivar truncated: names of the sites truncated so far (to say what was, or refuse when nothing was).
    """

    def __init__(self, threshold: float, skip: str):
        super().__init__()
        check_truncation(threshold)
        self.threshold, self.skip, self.truncated = float(threshold), skip, []

    def _pyro_sample(self, msg: dict) -> None:
        if msg["name"] == self.skip or msg["is_observed"] or msg["value"] is not None:
            return
        base = _gaussian(msg["fn"])
        if base is None:
            return
        shape = msg["fn"].shape()
        loc, scale = base.loc.expand(shape), base.scale.expand(shape)
        u = torch.nn.init.trunc_normal_(torch.empty(shape, dtype=loc.dtype, device=loc.device),
                                        0.0, 1.0, -self.threshold, self.threshold)
        msg["value"] = loc + scale * u
        if msg["name"] not in self.truncated:
            self.truncated.append(msg["name"])


def require_truncated(truncate: Truncate, strategy: str) -> None:
    """Refuse, in one line, a ``--truncation`` that changed nothing (the model has no Gaussian latent)."""
    if not truncate.truncated:
        raise UserError(f"--truncation needs a Gaussian latent in the model; this one (strategy {strategy!r}) draws "
                        f"none: drop --truncation")
