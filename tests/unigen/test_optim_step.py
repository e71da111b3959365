"""The trainer's optimiser step: a fused Adam stepped through its kernels directly gives Adam.step()'s update
bit for bit, and anything that Adam.step() would do more (hooks, a scaler, other options) sends it there."""
import pyro
import pytest
import torch
from torch.testing import assert_close

import unigen.optim as optim
from unigen import Trainer
from unigen.config import OptimConfig
from unigen.registry import STRATEGIES

from toys import contract_setup


def _adam(weight_decay=0.0, **kw):
    torch.manual_seed(0)
    ws = [torch.nn.Parameter(torch.randn(5, 3)), torch.nn.Parameter(torch.randn(3))]
    return ws, torch.optim.Adam(ws, lr=0.01, betas=(0.7, 0.9), eps=1e-6, weight_decay=weight_decay, fused=True, **kw)


def _run(stepper, weight_decay, steps=6):
    ws, opt = _adam(weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: (t + 1) / 3)  # a changing float rate
    for i in range(steps):
        for w in ws:
            w.grad = torch.sin(w.detach() * (i + 1))  # a fresh gradient tensor each step, as the trainer makes
        stepper(opt)
        scheduler.step()
    return ws, opt


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_the_direct_fused_adam_step_equals_adam_step_bit_for_bit(weight_decay):
    direct_taken = []
    original = optim._direct_adam

    def watched(opt):
        calls = original(opt)
        direct_taken.append(calls is not None)
        return calls

    ws_a, opt_a = _run(lambda o: o.step(), weight_decay)
    optim._direct_adam = watched
    try:
        ws_b, opt_b = _run(optim.step, weight_decay)
    finally:
        optim._direct_adam = original
    assert direct_taken == [False] + [True] * 5  # the first creates the states through Adam.step()
    assert_close(ws_b, ws_a, rtol=0, atol=0)
    for a, b in zip(opt_a.state.values(), opt_b.state.values()):
        assert_close(b, a, rtol=0, atol=0)


def test_hooks_a_scaler_and_other_options_go_through_adam_step():
    ws, opt = _adam()
    for w in ws:
        w.grad = torch.ones_like(w)
    assert optim._direct_adam(opt) is None  # no states yet
    opt.step()
    assert optim._direct_adam(opt) is not None
    seen = []
    opt.step = lambda *a, original=opt.step: (seen.append("override"), original(*a))[1]  # an instance's own step
    assert optim._direct_adam(opt) is None
    optim.step(opt)
    del opt.step
    torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1.0)  # wraps opt.step to count calls: allowed
    assert "step" in vars(opt) and optim._direct_adam(opt) is not None
    handle = opt.register_step_pre_hook(lambda *a: seen.append(1))
    assert optim._direct_adam(opt) is None
    optim.step(opt)
    handle.remove()
    assert seen == ["override", 1]
    from torch.optim.optimizer import register_optimizer_step_post_hook

    handle = register_optimizer_step_post_hook(lambda *a: None)
    assert optim._direct_adam(opt) is None
    handle.remove()
    opt.grad_scale = torch.tensor(1.0)
    assert optim._direct_adam(opt) is None
    del opt.grad_scale
    ws[1].grad = None  # a parameter without a gradient is left alone, as Adam.step() leaves it
    (params, grads, *_), = optim._direct_adam(opt)
    assert params == [ws[0]] and grads[0] is ws[0].grad
    for kw in ({"amsgrad": True}, {"maximize": True}, {"foreach": True, "fused": False},
               {"decoupled_weight_decay": True}):
        ws, opt = _plain(**kw)
        for w in ws:
            w.grad = torch.ones_like(w)
        opt.step()
        assert optim._direct_adam(opt) is None, kw


def _plain(**kw):
    w = torch.nn.Parameter(torch.randn(4))
    return [w], torch.optim.Adam([w], lr=0.01, **({"fused": True} | kw))


def test_a_trainer_takes_the_direct_step_and_trains_as_with_adam_step(monkeypatch):
    def fit(direct):
        pyro.set_rng_seed(0)
        pyro.enable_validation(False)
        strategy = STRATEGIES.get("ns_gan")()
        programs, data = contract_setup(strategy)
        trainer = Trainer(programs, strategy, data, batch_size=16, optim=OptimConfig(lr=1e-3, warmup=2),
                          total_steps=5)
        if not direct:
            monkeypatch.setattr(optim, "_direct_adam", lambda opt: None)
        trainer.fit(5, progress=False)
        monkeypatch.undo()
        return trainer

    a, b = fit(direct=False), fit(direct=True)
    assert all(o.param_groups[0]["fused"] for o in b.optimizers.values())
    assert_close(dict(b.programs.named_parameters()), dict(a.programs.named_parameters()), rtol=0, atol=0)


def test_a_schedule_moved_past_a_skipped_update_says_nothing():
    import warnings

    ws, opt = _adam()
    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1.0 / (t + 1))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        optim.advance_schedules({"p": scheduler}, {"p": 2})  # no optimiser step yet: torch would warn
    assert not [w for w in seen if "lr_scheduler.step()" in str(w.message)]
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01 / 3)  # the schedule still moved two updates
