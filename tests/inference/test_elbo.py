"""The ELBO against the closed forms of a linear Gaussian model."""
import math

import torch
from torch.testing import assert_close

from unigen.inference import ELBO
from unigen.programs import Batch

from toys import LinearGaussianGuide


def closed_form_elbo(model, guide, x):
    """E_q[log p(x|z) + log p(z) - log q(z|x)] for q = N(mu, s²), in closed form, per example."""
    a, b, sig = model.a, model.b, model.sigma
    mu = guide.m * x[:, 0] + guide.k
    s2 = guide.log_s.exp() ** 2
    e_lik = -0.5 * math.log(2 * math.pi) - torch.log(sig) - ((x[:, 0] - a * mu - b) ** 2 + a ** 2 * s2) / (2 * sig ** 2)
    e_prior = -0.5 * math.log(2 * math.pi) - (mu ** 2 + s2) / 2
    entropy = 0.5 * torch.log(2 * math.pi * math.e * s2)
    return e_lik + e_prior + entropy


def test_elbo_with_exact_posterior_is_log_px_for_every_sample(linear_gaussian):
    # with q = p(z|x) every importance weight equals p(x): a single particle gives log p(x) exactly
    model = linear_gaussian.model
    model.requires_grad_(False)
    x = torch.linspace(-3, 4, 11).unsqueeze(-1)
    mean, std = model.posterior(x)
    slope = model.a / (model.a ** 2 + model.sigma ** 2)
    exact = LinearGaussianGuide(m=float(slope), k=float(-slope * model.b), s=float(std))
    linear_gaussian.roles["guide"] = exact
    with torch.no_grad():
        elbo = ELBO().objective(linear_gaussian, Batch(x))
    assert_close(elbo, model.log_px(x).detach(), rtol=1e-5, atol=1e-5)


def test_elbo_estimate_matches_closed_form_and_is_below_log_px(linear_gaussian):
    model, guide = linear_gaussian.model, linear_gaussian.guide
    x = torch.tensor([[-1.0], [0.5], [2.0]])
    torch.manual_seed(0)
    with torch.no_grad():
        est = ELBO(num_particles=200_000).objective(linear_gaussian, Batch(x))
        exact = closed_form_elbo(model, guide, x)
    assert_close(est, exact, rtol=0, atol=0.02)
    assert bool((exact < model.log_px(x)).all())


def test_elbo_gradient_matches_closed_form_gradient(linear_gaussian):
    model, guide = linear_gaussian.model, linear_gaussian.guide
    x = torch.tensor([[-1.0], [0.5], [2.0]])
    params = [model.a, model.b, guide.m, guide.k, guide.log_s]
    torch.manual_seed(1)
    est = torch.autograd.grad(ELBO(num_particles=200_000).loss(linear_gaussian, Batch(x))["vae"], params)
    exact = torch.autograd.grad(-closed_form_elbo(model, guide, x).mean(), params)
    assert_close(torch.stack(est), torch.stack(exact), rtol=0, atol=0.03)
