"""Runs survive interruption: resume is bit-for-bit, signals checkpoint cleanly, NaN stops with a name."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from unigen import checkpoint
from unigen.cli import main
from unigen.errors import UserError
from unigen.run import train

from toys import stopped_at

# a constant rate: some tests stop a long run and compare it with a run of fewer train.steps, and a decaying
# schedule (the demo config's linear one) depends on train.steps
TINY = ["data.n=2000", "model.hidden=32", "model.disc_hidden=32", "train.batch_size=64", "train.log_every=5",
        "train.progress=false", "eval.num_samples=100", "train.optim.schedule=constant"]


def _train_rows(run):
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r["kind"] == "train"]


def _params(run):
    return checkpoint.load(run / "checkpoint.pt")["programs"]


def _strip_time(rows):
    return [{k: v for k, v in r.items() if k != "time"} for r in rows]


def test_resumed_run_equals_uninterrupted_run(tmp_path, monkeypatch):
    # a cosine schedule with warm-up: the schedulers' state must survive the interruption too
    args = TINY + ["train.optim.schedule=cosine", "train.optim.warmup=5", "train.steps=40"]
    full = train("experiments/configs/ring_gan.yaml", args, out=str(tmp_path / "full"))
    with stopped_at(monkeypatch, 15):  # as if SIGTERM arrived during step 15
        part = train("experiments/configs/ring_gan.yaml", args, out=str(tmp_path / "part"))
    state = checkpoint.load(part / "checkpoint.pt")
    assert state["step"] == 15 and state["schedulers"]["generator"]["last_epoch"] == 15
    train(resume=part)
    for name, value in _params(full).items():
        torch.testing.assert_close(_params(part)[name], value, rtol=0, atol=0, msg=name)
    assert _strip_time(_train_rows(part)) == _strip_time(_train_rows(full))


def test_sigterm_saves_a_checkpoint_that_resumes_exactly(tmp_path):
    run = tmp_path / "run"
    args = [sys.executable, "-m", "unigen", "train", "experiments/configs/ring_gan.yaml", *TINY,
            "train.steps=100000", "train.checkpoint_every=0", "--out", str(run)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 60
    while time.time() < deadline and not ((run / "metrics.jsonl").is_file() and (run / "metrics.jsonl").read_text()):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err  # 128 + SIGTERM: scripts can tell a stopped run from a finished one
    assert "stopped by SIGTERM" in err and f"unigen train --resume {run}" in err
    stopped = checkpoint.load(run / "checkpoint.pt")["step"]
    assert 0 < stopped < 100000
    # the saved state continues exactly like a run that was never stopped
    target = stopped + 10
    train(overrides=[f"train.steps={target}"], resume=run)
    ref = train("experiments/configs/ring_gan.yaml", TINY + [f"train.steps={target}"], out=str(tmp_path / "ref"))
    for name, value in _params(ref).items():
        torch.testing.assert_close(_params(run)[name], value, rtol=0, atol=0, msg=name)


def test_nan_stops_naming_player_and_step_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    from unigen.inference import NonSaturatingGAN

    calls = {"n": 0}
    original = NonSaturatingGAN.generator_loss

    def poisoned(self, d_fake):  # finite for 20 steps, then NaN
        calls["n"] += 1
        loss = original(self, d_fake)
        return loss * float("nan") if calls["n"] > 20 else loss

    monkeypatch.setattr(NonSaturatingGAN, "generator_loss", poisoned)
    run = tmp_path / "nan"
    with pytest.raises(UserError, match=r"player 'generator' had a non-finite loss or gradient at step 21; "
                                        r"the last good checkpoint .* is kept"):
        train("experiments/configs/ring_gan.yaml", TINY + ["train.steps=100", "train.checkpoint_every=10"],
              out=str(run))
    state = checkpoint.load(run / "checkpoint.pt")
    assert state["step"] == 20
    assert all(torch.isfinite(v).all() for v in state["programs"].values() if v.is_floating_point())


def test_skip_mode_drops_sporadic_bad_updates_and_finishes(tmp_path, monkeypatch):
    from unigen.inference import NonSaturatingGAN

    calls = {"n": 0}
    original = NonSaturatingGAN.generator_loss

    def every_tenth_nan(self, d_fake):
        calls["n"] += 1
        loss = original(self, d_fake)
        return loss * float("nan") if calls["n"] % 10 == 0 else loss

    monkeypatch.setattr(NonSaturatingGAN, "generator_loss", every_tenth_nan)
    run = train("experiments/configs/ring_gan.yaml", TINY + ["train.steps=30", "train.on_nan=skip"],
                out=str(tmp_path / "skip"))
    state = checkpoint.load(run / "checkpoint.pt")
    assert state["skipped"] == 3
    assert all(torch.isfinite(v).all() for v in state["programs"].values() if v.is_floating_point())


def test_skip_mode_stops_a_dead_run(tmp_path, monkeypatch):
    from unigen.inference import NonSaturatingGAN

    original = NonSaturatingGAN.generator_loss
    calls = {"n": 0}

    def mostly_nan(self, d_fake):  # 9 of every 10 generator losses are NaN: skipping them is not training
        calls["n"] += 1
        loss = original(self, d_fake)
        return loss if calls["n"] % 10 == 0 else loss * float("nan")

    monkeypatch.setattr(NonSaturatingGAN, "generator_loss", mostly_nan)
    # the critic's updates are fine, so 9 of every 20 updates are skipped: over a 0.4 share
    with pytest.raises(UserError, match=r"of the last 20 updates were skipped .*train.max_skipped=0.4.* so the run "
                                        r"is not training"):
        train("experiments/configs/ring_gan.yaml", TINY + ["train.steps=120", "train.on_nan=skip",
              "train.max_skipped=0.4"], out=str(tmp_path / "skip"))


def _poison_weights_at(monkeypatch, update):
    """Make the generator's 'update'-th optimiser step leave NaN weights (as an infinite rate would)."""
    from unigen.inference import NonSaturatingGAN

    calls = {"n": 0}

    def after_update(self, programs, player):
        if player == "generator":
            calls["n"] += 1
            if calls["n"] == update:
                with torch.no_grad():
                    next(programs.model.parameters()).fill_(float("nan"))

    monkeypatch.setattr(NonSaturatingGAN, "after_update", after_update)


