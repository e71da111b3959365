"""The per-step device bookkeeping: the non-finite watch (one float64 accumulator of every weight's and loss's
2-norm per step, read on the host: what it catches, at which step, whom it names, and that it holds no autograd
history) and the logging window (sums added in place, states that never change once taken)."""
import pyro
import pytest
import torch

from unigen import Trainer
from unigen.config import OptimConfig
from unigen.inference import NonSaturatingGAN
from unigen.inference.wgan import WGAN
from unigen.registry import STRATEGIES
from unigen.watch import NonFiniteError

from toys import contract_setup


def _trainer(name, device=torch.device("cpu"), **settings):
    pyro.set_rng_seed(0)
    pyro.enable_validation(False)
    strategy = STRATEGIES.get(name)(**settings)
    programs, data = contract_setup(strategy)
    return Trainer(programs.to(device), strategy, data.to(device), batch_size=16, optim=OptimConfig(lr=1e-3),
                   total_steps=10)


def _poison(monkeypatch, cls, method, bad_call, make_bad):
    """Make ``cls.method``'s ``bad_call``-th call return ``make_bad(loss)``."""
    original, calls = getattr(cls, method), {"n": 0}

    def poisoned(self, *args):
        calls["n"] += 1
        loss = original(self, *args)
        return make_bad(loss) if calls["n"] == bad_call else loss

    monkeypatch.setattr(cls, method, poisoned)


def test_an_infinite_loss_with_finite_gradients_is_caught_at_its_step(monkeypatch):
    # the third generator loss gets an infinite constant: its gradients, and so the weights, stay finite
    _poison(monkeypatch, NonSaturatingGAN, "generator_loss", 3, lambda loss: loss + torch.tensor(float("inf")))
    trainer = _trainer("ns_gan")
    with pytest.raises(NonFiniteError, match=r"^player 'generator' had a non-finite loss or gradient at step 3$"):
        trainer.fit(10, progress=False)
    assert all(torch.isfinite(p).all() for ps in trainer.params.values() for p in ps)


def test_a_bad_update_in_an_early_repeat_names_its_player_at_its_step(monkeypatch):
    # WGAN's critic updates 5 times a step; its 7th update (the 2nd of step 2) gets a NaN loss, the others not
    _poison(monkeypatch, WGAN, "critic_loss", 7, lambda loss: loss * float("nan"))
    trainer = _trainer("wgan", n_critic=5)
    with pytest.raises(NonFiniteError, match=r"^player 'discriminator' had a non-finite loss or gradient at step 2$"):
        trainer.fit(10, progress=False)


def test_the_accumulator_holds_no_autograd_history_and_stays_finite_on_a_good_run():
    trainer = _trainer("ns_gan")
    trainer.fit(5, progress=False)
    total = trainer.watch.total
    assert total.dtype == torch.float64 and total.grad_fn is None and not total.requires_grad
    # one sum per player, each five steps of the norms of its parameters and losses: positive and finite
    assert total.shape == (len(trainer.params),) and torch.isfinite(total).all()
    for i, ps in enumerate(trainer.params.values()):
        assert total[i].item() > 5 * 0.5 * sum(p.detach().norm() for p in ps).item()


def test_the_logging_window_sums_in_place_yet_a_taken_state_never_changes():
    from unigen.window import Window

    w = Window()
    w.add({"a": torch.tensor(1.0), "b": torch.tensor(2.0)})
    state = w.state_dict()
    w.add({"a": torch.tensor(0.5), "b": torch.tensor(0.25), "c": torch.tensor(4.0)})  # "c" joins mid-window
    assert state["sums"] == {"a": torch.tensor(1.0), "b": torch.tensor(2.0)} and state["count"] == 1
    resumed = Window()
    resumed.load_state_dict(state, torch.device("cpu"))
    resumed.add({"a": torch.tensor(0.5), "b": torch.tensor(0.25)})
    assert state["sums"]["a"].item() == 1.0  # loading did not alias the state either
    assert resumed.close() == pytest.approx({"a": 0.75, "b": 1.125})
    assert w.close() == pytest.approx({"a": 0.75, "b": 1.125, "c": 2.0})


class _SlowDevice:
    """A stand-in for a CUDA event on a device that runs ``lag`` steps behind the host."""

    def __init__(self, clock, lag):
        self.clock, self.due = clock, clock["posted"] + lag
        clock["posted"] += 1

    def query(self):
        return self.clock["posted"] > self.due

    def synchronize(self):
        self.clock["waited"] += 1


@pytest.mark.parametrize("lag", [0, 3, 20])  # 20: more than the queue's depth, so post() waits for the oldest
def test_a_lagged_read_still_names_the_step_that_went_bad(monkeypatch, lag):
    # as on CUDA: each step's value is read once the (here simulated) device has caught up; the NaN of the 7th
    # critic update (step 2) is found later, yet named at step 2, and the queue never grows past its depth
    _poison(monkeypatch, WGAN, "critic_loss", 7, lambda loss: loss * float("nan"))
    trainer = _trainer("wgan", n_critic=5)
    watch, clock, longest = trainer.watch, {"posted": 0, "waited": 0}, []
    watch.lagged, watch._event = True, lambda: _SlowDevice(clock, lag)
    monkeypatch.setattr(watch, "poll", lambda poll=watch.poll: (longest.append(len(watch.pending)), poll())[1])
    with pytest.raises(NonFiniteError, match=r"^player 'discriminator' had a non-finite loss or gradient at step 2$"):
        trainer.fit(40, progress=False)
    assert trainer.step_count == min(2 + lag, 2 + watch.depth)  # found when the device caught up, or the queue filled
    assert max(longest) == min(lag + 1, watch.depth) and not watch.pending
    assert clock["waited"] == (2 if lag > watch.depth else 0)  # only a full queue waited (for steps 1 and 2)


