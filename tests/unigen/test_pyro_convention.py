"""Pyro's own convention: a model and guide written as for Pyro's SVI train under every strategy unchanged."""
import types

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.infer import Predictive, Trace_ELBO
from pyro.infer.autoguide import AutoDelta, AutoDiagonalNormal, AutoGuideList, AutoNormal, init_to_mean
from torch import nn
from torch.testing import assert_close

from unigen import Batch, Programs, Trainer, UserError, generate
from unigen.config import OptimConfig
from unigen.data.base import TensorData
from unigen.inference import (ELBO, IWAE, IWGAN, WGAN, AAVAE, MonoFlow, NonSaturatingGAN, ReweightedWakeSleep)
from unigen.programs import DataInfo

from toys import VAE, Decoder, Encoder  # noqa: E402,F401  (Pyro's VAE tutorial)

PIXELS, HIDDEN, Z = 784, 32, 4


@pytest.fixture(scope="module")
def digits():
    from unigen.data.mnist import MNIST

    x = MNIST().load("train").x[:1000].reshape(1000, PIXELS)
    return TensorData(x, None, DataInfo(shape=(PIXELS,), support="unit"))


@pytest.fixture(scope="module")
def labelled_digits():
    """The same digits with their labels: a program that takes only ``x`` is called with ``x`` alone."""
    from unigen.data.mnist import MNIST

    data = MNIST().load("train")
    return TensorData(data.x[:1000].reshape(1000, PIXELS), data.c[:1000],
                      DataInfo(shape=(PIXELS,), support="unit", num_classes=10))


def critic():
    return nn.Sequential(nn.Linear(PIXELS, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1), nn.Flatten(0))


def tutorial_programs(validate=False):
    vae = VAE(validate=validate)
    # the module goes in as an extra role, so that .to(), state_dict() and checkpoints carry its weights
    return Programs(model=vae.model, guide=vae.guide, discriminator=critic(), vae=vae), vae


STRATEGIES = {"elbo": ELBO(), "iwae": IWAE(num_particles=3), "rws": ReweightedWakeSleep(num_particles=3),
              "ns_gan": NonSaturatingGAN(), "wgan+gp": WGAN(clip=0.0, penalty="gp"), "monoflow": MonoFlow(),
              "iwgan": IWGAN(), "aavae": AAVAE()}


@pytest.mark.parametrize("labels", [False, True], ids=["unlabelled", "labelled"])
@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_the_tutorial_vae_trains_unchanged_under(name, labels, digits, labelled_digits):
    digits = labelled_digits if labels else digits
    torch.manual_seed(0)
    pyro.set_rng_seed(0)
    programs, vae = tutorial_programs()
    before = {k: v.clone() for k, v in vae.state_dict().items()}
    trainer = Trainer(programs, STRATEGIES[name], digits, batch_size=32, optim=OptimConfig(lr=1e-3))
    assert programs.obs == "obs"  # the observed site is found from the trace, whatever its name
    out = trainer.fit(4, log_every=2, progress=False)
    assert out and all(torch.isfinite(torch.tensor(v)) for v in out.values())
    moved = [k for k, v in vae.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("decoder.") for k in moved), moved  # the model (generator) learns


def test_unigen_elbo_equals_pyro_trace_elbo_on_the_same_draws(digits):
    programs, _ = tutorial_programs()
    programs.bind(digits.info.shape)
    x = digits.x[:16]
    pyro.set_rng_seed(3)
    ours = ELBO().phases()[0].loss(programs, Batch(x))["vae"]  # mean of -ELBO per example
    pyro.set_rng_seed(3)
    theirs = Trace_ELBO().differentiable_loss(programs.model, programs.guide, x)  # -ELBO summed over the batch
    assert_close(ours * 16, theirs, rtol=1e-5, atol=1e-3)
    g_ours = torch.autograd.grad(ours * 16, list(programs.vae.parameters()))
    pyro.set_rng_seed(3)
    theirs = Trace_ELBO().differentiable_loss(programs.model, programs.guide, x)
    g_theirs = torch.autograd.grad(theirs, list(programs.vae.parameters()))
    for a, b in zip(g_ours, g_theirs):
        assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_generation_draws_x_instead_of_returning_the_placeholder(digits):
    programs, _ = tutorial_programs()
    programs.bind(digits.info.shape)
    x, tr = generate(programs, 64)
    assert x.shape == (64, PIXELS)
    assert not tr.nodes["obs"]["is_observed"] and tr.nodes["obs"]["infer"]["was_observed"]
    assert bool((x > 0).all()) and x.std(0).mean() > 0  # Bernoulli means of different draws, not zeros
    assert not torch.equal(x, generate(programs, 64)[0])  # new latents, new samples


