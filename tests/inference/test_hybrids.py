"""InfoGAN, the adversarial autoencoder and VAE-GAN: their losses by hand, their special cases, short trainings."""
import math

import pyro
import pyro.distributions as dist
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

from unigen import Programs, Trainer, UserError
from unigen.config import OptimConfig
from unigen.data.base import TensorData
from unigen.data.toy import Ring
from unigen.inference import AAE, ELBO, InfoGAN, VAEGAN
from unigen.inference.infogan import code_log_probs
from unigen.models.mlp import MLP
from unigen.models.nets import Codes, CodePosterior, FlatNet, Labels, LatentModel
from unigen.programs import Batch, DataInfo
from unigen.scoring import generate, observed_value, sample_model, trace_guide
from unigen.players import role_parameters

from toys import LinearGaussianGuide, LinearGaussianModel, QuadraticDiscriminator, gaussian_data

RING = DataInfo(shape=(2,))


# ------------------------------------------------------------------------------ tiny programs
class CodeOut(nn.Module):
    """Likelihood that emits the codes themselves: ``x = Delta(latent[:, z_dim:])`` (the code is recoverable)."""

    def __init__(self, z_dim):
        super().__init__()
        self.z_dim = z_dim
        self.shift = nn.Parameter(torch.zeros(()))  # something for the generator player to own

    def forward(self, latent, c=None):
        return dist.Delta(latent[:, self.z_dim:] + self.shift, event_dim=1)


def code_programs(classes=0, dim=0, prior="uniform"):
    """z ~ N(0, 1) (unused), codes as in the model specs, x = the codes; q(code|x) reads x directly."""
    model = LatentModel(1, CodeOut(1), Codes(classes, dim, prior))
    posterior = CodePosterior(FlatNet(nn.Identity(), Labels(None)), classes + dim, classes, dim)
    return Programs(model, LinearGaussianGuide(), QuadraticDiscriminator(classes + dim),
                    code_posterior=posterior).bind((classes + dim,))


def seeded(fn, *args, seed=3):
    pyro.set_rng_seed(seed)
    return fn(*args)


# ------------------------------------------------------------------------------------ InfoGAN
def test_infogan_info_term_is_minus_expected_log_q_of_a_categorical_head():
    k, n = 4, 64
    programs = code_programs(classes=k)
    weight = torch.randn(k, k)
    with torch.no_grad():
        programs.code_posterior.categorical.weight.copy_(weight)
        programs.code_posterior.categorical.bias.zero_()
    batch = Batch(torch.zeros(n, k))
    out = seeded(InfoGAN(info_weight=0.5).generator_step, programs, batch)
    x, tr = seeded(generate, programs, n)  # the same draws
    code = tr.nodes["code_cat"]["value"]  # (n, K) one-hot
    log_q = (F.log_softmax(x @ weight.T, -1) * code).sum(-1)  # log q(code | x) by hand
    assert_close(out["info"], -log_q.mean())
    assert_close(out["mutual_info"], log_q.mean() + math.log(k))  # + H(code) = log K
    d = programs.discriminator(x)
    assert_close(out["adversarial"], F.softplus(-d).mean())
    assert_close(out["generator"], out["adversarial"] + 0.5 * out["info"])


def test_infogan_bound_is_the_code_entropy_when_the_posterior_is_exact():
    k = 5
    programs = code_programs(classes=k)
    with torch.no_grad():  # logits 40 x: the code is read off x with certainty
        programs.code_posterior.categorical.weight.copy_(40 * torch.eye(k))
        programs.code_posterior.categorical.bias.zero_()
    out = InfoGAN().generator_step(programs, Batch(torch.zeros(256, k)))
    assert_close(out["info"], torch.tensor(0.0), rtol=0, atol=1e-6)
    assert_close(out["mutual_info"], torch.tensor(math.log(k)), rtol=0, atol=1e-6)


def test_infogan_continuous_code_under_a_gaussian_head_in_closed_form():
    # q(code | x) = N(x, s²) and x = code: -log q = k/2 log(2π s²); the bound adds H(U(-1,1)^k) = k log 2
    k, s = 3, 0.3
    programs = code_programs(dim=k)
    head = programs.code_posterior.continuous.linear
    with torch.no_grad():
        head.weight.copy_(torch.cat([torch.eye(k), torch.zeros(k, k)]))
        head.bias.copy_(torch.cat([torch.zeros(k), torch.full((k,), math.log(math.expm1(s - 1e-4)))]))
    out = InfoGAN().generator_step(programs, Batch(torch.zeros(128, k)))
    info = 0.5 * k * math.log(2 * math.pi * s ** 2)
    assert_close(out["info"], torch.tensor(info))
    assert_close(out["mutual_info"], torch.tensor(k * math.log(2) - info))


