"""Contract tests for every registered model: role signatures, shapes, supports, gradients, labels, config."""
import dataclasses
import math
import re
from pathlib import Path

import pyro
import pytest
import torch
from hypothesis import given, settings, strategies as st
from omegaconf import OmegaConf
from pyro import poutine

import unigen.models as models
from unigen.errors import UserError
from unigen.models.nets import OneHotCode
from unigen.programs import Batch, DataInfo
from unigen.scoring import generate, latent_names, log_prob_per_example, observed_value, sample_model, score_model
from unigen.players import role_parameters
from unigen.registry import MODELS

RING = DataInfo(shape=(2,))
RING_LABELLED = DataInfo(shape=(2,), num_classes=8)
MNIST = DataInfo(shape=(1, 28, 28), num_classes=10, support="unit")
MNIST_SYM = DataInfo(shape=(1, 28, 28), num_classes=10, support="symmetric")
CIFAR = DataInfo(shape=(3, 32, 32), num_classes=10, support="symmetric")
SMALL_DCGAN = dict(ngf=8, ndf=8, z_dim=16)

# (model name, settings, data): every registered model must appear at least once
CASES = [
    ("mlp", {}, RING),
    ("mlp", {"likelihood": "normal"}, RING),
    ("mlp", {"conditional": True, "z_dim": 3}, RING_LABELLED),
    ("mlp", {"batch_norm": True, "hidden": 16}, RING),
    ("mlp_vae", {}, MNIST),
    ("mlp_vae", {"conditional": True, "z_dim": 4, "hidden": 32}, MNIST),
    ("dcgan", {}, MNIST_SYM),
    ("dcgan", {}, MNIST),
    ("dcgan", {**SMALL_DCGAN, "disc_norm": "none", "conditional": True}, CIFAR),
    ("dcgan", {**SMALL_DCGAN, "disc_norm": "layer"}, DataInfo(shape=(1, 32, 32), support="unit")),
    ("resnet", {"width": 8, "z_dim": 8}, MNIST_SYM),
    ("resnet", {"width": 8, "z_dim": 8, "conditional": True, "spectral_norm": "all"}, CIFAR),
    ("mlp", {"disc_maxout": 3, "disc_depth": 2, "disc_hidden": 8}, RING),
]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'default'}-{'x'.join(map(str, i.shape))}"
       for n, kw, i in CASES]
B = 4


def build(name, kwargs, info):
    return MODELS.get(name)(**kwargs).build(info)


def labels(spec, info, batch=B):
    return torch.arange(batch) % info.num_classes if spec.conditional else None


def fake_data(info, batch=B):
    """Data in the support of ``info`` (grey levels for 'unit', so Bernoulli must accept non-binary x)."""
    x = torch.rand(batch, *info.shape)
    return {"unit": x, "symmetric": 2 * x - 1, "real": torch.randn(batch, *info.shape)}[info.support]


@pytest.fixture(autouse=True)
def seed():
    pyro.set_rng_seed(0)


def test_every_registered_model_is_covered():
    assert set(MODELS.names()) == {"mlp", "mlp_vae", "dcgan", "ssvae", "cyclegan", "dann", "resnet"}
    # ssvae (M2) has roles and sites of its own (y, classifier); tests/inference/test_conditional.py covers it
    # cyclegan (two translators, two critics) and dann (features, labels, domain critic) are covered by
    # tests/inference/test_cyclegan.py and tests/inference/test_dann.py
    assert {name for name, _, _ in CASES} | {"ssvae", "cyclegan", "dann"} == set(MODELS.names())
    assert set(models.__all__) == {cls.__name__ for cls in map(MODELS.get, MODELS.names())}


