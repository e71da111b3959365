"""f-GAN and MonoFlow: the divergence table, optimal critics, the f-GAN = MonoFlow identity, Lemma 1 of Hu et al."""
import json
import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn
from torch.testing import assert_close

from unigen import Programs
from unigen.config import resolve
from unigen.errors import UserError
from unigen.inference import FGAN, MinimaxGAN, MonoFlow, NonSaturatingGAN
from unigen.inference.adversarial import Adversarial
from unigen.inference.divergences import DIVERGENCES
from unigen.inference.monoflow import H_NAMES
from unigen.programs import Batch
from unigen.run import train

from toys import QuadraticDiscriminator, ShiftGenerator, train_1d

Normal = torch.distributions.Normal

# h(r) = r f'(r) - f(r) as listed by Yi et al. (2023), in r
H_CLOSED_FORM = {
    "kl": lambda r: r, "reverse_kl": lambda r: torch.log(r) - 1, "pearson": lambda r: r ** 2 - 1,
    "neyman": lambda r: 2 - 2 / r, "hellinger": lambda r: torch.sqrt(r) - 1,
    "js": lambda r: torch.log((1 + r) / 2), "gan": lambda r: torch.log(1 + r),
}


# ------------------------------------------------------------------------------ the table itself
@pytest.mark.parametrize("name", sorted(DIVERGENCES))
def test_divergence_row_is_a_consistent_fenchel_pair(name):
    div = DIVERGENCES[name]
    s = torch.linspace(-3.0, 3.0, 61, dtype=torch.float64, requires_grad=True)  # s = log r
    r = s.exp()
    f_at_1 = -math.log(4) if name == "gan" else 0.0  # the GAN row is 2 JSD - log 4
    assert_close(div.f(torch.zeros(1, dtype=torch.float64)), torch.full((1,), f_at_1, dtype=torch.float64))
    f = div.f(s)
    (df_ds,) = torch.autograd.grad(f.sum(), s, create_graph=True)
    f_prime = div.f_prime(s)
    assert_close(f_prime, df_ds / r)  # f'(r) = (df/ds) / r
    h = div.h(s)
    assert_close(h, r * f_prime - f)  # h = r f'(r) - f(r)
    assert_close(h, div.conjugate(f_prime))  # = f*(f'(r)): the Fenchel equality at T* = f'(r)
    assert_close(h, H_CLOSED_FORM[name](r))
    assert_close(div.log_ratio(f_prime), s)  # the critic's output read back as log r
    # dh/dlog r = r^2 f''(r) > 0
    (dfp_ds,) = torch.autograd.grad(f_prime.sum(), s, create_graph=True)
    (dh_ds,) = torch.autograd.grad(h.sum(), s)
    assert_close(dh_ds, r ** 2 * (dfp_ds / r))
    assert bool((dh_ds > 0).all())
    # the output activation and the fused f*(g_f(v))
    v = torch.linspace(-4.0, 4.0, 81, dtype=torch.float64)
    t = div.activation(v)
    assert_close(div.inverse_activation(t), v)
    assert_close(div.conjugate_activation(v), div.conjugate(t))


@pytest.mark.parametrize("name", sorted(DIVERGENCES))
def test_conjugate_is_the_supremum_over_u(name):
    # f*(t) = sup_u u t - f(u), maximised on a fine grid of u = e^s
    div = DIVERGENCES[name]
    s = torch.linspace(-6.0, 6.0, 120_001, dtype=torch.float64)
    t = div.f_prime(torch.tensor([-1.0, -0.3, 0.0, 0.5, 1.2], dtype=torch.float64))
    sup = (s.exp()[None, :] * t[:, None] - div.f(s)[None, :]).max(dim=1).values
    assert_close(div.conjugate(t), sup, rtol=0, atol=1e-7)


# --------------------------------------------------------------------- the optimal f-GAN critic
class QuantileGaussian(nn.Module):
    """A deterministic stand-in for samples of N(loc, scale²): the n midpoint quantiles, as a Delta program."""

    def __init__(self, loc, scale):
        super().__init__()
        self.loc, self.scale = loc, scale

    def points(self, n):
        u = (torch.arange(n, dtype=torch.get_default_dtype()) + 0.5) / n
        return (self.loc + self.scale * Normal(0.0, 1.0).icdf(u)).unsqueeze(-1)  # (n, 1)

    def forward(self, x_obs, c=None):
        batch_size = x_obs.shape[0]
        with pyro.plate("data", batch_size):
            pyro.sample("x", dist.Delta(self.points(batch_size), event_dim=1), obs=x_obs)


