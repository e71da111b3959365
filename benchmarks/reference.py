r"""Hand-written PyTorch training steps: the reference that unigen's steps are timed against.

Each reference builds the *same networks* as the unigen model it mirrors (from the plain ``nn`` builders
of :mod:`unigen.models`, no Pyro) and writes the loss, the backward passes and the optimiser updates by
hand, as a careful PyTorch user would: one data batch per update drawn on the device, each player's
gradient taken only into its own parameters, no host synchronisation. ``capturable=True`` builds
optimisers whose state lives on the device, so the same step can be captured in a CUDA graph.
``fused=True`` builds torch's fused Adam (one kernel over all parameters, as unigen uses); the default is
torch's own default (the for-loop implementation on a CPU, ``foreach`` on CUDA).

A step is :meth:`Reference.batches` (the data batches it trains on, drawn on the device) then
:meth:`Reference.update` on them (losses, backward passes, optimiser steps): :meth:`Reference.traced` runs the
update through the same tracer as ``train.compile=trace`` (:class:`unigen.traced.TracedStep`: ``make_fx`` into
one graph, compiled by inductor), with the batches drawn outside the graph, as unigen draws them.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from unigen.models.dcgan import conv_trunk, dcgan_init, generator_net
from unigen.models.nets import leaky_relu, mlp

LOG_2PI = math.log(2 * math.pi)


def adam(params, lr: float, betas, capturable: bool, device, fused: bool = False) -> torch.optim.Adam:
    params = list(params)
    if capturable:
        return torch.optim.Adam(params, lr=torch.tensor(lr, device=device), betas=betas, capturable=True,
                                **({"fused": True} if fused else {"foreach": True}))
    return torch.optim.Adam(params, lr=lr, betas=betas, **({"fused": True} if fused else {}))


class Reference:
    """A hand-written step over data ``x`` (on the device): ``step()`` draws its batches and updates."""

    players: dict[str, nn.Module]

    def __init__(self, x: Tensor, batch_size: int):
        self.x, self.batch_size = x, batch_size

    def batch(self) -> Tensor:
        # index_select rather than x[idx]: the same rows, gathered by a cheaper kernel, as unigen's data gather them
        # (profiled in a traced VAE step: advanced indexing 0.21 ms a step, index_select 0.08 ms)
        return self.x.index_select(0, torch.randint(self.x.shape[0], (self.batch_size,), device=self.x.device))

    def parameter_counts(self) -> dict[str, int]:
        return {name: sum(p.numel() for p in net.parameters()) for name, net in self.players.items()}

    def batches(self) -> tuple[Tensor, ...]:
        """The data batches of one step, one per update (drawn on the device)."""
        return (self.batch(),)

    def update(self, *batches: Tensor) -> Tensor:
        """The step on ``batches``: losses, backward passes and optimiser updates; the last loss."""
        raise NotImplementedError

    def step(self) -> Tensor:
        return self.update(*self.batches())

    def optimizers(self) -> list[torch.optim.Optimizer]:
        raise NotImplementedError

    def traced(self) -> Callable[[], Tensor]:
        """This step through unigen's tracer (``train.compile=trace``'s :class:`~unigen.traced.TracedStep`, inductor
        included): :meth:`update` traced once into one graph and compiled, then replayed on batches drawn
        outside it. The benchmark builds it with ``fused=True``, whose Adam the tracer rewrites for inductor as it
        does unigen's."""
        from unigen.traced import TracedStep

        tracer = TracedStep.over(nn.ModuleList(self.players.values()), self.optimizers(), [],
                                 f"the hand-written {type(self).__name__}", "trace")

        def step() -> Tensor:
            return tracer("step", self.update, *self.batches())

        step.tracer = tracer
        return step