@pytest.mark.parametrize("on_nan", ["error", "skip"])
def test_non_finite_weights_stop_the_run_and_never_reach_a_checkpoint(tmp_path, monkeypatch, on_nan):
    _poison_weights_at(monkeypatch, 5)
    run = tmp_path / on_nan
    with pytest.raises(UserError, match=r"player 'generator' had non-finite weights after an update .*at step 5; "
                                        r"the last good checkpoint .*checkpoint.pt \(step 4\) is kept") as e:
        train("experiments/configs/ring_gan.yaml", TINY + ["train.steps=20", "train.checkpoint_every=1",
              f"train.on_nan={on_nan}"], out=str(run))
    assert str(e.value).endswith("; lower the learning rate")  # skipping cannot catch weights an update overflows
    state = checkpoint.load(run / "checkpoint.pt")
    assert state["step"] == 4
    assert all(torch.isfinite(v).all() for v in state["programs"].values() if v.is_floating_point())


def test_corrupt_and_foreign_checkpoints_are_refused(tmp_path, capsys):
    run = train("experiments/configs/ring_gan.yaml", TINY + ["train.steps=5"], out=str(tmp_path / "r"))
    ckpt = run / "checkpoint.pt"
    good = ckpt.read_bytes()
    ckpt.write_bytes(good[: len(good) // 2])  # truncated
    assert main(["eval", str(run)]) == 2
    assert "corrupt" in capsys.readouterr().err
    ckpt.write_bytes(good)
    other = train("experiments/configs/ring_gan.yaml", TINY + ["train.steps=5", "model.depth=2"],
                  out=str(tmp_path / "other"))
    (run / "checkpoint.pt").write_bytes((other / "checkpoint.pt").read_bytes())
    assert main(["train", "--resume", str(run), "train.steps=10"]) == 2
    assert "another model" in capsys.readouterr().err


def test_checkpoints_load_without_pickled_code(tmp_path):
    evil = tmp_path / "evil.pt"
    import pickle

    class Payload:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    evil.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(UserError, match="corrupt or not a unigen checkpoint"):
        checkpoint.load(evil)


def test_rng_state_round_trip():
    import random

    import numpy as np

    state = checkpoint.rng_state()
    a = (torch.rand(3), np.random.rand(3), random.random())
    checkpoint.set_rng_state(state)
    b = (torch.rand(3), np.random.rand(3), random.random())
    torch.testing.assert_close(a[0], b[0], rtol=0, atol=0)
    np.testing.assert_array_equal(a[1], b[1])
    assert a[2] == b[2]


def test_rng_states_loaded_onto_a_gpu_go_back_to_the_cpu():
    # a checkpoint loaded with map_location=cuda (unigen train --resume on a GPU) puts the random states there;
    # torch and numpy take them only from the CPU (on a GPU, test_compiled.py resumes a CUDA run end to end)
    class OnGPU:  # stands for a CUDA tensor here: only .cpu() gives the tensor back
        def __init__(self, tensor):
            self.tensor = tensor

        def cpu(self):
            return self.tensor

    state = checkpoint.rng_state()
    a = torch.rand(3)
    moved = {**state, "torch": OnGPU(state["torch"]), "cuda": [OnGPU(s) for s in state["cuda"]],
             "numpy": {**state["numpy"], "keys": OnGPU(state["numpy"]["keys"])}}
    checkpoint.set_rng_state(moved)
    torch.testing.assert_close(torch.rand(3), a, rtol=0, atol=0)


def test_best_checkpoint_follows_the_monitored_series(tmp_path):
    run = train("experiments/configs/mnist_vae.yaml", ["train.steps=30", "train.log_every=5", "train.progress=false",
                "train.monitor=vae", "eval.test_batches=1", "eval.iw_samples=2", "data.fraction=0.2",
                "model.hidden=32"], out=str(tmp_path / "vae"))
    rows = [r for r in _train_rows(run)]
    best_row = min(rows, key=lambda r: r["vae"])
    assert checkpoint.load(run / "best.pt")["step"] == best_row["step"]
    assert checkpoint.load(run / "checkpoint.pt")["step"] == 30


def test_schedules_follow_their_formulas():
    import math

    from unigen.config import OptimConfig
    from unigen.optim import make_schedule

    def lrs(cfg, updates=10):
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=1.0)
        sched = make_schedule(opt, cfg, updates)
        out = []
        for _ in range(updates):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return out

    assert lrs(OptimConfig(schedule="constant")) == [1.0] * 10
    assert lrs(OptimConfig(schedule="linear")) == pytest.approx([1 - t / 10 for t in range(10)])
    assert lrs(OptimConfig(schedule="cosine", warmup=2)) == pytest.approx(
        [0.5, 1.0] + [0.5 * (1 + math.cos(math.pi * t / 8)) for t in range(8)])
    assert lrs(OptimConfig(schedule="ganin")) == pytest.approx([(1 + 10 * t / 10) ** -0.75 for t in range(10)])
    with pytest.raises(UserError, match="unknown schedule"):
        lrs(OptimConfig(schedule="step"))


def test_a_held_geometric_decay_in_stairs_follows_its_formula_per_strategy_step():
    """hold and stair: the rate stays for the first ⌊h·S⌋ steps, then each stair of N steps takes the decay's
    value at its last step, min(N⌈s/N⌉, S); a player updated r times a step moves with the steps, not its updates."""
    from unigen.config import OptimConfig
    from unigen.optim import make_schedule

    def rates(cfg, steps, per_step):
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=2.0)
        sched = make_schedule(opt, cfg, steps * per_step, steps)
        out = []
        for _ in range(steps):  # the trainer moves a schedule by the player's updates after each step
            out.append(opt.param_groups[0]["lr"])
            for _ in range(per_step):
                opt.step()
                sched.step()
        return out

    steps, stair, hold, f = 13, 4, 0.3, 0.05  # start = ⌊0.3 · 13⌋ = 3; stairs end at steps 4, 8, 12, 13
    expected = [2.0 * (f ** ((k - 3) / 10) if k > 3 else 1.0) for k in [4] * 4 + [8] * 4 + [12] * 4 + [13]]
    for per_step in (1, 5):
        cfg = OptimConfig(schedule="geometric", final=f, hold=hold, stair=stair)
        assert rates(cfg, steps, per_step) == pytest.approx(expected, rel=1e-12)
    held = rates(OptimConfig(schedule="geometric", final=f, hold=0.5), 10, 1)  # no stairs: every update
    assert held == pytest.approx([2.0] * 6 + [2.0 * f ** (t / 5) for t in range(1, 5)], rel=1e-12)
    with pytest.raises(UserError, match="hold and stair shape the geometric schedule"):
        rates(OptimConfig(schedule="cosine", stair=4), 8, 1)