def test_a_default_bernoulli_decoder_trains_under_aavae_and_ns_gan(digits):
    for strategy in (AAVAE(), NonSaturatingGAN()):
        programs, vae = tutorial_programs(validate=None)  # dist.Bernoulli(probs) as torch validates it
        with pyro.validation_enabled(True):
            trainer = Trainer(programs, strategy, digits, batch_size=32, optim=OptimConfig(lr=1e-3))
            out = trainer.fit(3, log_every=3, progress=False)
        assert all(torch.isfinite(torch.tensor(v)) for v in out.values())


def test_predictive_draws_from_a_trained_model(digits):
    programs, _ = tutorial_programs()
    Trainer(programs, ELBO(), digits, batch_size=32, optim=OptimConfig(lr=1e-3)).fit(5, progress=False)
    x = digits.x[:8]
    # the model observes its data: unconditioned, Predictive draws x from the posterior predictive
    draws = Predictive(poutine.uncondition(programs.model), guide=programs.guide, num_samples=5,
                       return_sites=["latent", "obs"])(x)
    assert draws["latent"].shape == (5, 8, Z) and draws["obs"].shape == (5, 8, PIXELS)
    assert set(draws["obs"].unique().tolist()) <= {0.0, 1.0}  # posterior-predictive binary images


# ------------------------------------------------------------------------------------- autoguides
def global_mean_model(n_total):
    """μ ~ N(0, 10²), x_i ~ N(μ, 1): minibatches scaled by n_total / batch through Pyro's subsampling plate."""

    def model(x):
        mu = pyro.sample("mu", dist.Normal(torch.tensor(0.0), torch.tensor(10.0)))
        with pyro.plate("data", n_total, subsample_size=x.shape[0]):
            pyro.sample("x", dist.Normal(mu, 1.0).expand([x.shape[0]]).to_event(0), obs=x[:, 0])

    return model


def test_autonormal_recovers_the_conjugate_posterior_mean():
    g = torch.Generator().manual_seed(0)
    x = 2.0 + torch.randn(500, 1, generator=g)
    data = TensorData(x, None, DataInfo(shape=(1,)))
    model = global_mean_model(500)
    guide = AutoNormal(model, init_loc_fn=init_to_mean)
    torch.manual_seed(0)
    pyro.set_rng_seed(0)
    Trainer(Programs(model, guide), ELBO(), data, batch_size=500,  # i.i.d. draws: still a stochastic gradient
            optim=OptimConfig(lr=0.05, betas=[0.9, 0.999], schedule="linear"), total_steps=600).fit(600, progress=False)
    posterior_mean = x.sum() / (500 + 1 / 100)  # precision 1/10² + 500
    assert_close(guide.locs.mu.detach(), posterior_mean, rtol=0, atol=0.05)


def test_an_autoguide_on_per_example_latents_is_refused_with_the_pattern(digits):
    _, vae = tutorial_programs()
    with pytest.raises(UserError, match=r"AutoNormal was given the per-example latent\(s\) 'latent' .* cannot "
                                        r"amortise .* auto = AutoNormal\(poutine.block\(model, expose="):
        Trainer(Programs(vae.model, AutoNormal(vae.model), vae=vae), ELBO(), digits, batch_size=8)


def _global_and_local():
    g = torch.Generator().manual_seed(1)
    data = TensorData(torch.randn(400, 1, generator=g) + 1.0, None, DataInfo(shape=(1,)))

    def model(x):
        w = pyro.sample("w", dist.Normal(torch.tensor(0.0), torch.tensor(1.0)))
        v = pyro.sample("v", dist.LogNormal(torch.tensor(0.0), torch.tensor(1.0)))
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0]), 1.0))
            pyro.sample("x", dist.Normal(w + z, 0.1 + v), obs=x[:, 0])

    return data, model