class ScalarShift(nn.Module):
    """z ~ N(0, 1) of shape (batch,), x = z + θ: a generator whose latent the linear guide can invert."""

    def __init__(self, theta=0.7):
        super().__init__()
        self.theta = nn.Parameter(torch.tensor(theta))

    def forward(self, x_obs, c=None):
        batch_size = x_obs.shape[0]
        zeros = self.theta.new_zeros(batch_size)
        with pyro.plate("data", batch_size):
            z = pyro.sample("z", dist.Normal(zeros, zeros + 1))
            pyro.sample("x", dist.Delta((z + self.theta).unsqueeze(-1), event_dim=1), obs=x_obs)


def test_infogan_without_codes_treats_the_latents_as_code_and_the_guide_as_q():
    s = 0.4
    programs = Programs(ScalarShift(0.7), LinearGaussianGuide(m=1.0, k=-0.7, s=s), QuadraticDiscriminator()).bind((1,))
    n = 512
    out = seeded(InfoGAN().generator_step, programs, Batch(torch.zeros(n, 1)))
    # the guide inverts x = z + θ exactly: -log q(z | x) = ½ log(2π s²) for every sample
    assert_close(out["info"], torch.tensor(0.5 * math.log(2 * math.pi * s ** 2)))
    _, tr = seeded(generate, programs, n)
    z = tr.nodes["z"]["value"]
    log_p = dist.Normal(0.0, 1.0).log_prob(z)
    assert_close(out["mutual_info"], -out["info"] - log_p.mean())
    # the info term moves the guide and the generator (they are the generator player)
    guide_params = list(programs.guide.parameters())
    grads = torch.autograd.grad(out["info"], guide_params + [programs.model.theta])
    assert all(g.abs().sum() > 0 for g in grads[:2])


def test_infogan_roles_and_settings():
    programs = MLP(hidden=8, disc_hidden=8, code_classes=3, code_dim=2).build(RING)
    n = 16
    data = TensorData(torch.randn(64, 2), None, RING)
    trainer = Trainer(programs, InfoGAN(), data, batch_size=n, optim=OptimConfig(lr=1e-2))
    roles = {role: {id(p) for p in role_parameters(programs, role, data.sample(2))} for role in programs.roles}
    assert {id(p) for p in trainer.params["generator"]} == roles["model"] | roles["code_posterior"] | roles["guide"]
    assert {id(p) for p in trainer.params["discriminator"]} == roles["discriminator"]
    assert not roles["code_posterior"] & roles["discriminator"]  # nothing shared with the discriminator
    before = {r: [p.detach().clone() for p in programs.roles[r].parameters()] for r in programs.roles}
    trainer.run_phase(InfoGAN().phases()[1])  # the generator phase
    moved = {r: any(not torch.equal(b, p) for b, p in zip(before[r], programs.roles[r].parameters()))
             for r in programs.roles}
    assert moved == {"model": True, "code_posterior": True, "guide": False, "discriminator": False,
                     "latent_discriminator": False}
    # a code posterior stands in for the guide; without either the strategy refuses the programs
    InfoGAN().check(Programs(programs.model, None, programs.discriminator, code_posterior=programs.code_posterior))
    with pytest.raises(UserError, match="guide"):
        InfoGAN().check(Programs(programs.model, None, programs.discriminator))
    with pytest.raises(UserError, match="info_weight"):
        InfoGAN(info_weight=-1.0)


def mutual_info(programs, n=4000):
    with torch.no_grad():
        x, tr = generate(programs, n)
        log_q, log_p = code_log_probs(programs, x, tr)
    return (log_q - log_p).mean()


def test_infogan_training_raises_the_bound_to_the_code_entropy():
    torch.manual_seed(0)
    pyro.set_rng_seed(0)
    k = 4
    programs = MLP(z_dim=2, hidden=32, depth=2, disc_hidden=32, code_classes=k).build(RING)
    start = mutual_info(programs)
    trainer = Trainer(programs, InfoGAN(), Ring(n=4096).load(), batch_size=64,
                      optim=OptimConfig(lr=2e-3, betas=[0.5, 0.999]))
    trainer.fit(150, progress=False)
    assert_close(start, torch.tensor(0.0), rtol=0, atol=0.1)  # a random q knows nothing of the code
    assert_close(mutual_info(programs), torch.tensor(math.log(k)), rtol=0, atol=0.03)


