"""Property-based tests: the config loader and the objectives' shapes over many inputs."""
import string

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unigen.config import resolve
from unigen.errors import UserError
from unigen.importance import log_weights, repeat_batch
from unigen.models.mlp import MLP
from unigen.programs import Batch, DataInfo
from unigen.scoring import log_prob_per_example, score_model
from unigen.registry import STRATEGIES

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(steps=st.integers(1, 10**6), batch=st.integers(1, 4096), lr=st.floats(1e-8, 10.0),
       n_critic=st.integers(1, 20), hidden=st.integers(1, 512))
def test_valid_overrides_arrive_typed(steps, batch, lr, n_critic, hidden):
    r = resolve({}, [f"train.steps={steps}", f"train.batch_size={batch}", f"train.optim.lr={lr!r}",
                     f"strategy.n_critic={n_critic}", f"model.hidden={hidden}"])
    assert (r.config.train.steps, r.config.train.batch_size, r.strategy.n_critic, r.model.hidden) == \
        (steps, batch, n_critic, hidden)
    assert r.config.train.optim.lr == lr


@FAST
@given(section=st.sampled_from(["train", "strategy", "model", "data", "eval"]),
       key=st.text(string.ascii_lowercase + "_", min_size=3, max_size=12))
def test_unknown_keys_are_refused_by_name(section, key):
    from dataclasses import fields

    from unigen.config import EvalConfig, TrainConfig
    from unigen.data.toy import Ring
    from unigen.inference import NonSaturatingGAN

    cls = {"train": TrainConfig, "strategy": NonSaturatingGAN, "model": MLP, "data": Ring, "eval": EvalConfig}[section]
    known = {f.name for f in fields(cls)} | {"name"}
    if key in known:
        return
    try:
        resolve({}, [f"{section}.{key}=1"])
    except UserError as e:
        assert key in str(e) and "\n" not in str(e)
    else:
        raise AssertionError(f"{section}.{key} was accepted")


@FAST
@given(batch=st.integers(1, 17), k=st.integers(1, 6), dim=st.integers(1, 4))
def test_log_weights_have_shape_particles_by_batch(batch, k, dim):
    programs = MLP(hidden=8, depth=1, likelihood="normal", z_dim=2).build(DataInfo(shape=(dim,)))
    x = torch.randn(batch, dim)
    lw = log_weights(programs, Batch(x), k)
    assert lw.shape == (k, batch) and torch.isfinite(lw).all()
    rep = repeat_batch(Batch(x), k)
    assert rep.x.shape == (k * batch, dim)
    torch.testing.assert_close(rep.x.reshape(k, batch, dim)[-1], x)


@FAST
@given(batch=st.integers(1, 17), dim=st.integers(1, 4))
def test_model_log_prob_is_per_example(batch, dim):
    programs = MLP(hidden=8, depth=1, likelihood="normal").build(DataInfo(shape=(dim,)))
    tr = score_model(programs.model, torch.randn(batch, dim))
    lp = log_prob_per_example(tr, batch)
    assert lp.shape == (batch,)
    torch.testing.assert_close(lp.sum(), sum(s["fn"].log_prob(s["value"]).sum() for n, s in tr.nodes.items()
                                             if s["type"] == "sample" and n != "data"))


@FAST
@given(name=st.sampled_from(STRATEGIES.names()), batch=st.integers(2, 12))
def test_every_strategy_gives_scalar_losses_for_any_batch(name, batch):
    strategy = STRATEGIES.get(name)()
    k = 3 if strategy.needs.labels != "none" else None
    info = DataInfo(shape=(2,), num_classes=k)
    try:
        programs = MLP(hidden=8, depth=1, likelihood="normal", conditional=bool(k)).build(info)
        strategy.check(programs)
    except UserError:
        return  # strategies whose roles the MLP lacks are covered by their own tests
    c = torch.randint(0, 3, (batch,)) if k else None
    for phase in strategy.phases():
        values = phase.loss(programs, Batch(torch.randn(batch, 2), c))
        for player in phase.players:
            assert values[player].shape == () and torch.isfinite(values[player])


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 3), st.integers(1, 9), st.booleans(), st.integers(0, 2 ** 31 - 1))
def test_the_bernoulli_shortcut_equals_pyros_log_prob_bit_for_bit(k, batch, pixels, broadcast, seed):
    """Summing the cross-entropies before the sign flip gives the same bits as Pyro's log_prob, value and
    gradient, also when the observation broadcasts against the logits (IWAE's particles)."""
    import pyro.distributions as dist

    from unigen.scoring import log_prob

    g = torch.Generator().manual_seed(seed)
    logits = (3 * torch.randn(k, batch, 1, 2, pixels, generator=g)).requires_grad_()
    x = torch.rand((batch, 1, 2, pixels) if broadcast else (k, batch, 1, 2, pixels), generator=g)
    fn = dist.Bernoulli(logits=logits, validate_args=False).to_event(3)
    fast, plain = log_prob(fn, x), fn.log_prob(x)
    torch.testing.assert_close(fast, plain, rtol=0, atol=0)
    weights = torch.randn(fast.shape, generator=g)
    (g_fast,) = torch.autograd.grad((fast * weights).sum(), logits)
    (g_plain,) = torch.autograd.grad((plain * weights).sum(), logits)
    torch.testing.assert_close(g_fast, g_plain, rtol=0, atol=0)
    normal = dist.Normal(logits, 1.0).to_event(1)  # any other distribution: its own log_prob
    torch.testing.assert_close(log_prob(normal, x), normal.log_prob(x), rtol=0, atol=0)
