"""Hu et al.'s transferred techniques: IWGAN / IWCGAN (eq. 16) and AA-VAE / AA-IWAE (eq. 17)."""
import pyro
import pyro.distributions as dist
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn
from torch.testing import assert_close

from unigen import Programs
from unigen.errors import UserError
from unigen.inference import AAVAE, ELBO, IWCGAN, IWGAN, NonSaturatingGAN
from unigen.programs import Batch
from unigen.scoring import generate
from unigen.registry import STRATEGIES

from toys import LinearGaussianGuide, QuadraticDiscriminator, ShiftGenerator, train_1d


# ----------------------------------------------------------------------------------------- helpers
class PointGenerator(nn.Module):
    """x = θ for every sample: all generated logits are equal, yet differentiable in θ."""

    def __init__(self, theta=0.7):
        super().__init__()
        self.theta = nn.Parameter(torch.tensor([theta]))

    def forward(self, x_obs, c=None):
        batch_size = x_obs.shape[0]
        with pyro.plate("data", batch_size):
            pyro.sample("x", dist.Delta(self.theta.expand(batch_size, 1), event_dim=1), obs=x_obs)


def quadratic_critic(w1=0.8, w2=-0.3, w0=0.2):
    """d(x) = w1 x + w2 x² + w0, so d'(x) = w1 + 2 w2 x."""
    critic = QuadraticDiscriminator()
    with torch.no_grad():
        critic.lin.weight.copy_(torch.tensor([[w1, w2]]))
        critic.lin.bias.fill_(w0)
    return critic


class RejectingDiscriminator(nn.Module):
    """d = +200 on the real batch it was given, -200 elsewhere: q_φ(y=1|x) is 1 on data, 0 on samples."""

    def __init__(self, real):
        super().__init__()
        self.real = real.reshape(real.shape[0], -1)
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x, c=None):
        is_real = (x.reshape(x.shape[0], 1, -1) == self.real[None]).all(-1).any(-1)
        return torch.where(is_real, 200.0, -200.0) + 0 * self.dummy


class RecordingDiscriminator(nn.Module):
    """d(x) = a x + b, remembering every input (to read back the generated samples)."""

    def __init__(self, a=0.9, b=-0.4):
        super().__init__()
        self.a, self.b, self.seen = a, b, []

    def forward(self, x, c=None):
        self.seen.append(x.detach().clone())
        return self.a * x[:, 0] + self.b


def vae_params(programs):
    return list(programs.model.parameters()) + list(programs.guide.parameters())


def exact_posterior_guide(model):
    """q(z|x) = p(z|x) of the linear Gaussian model: every importance weight equals p(x)."""
    with torch.no_grad():
        _, std = model.posterior(torch.zeros(1, 1))
        slope = model.a / (model.a ** 2 + model.sigma ** 2)
        return LinearGaussianGuide(m=float(slope), k=float(-slope * model.b), s=float(std))


# -------------------------------------------------------------------------------------- IWGAN, eq. 16
def test_iwgan_weights_are_the_softmax_of_the_logits_and_the_normalised_density_ratio():
    d = torch.tensor([-1.5, 0.0, 0.3, 2.0, -0.2])
    w = IWGAN().importance_weights(d)
    assert_close(w, torch.softmax(d, 0))
    ratio = torch.sigmoid(d) / (1 - torch.sigmoid(d))  # D / (1 - D) = q^r(y=0|x) / q(y=0|x)
    assert_close(w, ratio / ratio.sum())
    assert_close(IWCGAN().importance_weights(d), w)