@pytest.mark.parametrize("name, kwargs, info", CASES, ids=IDS)
def test_roles_sites_and_shapes(name, kwargs, info):
    spec = MODELS.get(name)(**kwargs)
    programs = spec.build(info)
    assert all(programs.has(r) for r in ("model", "guide", "discriminator"))
    c = labels(spec, info)

    tr = sample_model(programs, B, c)  # unconditioned: x is drawn, not observed
    assert latent_names(tr) == {"z"} and tr.nodes["x"]["infer"]["was_observed"]
    assert tr.nodes["z"]["value"].shape == (B, spec.z_dim)
    assert tr.nodes["x"]["value"].shape == (B, *info.shape)
    assert tr.nodes["data"]["value"].shape == (B,)  # the plate
    assert tr.nodes["z"]["cond_indep_stack"][0].name == "data"

    # the observed site scores real data per example
    x = fake_data(info)
    cond = score_model(programs.model, x, c)
    site = cond.nodes["x"]
    assert site["is_observed"] and latent_names(cond) == {"z"}
    assert site["fn"].log_prob(site["value"]).shape == (B,)
    assert cond.nodes["z"]["fn"].log_prob(cond.nodes["z"]["value"]).shape == (B,)

    gtr = poutine.trace(programs.guide).get_trace(x, c)
    assert latent_names(gtr) == {"z"}
    assert gtr.nodes["z"]["value"].shape == (B, spec.z_dim)
    assert gtr.nodes["z"]["fn"].log_prob(gtr.nodes["z"]["value"]).shape == (B,)
    assert gtr.nodes["z"]["fn"].has_rsample

    logits = programs.discriminator(x, c)
    assert logits.shape == (B,) and logits.dtype == x.dtype and torch.isfinite(logits).all()

    # the adversarial autoencoder's critic reads z (batch, z_dim); plain models have no code posterior
    latent_logits = programs.latent_discriminator(tr.nodes["z"]["value"], c)
    assert latent_logits.shape == (B,) and torch.isfinite(latent_logits).all()
    assert not programs.has("code_posterior")

    # parameters are found by tracing and by the modules alike, and every role has some
    for role in ("model", "guide", "discriminator", "latent_discriminator"):
        found = {id(p) for p in role_parameters(programs, role, Batch(x, c))}
        assert found and found == {id(p) for p in programs.roles[role].parameters()}


@pytest.mark.parametrize("name, kwargs, info", CASES, ids=IDS)
def test_generated_x_in_support_and_differentiable(name, kwargs, info):
    spec = MODELS.get(name)(**kwargs)
    programs = spec.build(info)
    x, tr = generate(programs, B, labels(spec, info))
    assert x.shape == (B, *info.shape) and torch.isfinite(x).all()
    lo, hi = {"unit": (0.0, 1.0), "symmetric": (-1.0, 1.0)}.get(info.support, (-float("inf"), float("inf")))
    assert x.min() >= lo and x.max() <= hi
    if name == "mlp_vae":  # Bernoulli: not reparameterisable, so x is its mean
        assert not tr.nodes["x"]["fn"].has_rsample
        torch.testing.assert_close(x, tr.nodes["x"]["fn"].mean)
    else:
        assert x is tr.nodes["x"]["value"]

    # (x - target)^2 has a non-zero gradient for every generator parameter
    ((x - fake_data(info)) ** 2).sum().backward()
    for n, p in programs.model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, n
    for p in list(programs.guide.parameters()) + list(programs.discriminator.parameters()):
        assert p.grad is None


@pytest.mark.parametrize("name, kwargs, info", CASES, ids=IDS)
def test_guide_is_reparameterised_and_discriminator_trainable(name, kwargs, info):
    spec = MODELS.get(name)(**kwargs)
    programs = spec.build(info)
    x, c = fake_data(info), labels(spec, info)
    z = programs.guide(x, c)  # rsample: d z / d phi flows through loc and scale
    (z ** 2).sum().backward()
    for n, p in programs.guide.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, n
    head = programs.guide.head.linear.weight.grad  # (2 z_dim, features): loc rows, then scale rows
    assert (head.abs().sum(1) > 0).all()
    programs.discriminator(x, c).sum().backward()
    for n, p in programs.discriminator.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, n
    assert all(p.grad is None for p in programs.model.parameters())


@pytest.mark.parametrize("name, kwargs, info", [c for c in CASES if c[1].get("conditional")],
                         ids=[i for i, c in zip(IDS, CASES) if c[1].get("conditional")])