def test_a_lagged_read_catches_an_infinite_loss_whose_step_has_passed(monkeypatch):
    # the infinite 3rd generator loss leaves every weight finite: only that step's own losses can name it
    _poison(monkeypatch, NonSaturatingGAN, "generator_loss", 3, lambda loss: loss + torch.tensor(float("inf")))
    trainer = _trainer("ns_gan")
    clock = {"posted": 0, "waited": 0}
    trainer.watch.lagged, trainer.watch._event = True, lambda: _SlowDevice(clock, 4)
    with pytest.raises(NonFiniteError, match=r"^player 'generator' had a non-finite loss or gradient at step 3$"):
        trainer.fit(10, progress=False)
    assert trainer.step_count == 7


def test_a_lagged_read_names_the_player_whose_loss_went_bad_though_the_nan_has_spread_since(monkeypatch):
    # a NaN generator loss at step 3 spreads to the discriminator's weights by the time the read comes (step 7),
    # and the discriminator comes first among the players: the bad step's own losses decide
    _poison(monkeypatch, NonSaturatingGAN, "generator_loss", 3, lambda loss: loss * float("nan"))
    trainer = _trainer("ns_gan")
    assert list(trainer.params) == ["discriminator", "generator"]
    clock = {"posted": 0, "waited": 0}
    trainer.watch.lagged, trainer.watch._event = True, lambda: _SlowDevice(clock, 4)
    with pytest.raises(NonFiniteError, match=r"^player 'generator' had a non-finite loss or gradient at step 3$"):
        trainer.fit(10, progress=False)
    assert trainer.step_count == 7
    assert not all(torch.isfinite(p).all() for p in trainer.params["discriminator"])  # it had spread


class _NanGradient(torch.autograd.Function):
    """The identity, whose gradient is NaN: a finite loss with non-finite gradients."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        return g * float("nan")


def test_a_lagged_read_names_the_player_whose_gradient_went_bad_though_its_loss_was_finite(monkeypatch):
    # the 3rd generator update gets NaN gradients from a finite loss; by the read (step 7) the NaN has reached the
    # discriminator, which comes first: only the per-player sums of step 3 still say whose update went bad
    _poison(monkeypatch, NonSaturatingGAN, "generator_loss", 3, _NanGradient.apply)
    trainer = _trainer("ns_gan")
    clock = {"posted": 0, "waited": 0}
    trainer.watch.lagged, trainer.watch._event = True, lambda: _SlowDevice(clock, 4)
    with pytest.raises(NonFiniteError, match=r"^player 'generator' had a non-finite loss or gradient at step 3$"):
        trainer.fit(10, progress=False)
    assert not all(torch.isfinite(p).all() for p in trainer.params["discriminator"])  # it had spread


def test_a_lagged_run_reads_every_queued_step_before_it_ends_or_checkpoints():
    trainer = _trainer("ns_gan")
    clock, saved = {"posted": 0, "waited": 0}, []
    trainer.watch.lagged, trainer.watch._event = True, lambda: _SlowDevice(clock, 100)  # never catches up
    trainer.fit(6, progress=False, checkpoint_every=4, on_checkpoint=lambda s: saved.append(len(trainer.watch.pending)))
    assert saved == [0] and not trainer.watch.pending and clock["waited"] == 6


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="the lagged read's events need a GPU")


@needs_cuda
@pytest.mark.parametrize("name", ["elbo", "ns_gan"])
def test_an_eager_cuda_run_checks_every_step_without_waiting_for_the_device(name, monkeypatch):
    import warnings

    trainer = _trainer(name, torch.device("cuda"))
    assert trainer.watch.lagged
    trainer.fit(3, progress=False)  # lazy first-step work (probes, optimiser states) may sync
    final_reads, posted, waits = [], trainer.watch.posted, []
    trainer.watch.raise_if_bad = lambda step, exact=True: final_reads.append(step)  # fit's one wait, after its loop
    # an event's synchronize is a wait that the sync debug mode does not report: counted here
    monkeypatch.setattr(torch.cuda.Event, "synchronize", lambda self: waits.append(1))
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # stopped, not finished: the open window is not read (a finished fit reads it, once)
            trainer.fit(10 ** 6, log_every=10 ** 6, progress=False, should_stop=lambda: trainer.step_count >= 23)
    finally:
        torch.cuda.set_sync_debug_mode(0)
        del trainer.watch.raise_if_bad
    syncs = [str(w.message) for w in caught if "synchroniz" in str(w.message)]
    monkeypatch.undo()
    assert syncs == [] and waits == [] and final_reads == [23]  # the host never waited in the 20 steps...
    assert trainer.watch.posted - posted == 20  # ...each of which queued its read
    trainer.raise_if_nonfinite()  # the queued reads: all finite


@needs_cuda
def test_a_lagged_cuda_read_names_the_step_that_went_bad(monkeypatch):
    _poison(monkeypatch, WGAN, "critic_loss", 7, lambda loss: loss * float("nan"))
    trainer = _trainer("wgan", torch.device("cuda"), n_critic=5)
    with pytest.raises(NonFiniteError, match=r"^player 'discriminator' had a non-finite loss or gradient at step 2$"):
        trainer.fit(40, progress=False)