class VAEReference(Reference):
    r"""MLP VAE 784-400-20, Bernoulli pixels; the Monte-Carlo bound with ``K`` importance samples
    (``K = 1``: the ELBO, :math:`\log p(x|z) + \log p(z) - \log q(z|x)` at one reparameterised draw)."""

    def __init__(self, x: Tensor, batch_size: int, z_dim=20, hidden=400, k=1, capturable=False, fused=False):
        super().__init__(x, batch_size)
        d = x[0].numel()
        self.enc = nn.Sequential(mlp([d, hidden], final_act=True), nn.Linear(hidden, 2 * z_dim)).to(x.device)
        self.dec = mlp([z_dim, hidden, d]).to(x.device)
        self.k, self.z_dim = k, z_dim
        self.players = {"vae": nn.ModuleList([self.enc, self.dec])}
        self.opt = adam(self.players["vae"].parameters(), 1e-3, (0.9, 0.999), capturable, x.device, fused)

    def optimizers(self) -> list[torch.optim.Optimizer]:
        return [self.opt]

    def loss(self, batch: Tensor | None = None) -> Tensor:
        """The negative bound on ``batch`` (default: a fresh one), with its autograd graph (the forward half of
        :meth:`step`)."""
        x = (self.batch() if batch is None else batch).flatten(1)  # (B, D)
        loc, raw = self.enc(x).chunk(2, -1)
        scale = F.softplus(raw) + 1e-4
        eps = torch.randn((self.k,) + loc.shape, device=x.device)  # (K, B, Z)
        z = loc + scale * eps
        logits = self.dec(z)  # (K, B, D)
        log_px = -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)
        log_pz = -0.5 * (z ** 2 + LOG_2PI).sum(-1)
        log_qz = (-0.5 * (eps ** 2 + LOG_2PI) - scale.log()).sum(-1)
        bound = torch.logsumexp(log_px + log_pz - log_qz, 0) - math.log(self.k)  # (B,)
        return -bound.mean()

    def update(self, batch: Tensor) -> Tensor:
        loss = self.loss(batch)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.detach()


class GANReference(Reference):
    """Two players, a generator ``G`` (z → x) and a critic ``D`` (x → logit), ``n_critic`` critic updates
    per generator update; the non-saturating loss, or WGAN-GP's (``gp`` > 0)."""

    def __init__(self, x: Tensor, batch_size: int, generator: nn.Module, critic: nn.Module, z_dim: int,
                 lr: float, betas, n_critic=1, gp=0.0, capturable=False, fused=False):
        super().__init__(x, batch_size)
        self.G, self.D = generator.to(x.device), critic.to(x.device)
        self.z_dim, self.n_critic, self.gp = z_dim, n_critic, gp
        self.players = {"generator": self.G, "discriminator": self.D}
        self.opt_g = adam(self.G.parameters(), lr, betas, capturable, x.device, fused)
        self.opt_d = adam(self.D.parameters(), lr, betas, capturable, x.device, fused)

    def optimizers(self) -> list[torch.optim.Optimizer]:
        return [self.opt_d, self.opt_g]

    def critic(self, x: Tensor) -> Tensor:
        return self.D(x).reshape(x.shape[0])

    def noise(self) -> Tensor:
        return torch.randn(self.batch_size, self.z_dim, device=self.x.device)

    def batches(self) -> tuple[Tensor, ...]:
        return tuple(self.batch() for _ in range(self.n_critic))  # one per critic update

    def update(self, *reals: Tensor) -> Tensor:
        for real in reals:
            with torch.no_grad():
                fake = self.G(self.noise())
            d_real, d_fake = self.critic(real), self.critic(fake)
            if self.gp:
                loss_d = d_fake.mean() - d_real.mean() + self.gp * self.penalty(real, fake)
            else:
                loss_d = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward(inputs=list(self.D.parameters()))
            self.opt_d.step()
        d = self.critic(self.G(self.noise()))
        loss_g = -d.mean() if self.gp else F.softplus(-d).mean()
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward(inputs=list(self.G.parameters()))
        self.opt_g.step()
        return loss_g.detach()

    def penalty(self, real: Tensor, fake: Tensor) -> Tensor:
        eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device)
        mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(self.critic(mixed).sum(), mixed, create_graph=True)
        return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


class ImageGenerator(nn.Module):
    """DCGAN generator with tanh, z as a 1×1 map."""

    def __init__(self, z_dim: int, ngf: int, channels: int, base: int, ups: int):
        super().__init__()
        self.net = generator_net(z_dim, ngf, channels, base, ups)

    def forward(self, z: Tensor) -> Tensor:
        return torch.tanh(self.net(z[:, :, None, None]))


def dcgan_pair(z_dim=100, ngf=64, ndf=64, channels=1, base=4, ups=3, norm="batch") -> tuple[nn.Module, nn.Module]:
    gen = ImageGenerator(z_dim, ngf, channels, base, ups)
    trunk, width = conv_trunk(channels, ndf, ups, norm)
    critic = nn.Sequential(trunk, nn.Conv2d(width, 1, base, 1, 0))
    dcgan_init(gen), dcgan_init(critic)
    return gen, critic


def mlp_pair(z_dim=2, hidden=128, depth=3, d=2) -> tuple[nn.Module, nn.Module]:
    return mlp([z_dim] + [hidden] * depth + [d]), mlp([d] + [hidden] * depth + [1], act=leaky_relu)
