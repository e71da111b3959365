"""``simultaneous=true`` for the GAN family: both players' gradients at the same parameters, stepped together.

The facts checked: on the bilinear game one step of simultaneous gradient descent multiplies the players' squared
norm by exactly 1 + η², while the alternating step is the area-preserving map (Mescheder et al. 2017); the
simultaneous step's gradients are the alternating steps' gradients taken from one draw of generated samples;
a traced simultaneous step replays the eager one bit for bit; settings that cannot hold are refused in one line.
"""
import pyro
import pyro.distributions as dist
import pytest
import torch
from torch import nn
from torch.testing import assert_close

from unigen import Programs, Trainer
from unigen.config import OptimConfig
from unigen.data.base import TensorData
from unigen.errors import UserError
from unigen.inference import IWGAN, WGAN, NonSaturatingGAN
from unigen.programs import Batch, DataInfo
from unigen.registry import STRATEGIES

from toys import QuadraticDiscriminator, ShiftGenerator, contract_setup


class PointGenerator(nn.Module):
    """x = θ, no latent: the generator of the bilinear game."""

    def __init__(self, theta: float):
        super().__init__()
        self.theta = nn.Parameter(torch.tensor([theta]))

    def forward(self, x_obs, c=None):
        n = x_obs.shape[0]
        with pyro.plate("data", n):
            pyro.sample("x", dist.Delta(self.theta.expand(n, 1), event_dim=1), obs=x_obs)


class LinearCritic(nn.Module):
    """d(x) = φ x."""

    def __init__(self, phi: float):
        super().__init__()
        self.phi = nn.Parameter(torch.tensor(phi))

    def forward(self, x, c=None):
        return self.phi * x[:, 0]


def _bilinear(simultaneous: bool, theta=0.6, phi=-0.3, eta=0.1) -> Trainer:
    """WGAN on data at 0 with a point generator and a linear critic: ℓ_critic = φθ = −ℓ_gen, plain SGD at rate η."""
    programs = Programs(model=PointGenerator(theta), discriminator=LinearCritic(phi))
    strategy = WGAN(n_critic=1, clip=0.0, simultaneous=simultaneous)
    return Trainer(programs, strategy, TensorData(torch.zeros(16, 1), None, DataInfo(shape=(1,), support="real")), batch_size=4,
                   optim=OptimConfig(name="sgd", lr=eta), total_steps=100)


def _players(trainer) -> tuple[float, float]:
    return trainer.programs.model.theta.item(), trainer.programs.discriminator.phi.item()


@pytest.mark.parametrize("simultaneous", [True, False])
def test_one_step_on_the_bilinear_game_is_its_closed_form(simultaneous):
    theta, phi, eta = 0.6, -0.3, 0.1
    trainer = _bilinear(simultaneous, theta, phi, eta)
    trainer.step()
    # ∂ℓ_critic/∂φ = θ, ∂ℓ_gen/∂θ = −φ: simultaneous reads both at (θ, φ); alternating reads φ after the critic's step
    phi_1 = phi - eta * theta
    theta_1 = theta + eta * (phi if simultaneous else phi_1)
    assert_close(torch.tensor(_players(trainer)), torch.tensor([theta_1, phi_1]))


def test_simultaneous_descent_spirals_out_where_alternating_descent_stays_bounded():
    eta, steps = 0.1, 100
    start = 0.6 ** 2 + 0.3 ** 2
    norms = {}
    for simultaneous in (True, False):
        trainer = _bilinear(simultaneous, eta=eta)
        for _ in range(steps):
            trainer.step()
        theta, phi = _players(trainer)
        norms[simultaneous] = theta ** 2 + phi ** 2
    assert norms[True] == pytest.approx(start * (1 + eta ** 2) ** steps, rel=1e-4)  # ≈ 2.7 × the start
    assert norms[False] < 1.2 * start  # the alternating orbit is an ellipse near the start's circle


@pytest.mark.parametrize("strategy, generator_keys", [
    (NonSaturatingGAN(simultaneous=True, penalty="gp", lecam_weight=0.1), ("generator",)),
    (IWGAN(simultaneous=True, penalty="r1"), ("generator", "ess")),
])
def test_the_simultaneous_step_is_both_alternating_steps_on_one_draw_at_the_same_parameters(strategy,
                                                                                           generator_keys):
    def programs():
        torch.manual_seed(0)
        built = Programs(model=ShiftGenerator(theta=1.0), discriminator=QuadraticDiscriminator())
        strategy.attach(built)
        return built

    batch = Batch(torch.randn(64, 1, generator=torch.Generator().manual_seed(1)))

    def grads(step, player_module, key):
        built = programs()
        torch.manual_seed(2)  # the step's first random draw is the generator's z in every form
        out = step(built, batch)
        module = getattr(built, player_module)
        return out, torch.autograd.grad(out[key], list(module.parameters()))

    both, critic_grad = grads(strategy.simultaneous_step, "discriminator", "discriminator")
    alone, critic_alone = grads(strategy.discriminator_step, "discriminator", "discriminator")
    _, gen_grad = grads(strategy.simultaneous_step, "model", "generator")
    gen_out, gen_alone = grads(strategy.generator_step, "model", "generator")
    assert_close(critic_grad, critic_alone)
    assert_close(gen_grad, gen_alone)
    assert set(both) == set(alone) | set(generator_keys)
    for key in both:
        assert_close(both[key], (gen_out if key in generator_keys else alone)[key])


def test_a_traced_simultaneous_step_replays_the_eager_one_bit_for_bit():
    def run(compile):
        strategy = STRATEGIES.get("ns_gan")(simultaneous=True, penalty="gp")
        pyro.set_rng_seed(0)
        programs, data = contract_setup(strategy)
        trainer = Trainer(programs, strategy, data, batch_size=32, optim=OptimConfig(lr=1e-3), compile=compile,
                          total_steps=4)
        torch.manual_seed(1)
        losses = [{k: v.clone() for k, v in trainer.step().items()} for _ in range(4)]
        return trainer, losses

    eager, eager_losses = run("none")
    traced, traced_losses = run("trace-eager")
    assert traced.traced.traces == 1 and traced.traced.replays == 4  # one phase, one graph
    for a, b in zip(eager_losses, traced_losses):
        assert_close(a, b, rtol=0, atol=0)
    for p, q in zip(eager.programs.parameters(), traced.programs.parameters()):
        assert_close(p, q, rtol=0, atol=0)


@pytest.mark.parametrize("name, settings, message", [
    ("wgan", {}, "set n_critic=1"),  # WGAN's default n_critic is 5
    ("ns_gan", {"n_critic": 2}, "set n_critic=1"),
    ("vaegan", {}, "set simultaneous=false"),
])
def test_settings_simultaneous_updates_cannot_honour_are_refused_in_one_line(name, settings, message):
    with pytest.raises(UserError, match=message) as err:
        STRATEGIES.get(name)(simultaneous=True, **settings)
    assert "\n" not in str(err.value)