def test_tempered_iwgan_weights_are_the_power_of_the_ratio_and_flatten_towards_the_ns_gan():
    """softmax(d / T) = r^(1/T) / sum r^(1/T) with r = exp(d); the effective sample size grows with T, to K."""
    d = torch.tensor([-1.5, 0.0, 0.3, 2.0, -0.2])
    r = d.exp()
    for t in (0.5, 2.0, 8.0):
        assert_close(IWGAN(temperature=t).importance_weights(d), r ** (1 / t) / (r ** (1 / t)).sum())
    ess = [1 / (IWGAN(temperature=t).importance_weights(d) ** 2).sum() for t in (0.5, 1.0, 2.0, 8.0, 1e6)]
    assert all(a < b for a, b in zip(ess, ess[1:])) and float(ess[-1]) == pytest.approx(5.0, rel=1e-4)
    from unigen.settings import check_settings

    with pytest.raises(UserError, match="strategy.temperature=0.0 is out of range: it must be > 0"):
        check_settings(IWGAN(temperature=0.0), "strategy")


def test_iwgan_with_equal_logits_is_the_non_saturating_gan_in_loss_and_gradient():
    # on the logits
    d1 = torch.full((6,), 0.4, requires_grad=True)
    d2 = d1.detach().clone().requires_grad_(True)
    l1, l2 = IWGAN().generator_loss(d1), NonSaturatingGAN().generator_loss(d2)
    assert_close(l1, l2)
    assert_close(torch.autograd.grad(l1, d1)[0], torch.autograd.grad(l2, d2)[0])
    # on programs: a point-mass generator makes every logit equal, still a function of θ
    programs = Programs(model=PointGenerator(), discriminator=quadratic_critic()).bind((1,))
    batch = Batch(torch.randn(8, 1))
    out_iw = IWGAN().generator_step(programs, batch)
    out_ns = NonSaturatingGAN().generator_step(programs, batch)
    theta = programs.model.theta
    assert_close(out_iw["generator"], out_ns["generator"])
    assert_close(torch.autograd.grad(out_iw["generator"], theta)[0],
                 torch.autograd.grad(out_ns["generator"], theta)[0])
    assert_close(out_iw["ess"], torch.tensor(8.0))  # uniform weights: ESS = K


def test_iwgan_gradient_is_the_weighted_sum_of_log_d_gradients():
    w1, w2, w0 = 0.8, -0.3, 0.2
    programs = Programs(model=ShiftGenerator(theta=0.3), discriminator=quadratic_critic(w1, w2, w0)).bind((1,))
    batch = Batch(torch.randn(16, 1))
    torch.manual_seed(3)
    x, _ = generate(programs, 16)
    torch.manual_seed(3)  # the same draws inside the step
    out = IWGAN().generator_step(programs, batch)
    (grad,) = torch.autograd.grad(out["generator"], programs.model.theta)
    x = x.detach()[:, 0]
    d = w1 * x + w2 * x ** 2 + w0
    w = torch.exp(d) / torch.exp(d).sum()
    # ∇θ log σ(d(x_i)) = (1 - σ(d_i)) d'(x_i) ∂x_i/∂θ, with ∂x_i/∂θ = 1; the weights are constants
    expected = -(w * (1 - torch.sigmoid(d)) * (w1 + 2 * w2 * x)).sum()
    assert_close(grad, expected.reshape(1))
    assert_close(out["ess"], 1 / (w ** 2).sum())
    # the weights matter: the non-saturating (uniform) gradient differs here
    uniform = -((1 - torch.sigmoid(d)) * (w1 + 2 * w2 * x)).mean()
    assert not torch.allclose(grad, uniform.reshape(1), rtol=0, atol=1e-3)


def test_iwgan_recovers_the_location():
    assert_close(train_1d(IWGAN()), torch.tensor([4.0]), rtol=0, atol=0.25)


def test_iwcgan_is_iwgan_with_labels():
    assert IWCGAN.needs.labels == "given" and IWGAN.needs.labels == "none"
    assert IWCGAN.registry_name == "iwcgan" and issubclass(IWCGAN, IWGAN)
    d = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    assert_close(IWCGAN().generator_loss(d), IWGAN().generator_loss(d))


