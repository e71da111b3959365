"""The practice layer: generator EMA, LeCam, mixed precision and periodic evaluation, each against its maths or
against the run without it (bit for bit where it must leave training alone)."""
import json

import pytest
import torch
from probes import RING, TINY, cli, one_line
from torch.testing import assert_close

from unigen import checkpoint
from unigen.config import OptimConfig
from unigen.data import Ring
from unigen.ema import EMASettings
from unigen.inference import NonSaturatingGAN
from unigen.inference.lecam import LeCamAnchors, lecam_penalty
from unigen.inference.penalties import grad_norm
from unigen.models import MLP
from unigen.loading import load_run
from unigen.run import train
from unigen.trainer import Trainer


def _rows(run, kind="train"):
    return [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if r["kind"] == kind]


def _ring_trainer(strategy, **kwargs):
    torch.manual_seed(0)
    data = Ring(n=512).load()
    programs = MLP(hidden=16, disc_hidden=16).build(data.info)
    return Trainer(programs, strategy, data, batch_size=32, optim=OptimConfig(lr=1e-2), **kwargs)


# ------------------------------------------------------------------------------------------- EMA
def test_the_weight_average_is_the_closed_form_average_of_the_trajectory():
    beta, start, steps = 0.8, 2, 7
    trainer = _ring_trainer(NonSaturatingGAN(), ema=EMASettings(beta, start))
    assert trainer.players.average.player == "generator"  # the player that owns the model
    params = trainer.params["generator"]
    trajectory = []
    for _ in range(steps):
        trainer.step()
        trajectory.append([p.detach().clone() for p in params])
    # θ̄_T = β^(T−t0) θ_t0 + (1 − β) Σ_{t=t0+1..T} β^(T−t) θ_t
    expected = [beta ** (steps - start) * trajectory[start - 1][i]
                + sum((1 - beta) * beta ** (steps - t) * trajectory[t - 1][i] for t in range(start + 1, steps + 1))
                for i in range(len(params))]
    assert_close(trainer.players.average.values, expected, rtol=1e-5, atol=1e-6)
    assert not all(torch.equal(a, b) for a, b in zip(trainer.players.average.values, trajectory[-1]))


def _dcgan_trainer(ema: EMASettings, conditional: bool = False) -> Trainer:
    from unigen.programs import DataInfo
    from unigen.data.base import TensorData
    from unigen.registry import MODELS, STRATEGIES

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    info = DataInfo(shape=(1, 32, 32), num_classes=3 if conditional else None, support="symmetric")
    c = torch.randint(3, (64,), generator=g) if conditional else None
    data = TensorData(2 * torch.rand(64, 1, 32, 32, generator=g) - 1, c, info)
    programs = MODELS.get("dcgan")(ngf=4, ndf=4, z_dim=8, conditional=conditional).build(info)
    return Trainer(programs, STRATEGIES.get("ns_gan")(), data, batch_size=8, optim=OptimConfig(lr=1e-2), ema=ema)


def _norm_state(norms):
    return [[b.clone() for b in m.buffers(recurse=False)] + [m.momentum, m.training] for m in norms]


