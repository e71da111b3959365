"""IWAE, wake-sleep and reweighted wake-sleep against the closed forms of a linear Gaussian model.

For z ~ N(0, 1), x | z ~ N(a z + b, σ²) the marginal p(x), the posterior p(z|x) = N(μ_p, σ_p²) and
every divergence between the Gaussian guide q(z|x) = N(m x + k, s²) and the posterior are known,
so each strategy's bound, gradient or fixed point is checked against an exact value.
"""
import math

import pyro
import pytest
import torch
from omegaconf import OmegaConf
from torch.testing import assert_close

from unigen import Programs, Trainer
from unigen.config import OptimConfig
from unigen.errors import UserError
from unigen.inference import ELBO, IWAE, ReweightedWakeSleep, WakeSleep
from unigen.programs import Batch

from toys import LinearGaussianGuide, LinearGaussianModel, gaussian_data

X = torch.tensor([[-1.0], [0.5], [2.0]])


def exact_guide(model):
    """The guide set to the model's exact posterior: m = a/(a²+σ²), k = -m b, s = σ_p."""
    a, b, sigma = (float(t.detach()) for t in (model.a, model.b, model.sigma))
    slope = a / (a ** 2 + sigma ** 2)
    return LinearGaussianGuide(m=slope, k=-slope * b, s=math.sqrt(sigma ** 2 / (a ** 2 + sigma ** 2)))


def guide_gaussian(guide, x):
    return guide.m * x[:, 0] + guide.k, guide.log_s.exp()


def kl_posterior_to_guide(model, guide, x):
    """KL(p(z|x) ‖ q(z|x)) between two Gaussians, per example, differentiable in the guide."""
    mp, sp = model.posterior(x)
    mq, sq = guide_gaussian(guide, x)
    return torch.log(sq / sp) + (sp ** 2 + (mp - mq) ** 2) / (2 * sq ** 2) - 0.5


def chi2_posterior_to_guide(model, guide, x):
    """χ²(p(z|x) ‖ q(z|x)) = ∫ p²/q − 1 = Var_q[w] / p(x)², per example (needs 2 s² > σ_p²)."""
    mp, sp = model.posterior(x)
    mq, sq = guide_gaussian(guide, x)
    d = 2 * sq ** 2 - sp ** 2
    return sq ** 2 / (sp * torch.sqrt(d)) * torch.exp((mp - mq) ** 2 / d) - 1


def replicate(x, n):
    """``n`` copies of each row of ``x``, copy-major: row ``i`` of copy ``j`` is at ``j * len(x) + i``."""
    return Batch(x.repeat(n, 1))


def grads(loss, params):
    return torch.stack([g if g is not None else torch.zeros(()) for g in
                        torch.autograd.grad(loss, params, allow_unused=True)])


# ------------------------------------------------------------------------------------------- IWAE
def test_iwae_with_one_particle_is_the_elbo_in_loss_and_gradients(linear_gaussian):
    model, guide = linear_gaussian.model, linear_gaussian.guide
    params = [model.a, model.b, guide.m, guide.k, guide.log_s]
    batch = replicate(X, 4)
    torch.manual_seed(3)
    iwae = IWAE(num_particles=1).loss(linear_gaussian, batch)["vae"]
    iwae_grads = grads(iwae, params)
    torch.manual_seed(3)
    elbo = ELBO(num_particles=1).loss(linear_gaussian, batch)["vae"]
    assert_close(iwae, elbo)
    assert_close(iwae_grads, grads(elbo, params))
    assert bool((iwae_grads != 0).all())


@pytest.mark.parametrize("k", [1, 3, 50])
def test_iwae_with_the_exact_posterior_is_log_px_for_every_draw(linear_gaussian, k):
    model = linear_gaussian.model
    linear_gaussian.roles["guide"] = exact_guide(model)
    with torch.no_grad():
        bound = IWAE(num_particles=k).objective(linear_gaussian, Batch(X))
    assert_close(bound, model.log_px(X).detach(), rtol=1e-5, atol=1e-5)


def test_iwae_bound_increases_with_k_towards_log_px(linear_gaussian):
    # each L_K is averaged over 20,000 independent draws at each of three x (MC std < 6e-4 at K = 20);
    # L_1 is the closed-form ELBO, and log p(x) - L_K → χ²(p(z|x) ‖ q) / (2K) (Maddison et al., 2017)
    model, guide = linear_gaussian.model, linear_gaussian.guide
    n, ks = 20_000, (1, 2, 5, 20, 100)
    torch.manual_seed(0)
    with torch.no_grad():
        bounds = torch.stack([IWAE(num_particles=k).objective(linear_gaussian, replicate(X, n)).mean()
                              for k in ks])
        log_px = model.log_px(X).mean()
        elbo = closed_form_elbo(model, guide, X).mean()
        chi2 = chi2_posterior_to_guide(model, guide, X).mean()
    sequence = torch.cat([bounds, log_px.reshape(1)])
    assert torch.equal(sequence, sequence.sort().values), f"not increasing: {sequence}"
    assert_close(bounds[0], elbo, rtol=0, atol=0.01)
    assert_close(log_px - bounds[-1], chi2 / (2 * ks[-1]), rtol=0.3, atol=0)