def test_an_autoguide_for_globals_combines_with_an_amortised_guide():
    """The documented pattern: an autoguide on the global latents, an encoder for the per-example one."""
    data, model = _global_and_local()
    auto = AutoGuideList(poutine.block(model, expose=["w", "v"]))  # the globals only
    auto.append(AutoNormal(poutine.block(model, expose=["w"])))
    auto.append(AutoDelta(poutine.block(model, expose=["v"])))
    encoder = nn.Linear(1, 2)

    def guide(x):
        auto(x)  # q(w) q(v): one set of parameters for the whole data set
        pyro.module("encoder", encoder)  # as in Pyro: the guide registers its network
        loc, log_scale = encoder(x).unbind(-1)  # q(z_i | x_i): amortised over examples
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(loc, log_scale.exp()))

    trainer = Trainer(Programs(model, guide, auto=auto, encoder=encoder), ELBO(), data, batch_size=50,
                      optim=OptimConfig(lr=0.02, betas=[0.9, 0.999]))
    before = encoder.weight.detach().clone()
    out = trainer.fit(40, log_every=10, progress=False)
    assert torch.isfinite(torch.tensor(out["vae"])) and not torch.equal(encoder.weight, before)
    assert float(auto[0].locs.w) != 0.0 and float(auto[1].v) != 1.0  # the global latents learn too


@pytest.mark.parametrize("autoguide", [AutoDiagonalNormal, AutoDelta])
def test_other_autoguides_fit_the_global_mean(autoguide):
    g = torch.Generator().manual_seed(0)
    x = 2.0 + torch.randn(500, 1, generator=g)
    model = global_mean_model(500)
    guide = autoguide(model, init_loc_fn=init_to_mean)  # start at the prior mean, 2 from the answer
    Trainer(Programs(model, guide), ELBO(), TensorData(x, None, DataInfo(shape=(1,))), batch_size=500,
            optim=OptimConfig(lr=0.05, betas=[0.9, 0.999], schedule="linear"), total_steps=400).fit(400, progress=False)
    assert_close(guide.median()["mu"].detach(), x.mean(), rtol=0, atol=0.05)


# ---------------------------------------------------------------------------------- mismatches
def test_a_guide_site_the_model_lacks_is_refused(digits):
    _, vae = tutorial_programs()

    def misnamed_guide(x):
        with pyro.plate("data", x.shape[0]):
            z_loc, z_scale = vae.encoder(x)
            pyro.sample("w", dist.Normal(z_loc, z_scale).to_event(1))

    with pytest.raises(UserError, match=r"the guide samples 'w', which the model does not have .*'latent'"):
        Trainer(Programs(vae.model, misnamed_guide, vae=vae), ELBO(), digits, batch_size=8)


class UnregisteredEncoderVAE(VAE):
    def guide(self, x):  # self.encoder without pyro.module: no trace of the guide shows its weights
        with pyro.plate("data", x.shape[0]):
            z_loc, z_scale = self.encoder(x)
            pyro.sample("latent", dist.Normal(z_loc, z_scale).to_event(1))


def test_weights_no_player_would_train_are_named_and_a_method_role_is_refused(digits, capsys):
    vae = UnregisteredEncoderVAE()
    Trainer(Programs(model=vae.model, guide=vae.guide, vae=vae), ELBO(), digits, batch_size=8)
    err = capsys.readouterr().err
    assert err.startswith("unigen: warning: 6 trainable parameter tensor(s) in the modules of the players' programs "
                          "are reached by no player's trace and will keep their initial values "
                          "(modules_by_role.vae.encoder.fc1.weight, ") and "and 3 more" in err
    assert "pyro.module(name, module)" in err and len(err.strip().splitlines()) == 1
    # registered, the same module trains; a role no player uses (the critic under ELBO) is left alone
    registered = Programs(model=vae.model, guide=VAE.guide.__get__(vae), discriminator=critic(), vae=vae)
    before = vae.encoder.fc1.weight.detach().clone()
    Trainer(registered, ELBO(), digits, batch_size=8, optim=OptimConfig(lr=1e-2)).fit(1, progress=False)
    assert not torch.equal(vae.encoder.fc1.weight.detach(), before) and "warning" not in capsys.readouterr().err
    # a non-Pyro role given as a method: its weights cannot be told from its module's
    holder = nn.Module()
    holder.net = critic()
    with pytest.raises(UserError, match=r"role 'discriminator' is a method of a module"):
        Trainer(Programs(vae.model, VAE.guide.__get__(vae), discriminator=types.MethodType(
            lambda self, x, c=None: self.net(x), holder), vae=vae), NonSaturatingGAN(), digits, batch_size=8)


