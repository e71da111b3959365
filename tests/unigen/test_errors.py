"""Every bad input named by the robustness issue: a one-line error, exit code 2, no traceback."""
import struct

import numpy as np
import pytest

from unigen.cli import main

RING = "experiments/configs/ring_gan.yaml"
FAST = ["train.steps=2", "train.progress=false", "eval.num_samples=50"]


def _run(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    return code, err


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


@pytest.fixture
def cases(tmp_path):
    bad_idx = tmp_path / "idx"
    bad_idx.mkdir()
    for name in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte"):
        (bad_idx / name).write_bytes(struct.pack(">HBB", 0, 0x08, 3) + struct.pack(">III", 10, 28, 28) + b"\0" * 100)
    for name in ("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"):
        (bad_idx / name).write_bytes(struct.pack(">HBB", 0, 0x08, 1) + struct.pack(">I", 10) + b"\0" * 10)
    base = tmp_path / "base.yaml"
    base.write_text("train: {batch_size: 16}\n")
    base = str(base)
    broken_npz = tmp_path / "broken.npz"
    broken_npz.write_bytes(b"PK\x03\x04 not really a zip")
    return {
        "unknown strategy": ([RING, "strategy.name=gann"], "unknown strategy 'gann' (did you mean 'wgan'?); choose one of"),
        "unknown model": ([RING, "model.name=nope"], "unknown model 'nope'; choose one of"),
        "unknown dataset": ([RING, "data.name=nope"], "unknown dataset 'nope'; choose one of"),
        "wrong key": ([RING, "train.batchsize=3"], "batchsize"),
        "wrong type": ([RING, "train.log_every=often"], "log_every"),
        "missing data dir": ([base, "data.name=mnist", f"data.root={tmp_path / 'nowhere'}", "model.name=mlp_vae",
                              "strategy.name=elbo"], "does not exist"),
        "malformed IDX": ([base, "data.name=mnist", f"data.root={bad_idx}", "model.name=mlp_vae",
                           "strategy.name=elbo"], "truncated"),
        "malformed NPZ": ([base, "data.name=npz", f"data.path={broken_npz}"], "not a readable .npz"),
        "NaN in data": ([base, "data.name=npz", "data.path=" + _npz(tmp_path / "nan.npz",
                         x=np.array([[0.0, np.nan]] * 100))], "NaN"),
        "wrong shape for the model": ([base, "data.name=npz", "data.path=" + _npz(tmp_path / "img.npz",
                                       x=np.zeros((100, 1, 4, 4)))], "mlp"),
        "wrong range for the likelihood": ([base, "data.name=npz", "model.name=mlp_vae", "strategy.name=elbo",
                                            "data.support=unit", "data.path=" + _npz(tmp_path / "r.npz",
                                            x=np.full((100, 1, 28, 28), 3.0))], "outside"),
        "empty data set": ([base, "data.name=npz", "data.path=" + _npz(tmp_path / "e.npz", x=np.zeros((0, 2)))],
                           "empty"),
        "batch larger than data": ([RING, "data.n=100", "train.batch_size=1000"], "larger than the data"),
    }


CASES = ["unknown strategy", "unknown model", "unknown dataset", "wrong key", "wrong type", "missing data dir",
         "malformed IDX", "malformed NPZ", "NaN in data", "wrong shape for the model",
         "wrong range for the likelihood", "empty data set", "batch larger than data"]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_exit_2(case, cases, capsys, tmp_path):
    argv, fragment = cases[case]
    code, err = _run(["train", *argv, *FAST, "--out", str(tmp_path / "run")], capsys)
    assert code == 2, err
    assert err.startswith("unigen: error: ") and len(err.splitlines()) == 1, err
    assert fragment in err, err
    assert "Traceback" not in err


def test_a_strategy_needing_a_missing_role_is_refused():
    import pyro
    import pyro.distributions as dist
    import torch

    from unigen import Programs, Trainer, UserError
    from unigen.data.base import TensorData
    from unigen.inference import ELBO
    from unigen.programs import DataInfo

    class Gen(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.b = torch.nn.Parameter(torch.zeros(2))

        def forward(self, x_obs, c=None):
            n = x_obs.shape[0]
            with pyro.plate("data", n):
                pyro.sample("x", dist.Delta(self.b.expand(n, 2), event_dim=1), obs=x_obs)

    data = TensorData(torch.zeros(10, 2), None, DataInfo(shape=(2,)))
    with pytest.raises(UserError, match=r"the programs lack the role\(s\) guide"):
        Trainer(Programs(model=Gen()), ELBO(), data, batch_size=4)


def test_python_api_mistakes_are_one_line_errors_naming_the_fix():
    import torch

    from unigen import Programs, Trainer, UserError
    from unigen.data import Ring
    from unigen.inference import ELBO, NonSaturatingGAN
    from unigen.models.mlp import MLP

    data = Ring(n=256).load()
    programs = MLP(hidden=8, disc_hidden=8).build(data.info)
    cases = [
        ((programs, ELBO, data, 8), r"strategy is the class ELBO; pass an instance, ELBO\(\)"),
        ((programs, "elbo", data, 8), r"strategy is a str; pass a strategy instance"),
        ((programs.model, NonSaturatingGAN(), data, 8), r"programs is a .*; wrap the roles: Programs\(model="),
        ((programs, NonSaturatingGAN(), "ring", 8), r"data is a str; pass a tensor x, a pair \(x, c\), a NumPy array"),
        ((programs, NonSaturatingGAN(), data, 8.0), r"batch_size=8.0 must be an integer"),
    ]
    for args, pattern in cases:
        with pytest.raises(UserError, match=pattern) as e:
            Trainer(*args)
        assert "\n" not in str(e.value)
    trainer = Trainer(programs, NonSaturatingGAN(), data, np.int64(8))  # NumPy integers are integers
    for kwargs, pattern in (({"steps": -3}, r"fit\(steps=-3\): steps must be an integer >= 0"),
                            ({"steps": 5, "log_every": 0}, r"log_every must be an integer >= 1")):
        with pytest.raises(UserError, match=pattern):
            trainer.fit(progress=False, **kwargs)
    assert trainer.step_count == 0
    trainer.fit(np.int64(2), log_every=np.int64(1), progress=False)
    assert trainer.step_count == 2


def test_debug_shows_the_traceback(capsys):
    from unigen.errors import UserError

    with pytest.raises(UserError):
        main(["--debug", "train", RING, "strategy.name=gann"])
    with pytest.raises(UserError):  # after the command too
        main(["train", RING, "strategy.name=gann", "--debug"])
    with pytest.raises(UserError):
        main(["list", "bogus", "--debug"])
    assert main(["train", RING, "strategy.name=gann"]) == 2  # without it: the one-line error


def test_likelihood_strategies_refuse_an_implicit_generator(capsys, tmp_path):
    code, err = _run(["train", RING, "strategy.name=elbo", "model.likelihood=delta", *FAST, "--out",
                      str(tmp_path / "r")], capsys)
    assert code == 2 and "x is a Delta" in err and len(err.splitlines()) == 1


def test_unlabelled_examples_need_a_semi_supervised_strategy(capsys, tmp_path):
    code, err = _run(["train", "experiments/configs/cvae_mnist.yaml", "data.label_fraction=0.5", *FAST, "--out",
                      str(tmp_path / "r")], capsys)
    assert code == 2 and "unlabelled examples" in err and len(err.splitlines()) == 1


def test_first_line_keeps_the_first_line_of_a_message_or_names_a_blank_one():
    from unigen.errors import first_line

    assert first_line(RuntimeError("  shape mismatch\n  at layer 2\n")) == "shape mismatch"
    assert first_line(KeyError()) == "KeyError"
    assert first_line(ValueError("   "), "") == ""