def test_conditional_programs_use_the_labels(name, kwargs, info):
    programs = build(name, kwargs, info)
    programs.eval()  # batch statistics would otherwise mix the examples
    c0, c1 = torch.zeros(B, dtype=torch.long), torch.ones(B, dtype=torch.long)

    def run(role, *args):
        pyro.set_rng_seed(1)
        return role(*args)

    x0, x1 = run(lambda c: generate(programs, B, c)[0], c0), run(lambda c: generate(programs, B, c)[0], c1)
    torch.testing.assert_close(x0, run(lambda c: generate(programs, B, c)[0], c0))  # same seed, same x
    assert not torch.allclose(x0, x1)
    x = fake_data(info)
    assert not torch.allclose(run(programs.guide, x, c0), run(programs.guide, x, c1))
    assert not torch.allclose(programs.discriminator(x, c0), programs.discriminator(x, c1))
    with pytest.raises(UserError, match="conditional"):
        programs.model(programs.placeholder(B))


@pytest.mark.parametrize("cls", [models.MLP, models.MLPVAE, models.DCGAN, models.ResNet])
def test_specs_are_structured_configs(cls):
    assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen
    conf = OmegaConf.structured(cls)
    assert OmegaConf.to_object(conf) == cls()
    first = dataclasses.fields(cls)[0].name
    merged = OmegaConf.merge(conf, OmegaConf.create({first: 3}))
    assert OmegaConf.to_object(merged) == cls(**{first: 3})
    with pytest.raises(Exception):  # typed: a string is no latent width
        OmegaConf.merge(conf, OmegaConf.create({"z_dim": "wide"}))
    assert (cls.__doc__ or "").strip().splitlines()[0] == MODELS.describe()[cls.registry_name]


@pytest.mark.parametrize("name, kwargs, info, fix", [
    ("mlp", {}, MNIST, "mlp_vae"),
    ("mlp", {"likelihood": "bernoulli"}, RING, "model.likelihood"),
    ("mlp", {"conditional": True}, RING, "conditional=false"),
    ("mlp", {"depth": 0}, RING, "model.depth"),
    ("mlp_vae", {}, RING, "model 'mlp'"),
    ("mlp_vae", {}, MNIST_SYM, "[0, 1]"),
    ("dcgan", {}, RING, "model 'mlp'"),
    ("dcgan", {}, DataInfo(shape=(1, 30, 30), support="unit"), "resize"),
    ("dcgan", {}, DataInfo(shape=(1, 28, 32), support="unit"), "resize"),
    ("dcgan", {}, DataInfo(shape=(1, 28, 28), support="real"), "scaling"),
    ("dcgan", {"disc_norm": "spectral"}, MNIST, "model.disc_norm"),
    ("mlp", {"code_classes": 1}, RING, "model.code_classes"),
    ("mlp_vae", {"code_dim": -2}, MNIST, "model.code_dim"),
    ("dcgan", {"code_dim": 2, "code_prior": "beta"}, MNIST, "model.code_prior"),
])
def test_wrong_data_or_settings_raise_a_one_line_user_error(name, kwargs, info, fix):
    with pytest.raises(UserError) as err:
        build(name, kwargs, info)
    message = str(err.value)
    assert "\n" not in message and fix in message and name in message


@pytest.mark.parametrize("norm, expected", [("batch", torch.nn.BatchNorm2d), ("layer", torch.nn.GroupNorm),
                                            ("none", None)])
def test_dcgan_critic_norm(norm, expected):
    programs = build("dcgan", {**SMALL_DCGAN, "disc_norm": norm}, MNIST)
    kinds = {type(m) for m in programs.discriminator.modules()}
    norms = kinds & {torch.nn.BatchNorm2d, torch.nn.GroupNorm}
    assert norms == ({expected} if expected else set())
    # without batch norm each logit depends on its own example only (what a gradient penalty assumes)
    x = fake_data(MNIST).requires_grad_()
    (g,) = torch.autograd.grad(programs.discriminator(x)[0], x)
    assert g[0].abs().sum() > 0
    assert (g[1:].abs().sum() > 0) == (norm == "batch")


@pytest.mark.parametrize("size, first", [(28, 7), (32, 4)])
def test_dcgan_generator_starts_from_the_paper_sizes(size, first):
    programs = build("dcgan", SMALL_DCGAN, DataInfo(shape=(1, size, size), support="symmetric"))
    net = programs.model.likelihood.net
    h = net[0](torch.randn(2, SMALL_DCGAN["z_dim"], 1, 1))
    assert h.shape[-2:] == (first, first)
    assert isinstance(programs.model.likelihood.squash, torch.nn.Tanh)


