"""Tiny programs with known mathematics, shared by the tests (``from toys import ...``; pytest puts
``tests/`` on the path, see ``pythonpath`` in pyproject.toml)."""
from __future__ import annotations

import contextlib
import math

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from unigen import Programs
from unigen.data.base import TensorData
from unigen.models.mlp import MLP
from unigen.models.ssvae import SSVAE
from unigen.programs import DataInfo


class LinearGaussianModel(nn.Module):
    r"""z ~ N(0, 1), x | z ~ N(a z + b, σ²): marginal x ~ N(b, a² + σ²), posterior Gaussian."""

    def __init__(self, a=1.5, b=0.5, sigma=0.8):
        super().__init__()
        self.a = nn.Parameter(torch.tensor(a))
        self.b = nn.Parameter(torch.tensor(b))
        self.register_buffer("sigma", torch.tensor(sigma))

    def forward(self, x_obs, c=None):
        batch_size = x_obs.shape[0]
        zeros = self.sigma.new_zeros(batch_size)
        with pyro.plate("data", batch_size):
            z = pyro.sample("z", dist.Normal(zeros, zeros + 1))
            loc = (self.a * z + self.b).unsqueeze(-1)  # (batch, 1)
            pyro.sample("x", dist.Normal(loc, self.sigma).to_event(1), obs=x_obs)

    def log_px(self, x):
        return dist.Normal(self.b, torch.sqrt(self.a ** 2 + self.sigma ** 2)).log_prob(x[:, 0])

    def posterior(self, x):
        var = self.sigma ** 2 / (self.a ** 2 + self.sigma ** 2)
        return self.a * (x[:, 0] - self.b) / (self.a ** 2 + self.sigma ** 2), var.sqrt()


class LinearGaussianGuide(nn.Module):
    """q(z | x) = N(m x + k, s²)."""

    def __init__(self, m=0.3, k=-0.1, s=0.7):
        super().__init__()
        self.m = nn.Parameter(torch.tensor(m))
        self.k = nn.Parameter(torch.tensor(k))
        self.log_s = nn.Parameter(torch.tensor(math.log(s)))

    def forward(self, x, c=None):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(self.m * x[:, 0] + self.k, self.log_s.exp()))


class ShiftGenerator(nn.Module):
    """x = z + θ, z ~ N(0, 1): an implicit generator (Delta likelihood) with one location parameter."""

    def __init__(self, theta=0.0, dim=1):
        super().__init__()
        self.theta = nn.Parameter(torch.full((dim,), theta))

    def forward(self, x_obs, c=None):
        batch_size = x_obs.shape[0]
        zeros = self.theta.new_zeros(batch_size, self.theta.shape[0])
        with pyro.plate("data", batch_size):
            z = pyro.sample("z", dist.Normal(zeros, zeros + 1).to_event(1))
            pyro.sample("x", dist.Delta(z + self.theta, event_dim=1), obs=x_obs)


class QuadraticDiscriminator(nn.Module):
    """d(x) = w2 x² + w1 x + w0 per coordinate, summed: exact log-ratio family for two Gaussians."""

    def __init__(self, dim=1):
        super().__init__()
        self.lin = nn.Linear(2 * dim, 1)
        nn.init.zeros_(self.lin.weight)
        nn.init.zeros_(self.lin.bias)

    def forward(self, x, c=None):
        return self.lin(torch.cat([x, x ** 2], dim=-1)).squeeze(-1)