def closed_form_elbo(model, guide, x):
    a, b, sig = model.a, model.b, model.sigma
    mu, s = guide_gaussian(guide, x)
    e_lik = (-0.5 * math.log(2 * math.pi) - torch.log(sig)
             - ((x[:, 0] - a * mu - b) ** 2 + a ** 2 * s ** 2) / (2 * sig ** 2))
    e_prior = -0.5 * math.log(2 * math.pi) - (mu ** 2 + s ** 2) / 2
    return e_lik + e_prior + 0.5 * torch.log(2 * math.pi * math.e * s ** 2)


# ------------------------------------------------------------------------------------- wake-sleep
def test_wake_gradient_with_the_exact_posterior_is_the_score_of_log_px(linear_gaussian):
    # Fisher's identity: E_{p(z|x)} ∇θ log p(x, z) = ∇θ log p(x)
    model = linear_gaussian.model
    linear_gaussian.roles["guide"] = exact_guide(model)
    params = [model.a, model.b]
    x = torch.tensor([[-1.0], [1.0], [3.0]])  # both components of the score are far from 0
    torch.manual_seed(0)
    wake = WakeSleep().wake(linear_gaussian, replicate(x, 50_000))["model"]  # MC std about 0.004
    exact = grads(-model.log_px(x).mean(), params)
    assert_close(grads(wake, params), exact, rtol=0, atol=0.02)


def test_wake_leaves_the_guide_and_sleep_the_model_without_gradient(linear_gaussian):
    model, guide = linear_gaussian.model, linear_gaussian.guide
    strategy = WakeSleep()
    wake = strategy.wake(linear_gaussian, Batch(X))["model"]
    sleep = strategy.sleep(linear_gaussian, Batch(X))["guide"]
    assert torch.autograd.grad(wake, list(guide.parameters()), allow_unused=True) == (None, None, None)
    assert torch.autograd.grad(sleep, list(model.parameters()), allow_unused=True) == (None, None)