# --------------------------------------------------------------------------------- AA-VAE, eq. 17
def test_aavae_with_a_perfect_discriminator_is_the_elbo_in_loss_and_gradient(linear_gaussian):
    x = torch.tensor([[-1.0], [0.5], [2.0], [0.1]])
    linear_gaussian.roles["discriminator"] = RejectingDiscriminator(x)
    pyro.set_rng_seed(5)
    out = AAVAE(num_particles=3).loss(linear_gaussian, Batch(x))
    pyro.set_rng_seed(5)
    ref = ELBO(num_particles=3).loss(linear_gaussian, Batch(x))["vae"]
    params = vae_params(linear_gaussian)
    assert_close(out["vae"], ref)
    assert_close(torch.stack(torch.autograd.grad(out["vae"], params)), torch.stack(torch.autograd.grad(ref, params)))
    assert_close(out["w_real"], torch.tensor(1.0))
    assert_close(out["w_fake"], torch.tensor(0.0))


def test_aa_iwae_with_a_perfect_discriminator_is_the_iwae(linear_gaussian):
    iwae = STRATEGIES.get("iwae")(num_particles=5)
    x = torch.tensor([[-1.0], [0.5], [2.0], [0.1]])
    linear_gaussian.roles["discriminator"] = RejectingDiscriminator(x)
    pyro.set_rng_seed(7)
    loss = AAVAE(base="iwae", num_particles=5).loss(linear_gaussian, Batch(x))["vae"]
    pyro.set_rng_seed(7)
    ref = -iwae.objective(linear_gaussian, Batch(x)).mean()
    params = vae_params(linear_gaussian)
    assert_close(loss, ref)
    assert_close(torch.stack(torch.autograd.grad(loss, params)), torch.stack(torch.autograd.grad(ref, params)))


@pytest.mark.parametrize("fake_weight", [1.0, 0.25])
def test_aavae_weights_real_and_generated_bounds_by_d(linear_gaussian, fake_weight):
    # with q = p(z|x) the bound is log p(x) for every draw, so the loss is a closed form in the samples
    model = linear_gaussian.model
    linear_gaussian.roles["guide"] = exact_posterior_guide(model)
    critic = RecordingDiscriminator()
    linear_gaussian.roles["discriminator"] = critic
    x = torch.tensor([[-1.0], [0.5], [2.0], [0.1], [3.0]])
    with torch.no_grad():
        out = AAVAE(fake_weight=fake_weight).loss(linear_gaussian, Batch(x))
    real, fake = critic.seen  # the real batch, then as many generated samples
    assert_close(real, x)
    assert fake.shape == x.shape
    with torch.no_grad():
        w_r, w_f = torch.sigmoid(0.9 * real[:, 0] - 0.4), torch.sigmoid(0.9 * fake[:, 0] - 0.4)
        expected = -((w_r * model.log_px(real)).mean() + fake_weight * (w_f * model.log_px(fake)).mean())
    assert_close(out["vae"], expected, rtol=1e-5, atol=1e-5)


def test_aa_svae_with_a_perfect_discriminator_is_the_semi_supervised_bound():
    from unigen.models.ssvae import SSVAE
    from unigen.programs import DataInfo

    info = DataInfo(shape=(1, 3, 3), num_classes=3, support="unit")
    programs = SSVAE(z_dim=2, hidden=8, disc_hidden=8).build(info)
    x = torch.rand(6, 1, 3, 3, generator=torch.Generator().manual_seed(0))
    batch = Batch(x, torch.tensor([0, -1, 2, -1, 1, -1]))  # half the labels hidden
    programs.roles["discriminator"] = RejectingDiscriminator(x)
    strategy = AAVAE(base="svae")
    assert strategy.needs.labels == "partial" and strategy.players["vae"] == ("model", "guide", "classifier")
    pyro.set_rng_seed(11)
    loss = strategy.loss(programs, batch)["vae"]
    pyro.set_rng_seed(11)
    base = strategy.base_strategy
    ref = -base.objective(programs, batch).mean()
    if hasattr(base, "auxiliary_loss"):
        ref = ref + base.auxiliary_loss(programs, batch)
    params = list(programs.parameters())
    assert_close(loss, ref)
    g1 = torch.autograd.grad(loss, params, allow_unused=True)
    g2 = torch.autograd.grad(ref, params, allow_unused=True)
    for a, b in zip(g1, g2):
        assert (a is None) == (b is None)
        if a is not None:
            assert_close(a, b)


