"""ALI / BiGAN: the optimal joint critic is log q(x,z) − log p(x,z); the losses by hand; the encoder learns to
invert the generator."""
import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from torch import nn

from toys import LinearGaussianGuide, LinearGaussianModel
from unigen import Programs, Trainer, UserError
from unigen.config import OptimConfig
from unigen.data.base import TensorData
from unigen.inference import ALI, BiGAN
from unigen.inference.ali import reconstruct
from unigen.programs import Batch, DataInfo
from unigen.registry import STRATEGIES


class QuadraticJointCritic(nn.Module):
    """d(x, z) = w·(x, z, x², z², xz) + w0 for 1-D x and z: the exact log-ratio family of two Gaussian joints."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(5, 1)
        nn.init.zeros_(self.lin.weight)
        nn.init.zeros_(self.lin.bias)

    def forward(self, x, z):
        x, z = x.reshape(-1), z.reshape(-1)
        return self.lin(torch.stack([x, z, x * x, z * z, x * z], dim=-1)).squeeze(-1)


class LinearGenerator(nn.Module):
    """z ~ N(0, 1), x = a z + b (a Delta likelihood: an implicit generator)."""

    def __init__(self, a=1.0, b=0.0):
        super().__init__()
        self.a = nn.Parameter(torch.tensor(a))
        self.b = nn.Parameter(torch.tensor(b))

    def forward(self, x, c=None):
        zeros = self.a.new_zeros(x.shape[0])
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(zeros, zeros + 1))
            pyro.sample("x", dist.Delta((self.a * z + self.b).unsqueeze(-1), event_dim=1), obs=x)


def gaussian(n, mu, sd, seed=0):
    g = torch.Generator().manual_seed(seed)
    return TensorData(mu + sd * torch.randn(n, 1, generator=g), None, DataInfo(shape=(1,)))


def test_ali_and_bigan_are_registered_and_bigan_is_simultaneous():
    assert STRATEGIES.get("ali") is ALI and STRATEGIES.get("bigan") is BiGAN
    assert [p.players for p in ALI(n_critic=3).phases()] == [("discriminator",), ("generator",)]
    assert ALI(n_critic=3).phases()[0].repeats == 3
    assert [p.players for p in BiGAN().phases()] == [("discriminator", "generator")]
    with pytest.raises(UserError, match="n_critic must be >= 1"):
        ALI(n_critic=0)


# ------------------------------------------------------------------ the optimal critic, in closed form
MU, SD = 0.5, 1.2  # p_data = N(MU, SD²)


def exact_log_ratio(model, guide, x, z):
    """log q(x, z) − log p(x, z) for q = p_data(x) q(z|x), p = p(z) p(x|z), all Gaussian."""
    log_q = dist.Normal(MU, SD).log_prob(x) + dist.Normal(guide.m * x + guide.k, guide.log_s.exp()).log_prob(z)
    log_p = dist.Normal(0.0, 1.0).log_prob(z) + dist.Normal(model.a * z + model.b, model.sigma).log_prob(x)
    return log_q - log_p


def test_the_trained_joint_critic_is_the_log_ratio_of_the_two_joints():
    torch.manual_seed(0)
    pyro.set_rng_seed(0)
    programs = Programs(LinearGaussianModel(), LinearGaussianGuide(), joint_discriminator=QuadraticJointCritic())
    strategy = ALI()
    trainer = Trainer(programs, strategy, gaussian(50_000, MU, SD), batch_size=1024, optim=OptimConfig(lr=0.05))
    critic_phase = strategy.phases()[0]  # encoder and decoder stay fixed
    for i in range(600):
        if i == 300:
            trainer.optimizers["discriminator"].param_groups[0]["lr"] = 0.005
        trainer.run_phase(critic_phase)
    xs, zs = torch.meshgrid(torch.linspace(-1.5, 2.5, 9), torch.linspace(-1.5, 1.5, 7), indexing="ij")
    x, z = xs.reshape(-1), zs.reshape(-1)
    with torch.no_grad():
        d = programs.joint_discriminator(x.unsqueeze(-1), z.unsqueeze(-1))
        truth = exact_log_ratio(programs.model, programs.guide, x, z)
    assert float(truth.max() - truth.min()) > 8  # the ratio varies over the grid: a constant critic fails
    torch.testing.assert_close(d, truth, atol=0.1, rtol=0)


# ------------------------------------------------------------------------------ the losses by hand
Z0 = (0.5, 0.25)  # the decoder's latents (a point-mass prior, so that the case is deterministic)


class PointModel(nn.Module):
    """z = Z0 (Delta), x = 3 z (Delta)."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(3.0))

    def forward(self, x, c=None):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Delta(torch.tensor(Z0)))
            pyro.sample("x", dist.Delta((self.scale * z).unsqueeze(-1), event_dim=1), obs=x)