def test_standing_statistics_are_the_averaged_generators_batch_statistics_and_are_put_back():
    from unigen.ema import STANDING_BATCH, STANDING_SEED
    from unigen.scoring import generate

    trainer = _dcgan_trainer(EMASettings(0.5, 0, bn_batches=3))
    for _ in range(4):
        trainer.step()
    average, programs = trainer.players.average, trainer.programs
    norms = average.batch_norms(programs)
    others = [m for m in programs.modules() if isinstance(m, torch.nn.BatchNorm2d) and m not in norms]
    assert norms and others  # the generator's batch norms are averaged, the critic's are not
    programs.eval()
    # the expected statistics: the averaged generator's own batch statistics over the same draws (this pass moves
    # the norms' running statistics; the state below is taken after it)
    inputs = {m: [] for m in norms}
    hooks = [m.register_forward_pre_hook(lambda m, args: inputs[m].append(args[0].detach())) for m in norms]
    with average.swapped_in(), torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(STANDING_SEED)
        for m in norms:
            m.train()
        for _ in range(3):
            generate(programs, STANDING_BATCH)
        programs.eval()
    for h in hooks:
        h.remove()
    before, before_others, rng = _norm_state(norms), _norm_state(others), torch.get_rng_state()
    with average.swapped_in(programs):
        for m in norms:
            x = torch.cat(inputs[m])  # (3 * 256, C, H, W): the plain average of equal batches' means
            assert_close(m.running_mean, x.mean((0, 2, 3)), rtol=1e-4, atol=1e-5)
            batch_vars = torch.stack([b.var((0, 2, 3), unbiased=True) for b in inputs[m]])
            assert_close(m.running_var, batch_vars.mean(0), rtol=1e-4, atol=1e-5)
            assert int(m.num_batches_tracked) == 3 and not m.training
        assert_close(_norm_state(others), before_others, rtol=0, atol=0)  # the critic's untouched
    assert_close(_norm_state(norms), before, rtol=0, atol=0)  # statistics, momenta and modes put back
    assert torch.equal(torch.get_rng_state(), rng)  # the run's random numbers did not move
    for m in norms:
        assert not torch.equal(m.running_mean, inputs[m][0].mean((0, 2, 3)))


def test_standing_statistics_of_a_conditional_generator_draw_the_datas_labels(monkeypatch):
    import unigen.scoring

    trainer = _dcgan_trainer(EMASettings(0.5, 0, bn_batches=2), conditional=True)
    trainer.step()
    average = trainer.players.average
    assert average.num_classes == 3  # from the data, at construction
    drawn = []
    real = unigen.scoring.generate
    monkeypatch.setattr(unigen.scoring, "generate", lambda programs, n, c=None, **kw: (
        drawn.append(c), real(programs, n, c, **kw))[1])
    with average.swapped_in(trainer.programs):
        pass
    assert len(drawn) == 2 and all(c is not None and c.shape == (256,) for c in drawn)
    assert set(torch.cat(drawn).tolist()) == {0, 1, 2}


def test_standing_statistics_are_drawn_once_per_step_of_the_average(monkeypatch):
    import unigen.scoring

    trainer = _dcgan_trainer(EMASettings(0.5, 0, bn_batches=2))
    trainer.step()
    average, programs = trainer.players.average, trainer.programs
    norms = average.batch_norms(programs)
    with average.swapped_in(programs):
        first = _norm_state(norms)

    def no_draw(*args, **kwargs):
        raise AssertionError("standing statistics drawn again for the same step")

    monkeypatch.setattr(unigen.scoring, "generate", no_draw)
    with average.swapped_in(programs):  # a checkpoint, the samples and the evaluation at one step: drawn once
        assert_close(_norm_state(norms), first, rtol=0, atol=0)
    monkeypatch.undo()
    trainer.step()  # the average moved: drawn again
    with average.swapped_in(programs):
        assert not torch.equal(norms[0].running_mean, first[0][0])


def test_standing_statistics_leave_a_batch_norm_the_draw_does_not_run():
    trainer = _dcgan_trainer(EMASettings(0.5, 0, player="discriminator", bn_batches=2))  # the critic averaged
    trainer.step()
    average, programs = trainer.players.average, trainer.programs
    norms = average.batch_norms(programs)
    assert norms  # the critic's batch norms: generating samples does not run them
    before = _norm_state(norms)
    with average.swapped_in(programs):
        assert_close(_norm_state(norms), before, rtol=0, atol=0)


