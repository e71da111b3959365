r"""The two-player skeleton shared by adversarial strategies.

In the unified view (Hu et al., 2018) the discriminator is an inference network
:math:`q_\phi(y \mid x)` over a real/fake indicator (``y = 1`` real, ``y = 0`` generated); its logit
``d(x)`` estimates :math:`\log p_{data}(x) / p_\theta(x)`. Each step first fits :math:`q_\phi`
(``n_critic`` times, each on a fresh batch, on detached generated samples), then updates the
generator through :math:`q_\phi` with one generator loss. Subclasses supply ``generator_loss`` and
may replace ``critic_loss``; nothing else.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from unigen.programs import Batch, Programs, discriminate, generate, log_q_fake, log_q_real
from unigen.strategy import Phase, Strategy


@dataclass(frozen=True)
class Adversarial(Strategy):
    """Base of the GAN family: a discriminator phase then a generator phase."""

    n_critic: int = 1

    requires: ClassVar[tuple[str, ...]] = ("model", "discriminator")
    players: ClassVar[dict[str, tuple[str, ...]]] = {"discriminator": ("discriminator",),
                                                     "generator": ("model",)}

    def phases(self) -> tuple[Phase, ...]:
        return (Phase(("discriminator",), self.discriminator_step, self.n_critic),
                Phase(("generator",), self.generator_step))

    # ------------------------------------------------------------------------------ the two steps
    def discriminator_step(self, programs: Programs, batch: Batch) -> dict[str, Tensor]:
        with torch.no_grad():
            x_fake, _ = generate(programs, batch.x.shape[0], batch.c)
        d_real = discriminate(programs, batch.x, batch.c)  # (batch,)
        d_fake = discriminate(programs, x_fake, batch.c)  # (batch,)
        return {"discriminator": self.critic_loss(d_real, d_fake),
                "d_real": d_real.mean(), "d_fake": d_fake.mean()}

    def generator_step(self, programs: Programs, batch: Batch) -> dict[str, Tensor]:
        x_fake, _ = generate(programs, batch.x.shape[0], batch.c)
        return {"generator": self.generator_loss(discriminate(programs, x_fake, batch.c))}

    # ------------------------------------------------------------------------------- the losses
    def critic_loss(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        r"""Negative log-likelihood of the indicator under :math:`q_\phi`:
        :math:`-\mathbb{E}_{p_{data}} \log q_\phi(y{=}1 \mid x) - \mathbb{E}_{p_\theta} \log q_\phi(y{=}0 \mid x)`
        (binary cross-entropy with logits; its optimum is :math:`d = \log p_{data}/p_\theta`)."""
        return -(log_q_real(d_real).mean() + log_q_fake(d_fake).mean())

    def generator_loss(self, d_fake: Tensor) -> Tensor:
        """Generator loss from the logits of generated samples, shape ``(batch,)`` → scalar."""
        raise NotImplementedError
