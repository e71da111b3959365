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
from unigen.cli import main
from unigen.inference import WGAN, NonSaturatingGAN
from unigen.programs import DataInfo
from unigen.registry import STRATEGIES

from toys import contract_setup


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
    norms, conserved = {}, []
    for simultaneous in (True, False):
        trainer = _bilinear(simultaneous, eta=eta)
        for _ in range(steps):
            trainer.step()
            if not simultaneous:  # the alternating map keeps θ² + φ² − ηθφ: its orbit is one ellipse (η < 2)
                theta, phi = _players(trainer)
                conserved.append(theta ** 2 + phi ** 2 - eta * theta * phi)
        theta, phi = _players(trainer)
        norms[simultaneous] = theta ** 2 + phi ** 2
    assert norms[True] == pytest.approx(start * (1 + eta ** 2) ** steps, rel=1e-4)  # ≈ 2.7 × the start
    first = 0.6 ** 2 + 0.3 ** 2 - eta * 0.6 * -0.3
    assert conserved == pytest.approx([first] * steps, rel=1e-5)


@pytest.mark.parametrize("name, settings", [
    ("ns_gan", {"penalty": "gp", "lecam_weight": 0.1}),
    ("iwgan", {"penalty": "r1"}),  # overrides generator_terms (the weights' ESS)
    ("infogan", {}),  # overrides generator_terms (the code term; a third role in the generator player)
    ("cgan", {"penalty": "dragan"}),  # labels
    ("wgan", {"n_critic": 1, "clip": 0.01}),  # clipping after the critic's update
])
def test_the_simultaneous_step_is_both_alternating_steps_on_one_draw_at_the_same_parameters(name, settings):
    strategy = STRATEGIES.get(name)(simultaneous=True, **settings)

    def grads(step, player):
        pyro.set_rng_seed(0)
        programs, data = contract_setup(strategy)  # fresh weights and state (LeCam's anchors move in a step)
        trainer = Trainer(programs, strategy, data, batch_size=64, optim=OptimConfig(lr=1e-3))
        batch = data.sample(64, generator=torch.Generator().manual_seed(1))
        torch.manual_seed(2)  # the step's first random draw is the generator's z in every form
        out = getattr(strategy, step)(programs, batch)
        return out, torch.autograd.grad(out[player], trainer.params[player], allow_unused=True)

    both, critic_both = grads("simultaneous_step", "discriminator")
    _, generator_both = grads("simultaneous_step", "generator")
    critic_out, critic_alone = grads("discriminator_step", "discriminator")
    generator_out, generator_alone = grads("generator_step", "generator")
    assert_close(critic_both, critic_alone)
    assert_close(generator_both, generator_alone)
    assert set(both) == set(critic_out) | set(generator_out)
    for key in both:
        assert_close(both[key], (critic_out if key in critic_out else generator_out)[key])


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


class _OwnGeneratorStep(NonSaturatingGAN):
    """A user's GAN that overrides generator_step: the simultaneous step would not run it."""

    def generator_step(self, programs, batch):
        return super().generator_step(programs, batch)


@pytest.mark.parametrize("make, message", [
    (lambda: WGAN(simultaneous=True), "set n_critic=1"),  # WGAN's default n_critic is 5
    (lambda: NonSaturatingGAN(simultaneous=True, n_critic=2), "set n_critic=1"),
    (lambda: _OwnGeneratorStep(simultaneous=True), "overrides generator_step"),
])
def test_settings_simultaneous_updates_cannot_honour_are_refused_in_one_line(make, message):
    with pytest.raises(UserError, match=message) as err:
        make()
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("overrides, message", [
    (["strategy.name=wgan", "strategy.simultaneous=true"], "strategy.n_critic=1"),
    (["strategy.name=vaegan", "strategy.simultaneous=true"], "'simultaneous' not in 'VAEGAN'"),  # its own phases
])
def test_the_cli_refuses_them_in_one_line_with_exit_code_2(overrides, message, tmp_path, capsys):
    code = main(["train", "experiments/configs/ring_gan.yaml", "train.steps=2", "train.device=cpu", *overrides,
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err
    assert not (tmp_path / "run").exists()