def test_normal_likelihood_has_the_fixed_sigma():
    programs = build("mlp", {"likelihood": "normal", "sigma": 0.25}, RING)
    x = torch.randn(B, 2)
    tr = score_model(programs.model, x)
    fn = tr.nodes["x"]["fn"]
    loc = programs.model.likelihood.net(tr.nodes["z"]["value"])
    expected = torch.distributions.Normal(loc, 0.25).log_prob(x).sum(-1)
    torch.testing.assert_close(fn.log_prob(x), expected)


def test_bernoulli_scores_grey_levels_as_cross_entropy():
    programs = build("mlp_vae", {"z_dim": 2, "hidden": 16}, MNIST)
    x = fake_data(MNIST)  # grey levels, not binary: must not trip Bernoulli's support check
    tr = score_model(programs.model, x)
    fn = tr.nodes["x"]["fn"]
    logits = fn.base_dist.logits
    expected = -torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum((1, 2, 3))
    torch.testing.assert_close(fn.log_prob(x), expected)


@pytest.mark.parametrize("name, kwargs, info", CASES[::2], ids=IDS[::2])
def test_programs_follow_dtype_and_run_without_validation_or_grad(name, kwargs, info):
    spec = MODELS.get(name)(**kwargs)
    programs = spec.build(info).double()
    c = labels(spec, info)
    x = fake_data(info).double()
    pyro.enable_validation(False)
    try:
        with torch.no_grad():
            gen, _ = generate(programs, B, c)
            model_tr = score_model(programs.model, x, c)
            z = poutine.trace(programs.guide).get_trace(x, c).nodes["z"]["value"]
            lp = model_tr.log_prob_sum()
            d = programs.discriminator(gen, c)
    finally:
        pyro.enable_validation(True)
    assert gen.dtype == z.dtype == lp.dtype == d.dtype == torch.float64
    assert torch.isfinite(lp) or name != "mlp_vae"


def test_model_sources_have_no_host_syncs():
    src = Path(models.__file__).parent
    pattern = re.compile(r"\.item\(|\bfloat\(|\bint\(|\bbool\(|\.tolist\(|\.numpy\(|\.cpu\(|F\.one_hot\(|"
                         r"from __future__ import annotations")
    for path in sorted(src.glob("*.py")):
        hits = [line for line in path.read_text().splitlines() if pattern.search(line)]
        assert not hits, f"{path.name}: {hits}"


@settings(max_examples=15, deadline=None)
@given(batch=st.integers(1, 6), z_dim=st.integers(1, 5), d=st.integers(1, 5), depth=st.integers(1, 3),
       likelihood=st.sampled_from(["delta", "normal"]))
def test_mlp_shapes_for_any_vector_data(batch, z_dim, d, depth, likelihood):
    programs = build("mlp", {"z_dim": z_dim, "depth": depth, "hidden": 8, "disc_hidden": 8,
                             "likelihood": likelihood}, DataInfo(shape=(d,)))
    x, tr = generate(programs, batch)
    assert x.shape == (batch, d) and tr.nodes["z"]["value"].shape == (batch, z_dim)
    assert observed_value(programs, tr) is x
    assert programs.guide(x).shape == (batch, z_dim)
    assert programs.discriminator(x).shape == (batch,)


def test_mlp_batch_norm_normalises_the_generators_and_encoders_hidden_units_and_never_a_critics():
    programs = build("mlp", {"batch_norm": True, "hidden": 16, "disc_hidden": 16, "depth": 2}, RING)
    norms = {role for role, module in programs.modules_by_role.items()
             if any(isinstance(m, torch.nn.BatchNorm1d) for m in module.modules())}
    assert norms == {"model", "guide"}
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in programs.model.modules()) == 2  # one per hidden layer
    net = programs.model.likelihood.net  # Linear, batch norm, ReLU per hidden layer, then the output Linear
    assert [type(m) for m in net] == [torch.nn.Linear, torch.nn.BatchNorm1d, torch.nn.ReLU] * 2 + [torch.nn.Linear]
    # in training mode each hidden unit is standardised over the batch: mean β and standard deviation γ
    pre = []
    first = net[1]
    with torch.no_grad():
        first.weight.uniform_(0.5, 2.0)
        first.bias.uniform_(-1.0, 1.0)
    handle = first.register_forward_hook(lambda m, i, o: pre.append(o))
    programs.train()
    generate(programs, 64)
    handle.remove()
    torch.testing.assert_close(pre[0].mean(0), first.bias.detach(), atol=1e-5, rtol=0)
    torch.testing.assert_close(pre[0].std(0, unbiased=False), first.weight.detach(), atol=1e-3, rtol=1e-3)
    plain = build("mlp", {"hidden": 16, "disc_hidden": 16, "depth": 2}, RING)
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in plain.modules())