class PointGuide(nn.Module):
    """z = x / 3 (a deterministic encoder: BiGAN's)."""

    def __init__(self, inverse=1 / 3):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(inverse))

    def forward(self, x, c=None):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Delta(self.w * x[:, 0]))


class LinearJointCritic(nn.Module):
    def forward(self, x, z):
        return x[:, 0] + 2 * z[:, 0] - 1  # d(x, z) = x + 2z − 1


def softplus(v):
    return math.log1p(math.exp(v))


def test_the_losses_by_hand():
    programs = Programs(PointModel(), PointGuide(inverse=2.0), joint_discriminator=LinearJointCritic())
    batch = Batch(torch.tensor([[1.0], [-1.0]]))
    # encoder pairs (x, 2x): d = 1 + 4 − 1 = 4 and −1 − 4 − 1 = −6; decoder pairs (3z, z): 1.5 + 1 − 1, 0.75 + 0.5 − 1
    d_q, d_p = (4.0, -6.0), (1.5, 0.25)
    critic = (softplus(-4.0) + softplus(6.0)) / 2 + (softplus(1.5) + softplus(0.25)) / 2
    generator = (softplus(4.0) + softplus(-6.0)) / 2 + (softplus(-1.5) + softplus(-0.25)) / 2
    ali = ALI()
    with torch.no_grad():
        d, g = ali.discriminator_step(programs, batch), ali.generator_step(programs, batch)
        joint = BiGAN().joint_step(programs, batch)
    for values in (d, joint):
        assert float(values["discriminator"]) == pytest.approx(critic, rel=1e-6)
    for values in (g, joint):
        assert float(values["generator"]) == pytest.approx(generator, rel=1e-6)
    for values in (d, g, joint):
        assert float(values["d_real"]) == pytest.approx(sum(d_q) / 2)
        assert float(values["d_fake"]) == pytest.approx(sum(d_p) / 2)


def test_reconstruction_through_an_exact_inverse_returns_x():
    programs = Programs(PointModel(), PointGuide(inverse=1 / 3), joint_discriminator=LinearJointCritic())
    x = torch.tensor([[0.3], [-2.0]])  # the point-mass prior holds two examples
    torch.testing.assert_close(reconstruct(programs, x), x)


def test_a_guide_that_cannot_be_reparameterised_is_refused_in_one_line():
    class BernoulliGuide(nn.Module):
        def __init__(self):
            super().__init__()
            self.p = nn.Parameter(torch.tensor(0.0))

        def forward(self, x, c=None):
            with pyro.plate("data", x.shape[0]):
                pyro.sample("z", dist.Bernoulli(logits=self.p.expand(x.shape[0])))

    programs = Programs(LinearGaussianModel(), BernoulliGuide(), joint_discriminator=QuadraticJointCritic())
    with pytest.raises(UserError, match="'z' cannot be reparameterised") as e:
        ALI().check(programs, probe=Batch(torch.randn(2, 1)))
    assert "\n" not in str(e.value)
    ALI().check(Programs(LinearGaussianModel(), LinearGaussianGuide(), joint_discriminator=QuadraticJointCritic()),
                probe=Batch(torch.randn(2, 1)))  # a Gaussian guide passes


# ------------------------------------------------------------- the encoder learns to invert the generator
def test_the_encoder_learns_to_invert_the_generator():
    """x ~ N(2, 1.5²), x = a z + b from (a, b) = (1, 0), q(z|x) = N(m x + k, s²): the optimum has a = ±1.5, b = 2
    and the encoder a's inverse, m a = 1, s → 0; the reconstruction error falls from 1.75 var(x) to below 5%.
    (BiGAN's one-phase step has the same losses, checked by hand above; it is not trained again here.)"""
    torch.manual_seed(0)
    pyro.set_rng_seed(0)
    programs = Programs(LinearGenerator(), LinearGaussianGuide(), joint_discriminator=QuadraticJointCritic())
    data = gaussian(20_000, 2.0, 1.5)
    x = data.x[:2000]

    def relative_error():
        return float(((reconstruct(programs, x) - x) ** 2).mean()) / 1.5 ** 2

    assert relative_error() > 1.5
    Trainer(programs, ALI(), data, batch_size=256, optim=OptimConfig(lr=0.01, betas=[0.5, 0.999])).fit(
        800, progress=False)
    assert relative_error() < 0.05
    a, b = programs.model.a.item(), programs.model.b.item()
    assert abs(a) == pytest.approx(1.5, abs=0.1) and b == pytest.approx(2.0, abs=0.1)
    assert programs.guide.m.item() * a == pytest.approx(1.0, abs=0.1)
