"""The truncation trick (``--truncation``) and interpolation between encoded test inputs (``--from-data``)."""
import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine

from tests.probes import cli, one_line
from unigen.truncation import Truncate, require_truncated
from unigen.errors import UserError

MNIST_TINY = ["train.steps=3", "train.batch_size=32", "train.progress=false", "eval.test_batches=1",
              "eval.iw_samples=2", "eval.image_metrics=false", "model.hidden=32", "model.disc_hidden=32"]


def _model(n=1):
    z = pyro.sample("z", dist.Normal(torch.full((n, 3), 3.0), 2.0).to_event(1))
    k = pyro.sample("k", dist.Categorical(logits=torch.zeros(n, 4)))
    u = pyro.sample("u", dist.Uniform(torch.zeros(n), 5.0))
    w = pyro.sample("w", dist.Normal(z.sum(-1), 1.0))  # depends on z: sees the truncated value
    pyro.sample("x", dist.Normal(w, 10.0))


def test_truncation_keeps_gaussian_latents_within_t_standard_deviations_and_leaves_the_rest():
    torch.manual_seed(0)
    with Truncate(0.5, skip="x") as t:
        tr = poutine.trace(_model).get_trace(4000)
    z, w, x = (tr.nodes[k]["value"] for k in ("z", "w", "x"))
    assert ((z - 3) / 2).abs().max() <= 0.5 + 1e-6
    assert ((w - z.sum(-1)).abs().max()) <= 0.5 + 1e-6  # a dependent Gaussian latent, truncated around its mean
    assert (x - w).abs().max() > 5  # the data site (sd 10) is untouched
    assert set(tr.nodes["k"]["value"].unique().tolist()) == {0, 1, 2, 3}  # a discrete latent as usual
    assert tr.nodes["u"]["value"].max() > 4  # a non-Gaussian continuous latent as usual
    assert t.truncated == ["z", "w"]


def test_truncated_standard_normal_has_the_closed_form_variance():
    """Var[u | |u| <= T] = 1 - 2 T phi(T) / (2 Phi(T) - 1) for a standard normal u."""
    torch.manual_seed(1)
    with Truncate(1.0, skip="x"):
        z = poutine.trace(_model).get_trace(100_000).nodes["z"]["value"]
    phi = math.exp(-0.5) / math.sqrt(2 * math.pi)
    Phi = 0.5 * (1 + math.erf(1 / math.sqrt(2)))
    var = 1 - 2 * phi / (2 * Phi - 1)
    assert ((z - 3) / 2).var().item() == pytest.approx(var, rel=0.02)


def test_a_model_without_gaussian_latents_is_refused():
    def model():
        pyro.sample("u", dist.Uniform(0.0, 1.0))
        pyro.sample("x", dist.Normal(0.0, 1.0))

    with Truncate(1.0, skip="x") as t:
        poutine.trace(model).get_trace()
    with pytest.raises(UserError, match="needs a Gaussian latent"):
        require_truncated(t, "mine")


@pytest.fixture(scope="module")
def vae(tmp_path_factory):
    from unigen.cli import main

    out = tmp_path_factory.mktemp("vae") / "run"
    assert main(["train", "mnist_vae", *MNIST_TINY, "--out", str(out)]) == 0
    return out


def test_from_data_rows_start_and_end_at_the_encodings_of_test_inputs(vae):
    from unigen.grids import encode, interpolate
    from unigen.loading import load_run
    from unigen.scoring import observed_value, sample_model, trace_guide

    built = load_run(vae, "cpu")
    x = built.resolved.data.load("test").x[:6]
    ends = encode(built.programs, x[:3]), encode(built.programs, x[3:])
    loc = trace_guide(built.programs.guide, x[:3]).nodes["z"]["fn"].mean
    torch.testing.assert_close(ends[0]["z"][0], loc)  # the posterior mean, not a draw
    path = interpolate(built.programs, 3, 5, ends=ends).reshape(3, 5, *x.shape[1:])
    for col, end in ((0, ends[0]), (-1, ends[1])):
        decoded = observed_value(built.programs, sample_model(
            built.programs, 3, model=poutine.condition(built.programs.model, data={"z": end["z"][0]})))
        torch.testing.assert_close(path[:, col], decoded.reshape(path[:, col].shape))


def test_cli_from_data_and_truncation(vae, tmp_path, capsys):
    code, err, out = cli(["sample", vae, "--grid", "interpolate", "--from-data", "-n", "3", "--steps", "4",
                          "-o", tmp_path / "fd.png"], capsys)
    assert code == 0, err
    assert "between encoded test inputs written to" in out and (tmp_path / "fd.png").stat().st_size > 0
    code, err, out = cli(["sample", vae, "--truncation", "0.7", "-o", tmp_path / "t.npy"], capsys)
    assert code == 0, err
    assert "latents z truncated to |u| <= 0.7" in out
    import numpy as np

    assert np.load(tmp_path / "t.npy").shape[0] == 64


@pytest.mark.parametrize("args, fragment", [
    (["--from-data"], "add --grid interpolate"),
    (["--grid", "interpolate", "--from-data", "--class", "1"], "drop --class 1"),
    (["--grid", "reconstruct", "--truncation", "1"], "drop --truncation"),
    (["--truncation", "0"], "> 0 and <= 10"),
    (["--truncation", "nan"], "> 0 and <= 10"),
])
def test_cli_refuses_bad_latent_options_in_one_line(vae, tmp_path, capsys, args, fragment):
    code, err, _ = cli(["sample", vae, *args, "-o", tmp_path / "x.png"], capsys)
    one_line(code, err, fragment)
    assert not (tmp_path / "x.png").exists()


def test_reconstruct_flag_is_the_reconstruction_grid(vae, tmp_path, capsys):
    code, err, out = cli(["sample", vae, "--reconstruct", "-n", "3", "-o", tmp_path / "r.png"], capsys)
    assert code == 0, err
    assert out.startswith("a 2 × 3 grid of test inputs and their reconstructions")