def test_a_maxout_layer_is_the_max_of_its_linear_pieces():
    from unigen.models.nets import Maxout
    torch.manual_seed(0)
    layer, x = Maxout(3, 4, pieces=5), torch.randn(6, 3)
    pieces = torch.stack([x @ layer.linear.weight[j * 5 + k] + layer.linear.bias[j * 5 + k]
                          for j in range(4) for k in range(5)], 1).view(6, 4, 5)
    torch.testing.assert_close(layer(x), pieces.max(-1).values)


def test_mlp_disc_maxout_makes_every_hidden_critic_layer_maxout_at_its_own_depth():
    from unigen.models.nets import Maxout
    programs = build("mlp", {"disc_maxout": 5, "disc_hidden": 8, "disc_depth": 3, "depth": 4, "hidden": 16}, RING)
    net = programs.discriminator.net.net  # FlatNet -> Sequential
    assert [type(m) for m in net] == [Maxout] * 3 + [torch.nn.Linear]
    assert [m.linear.out_features for m in net[:3]] == [40] * 3 and net[3].in_features == 8
    assert not any(isinstance(m, torch.nn.LeakyReLU) for m in net.modules())
    # the generator keeps its own depth; the latent critic keeps LeakyReLU
    assert sum(isinstance(m, torch.nn.Linear) for m in programs.model.likelihood.net) == 5
    assert programs.discriminator(torch.randn(7, 2)).shape == (7,)
    latent = programs.latent_discriminator
    assert not any(isinstance(m, Maxout) for m in latent.modules())
    assert any(isinstance(m, torch.nn.LeakyReLU) for m in latent.modules())
    # every network on the discriminator's body: InfoGAN's code posterior and both forms of ALI's joint critic
    from unigen.inference.ali import JOINT
    spec = MODELS.get("mlp")(disc_maxout=5, disc_hidden=8, disc_depth=3, depth=2, hidden=16, code_classes=3)
    posterior = spec.build(RING).code_posterior
    assert sum(isinstance(m, Maxout) for m in posterior.modules()) == 3
    joint = spec.build(RING, roles=("model", "guide", JOINT), joint_critic="features").joint_discriminator
    x_body, z_body = joint.features
    assert sum(isinstance(m, Maxout) for m in x_body.modules()) == 3
    assert not any(isinstance(m, Maxout) for m in z_body.modules())
    concat = spec.build(RING, roles=("model", "guide", JOINT), joint_critic="concat").joint_discriminator
    assert sum(isinstance(m, torch.nn.Linear) for m in concat.head.modules()) == 3 + 1  # disc_depth hidden, then out
    plain = build("mlp", {"disc_hidden": 8, "depth": 2}, RING).discriminator.net.net
    assert [type(m) for m in plain] == [torch.nn.Linear, torch.nn.LeakyReLU] * 2 + [torch.nn.Linear]
    with pytest.raises(UserError, match=r"model.disc_maxout=1 .*set 0 \(LeakyReLU\) or 2"):
        build("mlp", {"disc_maxout": 1}, RING)


# ------------------------------------------------------------------------ InfoGAN latent codes
CODE_CASES = [
    ("mlp", {"code_classes": 3, "code_dim": 2}, RING),
    ("mlp", {"code_classes": 3, "disc_maxout": 2, "disc_depth": 1}, RING),
    ("mlp", {"code_dim": 1, "code_prior": "normal", "conditional": True, "z_dim": 3}, RING_LABELLED),
    ("mlp_vae", {"code_classes": 10, "z_dim": 4, "hidden": 32, "disc_hidden": 32}, MNIST),
    ("dcgan", {**SMALL_DCGAN, "code_classes": 10, "code_dim": 2, "disc_norm": "layer"}, MNIST_SYM),
]
CODE_IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for n, kw, _ in CODE_CASES]