def gaussian_data(n=4096, loc=0.0, scale=1.0, dim=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = loc + scale * torch.randn(n, dim, generator=g)
    return TensorData(x, None, DataInfo(shape=(dim,), support="real"))


def train_1d(strategy, steps=600):
    """Seeded 1-D GAN: x = z + θ from θ = 0 against N(4, 1) with a quadratic critic; returns θ."""
    from unigen import Trainer
    from unigen.config import OptimConfig

    torch.manual_seed(0)
    pyro.set_rng_seed(0)
    programs = Programs(model=ShiftGenerator(theta=0.0), discriminator=QuadraticDiscriminator())
    trainer = Trainer(programs, strategy, gaussian_data(n=20_000, loc=4.0), batch_size=256,
                      optim=OptimConfig(lr=0.02, betas=[0.5, 0.999]))
    trainer.fit(steps, progress=False)
    return programs.model.theta.detach()


def contract_setup(strategy, n=256):
    """Tiny programs with every role the strategy needs.

    MLP programs on 2-D data, labelled (3 classes) when the strategy needs labels; strategies that need
    a classifier (semi-supervised) get the M2 model on 4×4 unit images with a third of the labels hidden.
    """
    if strategy.needs.domains:
        return _two_domain_setup(strategy, n)
    g = torch.Generator().manual_seed(0)
    k = 3 if strategy.needs.labels != "none" else None
    labels = torch.randint(0, 3, (n,), generator=g) if k else None
    if "classifier" in strategy.needs.role_names:
        info = DataInfo(shape=(1, 4, 4), num_classes=3, support="unit")
        programs = _every_role(SSVAE(z_dim=3, hidden=16, disc_hidden=16), info, strategy)
        labels = torch.where(torch.arange(n) % 3 == 0, -1, labels)
        return programs, TensorData(torch.rand(n, 1, 4, 4, generator=g), labels, info)
    info = DataInfo(shape=(2,), num_classes=k, support="real")
    programs = _every_role(MLP(hidden=16, disc_hidden=16, likelihood="normal", conditional=bool(k)), info, strategy)
    return programs, TensorData(torch.randn(n, 2, generator=g), labels, info)


def _every_role(spec, info, strategy):
    """Every role the spec offers, then the critics that the strategy requests with ``Critic`` (no spec names
    them), built last so that the other roles' weights are those of ``spec.build(info)``."""
    networks = spec.networks(info)
    return networks.build(info, roles=(*networks.offered(), *getattr(strategy, "networks", ())))


def _cyclegan_setup(strategy, n=256):
    """Two-domain 2-D data (domain 1 = domain 0 turned by 90°, other draws) and the tiny ``cyclegan`` networks."""
    from unigen.models.cyclegan import CycleGANNets
    from unigen.roles import needed_roles

    g = torch.Generator().manual_seed(0)
    a = torch.randn(n // 2, 2, generator=g) * torch.tensor([1.0, 0.3]) + torch.tensor([2.0, 0.0])
    b = (torch.randn(n // 2, 2, generator=g) * torch.tensor([1.0, 0.3]) + torch.tensor([2.0, 0.0])) @ ROT90.T
    info = DataInfo(shape=(2,), support="real")
    domain = torch.cat([torch.zeros(n // 2), torch.ones(n // 2)])
    programs = CycleGANNets(translator="mlp", critic="mlp", hidden=16, depth=1, disc_hidden=16).build(info, roles=needed_roles(strategy))
    return programs, TensorData(torch.cat([a, b]), None, info, domain=domain)


ROT90 = torch.tensor([[0.0, -1.0], [1.0, 0.0]])  # x -> R x turns the plane 90° anticlockwise


def _dann_setup(strategy, n=256):
    """Two-domain 2-D data (source 0 labelled, 3 classes; target 1 shifted, labels hidden) and the ``dann``
    networks, for strategies that read two domains (``strategy.needs.domains``)."""
    from unigen.models.dann import DANNNets
    from unigen.roles import needed_roles

    g = torch.Generator().manual_seed(0)
    domain = torch.arange(n) % 2
    labels = torch.where(domain == 0, torch.randint(0, 3, (n,), generator=g), -1)
    x = torch.randn(n, 2, generator=g) + 2.0 * domain.unsqueeze(-1)
    info = DataInfo(shape=(2,), num_classes=3, support="real")
    programs = DANNNets(hidden=16, disc_hidden=16).build(info, roles=needed_roles(strategy))
    return programs, TensorData(x, labels, info, domain=domain)


def _two_domain_setup(strategy, n=256):
    """Two-domain programs and data: CycleGAN's translators, or DANN's feature extractor and domain critic."""
    from unigen.roles import needed_roles

    return (_cyclegan_setup if "generator_ab" in needed_roles(strategy) else _dann_setup)(strategy, n)


# --- Pyro's VAE tutorial (pyro.ai/examples/vae.html), with smaller layers; not a line changed otherwise ---
class Decoder(nn.Module):
    def __init__(self, z_dim, hidden_dim):
        super().__init__()
        self.fc1 = nn.Linear(z_dim, hidden_dim)
        self.fc21 = nn.Linear(hidden_dim, 784)
        self.softplus = nn.Softplus()
        self.sigmoid = nn.Sigmoid()

    def forward(self, z):
        hidden = self.softplus(self.fc1(z))
        loc_img = self.sigmoid(self.fc21(hidden))
        return loc_img


class Encoder(nn.Module):
    def __init__(self, z_dim, hidden_dim):
        super().__init__()
        self.fc1 = nn.Linear(784, hidden_dim)
        self.fc21 = nn.Linear(hidden_dim, z_dim)
        self.fc22 = nn.Linear(hidden_dim, z_dim)
        self.softplus = nn.Softplus()

    def forward(self, x):
        x = x.reshape(-1, 784)
        hidden = self.softplus(self.fc1(x))
        z_loc = self.fc21(hidden)
        z_scale = torch.exp(self.fc22(hidden))
        return z_loc, z_scale


class VAE(nn.Module):
    def __init__(self, z_dim=4, hidden_dim=32, validate=False):
        super().__init__()
        self.encoder = Encoder(z_dim, hidden_dim)
        self.decoder = Decoder(z_dim, hidden_dim)
        self.z_dim = z_dim
        self.validate = validate  # False as in the tutorial; None: torch's default Bernoulli

    def model(self, x):
        pyro.module("decoder", self.decoder)
        with pyro.plate("data", x.shape[0]):
            z_loc = x.new_zeros(torch.Size((x.shape[0], self.z_dim)))
            z_scale = x.new_ones(torch.Size((x.shape[0], self.z_dim)))
            z = pyro.sample("latent", dist.Normal(z_loc, z_scale).to_event(1))
            loc_img = self.decoder(z)
            likelihood = (dist.Bernoulli(loc_img, validate_args=False) if self.validate is False
                          else dist.Bernoulli(loc_img))
            pyro.sample("obs", likelihood.to_event(1), obs=x.reshape(-1, 784))

    def guide(self, x):
        pyro.module("encoder", self.encoder)
        with pyro.plate("data", x.shape[0]):
            z_loc, z_scale = self.encoder(x)
            pyro.sample("latent", dist.Normal(z_loc, z_scale).to_event(1))


def fake_fashion_classifier(device="cpu"):
    """An untrained, seeded stand-in for the Fashion-MNIST feature classifier (its minute of training is not what
    a reproduction's quick test checks), as ``(model, test accuracy)``."""
    from unigen.metrics.classifier import MNISTClassifier

    torch.manual_seed(0)
    net = MNISTClassifier()
    net.label = "Fashion-MNIST-classifier"
    return net.eval().requires_grad_(False).to(device), 0.0


@contextlib.contextmanager
def stopped_at(monkeypatch, step: int, signal: str | None = None):
    """Inside the block a training stops as if a signal arrived during step ``step`` (unigen.signals.StopOnSignal
    asks it to from that step on); ``signal`` (``"SIGTERM"``) is also recorded as the one that arrived."""
    from unigen.signals import StopOnSignal

    calls = {"n": 0}

    def requested(self):
        calls["n"] += 1
        if calls["n"] >= step and signal is not None:
            self.signal = signal
        return calls["n"] >= step

    with monkeypatch.context() as m:
        m.setattr(StopOnSignal, "requested", requested)
        yield