def test_a_model_with_two_observed_sites_must_name_its_data(digits):
    def model(x, c=None):  # a functional Pyro program: its parameter is a pyro.param, found by tracing
        shift = pyro.param("shift", torch.zeros(PIXELS))
        with pyro.plate("data", x.shape[0]):
            pyro.sample("y", dist.Bernoulli(0.5), obs=torch.ones(x.shape[0]))
            z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0], PIXELS), 1.0).to_event(1))
            pyro.sample("x", dist.Delta(z + shift, event_dim=1), obs=x)

    with pytest.raises(UserError, match=r"observes several sites \(y, x\); name the one .*obs='x'"):
        Trainer(Programs(model, discriminator=critic()), NonSaturatingGAN(), digits, batch_size=8)
    def tutorial_style(x, c=None):  # the data site observes the batch reshaped, as Pyro's VAE tutorial does
        with pyro.plate("data", x.shape[0]):
            pyro.sample("y", dist.Bernoulli(0.5), obs=torch.ones(x.shape[0]))
            pyro.sample("obs", dist.Bernoulli(0.5).expand([PIXELS]).to_event(1), obs=x.reshape(-1, PIXELS))

    with pytest.raises(UserError, match=r"observes several sites \(y, obs\); name the one .*obs='obs'"):
        Trainer(Programs(tutorial_style, discriminator=critic()), NonSaturatingGAN(), digits, batch_size=8)
    Trainer(Programs(model, discriminator=critic(), obs="x"), NonSaturatingGAN(), digits, batch_size=8,
            optim=OptimConfig(lr=0.1)).fit(1, progress=False)
    assert not torch.equal(pyro.param("shift").detach(), torch.zeros(PIXELS))  # the generator learned


def test_a_batch_size_model_is_refused_with_the_rewrite():
    def old(batch_size, c=None):
        with pyro.plate("data", batch_size):
            pyro.sample("x", dist.Normal(torch.zeros(batch_size), 1.0))

    with pytest.raises(UserError, match=r"takes 'batch_size' first, .* pyro.sample\('x', d, obs=x\)"):
        Programs(old)