@pytest.mark.parametrize("name, kwargs, info", CODE_CASES, ids=CODE_IDS)
def test_code_sites_and_code_posterior(name, kwargs, info):
    spec = MODELS.get(name)(**kwargs)
    programs = spec.build(info)
    c = labels(spec, info)
    sites = {"code_cat"} if spec.code_classes else set()
    sites |= {"code"} if spec.code_dim else set()

    tr = sample_model(programs, B, c)
    assert latent_names(tr) == {"z"} | sites
    for site in sites:
        assert tr.nodes[site]["cond_indep_stack"][0].name == "data"
        assert tr.nodes[site]["fn"].log_prob(tr.nodes[site]["value"]).shape == (B,)
    if spec.code_classes:  # one-hot, uniform prior
        code = tr.nodes["code_cat"]["value"]
        assert code.shape == (B, spec.code_classes)
        assert ((code == 0) | (code == 1)).all() and (code.sum(-1) == 1).all()
        torch.testing.assert_close(tr.nodes["code_cat"]["fn"].probs, torch.full_like(code, 1 / spec.code_classes))
    if spec.code_dim:
        code, fn = tr.nodes["code"]["value"], tr.nodes["code"]["fn"]
        assert code.shape == (B, spec.code_dim) and fn.has_rsample
        if spec.code_prior == "uniform":
            assert isinstance(fn.base_dist, torch.distributions.Uniform) and code.abs().max() <= 1
            torch.testing.assert_close(fn.log_prob(code), torch.full((B,), -spec.code_dim * math.log(2)))
        else:
            assert isinstance(fn.base_dist, torch.distributions.Normal)

    # q(code | x): the same sites under the data plate, each scored per example; nothing shared with the critic
    x = fake_data(info)
    qtr = poutine.trace(programs.code_posterior).get_trace(x, c)
    assert latent_names(qtr) == sites
    for site in sites:
        assert qtr.nodes[site]["value"].shape == tr.nodes[site]["value"].shape
        assert qtr.nodes[site]["fn"].log_prob(tr.nodes[site]["value"]).shape == (B,)
    assert log_prob_per_example(qtr, B).shape == (B,)
    critic = {id(p) for p in programs.discriminator.parameters()}
    assert not critic & {id(p) for p in programs.code_posterior.parameters()}
    found = {id(p) for p in role_parameters(programs, "code_posterior", Batch(x, c))}
    assert found and found == {id(p) for p in programs.code_posterior.parameters()}

    # the generator reads the codes: the same z with other codes gives another x
    programs.eval()
    z = {"z": tr.nodes["z"]["value"]}
    codes = {s: tr.nodes[s]["value"] for s in sites}
    other = {s: v.roll(1, dims=-1) if s == "code_cat" else -v for s, v in codes.items()}

    def generated(values):
        pyro.set_rng_seed(1)
        return observed_value(programs, sample_model(programs, B, c, model=poutine.condition(programs.model, data=values)))

    torch.testing.assert_close(generated({**z, **codes}), generated({**z, **codes}))
    assert not torch.allclose(generated({**z, **codes}), generated({**z, **other}))
    # and the guide still infers z only
    assert latent_names(poutine.trace(programs.guide).get_trace(x, c)) == {"z"}


@pytest.mark.parametrize("logits", [[0.0, 0.0, 0.0, 0.0], [2.0, 0.0, -1.0, 0.5]])
def test_one_hot_code_samples_its_categorical(logits):
    # Gumbel-max sampling must draw the same distribution as OneHotCategorical
    logits = torch.tensor(logits)
    pyro.set_rng_seed(0)
    draws = OneHotCode(logits=logits.expand(200_000, 4)).sample()
    torch.testing.assert_close(draws.mean(0), torch.softmax(logits, 0), rtol=0, atol=5e-3)
    assert (draws.sum(-1) == 1).all()
    log_p = OneHotCode(logits=logits).log_prob(draws[:3])
    torch.testing.assert_close(log_p, torch.log_softmax(logits, 0) @ draws[:3].T)