def _fit_guide_only(programs, strategy, steps, lr=0.05):
    """Train the guide on a frozen model (model learning rate 0) with every phase that moves the guide."""
    torch.manual_seed(0)
    pyro.set_rng_seed(0)
    data = gaussian_data(n=8192, loc=0.5, scale=math.sqrt(1.5 ** 2 + 0.8 ** 2))  # the model's marginal
    optim = lambda player: OptimConfig(lr=0.0 if player == "model" else lr)  # noqa: E731
    trainer = Trainer(programs, strategy, data, batch_size=256, optim=optim)
    phase = next(p for p in strategy.phases() if "guide" in p.players)
    sched = torch.optim.lr_scheduler.StepLR(trainer.optimizers["guide"], step_size=steps // 3, gamma=0.2)
    for _ in range(steps):
        trainer.run_phase(phase)
        sched.step()
    g = programs.guide
    return torch.stack([g.m, g.k, g.log_s.exp()]).detach()


@pytest.mark.parametrize("strategy", [WakeSleep(), ReweightedWakeSleep(num_particles=10),
                                      ReweightedWakeSleep(num_particles=2, sleep_phi=1.0)],
                         ids=["sleep", "rws_wake_phi", "rws_sleep_phi"])
def test_guide_updates_recover_the_exact_posterior(linear_gaussian, strategy):
    # sleep minimises E_{p(x)} KL(p(z|x) ‖ q), wake-φ E_{data} KL(p(z|x) ‖ q): both are 0 only at q = p(z|x)
    model = linear_gaussian.model
    before = [p.detach().clone() for p in model.parameters()]
    fitted = _fit_guide_only(linear_gaussian, strategy, steps=300)
    target = exact_guide(model)
    assert_close(fitted, torch.stack([target.m, target.k, target.log_s.exp()]).detach(), rtol=0, atol=0.015)
    assert all(torch.equal(b, p) for b, p in zip(before, model.parameters()))


# ---------------------------------------------------------------------------- reweighted wake-sleep
def test_rws_wake_theta_gradient_is_the_iwae_theta_gradient(linear_gaussian):
    model = linear_gaussian.model
    params = [model.a, model.b]
    batch = replicate(X, 8)
    torch.manual_seed(5)
    rws = ReweightedWakeSleep(num_particles=7).loss(linear_gaussian, batch)["model"]
    torch.manual_seed(5)
    iwae = IWAE(num_particles=7).loss(linear_gaussian, batch)["vae"]
    assert_close(rws, iwae)
    assert_close(grads(rws, params), grads(iwae, params))


def test_rws_wake_phi_gradient_approaches_the_inclusive_kl_gradient(linear_gaussian):
    # Σ_k w̃_k ∇φ log q(z_k|x) → E_{p(z|x)} ∇φ log q(z|x) = -∇φ KL(p(z|x) ‖ q(z|x)) as K → ∞
    model, guide = linear_gaussian.model, linear_gaussian.guide
    params = [guide.m, guide.k, guide.log_s]
    torch.manual_seed(0)
    out = ReweightedWakeSleep(num_particles=2000).loss(linear_gaussian, replicate(X, 100))
    exact = grads(kl_posterior_to_guide(model, guide, X).mean(), params)
    assert_close(grads(out["guide"], params), exact, rtol=0, atol=0.01)  # K = 5 is 0.06 off
    assert grads(out["guide"], [model.a, model.b]).abs().sum() == 0  # φ's loss does not reach θ


def test_rws_sleep_phi_mixes_the_two_guide_losses(linear_gaussian):
    torch.manual_seed(1)
    out = ReweightedWakeSleep(num_particles=4, sleep_phi=0.25).loss(linear_gaussian, Batch(X))
    assert_close(out["guide"].detach(), 0.75 * out["wake_phi"] + 0.25 * out["sleep_phi"])


# ----------------------------------------------------------------------------- seeded trainings
@pytest.mark.parametrize("strategy", [IWAE(num_particles=5), WakeSleep(), ReweightedWakeSleep(num_particles=5),
                                      ReweightedWakeSleep(num_particles=5, sleep_phi=0.5)],
                         ids=["iwae", "wake_sleep", "rws", "rws_half_sleep"])
def test_training_reaches_the_maximum_likelihood_model(strategy):
    # data x ~ N(2, 1.2² + 0.8²); with σ = 0.8 fixed the MLE is b = mean(x), |a| = sqrt(var(x) - σ²)
    torch.manual_seed(0)
    pyro.set_rng_seed(0)
    data = gaussian_data(n=4096, loc=2.0, scale=math.sqrt(1.2 ** 2 + 0.8 ** 2), seed=1)
    programs = Programs(model=LinearGaussianModel(a=0.5, b=0.0), guide=LinearGaussianGuide())
    trainer = Trainer(programs, strategy, data, batch_size=1024, optim=OptimConfig(lr=0.05))
    trainer.fit(300, progress=False)
    for opt in trainer.optimizers.values():  # anneal, to average out the SGD noise
        for group in opt.param_groups:
            group["lr"] = 0.005
    trainer.fit(450, progress=False)  # until 450 steps in all
    x = data.x[:, 0]
    mle = torch.stack([torch.sqrt(x.var(unbiased=False) - 0.8 ** 2), x.mean()])
    got = torch.stack([programs.model.a.abs(), programs.model.b]).detach()
    assert_close(got, mle, rtol=0, atol=0.02)  # from a = 0.5, b = 0


# ------------------------------------------------------------------------------------- settings
@pytest.mark.parametrize("make", [lambda: IWAE(num_particles=0), lambda: ReweightedWakeSleep(num_particles=1),
                                  lambda: ReweightedWakeSleep(sleep_phi=1.5),
                                  lambda: ReweightedWakeSleep(sleep_phi=-0.1)])
def test_bad_settings_are_user_errors(make):
    with pytest.raises(UserError):
        make()


def test_settings_are_omegaconf_schemas():
    for cls in (IWAE, WakeSleep, ReweightedWakeSleep):
        assert OmegaConf.to_object(OmegaConf.structured(cls)) == cls()
    cfg = OmegaConf.merge(OmegaConf.structured(ReweightedWakeSleep), {"num_particles": 3, "sleep_phi": 0.5})
    assert OmegaConf.to_object(cfg) == ReweightedWakeSleep(num_particles=3, sleep_phi=0.5)
    assert ReweightedWakeSleep(num_particles=1, sleep_phi=1.0).num_particles == 1  # pure sleep needs no SNIS


def test_iwae_weights_from_one_guide_pass_equal_the_stacked_copies(monkeypatch):
    """A single-latent guide runs once for all K particles: the same draws, weights and gradients as
    tracing it on K stacked copies of the batch."""
    import unigen.importance as w
    from unigen.models.vae import MLPVAE
    from unigen.programs import Batch, DataInfo

    info = DataInfo(shape=(1, 4, 4), support="unit")
    torch.manual_seed(0)
    programs = MLPVAE(z_dim=3, hidden=8).build(info)
    batch = Batch(torch.rand(6, 1, 4, 4).round())

    def weights():
        torch.manual_seed(7)
        log_w = w.log_weights(programs, batch, 5)
        return log_w, torch.autograd.grad(log_w.logsumexp(0).sum(), list(programs.parameters()),
                                          allow_unused=True)

    shared, shared_grads = weights()
    assert w._shareable_site(programs, batch) == "z"
    monkeypatch.setattr(w, "_shareable_site", lambda programs, batch: None)
    stacked, stacked_grads = weights()
    assert_close(shared, stacked)
    for a, b in zip(shared_grads, stacked_grads):
        assert (a is None) == (b is None)
        if a is not None:
            assert_close(a, b)
