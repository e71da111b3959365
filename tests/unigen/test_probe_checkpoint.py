"""Probes of what a run reads back: damaged checkpoints (optimiser states, counts, weights), saved configs that
would interpolate, and settings YAML reads otherwise than they look. Each ends in exit 0 with a correct result, or
one line and exit 2 (``probes.one_line``), with the run's files unchanged."""
import json

import pytest
import torch
from probes import RING, TINY, cli, cli_process, one_line, snapshot, unchanged
from probes import base_run, run  # noqa: F401  (fixtures)

from unigen import checkpoint
from unigen.run import train

SECRET = "s3cr3t-value-never-printed"


def _rewrite(run, change):
    state = checkpoint.load(run / "checkpoint.pt")
    change(state)
    checkpoint.save(state, run / "checkpoint.pt")


def _moments(state):
    return state["optimizers"]["generator"]["state"][0]


# ----------------------------------------------------------------------- damaged optimiser states and counts
DAMAGE = {
    "moment of another shape": (lambda s: _moments(s).update(exp_avg=torch.zeros(3, 3)), "exp_avg is torch.float32 (3, 3)"),
    "moment of another dtype": (lambda s: _moments(s).update(exp_avg_sq=_moments(s)["exp_avg_sq"].double()),
                                "exp_avg_sq is torch.float64"),
    "step a matrix": (lambda s: _moments(s).update(step=torch.zeros(3, 3)), "step is not a count"),
    "step negative": (lambda s: _moments(s).update(step=torch.tensor(-4.0)), "step is not a count"),
    "step NaN": (lambda s: _moments(s).update(step=torch.tensor(float("nan"))), "step is not a count"),
    "moment a string": (lambda s: _moments(s).update(exp_avg="x"), "exp_avg is a str"),
    "state of a parameter it lacks": (lambda s: s["optimizers"]["generator"]["state"].update({999: {}}),
                                      "names a parameter 999"),
    "a group too many": (lambda s: s["optimizers"]["generator"]["param_groups"].append(
        dict(s["optimizers"]["generator"]["param_groups"][0])), "other parameter groups"),
    "optimiser state a list": (lambda s: s["optimizers"].update(generator=[1, 2]), "not an optimiser's state dict"),
    "run step negative": (lambda s: s.update(step=-100), "its step is -100"),
    "run step a float": (lambda s: s.update(step=2.5), "its step is 2.5"),
    "skipped negative": (lambda s: s.update(skipped=-1), "its skipped is -1"),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_a_damaged_optimiser_state_or_count_is_refused_on_resume(run, case, capsys):
    change, fragment = DAMAGE[case]
    _rewrite(run, change)
    before = snapshot(run)
    code, err, _ = cli(["train", "--resume", run, "train.steps=12"], capsys)
    one_line(code, err, fragment)
    assert f"checkpoint {run / 'checkpoint.pt'}: the checkpoint is damaged" in err
    unchanged(run, before)


def test_a_moment_of_the_wrong_shape_no_longer_crashes_the_process(run):
    """Fused Adam wrote past a (3, 3) moment: non-finite weights, then SIGSEGV (rc 139). Now one line, exit 2."""
    _rewrite(run, DAMAGE["moment of another shape"][0])
    code, err, _ = cli_process(["train", "--resume", run, "train.steps=14"])
    one_line(code, err, "is damaged")


def test_non_finite_weights_in_a_checkpoint_are_named_as_such_on_resume(run, capsys):
    def poison(state):
        key = next(k for k in state["programs"] if k.startswith("modules_by_role.discriminator"))
        state["programs"][key][0] = float("nan")

    _rewrite(run, poison)
    code, err, _ = cli(["train", "--resume", run, "train.steps=12"], capsys)
    one_line(code, err, "the weights of player 'discriminator' are not finite")
    assert "loss or gradient" not in err


def test_an_undamaged_checkpoint_still_resumes(run, capsys):
    code, err, _ = cli(["train", "--resume", run, "train.steps=12"], capsys)
    assert code == 0, err
    assert checkpoint.load(run / "checkpoint.pt")["step"] == 12


# ------------------------------------------------------------------ saved configs are never interpolated
@pytest.fixture
def secret(monkeypatch):
    monkeypatch.setenv("UNIGEN_PROBE_SECRET", SECRET)
    return "${oc.env:UNIGEN_PROBE_SECRET}"


def test_a_checkpoints_saved_config_is_not_interpolated(run, secret, capsys):
    _rewrite(run, lambda s: s["config"]["data"].update(name=secret))
    for argv in (["train", "--resume", run, "train.steps=12"], ["eval", run], ["sample", run, "-o", run / "s.png"]):
        code, err, out = cli(argv, capsys)
        one_line(code, err, "interpolations")
        assert SECRET not in err + out


def test_an_exports_saved_config_is_not_interpolated(run, secret, tmp_path, capsys):
    from safetensors import safe_open
    from safetensors.torch import save_file

    export = tmp_path / "m.safetensors"
    assert cli(["export", run, "-o", export], capsys)[0] == 0
    with safe_open(str(export), framework="pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    config = json.loads(meta["unigen.config"])
    config["train"]["device"] = secret
    save_file(tensors, str(export), metadata={**meta, "unigen.config": json.dumps(config)})
    code, err, out = cli(["sample", export, "-o", tmp_path / "s.png"], capsys)
    one_line(code, err, "interpolations")
    assert SECRET not in err + out


def test_a_config_yaml_that_would_interpolate_is_refused(run, secret, capsys):
    text = (run / "config.yaml").read_text().replace("out: ", f"out: {secret}#", 1)
    (run / "config.yaml").write_text(text)
    code, err, out = cli(["eval", run], capsys)
    one_line(code, err, "interpolations")
    assert SECRET not in err + out


def test_an_out_that_would_interpolate_is_refused(tmp_path, capsys):
    code, err, _ = cli(["train", RING, *TINY, "train.steps=2", "--out", str(tmp_path / "runs/${train.seed}")], capsys)
    one_line(code, err, "--out")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "runs" / "0").exists()


# ------------------------------------------------------------------------- run config read back from disk
def test_an_empty_config_yaml_is_called_damaged_not_another_model(run, capsys):
    (run / "config.yaml").write_text("")
    for argv in (["train", "--resume", run, "train.steps=12"], ["eval", run]):
        code, err, _ = cli(argv, capsys)
        one_line(code, err, "is empty or damaged")
        assert "another" not in err


def test_resume_with_another_strategy_names_the_strategy_not_its_new_keys(run, capsys):
    code, err, _ = cli(["train", "--resume", run, "strategy.name=wgan", "train.steps=12"], capsys)
    one_line(code, err, "strategy.name cannot change on resume ('ns_gan' -> 'wgan')")


# ---------------------------------------------------------------- values that do not read as they look
MISREAD = {
    "octal override": (["eval.num_samples=0301"], "eval.num_samples=0301 reads as 193 in YAML (octal); write 301"),
    "base-60 override": (["train.steps=1:30"], "reads as 90 in YAML (base 60)"),
    "cpu with an index": (["train.device=cpu:5"], "the CPU takes no device index"),
}


@pytest.mark.parametrize("case", sorted(MISREAD))
def test_values_that_would_be_misread_are_refused(case, tmp_path, capsys):
    overrides, fragment = MISREAD[case]
    code, err, _ = cli(["train", RING, *TINY, "train.steps=2", *overrides, "--out", tmp_path / "r"], capsys)
    one_line(code, err, fragment)
    assert not (tmp_path / "r").exists()


def test_an_octal_number_in_a_config_file_is_refused_and_a_quoted_one_is_a_string(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data:\n  name: ring\neval:\n  num_samples: 0100\n")
    code, err, _ = cli(["config", bad], capsys)
    one_line(code, err, "line ")
    assert "0100 reads as 64 in YAML (octal)" in err
    assert cli(["config", RING, "out='007'"], capsys)[0] == 0


# -------------------------------------------------------------------------- traced runs log what they do
def _grad_rows(run):
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k.startswith("grad_norm/")} for r in rows if r.get("kind") == "train"]


@pytest.mark.parametrize("mode", ["trace-eager", "trace"])
def test_a_traced_run_logs_its_gradient_norms_and_resumes_line_for_line(mode, tmp_path):
    args = TINY + ["train.steps=20", "train.checkpoint_every=10"]
    eager = _grad_rows(train(RING, args, out=str(tmp_path / "eager")))
    whole = _grad_rows(train(RING, args + [f"train.compile={mode}"], out=str(tmp_path / "whole")))
    assert len(whole) == 4 and all(set(r) == {"grad_norm/generator", "grad_norm/discriminator"} for r in whole)
    assert len({r["grad_norm/generator"] for r in whole}) == 4  # not frozen at the traced update's value
    if mode == "trace-eager":  # the same operations as eager, bit for bit
        assert whole == eager
    else:  # inductor rounds otherwise: close, not equal
        assert whole[0] == pytest.approx(eager[0], rel=1e-3)
    train(RING, args[:-1] + ["train.steps=10", f"train.compile={mode}"], out=str(tmp_path / "half"))
    resumed = _grad_rows(train(overrides=["train.steps=20"], resume=tmp_path / "half"))
    assert resumed == whole