def test_a_run_with_ema_samples_and_scores_its_average_and_resumes_bit_for_bit(tmp_path, capsys):
    args = TINY + ["train.ema=0.9", "train.ema_start=3", "train.checkpoint_every=10"]
    whole = train(RING, args + ["train.steps=20"], out=str(tmp_path / "whole"))
    half = train(RING, args + ["train.steps=10"], out=str(tmp_path / "half"))
    train(overrides=["train.steps=20"], resume=half)
    a, b = checkpoint.load(whole / "checkpoint.pt"), checkpoint.load(half / "checkpoint.pt")
    assert_close(a["programs_ema"], b["programs_ema"], rtol=0, atol=0)
    assert_close(a["ema"]["values"], b["ema"]["values"], rtol=0, atol=0)
    assert json.loads((whole / "eval.json").read_text())["weights"] == "ema"
    built = load_run(whole)
    assert built.weights == "ema"
    assert_close(dict(built.programs.state_dict()), a["programs_ema"], rtol=0, atol=0)
    code, err, out = cli(["sample", whole, "-n", "10", "-o", tmp_path / "s.npy"], capsys)
    assert code == 0 and err == "" and "weight average of train.ema=0.9" in out  # said on success, on stdout
    code, err, _ = cli(["sample", whole, "--class", "3", "-o", tmp_path / "c.npy"], capsys)
    one_line(code, err, "--class 3")  # a refusal stays one line
    assert not all(torch.equal(a["programs"][k], a["programs_ema"][k]) for k in a["programs"])


def test_ema_names_a_player_of_the_strategy(tmp_path, capsys):
    code, err, _ = cli(["train", RING, *TINY, "train.steps=2", "train.ema=0.9", "train.ema_player=critic",
                        "--out", tmp_path / "r"], capsys)
    one_line(code, err, "train.ema_player='critic' is not a player of this strategy")


# ------------------------------------------------------------------------------------------ LeCam
def test_lecam_equals_its_equation_with_anchors_moved_first():
    anchors, decay = LeCamAnchors(), 0.9
    d_real, d_fake = torch.tensor([1.0, 3.0]), torch.tensor([-2.0, 0.0, -1.0])
    reg = lecam_penalty(d_real, d_fake, anchors, decay)
    alpha_r, alpha_f = 0.1 * 2.0, 0.1 * -1.0  # from 0: (1 − δ)·mean
    assert float(anchors.real) == pytest.approx(alpha_r) and float(anchors.fake) == pytest.approx(alpha_f)
    hand = ((d_real - alpha_f) ** 2).mean() + ((d_fake - alpha_r) ** 2).mean()
    assert_close(reg, hand)


def test_lecam_adds_its_weighted_term_to_the_critic_and_keeps_its_anchors_in_the_checkpoint(tmp_path):
    plain = _ring_trainer(NonSaturatingGAN())
    lecam = _ring_trainer(NonSaturatingGAN(lecam_weight=0.5))
    batch = plain.sample_batch()
    torch.manual_seed(1)
    without = plain.strategy.discriminator_step(plain.programs, batch)
    torch.manual_seed(1)
    with_ = lecam.strategy.discriminator_step(lecam.programs, batch)
    assert_close(with_["discriminator"], without["discriminator"] + 0.5 * with_["lecam"])
    assert "lecam" not in without and "strategy_state.lecam.real" in lecam.programs.state_dict()
    args = TINY + ["strategy.lecam_weight=0.3", "train.checkpoint_every=10"]
    whole = train(RING, args + ["train.steps=20"], out=str(tmp_path / "whole"))
    half = train(RING, args + ["train.steps=10"], out=str(tmp_path / "half"))
    train(overrides=["train.steps=20"], resume=half)
    a, b = checkpoint.load(whole / "checkpoint.pt"), checkpoint.load(half / "checkpoint.pt")
    assert_close(a["programs"], b["programs"], rtol=0, atol=0)
    assert float(a["programs"]["strategy_state.lecam.real"]) != 0.0
    assert all("lecam" in r for r in _rows(whole))


# ------------------------------------------------------------------------------------ mixed precision
WGAN_GP = "experiments/configs/ring_wgan_gp.yaml"


