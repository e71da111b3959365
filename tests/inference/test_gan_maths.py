"""Adversarial facts: the optimal discriminator's logit and a 1-D GAN recovering its target."""

import pyro
import torch
from torch.testing import assert_close

from unigen import Programs
from unigen.inference import MinimaxGAN, NonSaturatingGAN

from toys import QuadraticDiscriminator, ShiftGenerator, gaussian_data, train_1d


def test_optimal_discriminator_logit_is_log_density_ratio():
    # p_data = N(0, 1), p_g = N(1, 1.5²): log p_data/p_g is quadratic, inside the critic's family
    torch.manual_seed(0)
    gen = ShiftGenerator(theta=1.0)
    scale = 1.5
    programs = Programs(model=lambda x, c=None: _scaled_gen(gen, x, scale), discriminator=QuadraticDiscriminator())
    strategy = NonSaturatingGAN()
    data = gaussian_data(n=50_000, loc=0.0, scale=1.0)
    opt = torch.optim.Adam(programs.discriminator.parameters(), lr=0.05)
    anneal = torch.optim.lr_scheduler.StepLR(opt, step_size=500, gamma=0.1)  # average out the SGD noise
    for _ in range(1500):
        loss = strategy.discriminator_step(programs, data.sample(4096))["discriminator"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        anneal.step()
    x = torch.linspace(-2.0, 2.5, 19).unsqueeze(-1)
    log_r = (torch.distributions.Normal(0.0, 1.0).log_prob(x) - torch.distributions.Normal(1.0, scale).log_prob(x))[:, 0]
    with torch.no_grad():
        d = programs.discriminator(x)
    assert_close(d, log_r, rtol=0, atol=0.1)


def _scaled_gen(gen, x_obs, scale):
    import pyro.distributions as dist

    n = x_obs.shape[0]
    zeros = gen.theta.new_zeros(n, 1)
    with pyro.plate("data", n):
        z = pyro.sample("z", dist.Normal(zeros, zeros + 1).to_event(1))
        pyro.sample("x", dist.Delta(scale * z + gen.theta, event_dim=1), obs=x_obs)


def test_non_saturating_gan_recovers_the_location():
    assert_close(train_1d(NonSaturatingGAN()), torch.tensor([4.0]), rtol=0, atol=0.25)


def test_minimax_gan_recovers_the_location():
    assert_close(train_1d(MinimaxGAN(), steps=1000), torch.tensor([4.0]), rtol=0, atol=0.25)


def test_generator_losses_are_the_stated_functions_of_the_logit():
    d = torch.tensor([-2.0, 0.0, 3.0])
    sig = torch.sigmoid(d)
    assert_close(NonSaturatingGAN().generator_loss(d), -torch.log(sig).mean())
    assert_close(MinimaxGAN().generator_loss(d), torch.log(1 - sig).mean())
    real, fake = torch.tensor([1.0, 2.0]), torch.tensor([-1.0, 0.5])
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    expected = bce(real, torch.ones(2)) + bce(fake, torch.zeros(2))
    assert_close(NonSaturatingGAN().critic_loss(real, fake), expected)
