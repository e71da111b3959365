"""β-VAE and KL annealing over the VAE family: the split of the log-weights, β = 1, the warm-ups, AA-VAE's base."""
import math

import pyro
import pytest
import torch
from torch.testing import assert_close

from toys import LinearGaussianGuide, LinearGaussianModel, gaussian_data
from unigen import Programs, Trainer
from unigen.config import OptimConfig
from unigen.describe import choices
from unigen.errors import UserError
from unigen.importance import log_weight_terms
from unigen.inference import AAVAE, ELBO, IWAE, SVAE
from unigen.inference.kl_weight import KLWeighted
from unigen.programs import Batch


def _x(n=64, seed=1):
    return torch.randn(n, 1, generator=torch.Generator().manual_seed(seed)) * 1.3 + 0.4


def test_the_two_parts_are_the_expected_likelihood_and_minus_the_kl(linear_gaussian):
    r"""For q = N(m x + k, s²), p(z) = N(0, 1), x | z ~ N(a z + b, σ²): E_q[ratio] = −KL(q ‖ p(z)) and
    E_q[likelihood] = log N(x; a μ + b, σ²) − a² s² / (2σ²), both in closed form."""
    x = _x(8)
    w = log_weight_terms(linear_gaussian, Batch(x), num_particles=200_000)
    model, guide = linear_gaussian.model, linear_gaussian.guide
    with torch.no_grad():
        mu, s = guide.m * x[:, 0] + guide.k, guide.log_s.exp()
        kl = 0.5 * (s ** 2 + mu ** 2 - 1 - torch.log(s ** 2))
        a, b, sigma = model.a, model.b, model.sigma
        lik = (torch.distributions.Normal(a * mu + b, sigma).log_prob(x[:, 0]) - a ** 2 * s ** 2 / (2 * sigma ** 2))
    assert_close(w.ratio.mean(0).detach(), -kl, atol=0.01, rtol=0)
    assert_close(w.likelihood.mean(0).detach(), lik, atol=0.02, rtol=0)


def _loss_and_grads(strategy, programs, batch, seed=0):
    pyro.set_rng_seed(seed)
    programs.zero_grad()
    out = strategy.loss(programs, batch)
    out["vae"].backward()
    return out, {n: p.grad.clone() for n, p in programs.named_parameters()}


@pytest.mark.parametrize("cls, kwargs", [(ELBO, {"num_particles": 3}), (IWAE, {"num_particles": 4})])
def test_a_warmed_up_weight_of_one_is_the_plain_bound_loss_and_gradients(linear_gaussian, cls, kwargs):
    x = _x()
    plain, g_plain = _loss_and_grads(cls(**kwargs), linear_gaussian, Batch(x))
    warmed = cls(**kwargs, beta=1.0, warmup="linear", warmup_steps=10)
    done, g_done = _loss_and_grads(warmed, linear_gaussian, Batch(x, step=torch.tensor(25.0)))
    assert_close(done["vae"], plain["vae"])
    assert_close(done["bound"], plain["bound"])
    assert_close(g_done, g_plain)
    assert float(done["kl_weight"]) == 1.0 and "kl_weight" not in plain


def test_beta_weights_exactly_the_kl_part(linear_gaussian):
    """loss(β) = −E[likelihood] − β E[ratio] on the same draws, while the logged bound stays the ELBO."""
    x = _x()
    pyro.set_rng_seed(0)
    w = log_weight_terms(linear_gaussian, Batch(x), 2)
    out, _ = _loss_and_grads(ELBO(num_particles=2, beta=4.0), linear_gaussian, Batch(x))
    assert_close(out["vae"], -(w.likelihood.mean(0) + 4.0 * w.ratio.mean(0)).mean())
    assert_close(out["bound"], w.total().mean(0).mean())


def test_beta_zero_drops_the_kl_part_of_the_semi_supervised_bound_but_not_its_label_terms():
    from toys import contract_setup

    strategy = SVAE(beta=0.0)
    programs, data = contract_setup(strategy)
    batch = data.sample(12, generator=torch.Generator().manual_seed(2))
    pyro.set_rng_seed(0)
    parts, _ = strategy.terms(programs, batch)
    pyro.set_rng_seed(0)
    out = strategy.loss(programs, batch)
    bound = (parts[0] + parts[1]).mean()
    assert_close(out["bound"], bound)
    assert_close(out["vae"] + strategy.alpha * -out["class_nll"], -parts[0].mean())  # only the likelihood part
    assert float(parts[1].mean().detach()) < 0  # the KL part was really there to drop