def test_a_model_observing_nothing_is_refused(digits):
    def model(x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("x", dist.Normal(torch.zeros(x.shape[0], PIXELS), 1.0).to_event(1))

    with pytest.raises(UserError, match="observes no site; write pyro.sample"):
        Trainer(Programs(model, discriminator=critic()), NonSaturatingGAN(), digits, batch_size=8)


def test_errors_name_python_arguments_from_python_and_config_keys_from_the_cli(capsys, tmp_path):
    from unigen.cli import main

    with pytest.raises(UserError) as e:
        WGAN(penalty="gp")  # from Python: the class's arguments
    assert str(e.value) == "penalty=gp replaces weight clipping; set clip=0 to use it (WGAN-GP)"
    code = main(["train", "ring_gan", "strategy.name=wgan", "strategy.penalty=gp", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == ("unigen: error: strategy.penalty=gp replaces weight clipping; set strategy.clip=0 "
                                 "to use it (WGAN-GP)")
    _, vae = tutorial_programs()

    def implicit(x):  # the tutorial's decoder as a GAN generator: a Delta at x
        pyro.module("decoder", vae.decoder)
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("latent", dist.Normal(x.new_zeros(x.shape[0], Z), 1.0).to_event(1))
            pyro.sample("obs", dist.Delta(vae.decoder(z), event_dim=1), obs=x)

    data = TensorData(torch.rand(20, PIXELS), None, DataInfo(shape=(PIXELS,), support="unit"))
    with pytest.raises(UserError) as e:  # a Delta where the loss scores log p(x|z): Python terms, then CLI terms
        Trainer(Programs(implicit, guide=vae.guide, vae=vae), ELBO(), data, batch_size=4)
    assert "dist.Normal(loc, sigma)" in str(e.value) and "model.likelihood=normal" in e.value.for_cli()


def test_a_role_gets_the_label_only_if_its_signature_takes_one():
    from unigen.scoring import takes_label

    def x_only(x):
        pass

    def with_label(x, c=None):
        pass

    class Call:
        def __call__(self, x):
            pass

    class Conditional(nn.Module):
        def forward(self, x, c=None):
            return x

    assert not takes_label(x_only) and takes_label(with_label) and takes_label(lambda *args: None)
    assert not takes_label(critic()) and takes_label(Conditional()) and not takes_label(Call())
    assert not takes_label(VAE().model)  # a bound method: self is not an argument
    # through Pyro's handlers and an autoguide, to the program they call
    assert not takes_label(poutine.replay(poutine.condition(x_only, data={}), trace=poutine.Trace()))
    assert takes_label(poutine.block(with_label)) and not takes_label(AutoNormal(poutine.block(x_only)))
    # a two-input critic D(x, z): the label would be the third argument
    assert not takes_label(lambda x, z: None, inputs=2) and takes_label(lambda x, z, c=None: None, inputs=2)


def test_the_label_rule_reads_the_signature_the_call_meets():
    import functools

    from unigen.scoring import label_mode

    def with_two(net, prior, x, c=None):
        pass

    def with_one(net, x):
        pass

    # a user's partial is not one of Pyro's handler wrappers: its own remaining signature counts
    assert label_mode(functools.partial(with_two, 1, 2)) == "positional"
    assert label_mode(functools.partial(with_one, 1)) is None

    def disc(x, c=None):
        pass

    class Static(nn.Module):
        forward = staticmethod(disc)

    # the same function reached bound and unbound, in either order: the cache keeps the two apart
    assert label_mode(Static()) == "positional" and label_mode(disc) == "positional"
    assert label_mode(Static()) == "positional"

    assert label_mode(torch.compile(critic(), backend="eager")) is None  # through torch.compile's wrapper
    instance = critic()
    instance.forward = lambda x, c=None: x  # a forward set on the instance is the one a call meets
    assert label_mode(instance) == "positional" and label_mode(critic()) is None

    class KeywordLabel(nn.Module):
        def forward(self, x, *, c=None):
            return x

    assert label_mode(KeywordLabel()) == "keyword"
    seen = []

    def keyword_model(x, *, c=None):
        seen.append(c)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("x", dist.Normal(0.0, 1.0), obs=x)

    from unigen.scoring import trace_program, with_condition

    c = torch.zeros(3, dtype=torch.long)
    trace_program(keyword_model, torch.zeros(3), c)
    assert seen[-1] is c
    assert with_condition(KeywordLabel(), torch.ones(3), c=c).shape == (3,)


def test_a_checkpoint_holds_the_weights_that_live_outside_the_programs(capsys):
    # a functional program: a pyro.param and a module-level network registered only with pyro.module
    torch.manual_seed(0)
    decoder, encoder = nn.Linear(2, 2), nn.Linear(2, 4)

    def model(x, c=None):
        pyro.module("decoder", decoder)
        shift = pyro.param("shift_outside", torch.zeros(2))
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(x.new_zeros(x.shape[0], 2), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(decoder(z) + shift, 0.5).to_event(1), obs=x)

    def guide(x, c=None):
        pyro.module("encoder", encoder)
        loc, log_scale = encoder(x).chunk(2, -1)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(loc, log_scale.exp()).to_event(1))

    data = TensorData(torch.randn(256, 2) + 3, None, DataInfo(shape=(2,)))
    trainer = Trainer(Programs(model, guide, encoder=encoder), ELBO(), data, batch_size=32,
                      optim=OptimConfig(lr=1e-2))
    trainer.fit(3, progress=False)
    state = trainer.state_dict()
    assert sorted(state["outside_programs"]["vae"]) == ["0", "1", "2"]  # decoder weight and bias, and shift
    saved = [p.detach().clone() for p in (pyro.param("shift_outside"), decoder.weight, decoder.bias)]
    trainer.fit(6, progress=False)  # six steps in all
    assert not torch.equal(pyro.param("shift_outside").detach(), saved[0])
    trainer.load_state_dict(state)
    for p, s in zip((pyro.param("shift_outside"), decoder.weight, decoder.bias), saved, strict=True):
        assert torch.equal(p.detach(), s)
    state["outside_programs"]["vae"]["0"] = torch.zeros(1)  # a (2,) parameter: refused, not broadcast into it
    with pytest.raises(UserError, match=r"the parameters held outside the programs .* differ in number or shape"):
        trainer.load_state_dict(state)
    del state["outside_programs"]  # a checkpoint from before they were kept: a warning, the current values stay
    trainer.load_state_dict(state)
    assert "the checkpoint predates the weights held outside the programs" in capsys.readouterr().err