# ------------------------------------------------------------------------------------------ AAE
def aae_programs(**model):
    return Programs(LinearGaussianModel(**model), LinearGaussianGuide(),
                    latent_discriminator=QuadraticDiscriminator()).bind((1,))


def test_aae_without_the_adversary_is_the_expected_reconstruction_nll_and_its_gradient():
    programs = aae_programs()
    model, guide = programs.model, programs.guide
    x = torch.tensor([[-1.0], [0.5], [2.0]]).repeat(100_000, 1)
    torch.manual_seed(0)
    loss = AAE(adv_weight=0.0).autoencoder_step(programs, Batch(x))["autoencoder"]
    # E_q[-log N(x; a z + b, σ²)] with q = N(m x + k, s²), in closed form
    mu, s2 = guide.m * x[:, 0] + guide.k, guide.log_s.exp() ** 2
    sig = model.sigma
    exact = (0.5 * torch.log(2 * math.pi * sig ** 2)
             + ((x[:, 0] - model.a * mu - model.b) ** 2 + model.a ** 2 * s2) / (2 * sig ** 2)).mean()
    assert_close(loss, exact, rtol=0, atol=0.02)
    params = [model.a, model.b, guide.m, guide.k, guide.log_s]
    assert_close(torch.stack(torch.autograd.grad(loss, params)), torch.stack(torch.autograd.grad(exact, params)),
                 rtol=0, atol=0.05)


def test_aae_losses_by_hand_with_a_known_latent_discriminator():
    programs = aae_programs()
    critic = programs.latent_discriminator.lin
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[0.8, -0.3]]))  # d(z) = 0.8 z - 0.3 z² + 0.2
        critic.bias.fill_(0.2)
    x = torch.randn(32, 1)
    d = lambda z: 0.8 * z - 0.3 * z ** 2 + 0.2

    ae = seeded(AAE(adv_weight=0.7).autoencoder_step, programs, Batch(x))
    z_q = seeded(lambda: trace_guide(programs.guide, x).nodes["z"]["value"])
    nll = -dist.Normal(programs.model.a * z_q + programs.model.b, programs.model.sigma).log_prob(x[:, 0])
    assert_close(ae["reconstruction"], nll.mean())
    assert_close(ae["adversarial"], F.softplus(-d(z_q)).mean())  # non-saturating: -log D(z_q)
    assert_close(ae["autoencoder"], nll.mean() + 0.7 * F.softplus(-d(z_q)).mean())

    critic_out = seeded(AAE().latent_discriminator_step, programs, Batch(x))

    def draws():
        return trace_guide(programs.guide, x).nodes["z"]["value"], sample_model(programs, 32).nodes["z"]["value"]

    z_q, z_p = seeded(draws)
    bce = F.binary_cross_entropy_with_logits
    assert_close(critic_out["latent_discriminator"], bce(d(z_p), torch.ones(32)) + bce(d(z_q), torch.zeros(32)))


class ShiftedPriorModel(LinearGaussianModel):
    """The linear Gaussian model with the prior z ~ N(2, 0.5²) instead of N(0, 1)."""

    def forward(self, x_obs, c=None):
        batch_size = x_obs.shape[0]
        zeros = self.sigma.new_zeros(batch_size)
        with pyro.plate("data", batch_size):
            z = pyro.sample("z", dist.Normal(zeros + 2.0, zeros + 0.5))
            pyro.sample("x", dist.Normal((self.a * z + self.b).unsqueeze(-1), self.sigma).to_event(1), obs=x_obs)


def aggregate_moments(programs, data):
    with torch.no_grad():
        z = trace_guide(programs.guide, data.x).nodes["z"]["value"]
    return torch.stack([z.mean(), z.std()])