@pytest.mark.parametrize("warmup", ["linear", "logistic"])
def test_the_warmups_start_at_zero_reach_beta_at_the_stated_step_and_rise(warmup):
    s = KLWeighted(beta=4.0, warmup=warmup, warmup_steps=100)
    steps = torch.arange(0, 201, dtype=torch.float32)
    values = torch.stack([torch.as_tensor(s.kl_weight(Batch(torch.zeros(1), step=t))) for t in steps])
    assert float(values[0]) == 0.0 and bool((values[100:] == 4.0).all())
    assert bool((values[1:101] > values[:100]).all())  # strictly rising up to T
    assert_close(values[50], torch.tensor(2.0), atol=1e-5, rtol=0)  # linear: half way; logistic: its centre
    if warmup == "linear":
        assert_close(values[:101], 4.0 * steps[:101] / 100)
    assert s.kl_weight(Batch(torch.zeros(1))) == 4.0  # outside training: the final weight


def test_the_trainer_advances_the_warmup_once_per_step():
    programs = Programs(model=LinearGaussianModel(), guide=LinearGaussianGuide())
    trainer = Trainer(programs, ELBO(warmup="linear", warmup_steps=4), gaussian_data(256), batch_size=32,
                      optim=OptimConfig(lr=1e-3))
    weights = [float(trainer.step()["kl_weight"]) for _ in range(6)]
    assert weights == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]


def test_a_larger_beta_trains_a_posterior_closer_to_the_prior():
    """β-VAE's trade-off on the linear Gaussian model: the learned q(z|x) has a smaller KL to p(z) at β = 4."""
    kls = {}
    for beta in (1.0, 4.0):
        torch.manual_seed(0)
        pyro.set_rng_seed(0)
        programs = Programs(model=LinearGaussianModel(), guide=LinearGaussianGuide())
        trainer = Trainer(programs, ELBO(beta=beta), gaussian_data(2048, loc=0.5, scale=1.8), batch_size=128,
                          optim=OptimConfig(lr=0.02))
        trainer.fit(300, progress=False)
        x = _x(512)
        w = log_weight_terms(programs, Batch(x), 64)
        kls[beta] = float(-w.ratio.mean())
    assert kls[4.0] < 0.6 * kls[1.0], kls


def test_aavae_passes_beta_to_its_base_and_refuses_a_base_without_it():
    aa = AAVAE(base="iwae", num_particles=3, beta=2.0, warmup="logistic", warmup_steps=7)
    base = aa.base_strategy
    assert (base.beta, base.warmup, base.warmup_steps, base.num_particles) == (2.0, "logistic", 7, 3)
    with pytest.raises(UserError, match="has no beta setting"):
        AAVAE(base="rws", beta=2.0)
    with pytest.raises(UserError, match="warmup='cosine' is not one of none, linear, logistic; choose one of them"):
        ELBO(warmup="cosine")
    assert choices("elbo", ELBO, "warmup") == ("none", "linear", "logistic")


def test_the_logistic_curve_is_bowmans_shape():
    """Between the ends the logistic warm-up is an affine image of σ(10 (t/T − ½)) (no kink, symmetric)."""
    s = KLWeighted(warmup="logistic", warmup_steps=1000)
    t = torch.tensor([100.0, 250.0, 750.0, 900.0])
    got = torch.stack([s.kl_weight(Batch(torch.zeros(1), step=v)) for v in t])
    sig = torch.sigmoid(10 * (t / 1000 - 0.5))
    lo, hi = 1 / (1 + math.exp(5)), 1 / (1 + math.exp(-5))
    assert_close(got, (sig - lo) / (hi - lo))
    assert_close(got[0] + got[3], torch.tensor(1.0))  # symmetric about T/2
    assert_close(got[1] + got[2], torch.tensor(1.0))
