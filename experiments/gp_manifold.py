r"""Part 1 of ``gp-stabilises``: data on a line, where the divergence view predicts that a GAN cannot learn.

After Fedus et al. (ICLR 2018, §3: GANs learn distributions on low-dimensional manifolds, where the
Jensen–Shannon divergence between the model and the data is :math:`\log 2` and its gradient is useless). The
data are a segment on the first axis of :math:`\mathbb{R}^D`, :math:`x = (u, 0, \dots, 0)`, :math:`u \sim U[-1, 1]`;
the generator maps a one-dimensional :math:`z \sim \mathcal N(0, 1)` through an MLP, so its samples lie on a curve,
and its output bias starts at :math:`2 e_2`, two units off the data. The two distributions are mutually singular
at every step short of an exact fit, so :math:`JS = \log 2` throughout: a generator that follows the divergence's
gradient gets none.

Both strategies train the same programs from the same initial weights with the same critic (BCE, ``n_critic``
updates per generator update); only the generator loss differs — ``minimax_gan``'s :math:`\mathbb{E}\log(1 - D)`
(its gradient vanishes as :math:`D \to D^*`) and ``ns_gan``'s :math:`-\mathbb{E}\log D` (it does not). The losses
are the strategies' own (:meth:`critic_loss`, :meth:`generator_loss`), on plain modules and a loop of our own.
Every ``every`` updates we record, as Fedus et al. and Arjovsky & Bottou (2017, Fig. 2) do:

* the mean Euclidean distance of 1,000 generated samples to the data segment (closed form,
  :func:`distance_to_data`);
* the norm :math:`\|\nabla_\theta L_G\|` of the generator's gradient under a *well-trained* critic: a copy of the
  current critic trained ``probe_steps`` more updates against the frozen generator (the training run's critic is
  untouched), for both generator losses.

Departures, stated: Fedus et al.'s exact networks, dimensions and optimiser for this toy were not available to us
(the stored copies of the paper hold its abstract and introduction only); the segment, the 1-D latent, the offset,
the MLP widths and Adam settings below are ours.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from unigen.registry import STRATEGIES

OFFSET = 2.0  # the generator's output bias starts at OFFSET * e_2: that far from the data segment


@dataclass(frozen=True)
class Toy:
    """Settings of one training on the segment (widths, optimiser, schedule of measurements)."""

    dim: int = 16
    steps: int = 2000  # generator updates
    n_critic: int = 5
    batch: int = 256
    hidden: int = 64
    lr: float = 1e-3
    betas: tuple[float, float] = (0.5, 0.999)
    every: int = 200  # measure every this many generator updates
    probe_steps: int = 300  # extra critic updates before each gradient-norm measurement
    samples: int = 1000  # generated samples per distance


def segment(n: int, dim: int, generator: torch.Generator | None = None) -> Tensor:
    """``n`` data points ``(u, 0, ..., 0)``, ``u ~ U[-1, 1]``: shape ``(n, dim)``."""
    x = torch.zeros(n, dim)
    x[:, 0] = 2 * torch.rand(n, generator=generator) - 1
    return x


def distance_to_data(x: Tensor) -> Tensor:
    """Euclidean distance of each row of ``x`` to the segment ``[-1, 1] × {0}^{D-1}``: shape ``(n,)``."""
    along = (x[:, 0].abs() - 1).clamp(min=0)  # beyond an end of the segment
    return (along ** 2 + (x[:, 1:] ** 2).sum(dim=1)).sqrt()


def _mlp(n_in: int, hidden: int, n_out: int, act) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), act(), nn.Linear(hidden, hidden), act(), nn.Linear(hidden, n_out))


def networks(toy: Toy, seed: int) -> tuple[nn.Module, nn.Module]:
    """Generator ``z (n, 1) -> (n, D)`` offset by :data:`OFFSET` along e_2, and critic ``(n, D) -> (n,)``."""
    torch.manual_seed(seed)
    gen = _mlp(1, toy.hidden, toy.dim, nn.ReLU)
    with torch.no_grad():
        gen[-1].bias.zero_()
        gen[-1].bias[1] = OFFSET
    critic = nn.Sequential(_mlp(toy.dim, toy.hidden, 1, lambda: nn.LeakyReLU(0.2)), nn.Flatten(0))
    return gen, critic


def _critic_update(strategy, critic, opt, gen, toy: Toy) -> None:
    x_real = segment(toy.batch, toy.dim)
    with torch.no_grad():
        x_fake = gen(torch.randn(toy.batch, 1))
    loss = strategy.critic_loss(critic(x_real), critic(x_fake))
    penalty = strategy.penalty_term(critic, x_real, x_fake)  # the strategy's own gradient penalty, if it has one on
    if penalty is not None:
        loss = loss + strategy.penalty_weight * penalty
    opt.zero_grad()
    loss.backward()
    opt.step()


def generator_grad_norms(gen: nn.Module, critic: nn.Module, toy: Toy) -> dict[str, float]:
    """:math:`\\|\\nabla_\\theta L_G\\|` of the minimax and NS generator losses at a well-trained copy of ``critic``."""
    probe = copy.deepcopy(critic)
    opt = torch.optim.Adam(probe.parameters(), lr=toy.lr, betas=toy.betas)
    base = STRATEGIES.get("ns_gan")()  # the critic loss is the same BCE for both strategies
    for _ in range(toy.probe_steps):
        _critic_update(base, probe, opt, gen, toy)
    d_fake = probe(gen(torch.randn(toy.batch, 1)))
    out = {}
    for name in ("minimax_gan", "ns_gan"):
        grads = torch.autograd.grad(STRATEGIES.get(name)().generator_loss(d_fake), list(gen.parameters()),
                                    retain_graph=True)
        out[name] = float(torch.sqrt(sum((g ** 2).sum() for g in grads)))
    return out


def train(name: str, toy: Toy, seed: int, **settings) -> dict:
    """Train ``gen`` with strategy ``name``'s generator loss (built with ``settings``: e.g. ``penalty="gp",
    penalty_weight=10`` adds that gradient penalty to the critic's loss); return the curve and 500 final samples.

    ``curve``: ``[(update, distance, {loss: grad norm})]`` from update 0 (the initial programs) every ``toy.every``.
    """
    strategy = STRATEGIES.get(name)(**settings)
    gen, critic = networks(toy, seed)
    opt_g = torch.optim.Adam(gen.parameters(), lr=toy.lr, betas=toy.betas)
    opt_d = torch.optim.Adam(critic.parameters(), lr=toy.lr, betas=toy.betas)
    curve = []

    def measure(step: int) -> None:  # on a forked RNG, so that measuring leaves the training's draws unchanged
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            dist = float(distance_to_data(gen(torch.randn(toy.samples, 1))).mean())
        with torch.random.fork_rng(devices=[]):
            curve.append((step, dist, generator_grad_norms(gen, critic, toy)))

    measure(0)
    for step in range(1, toy.steps + 1):
        for _ in range(toy.n_critic):
            _critic_update(strategy, critic, opt_d, gen, toy)
        loss = strategy.generator_loss(critic(gen(torch.randn(toy.batch, 1))))
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()
        if step % toy.every == 0 or step == toy.steps:
            measure(step)
    with torch.no_grad():
        samples = gen(torch.randn(500, 1))
    return {"curve": curve, "samples": samples}