@pytest.mark.parametrize("adv_weight, steps", [(1.0, 500), (0.0, 200)])
def test_aae_matches_the_aggregate_posterior_to_the_model_prior(adv_weight, steps):
    # data N(3, 1); the model's prior is N(2, 0.5²): only the adversarial term pulls q(z) onto it, and
    # it must find that prior by tracing the model (a hard-coded N(0, I) would end elsewhere)
    torch.manual_seed(0)
    pyro.set_rng_seed(0)
    programs = Programs(ShiftedPriorModel(sigma=0.6), LinearGaussianGuide(),
                        latent_discriminator=QuadraticDiscriminator())
    data = gaussian_data(n=8192, loc=3.0, scale=1.0)
    optim = lambda player: OptimConfig(lr=0.1 if player == "latent_discriminator" else 0.05, betas=[0.5, 0.999])
    Trainer(programs, AAE(adv_weight=adv_weight), data, batch_size=256, optim=optim).fit(steps, progress=False)
    moments = aggregate_moments(programs, data)
    if adv_weight:
        assert_close(moments, torch.tensor([2.0, 0.5]), rtol=0, atol=0.1)
    else:  # a plain autoencoder: q(z) is wherever reconstruction left it
        assert (moments - torch.tensor([2.0, 0.5])).abs().max() > 0.5


# -------------------------------------------------------------------------------------- VAE-GAN
def vae_programs():
    return MLP(z_dim=3, hidden=16, depth=2, disc_hidden=16, likelihood="normal", sigma=0.5).build(RING)


def test_vaegan_without_the_adversary_is_the_elbo_loss_and_gradient():
    programs = vae_programs()
    batch = Batch(torch.randn(64, 2))
    params = list(programs.model.parameters()) + list(programs.guide.parameters())
    ref = seeded(ELBO().loss, programs, batch)["vae"]
    out = seeded(VAEGAN(adv_weight=0.0).vae_step, programs, batch)
    assert_close(out["vae"], ref)
    assert_close(out["bound"], -ref)
    for g, h in zip(torch.autograd.grad(out["vae"], params), torch.autograd.grad(ref, params)):
        assert_close(g, h)


def test_vaegan_adversarial_term_reaches_the_decoder_only():
    programs = vae_programs()
    batch = Batch(torch.randn(64, 2))
    guide, model = list(programs.guide.parameters()), list(programs.model.parameters())
    plain = seeded(VAEGAN(adv_weight=0.0).vae_step, programs, batch)
    mixed = seeded(VAEGAN(adv_weight=2.0).vae_step, programs, batch)
    assert_close(mixed["vae"], plain["vae"] + 2.0 * mixed["adversarial"])
    for g, h in zip(torch.autograd.grad(mixed["vae"], guide, retain_graph=True),
                    torch.autograd.grad(plain["vae"], guide, retain_graph=True)):
        assert_close(g, h)  # Larsen et al.: the encoder gets no GAN gradient
    changed = [not torch.allclose(g, h) for g, h in zip(torch.autograd.grad(mixed["vae"], model),
                                                         torch.autograd.grad(plain["vae"], model))]
    assert all(changed)


def test_vaegan_losses_by_hand():
    programs = vae_programs()
    x = torch.randn(32, 2)
    out = seeded(VAEGAN(adv_weight=1.0).discriminator_step, programs, Batch(x))

    def fakes():
        with torch.no_grad():
            x_gen, _ = generate(programs, 32)
            x_rec = observed_value(programs, sample_model(programs, 32, replay=trace_guide(programs.guide, x)))
        return x_gen, x_rec

    x_gen, x_rec = seeded(fakes)
    d = programs.discriminator
    bce = F.binary_cross_entropy_with_logits
    expected = bce(d(x), torch.ones(32)) + 0.5 * (bce(d(x_gen), torch.zeros(32)) + bce(d(x_rec), torch.zeros(32)))
    assert_close(out["discriminator"], expected)
    # the generated and reconstructed batches are different draws, both in the fake term
    assert not torch.allclose(x_gen, x_rec)

    vae = seeded(VAEGAN(adv_weight=1.0).vae_step, programs, Batch(x))

    def vae_draws():
        gtr = trace_guide(programs.guide, x)
        generated, _ = generate(programs, 32)
        rec = observed_value(programs, sample_model(programs, 32, replay=gtr))
        return generated, rec

    generated, rec = seeded(vae_draws)
    assert_close(vae["adversarial"], 0.5 * (F.softplus(-d(generated)).mean() + F.softplus(-d(rec)).mean()))


def test_hybrid_settings_are_validated():
    with pytest.raises(UserError, match="adv_weight"):
        AAE(adv_weight=-1.0)
    with pytest.raises(UserError, match="adv_weight"):
        VAEGAN(adv_weight=float("nan"))
    with pytest.raises(UserError, match="n_critic"):
        VAEGAN(n_critic=0)