def test_bf16_losses_follow_float32_and_wgan_gp_stays_finite(tmp_path):
    args = TINY + ["train.log_every=1"]
    f32 = _rows(train(WGAN_GP, args + ["train.steps=3"], out=str(tmp_path / "f32")))
    bf16 = _rows(train(WGAN_GP, args + ["train.steps=3", "train.precision=bf16"], out=str(tmp_path / "bf16")))
    for a, b in zip(f32, bf16):  # bfloat16 keeps 8 bits of mantissa: the losses agree to about 1e-2
        assert b["discriminator"] == pytest.approx(a["discriminator"], rel=5e-2, abs=5e-3)
        assert b["penalty"] == pytest.approx(a["penalty"], rel=2e-2)
    long = _rows(train(WGAN_GP, TINY + ["train.steps=60", "train.precision=bf16"], out=str(tmp_path / "long")))
    assert all(all(v == v and abs(v) < 1e6 for k, v in r.items() if isinstance(v, float) and k != "time")
               for r in long)


def test_the_gradient_penalty_is_computed_in_float32_under_autocast():
    critic = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    x = torch.randn(5, 2).bfloat16()  # a generated batch under autocast
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = grad_norm(lambda v: critic(v).squeeze(-1), x)
    assert mixed.dtype == torch.float32  # and the same as the penalty's float32 computation, bit for bit:
    assert_close(mixed, grad_norm(lambda v: critic(v).squeeze(-1), x.float()), rtol=0, atol=0)


@pytest.mark.parametrize("overrides, fragment", [
    (["train.precision=fp16"], "train.precision=fp16 needs a CUDA device"),
    (["train.precision=half"], "train.precision='half' is not one of float32, bf16, fp16"),
])
def test_precision_refusals_are_one_line(overrides, fragment, tmp_path, capsys):
    code, err, _ = cli(["train", RING, *TINY, "train.steps=2", *overrides, "--out", tmp_path / "r"], capsys)
    one_line(code, err, fragment)


def test_bf16_composes_with_the_traced_step(tmp_path):
    eager = _rows(train(WGAN_GP, TINY + ["train.steps=5", "train.precision=bf16"], out=str(tmp_path / "e")))
    traced = _rows(train(WGAN_GP, TINY + ["train.steps=5", "train.precision=bf16", "train.compile=trace-eager"],
                         out=str(tmp_path / "t")))
    # the traced graph records autocast's casts as operations of its own: close to eager bf16, not bit for bit
    for a, b in zip(eager, traced):
        assert b["discriminator"] == pytest.approx(a["discriminator"], rel=1e-2, abs=1e-3)
        assert b["penalty"] == pytest.approx(a["penalty"], rel=1e-2)


# ------------------------------------------------------------------------------------ periodic evaluation
def test_periodic_evaluation_leaves_training_bit_identical_and_best_follows_the_metric(tmp_path):
    args = TINY + ["train.steps=400", "train.checkpoint_every=400", "data.std=0.05", "train.optim.lr=5e-3",
                   "eval.num_samples=500"]  # wide enough modes that the metric moves in 400 steps
    plain = train(RING, args, out=str(tmp_path / "plain"))
    scored = train(RING, args + ["train.eval_every=100", "train.monitor=high_quality", "train.monitor_mode=max"],
                   out=str(tmp_path / "scored"))
    a, b = checkpoint.load(plain / "checkpoint.pt"), checkpoint.load(scored / "checkpoint.pt")
    assert_close(a["programs"], b["programs"], rtol=0, atol=0)
    evals = _rows(scored, "eval")[:4]  # (then the end-of-training evaluation)
    assert [r["step"] for r in evals] == [100, 200, 300, 400]
    best = max(evals, key=lambda r: r["high_quality"])  # the first of the best, as best.pt keeps it
    assert checkpoint.load(scored / "best.pt")["step"] == best["step"]
    assert len({r["high_quality"] for r in evals}) > 1  # the metric moved: best.pt had a choice to make