@pytest.mark.parametrize("name", ["kl", "reverse_kl", "neyman", "hellinger", "js", "gan"])
def test_optimal_fgan_critic_is_f_prime_of_the_density_ratio(name):
    # P = N(0, 1), Q = N(0.5, 0.9²): log p/q is quadratic, so every g_f^{-1}(f'(p/q)) here is in the
    # quadratic critic's family (Pearson's 2(r - 1) is not, so it is left out). Quantile points make
    # the critic loss a deterministic quadrature, so a full-batch quasi-Newton method finds its optimum
    # (no learning rate to anneal).
    p, q = QuantileGaussian(0.0, 1.0), QuantileGaussian(0.5, 0.9)
    programs = Programs(model=q, discriminator=QuadraticDiscriminator())
    strategy, real = FGAN(divergence=name), Batch(p.points(50_000))
    opt = torch.optim.LBFGS(programs.discriminator.parameters(), lr=1.0, max_iter=200,
                            tolerance_grad=1e-9, tolerance_change=1e-12, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = strategy.discriminator_step(programs, real)["discriminator"]
        loss.backward()
        return loss

    opt.step(closure)
    x = torch.linspace(-2.0, 2.5, 19).unsqueeze(-1)
    log_r = (Normal(0.0, 1.0).log_prob(x) - Normal(0.5, 0.9).log_prob(x))[:, 0]
    div = DIVERGENCES[name]
    with torch.no_grad():
        t = div.activation(programs.discriminator(x))
    assert_close(t, div.f_prime(log_r), rtol=0.01, atol=0.01)


# ------------------------------------------------------------------- f-GAN generator = MonoFlow
class FixedCritic(nn.Module):
    """V(x) = 0.7 tanh(x) + 0.2 x² + 0.1 ≥ -0.6 (inside every f*'s domain, Pearson's T > -2 included)."""

    def forward(self, x, c=None):
        return (0.7 * torch.tanh(x) + 0.2 * x ** 2 + 0.1)[:, 0]


class LogRatioOf(nn.Module):
    """The f-GAN critic's output T = g_f(V) mapped back to log r with the inverse of f'."""

    def __init__(self, critic, div):
        super().__init__()
        self.critic, self.div = critic, div

    def forward(self, x, c=None):
        return self.div.log_ratio(self.div.activation(self.critic(x)))


@pytest.mark.parametrize("name", sorted(DIVERGENCES))
def test_saturating_fgan_generator_is_monoflow_with_its_h(name):
    div, h_name = DIVERGENCES[name], ("minimax" if name == "gan" else name)
    gen = ShiftGenerator(theta=0.4)
    fgan_programs = Programs(model=gen, discriminator=FixedCritic())
    flow_programs = Programs(model=gen, discriminator=LogRatioOf(FixedCritic(), div))
    batch = Batch(torch.zeros(512, 1))
    pyro.set_rng_seed(3)
    loss_f = FGAN(divergence=name).generator_step(fgan_programs, batch)["generator"]
    pyro.set_rng_seed(3)
    loss_m = MonoFlow(h=h_name).generator_step(flow_programs, batch)["generator"]
    assert_close(loss_f, loss_m, rtol=1e-5, atol=1e-6)
    (g_f,) = torch.autograd.grad(loss_f, gen.theta)
    (g_m,) = torch.autograd.grad(loss_m, gen.theta)
    assert_close(g_f, g_m, rtol=1e-4, atol=1e-6)
    assert float(g_f.abs()) > 1e-3  # a gradient that is really there


def test_fgan_with_the_gan_row_is_the_original_gan():
    real, fake = torch.tensor([1.0, -0.5, 2.0]), torch.tensor([-1.0, 0.5, 3.0])
    assert_close(FGAN(divergence="gan").critic_loss(real, fake), NonSaturatingGAN().critic_loss(real, fake))
    assert_close(FGAN(divergence="gan").generator_loss(fake), MinimaxGAN().generator_loss(fake))
    assert_close(FGAN(divergence="gan", generator="alternative").generator_loss(fake),
                 NonSaturatingGAN().generator_loss(fake))
    # JS is the GAN row shifted: F_js = F_gan + log 4
    bce = NonSaturatingGAN().critic_loss(real, fake)
    assert_close(FGAN(divergence="js").critic_loss(real, fake), bce - math.log(4))
    # Nowozin's Table 2 activations, written out
    v = torch.tensor([-2.0, 0.0, 1.5])
    assert_close(FGAN(divergence="reverse_kl", generator="alternative").generator_loss(v), torch.exp(-v).mean())
    assert_close(FGAN(divergence="kl").generator_loss(v), -torch.exp(v - 1).mean())
    t = 1 - torch.exp(-v)
    assert_close(FGAN(divergence="hellinger").critic_loss(v, v), -(t - t / (1 - t)).mean())


# --------------------------------------------------------------------------------- MonoFlow's h
H_PRIME = {  # dh/dd by hand, with C = 5 and alpha = 1.5
    "logit": lambda d: torch.ones_like(d), "ns": lambda d: torch.sigmoid(-d),
    "vanilla": lambda d: torch.sigmoid(d + 5.0), "arcsinh": lambda d: 1 / torch.sqrt(1 + d ** 2),
    "exp": lambda d: 1.5 * torch.exp(1.5 * d), "kl": torch.exp, "reverse_kl": lambda d: torch.ones_like(d),
    "pearson": lambda d: 2 * torch.exp(2 * d), "neyman": lambda d: 2 * torch.exp(-d),
    "hellinger": lambda d: 0.5 * torch.exp(d / 2), "js": torch.sigmoid, "minimax": torch.sigmoid,
}


def test_every_named_h_has_its_derivative_written_down():
    assert set(H_PRIME) == set(H_NAMES)


@pytest.mark.parametrize("name", H_NAMES)
def test_monoflow_generator_gradient_is_h_prime_times_the_logit_gradient(name):
    gen, critic = ShiftGenerator(theta=0.3), QuadraticDiscriminator()
    with torch.no_grad():  # d(x) = 0.2 + 0.8 x - 0.3 x²
        critic.lin.weight.copy_(torch.tensor([[0.8, -0.3]]))
        critic.lin.bias.fill_(0.2)
    programs = Programs(model=gen, discriminator=critic)
    pyro.set_rng_seed(1)
    loss = MonoFlow(h=name).generator_step(programs, Batch(torch.zeros(64, 1)))["generator"]
    (grad,) = torch.autograd.grad(loss, gen.theta)
    pyro.set_rng_seed(1)
    x = gen.theta.detach() + torch.randn(64, 1)  # the same draws: x = z + θ
    d = critic(x).detach()
    dd_dtheta = 0.8 - 0.6 * x[:, 0]  # ∂d/∂x · ∂x/∂θ
    assert_close(grad, -(H_PRIME[name](d) * dd_dtheta).mean().reshape(1), rtol=1e-5, atol=1e-7)


def test_monoflow_losses_are_the_official_ones():
    d = torch.tensor([-3.0, -0.5, 0.0, 2.0, 6.0], dtype=torch.float64)  # log(1 - σ(11)) needs float64
    sig = torch.sigmoid
    assert_close(MonoFlow(h="ns").generator_loss(d), NonSaturatingGAN().generator_loss(d))
    assert_close(MonoFlow(h="minimax").generator_loss(d), MinimaxGAN().generator_loss(d))
    assert_close(MonoFlow(h="vanilla").generator_loss(d), torch.log(1 - sig(d + 5.0)).mean())
    assert_close(MonoFlow(h="vanilla", C=2.0).generator_loss(d), torch.log(1 - sig(d + 2.0)).mean())
    assert_close(MonoFlow(h="logit").generator_loss(d), -d.mean())
    assert_close(MonoFlow(h="arcsinh").generator_loss(d), -torch.arcsinh(d).mean())
    assert_close(MonoFlow(h="exp", alpha=2.0).generator_loss(d), -torch.exp(2.0 * d).mean())
    assert_close(MonoFlow(h="kl").generator_loss(d), -torch.exp(d).mean())
    # the critic is the BCE classifier shared by the GAN family
    assert_close(MonoFlow().critic_loss(d, -d), Adversarial.critic_loss(MonoFlow(), d, -d))


@pytest.mark.parametrize("name", H_NAMES)
def test_every_named_h_is_strictly_increasing(name):
    d = torch.linspace(-8.0, 8.0, 1601, dtype=torch.float64)
    assert bool((MonoFlow(h=name).h_function()(d).diff() > 0).all())


def test_a_decreasing_h_is_refused_unless_allowed():
    with pytest.raises(UserError, match="not strictly increasing"):
        MonoFlow(custom_h=lambda d: -d)
    with pytest.raises(UserError, match="not strictly increasing"):
        MonoFlow(h="exp", alpha=-1.0)
    with pytest.raises(UserError, match="not strictly increasing"):
        MonoFlow(custom_h=lambda d: d ** 2)  # increasing only for d > 0
    control = MonoFlow(custom_h=lambda d: -d, allow_non_monotone=True)
    d = torch.tensor([-1.0, 2.0, 4.0])
    assert_close(control.generator_loss(d), d.mean())
    assert_close(MonoFlow(custom_h=torch.tanh).generator_loss(d), -torch.tanh(d).mean())


def test_bad_settings_are_one_line_user_errors():
    for make in (lambda: MonoFlow(h="sqrt"), lambda: MonoFlow(custom_h=3.0),
                 lambda: MonoFlow(custom_h=lambda d: d.sum()), lambda: FGAN(divergence="tv"),
                 lambda: FGAN(generator="ns"), lambda: FGAN(n_critic=0)):
        with pytest.raises(UserError) as err:
            make()
        assert "\n" not in str(err.value)


def test_settings_are_omegaconf_schemas():
    for cls in (FGAN, MonoFlow):
        assert OmegaConf.to_object(OmegaConf.structured(cls)) == cls()
    resolved = resolve({"strategy": {"name": "monoflow", "h": "exp", "alpha": 2.0}})
    assert resolved.strategy == MonoFlow(h="exp", alpha=2.0)
    assert resolve({"strategy": {"name": "fgan", "divergence": "kl"}}).strategy == FGAN(divergence="kl")
    with pytest.raises(UserError):
        resolve({"strategy": {"name": "monoflow", "h": "nope"}})


# ------------------------------------------------------------------ Lemma 1 of Hu et al. (2018)
class QuantileShift(nn.Module):
    """p_θ = N(θ, 0.7²) as its n midpoint quantiles x_i = θ + 0.7 Φ⁻¹((i + ½)/n): equal-weight quadrature."""

    def __init__(self, theta):
        super().__init__()
        self.theta = nn.Parameter(torch.tensor(theta, dtype=torch.float64))

    def forward(self, x_obs, c=None):
        batch_size = x_obs.shape[0]
        u = (torch.arange(batch_size, dtype=torch.float64) + 0.5) / batch_size
        x = self.theta + 0.7 * Normal(0.0, 1.0).icdf(u)
        with pyro.plate("data", batch_size):
            pyro.sample("x", dist.Delta(x.unsqueeze(-1), event_dim=1), obs=x_obs)


def test_lemma_1_non_saturating_gradient_is_kl_minus_two_jsd():
    theta0, sigma = 1.3, 0.7
    data = Normal(torch.tensor(0.0, dtype=torch.float64), 1.0)
    frozen = Normal(torch.tensor(theta0, dtype=torch.float64), sigma)

    def d_star(x, c=None):  # logit of D* = p_data / (p_data + p_θ0), frozen at θ0
        return (data.log_prob(x) - frozen.log_prob(x))[:, 0]

    # left: ∇θ E_{p_θ}[-log D*(x)], through the strategy's own generator loss
    gen = QuantileShift(theta0)
    programs = Programs(model=gen, discriminator=d_star)
    batch = Batch(torch.zeros(200_000, 1, dtype=torch.float64))
    (lhs,) = torch.autograd.grad(NonSaturatingGAN().generator_step(programs, batch)["generator"], gen.theta)
    (flow,) = torch.autograd.grad(MonoFlow(h="ns").generator_step(programs, batch)["generator"], gen.theta)

    # right: ∇θ [KL(p_θ‖p_data) - 2 JSD(p_θ‖p_data)] by the trapezoid rule on a fine grid
    theta = torch.tensor(theta0, dtype=torch.float64, requires_grad=True)
    x = torch.linspace(-12.0, 12.0, 240_001, dtype=torch.float64)
    lp, ld = Normal(theta, sigma).log_prob(x), data.log_prob(x)
    lm = torch.logaddexp(lp, ld) - math.log(2)
    kl = torch.trapezoid(lp.exp() * (lp - ld), x)
    jsd = 0.5 * torch.trapezoid(lp.exp() * (lp - lm), x) + 0.5 * torch.trapezoid(ld.exp() * (ld - lm), x)
    (rhs,) = torch.autograd.grad(kl - 2 * jsd, theta)

    assert rhs.item() == pytest.approx(0.781818, abs=1e-6)
    assert lhs.item() == pytest.approx(0.781818, abs=1e-6)
    assert flow.item() == pytest.approx(lhs.item(), rel=1e-12)


# -------------------------------------------------------------------------- seeded trainings
@pytest.mark.parametrize("strategy", [FGAN(divergence="js"), FGAN(divergence="hellinger", generator="alternative"),
                                      MonoFlow(h="logit"), MonoFlow(h="reverse_kl")],
                         ids=lambda s: f"{s.registry_name}-{getattr(s, 'divergence', getattr(s, 'h', ''))}")
def test_one_dimensional_training_recovers_the_location(strategy):
    assert_close(train_1d(strategy), torch.tensor([4.0]), rtol=0, atol=0.25)


@pytest.mark.slow
def test_ring_monoflow_covers_the_modes(tmp_path):
    # the demo config, 4,000 steps (seeds 0-3 reach 8/8 modes at 93-96% high quality)
    run = train("experiments/configs/ring_monoflow.yaml", ["train.progress=false"], out=str(tmp_path / "ring"))
    result = json.loads((run / "eval.json").read_text())
    assert result["modes"] >= 7
    assert result["high_quality"] >= 0.5