def test_aavae_adds_the_base_auxiliary_loss_unweighted(linear_gaussian):
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class ELBOWithPenalty(ELBO):  # not registered: a base with a non-bound term in its loss
        def auxiliary_loss(self, programs, batch):
            return (programs.model.a ** 2) * batch.x.shape[0]

    x = torch.tensor([[-1.0], [0.5], [2.0]])
    linear_gaussian.roles["discriminator"] = quadratic_critic()
    plain, with_aux = AAVAE(), AAVAE()
    object.__setattr__(with_aux, "_base", ELBOWithPenalty())
    pyro.set_rng_seed(2)
    l0 = plain.loss(linear_gaussian, Batch(x))["vae"]
    pyro.set_rng_seed(2)
    out = with_aux.loss(linear_gaussian, Batch(x))
    a = linear_gaussian.model.a
    assert_close(out["auxiliary"], 3 * a.detach() ** 2)
    assert_close(out["vae"], l0 + 3 * a ** 2)
    assert_close(torch.autograd.grad(out["vae"], a)[0], torch.autograd.grad(l0, a)[0] + 6 * a.detach())


def test_aavae_vae_loss_leaves_the_discriminator_alone(linear_gaussian):
    linear_gaussian.roles["discriminator"] = critic = quadratic_critic()
    loss = AAVAE().loss(linear_gaussian, Batch(torch.randn(8, 1)))["vae"]
    grads = torch.autograd.grad(loss, list(critic.parameters()), allow_unused=True)
    assert all(g is None for g in grads)


def test_aavae_players_and_labels_follow_the_base():
    s = AAVAE()
    assert s.players == {"discriminator": ("discriminator",), "vae": ("model", "guide")}
    assert s.needs.labels == "none"
    assert isinstance(s.base_strategy, ELBO) and s.base_strategy.num_particles == 1
    assert AAVAE(num_particles=4).base_strategy.num_particles == 4
    if "svae" in STRATEGIES.names():
        assert AAVAE(base="svae").needs.labels == STRATEGIES.get("svae").needs.labels == "partial"
        assert AAVAE(base="svae", alpha=20.0).base_strategy.alpha == 20.0  # the classification weight reaches svae
        # the default is svae's own, so that AA-SVAE without alpha trains what SVAE without alpha trains
        assert AAVAE(base="svae").base_strategy.alpha == AAVAE().alpha == STRATEGIES.get("svae")().alpha


def test_aavae_refuses_alpha_for_a_base_without_it():
    with pytest.raises(UserError, match="base='elbo' has no alpha setting; leave alpha=0.1"):
        AAVAE(base="elbo", alpha=20.0)


@pytest.mark.parametrize("settings, word", [
    ({"base": "nonexistent"}, "nonexistent"),
    ({"base": "ns_gan"}, "base=.ns_gan. is not one of avb, cvae, elbo"),
    ({"num_particles": 0}, "num_particles"),
    ({"fake_weight": -1.0}, "fake_weight"),
])
def test_aavae_refuses_bad_settings(settings, word):
    with pytest.raises(UserError, match=word):
        AAVAE(**settings)


@pytest.mark.parametrize("cls", [IWGAN, IWCGAN, AAVAE])
def test_settings_are_an_omegaconf_schema(cls):
    node = OmegaConf.structured(cls)
    assert OmegaConf.to_object(node) == cls()