def test_a_resumed_run_keeps_its_periodic_evaluations_and_its_best_value(tmp_path):
    args = TINY + ["train.checkpoint_every=200", "data.std=0.05", "train.optim.lr=5e-3", "eval.num_samples=500",
                   "train.eval_every=100", "train.monitor=high_quality", "train.monitor_mode=max"]
    whole = train(RING, args + ["train.steps=400"], out=str(tmp_path / "whole"))
    half = train(RING, args + ["train.steps=200"], out=str(tmp_path / "half"))
    train(overrides=["train.steps=400"], resume=half)
    periodic = [[{k: v for k, v in r.items() if k != "time"} for r in _rows(run, "eval") if r.get("periodic")]
                for run in (whole, half)]
    assert periodic[0] == periodic[1] and [r["step"] for r in periodic[0]] == [100, 200, 300, 400]
    assert checkpoint.load(half / "best.pt")["step"] == checkpoint.load(whole / "best.pt")["step"]


def test_eval_every_must_be_a_multiple_of_log_every(tmp_path, capsys):
    code, err, _ = cli(["train", RING, *TINY, "train.steps=10", "train.eval_every=7", "--out", tmp_path / "r"], capsys)
    one_line(code, err, "train.eval_every=7 is not a multiple of train.log_every=5")


# -------------------------------------------------------------------------------- every option at once
def test_a_run_with_every_practice_option_resumes_bit_for_bit(tmp_path):
    config = {"data": {"name": "mnist", "support": "symmetric", "fraction": 0.2},
              "model": {"name": "dcgan", "ngf": 8, "ndf": 8, "disc_norm": "none", "spectral_norm": "critic"},
              "strategy": {"name": "ns_gan", "lecam_weight": 0.1}}
    args = ["train.batch_size=16", "train.log_every=4", "train.checkpoint_every=8", "train.progress=false",
            "train.ema=0.9", "train.ema_start=2", "train.augment=color,translation,cutout", "train.ada_target=0.6",
            "train.ada_speed=2000", "train.eval_every=8", "train.precision=bf16", "eval.image_metrics=false"]
    whole = train(config, args + ["train.steps=16"], out=str(tmp_path / "whole"))
    half = train(config, args + ["train.steps=8"], out=str(tmp_path / "half"))
    train(overrides=["train.steps=16"], resume=half)
    a, b = checkpoint.load(whole / "checkpoint.pt"), checkpoint.load(half / "checkpoint.pt")
    for key in ("programs", "programs_ema"):
        assert_close(a[key], b[key], rtol=0, atol=0)
    assert any(k.endswith("_u") for k in a["programs"]) and "strategy_state.lecam.real" in a["programs"]
    assert _rows(whole) == [{**r, "time": w["time"]} for r, w in zip(_rows(half), _rows(whole))]
    assert {"ada_p", "lecam"} <= set(_rows(whole)[-1])


def test_a_run_records_what_it_ran_on_in_its_directory_checkpoint_and_export(tmp_path, capsys):
    from safetensors import safe_open

    run = train(RING, TINY + ["train.steps=5"], out=str(tmp_path / "r"))
    train(overrides=["train.steps=10"], resume=run)
    record = json.loads((run / "environment.json").read_text())
    assert record["started"]["torch"] == torch.__version__ and len(record["resumed"]) == 1
    assert {"unigen", "pyro", "python", "device", "git_commit"} <= set(record["started"])
    assert checkpoint.load(run / "checkpoint.pt")["environment"]["device"] == "cpu"
    assert cli(["export", run, "-o", tmp_path / "m.safetensors"], capsys)[0] == 0
    with safe_open(str(tmp_path / "m.safetensors"), framework="pt") as f:
        assert json.loads(f.metadata()["unigen.environment"])["torch"] == torch.__version__


def test_the_trainer_keeps_the_history_of_logged_rows():
    trainer = _ring_trainer(NonSaturatingGAN())
    last = trainer.fit(7, log_every=3, progress=False)
    assert [r["step"] for r in trainer.history] == [3, 6, 7]  # every log step, then the last open window
    assert trainer.history[-1] == {"step": 7, **last} and set(trainer.history[0]) >= {"generator", "discriminator"}
