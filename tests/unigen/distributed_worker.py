"""Run by tests/unigen/test_distributed.py, alone or under torchrun: train noise-free programs, save the result.

The programs draw no random numbers (the GAN's generator maps a fixed code per example; the VAE's guide
is a point mass, so its prior is only scored, never sampled), so a data-parallel run must equal a
single-process run with the same global batch.
"""
import sys

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from unigen import Programs, Trainer
from unigen.config import OptimConfig
from unigen.data.base import TensorData
from unigen.distributed import from_env
from unigen.inference import ELBO, NonSaturatingGAN
from unigen.programs import DataInfo


class PointGenerator(nn.Module):
    """x = A u + b with a fixed code u for every example: a generator without noise (and whose
    samples do not depend on how the batch is split)."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)

    def forward(self, x_obs, c=None):
        batch_size = x_obs.shape[0]
        codes = self.lin.weight.new_ones(batch_size, 2) * torch.tensor([0.5, -0.3])  # (batch, 2)
        with pyro.plate("data", batch_size):
            pyro.sample("x", dist.Delta(self.lin(codes), event_dim=1), obs=x_obs)


class LinearDecoder(nn.Module):
    """z ~ N(0, I), x | z ~ N(A z + b, 0.5²)."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)

    def forward(self, x_obs, c=None):
        batch_size = x_obs.shape[0]
        zeros = self.lin.weight.new_zeros(batch_size, 2)
        with pyro.plate("data", batch_size):
            z = pyro.sample("z", dist.Normal(zeros, zeros + 1).to_event(1))
            pyro.sample("x", dist.Normal(self.lin(z), zeros + 0.5).to_event(1), obs=x_obs)


class PointGuide(nn.Module):
    """q(z|x) = δ(W x): a deterministic encoder."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)

    def forward(self, x, c=None):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Delta(self.lin(x), event_dim=1))


def run(out_path: str, steps: int = 12) -> None:
    device = torch.device("cpu")
    world = from_env(device)
    torch.manual_seed(0)
    data = TensorData(torch.randn(512, 2, generator=torch.Generator().manual_seed(1)), None,
                      DataInfo(shape=(2,), support="real"))
    disc = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1), nn.Flatten(0))
    gan = Programs(model=PointGenerator(), discriminator=disc)
    vae = Programs(model=LinearDecoder(), guide=PointGuide())
    results = {}
    for programs, strategy in ((gan, NonSaturatingGAN(n_critic=2)), (vae, ELBO())):
        trainer = Trainer(programs, strategy, data, batch_size=64, optim=OptimConfig(lr=1e-2), seed=3, world=world)
        trainer.fit(steps, progress=False, log_every=4)
        results[strategy.registry_name] = {k: v.detach().clone() for k, v in programs.state_dict().items()}
    if world.is_main:
        torch.save(results, out_path)


if __name__ == "__main__":
    run(sys.argv[1])
