"""`unigen sample` (formats, seeds, classes, grids) and `unigen export` (safetensors round trip)."""
import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from torch import nn

import unigen
from unigen import Programs
from unigen.cli import main
from unigen.grids import class_grid, interpolate, slerp

RING_TINY = ["data.n=2000", "model.hidden=32", "model.disc_hidden=32", "train.batch_size=64", "train.log_every=5",
             "train.progress=false", "eval.num_samples=100", "train.steps=10"]
MNIST_TINY = ["train.steps=3", "train.batch_size=32", "train.progress=false", "eval.test_batches=1",
              "eval.iw_samples=2", "eval.image_metrics=false", "model.hidden=32", "model.disc_hidden=32"]


@pytest.fixture(scope="module")
def ring(tmp_path_factory):
    out = tmp_path_factory.mktemp("ring") / "run"
    assert main(["train", "ring_gan", *RING_TINY, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def vae(tmp_path_factory):
    out = tmp_path_factory.mktemp("vae") / "run"
    assert main(["train", "mnist_vae", *MNIST_TINY, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def cvae(tmp_path_factory):
    out = tmp_path_factory.mktemp("cvae") / "run"
    assert main(["train", "cvae_mnist", *MNIST_TINY, "--out", str(out)]) == 0
    return out


def _cli(argv, capsys):
    code = main(argv)
    return code, capsys.readouterr().err.strip()


def _one_line(code, err, fragment):
    assert code == 2, err
    assert err.startswith("unigen: error: ") and len(err.splitlines()) == 1, err
    assert fragment in err, err


def _sample(run, tmp_path, name, *args):
    path = tmp_path / name
    assert main(["sample", str(run), "-o", str(path), *args]) == 0
    return path


# --------------------------------------------------------------------------------- formats and seeds
def test_the_same_seed_gives_the_same_samples_and_a_new_seed_new_ones(ring, tmp_path):
    a = np.load(_sample(ring, tmp_path, "a.npy", "-n", "50", "--seed", "3"))
    b = np.load(_sample(ring, tmp_path, "b.npy", "-n", "50", "--seed", "3"))
    c = np.load(_sample(ring, tmp_path, "c.npy", "-n", "50", "--seed", "4"))
    assert a.shape == (50, 2)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_the_message_counts_the_samples_drawn(ring, vae, tmp_path, capsys):
    capsys.readouterr()
    _sample(ring, tmp_path, "r.npy")
    assert capsys.readouterr().out.strip() == f"2500 samples written to {tmp_path / 'r.npy'}"
    assert np.load(tmp_path / "r.npy").shape[0] == 2500
    _sample(vae, tmp_path, "v.npy")
    assert capsys.readouterr().out.strip().startswith("64 samples written to")


def test_raw_formats_hold_the_samples_and_labels(cvae, vae, tmp_path):
    pt = torch.load(_sample(cvae, tmp_path, "s.pt", "-n", "12"), weights_only=True)
    assert set(pt) == {"x", "c"} and pt["x"].shape == (12, 1, 28, 28) and pt["c"].dtype == torch.long
    npz = np.load(_sample(cvae, tmp_path, "s.npz", "-n", "12"))
    np.testing.assert_array_equal(npz["x"], pt["x"].numpy())  # the same default seed
    np.testing.assert_array_equal(npz["c"], pt["c"].numpy())
    assert set(np.load(_sample(vae, tmp_path, "u.npz", "-n", "4"))) == {"x"}  # unconditional: no labels
    assert set(torch.load(_sample(vae, tmp_path, "u.pt", "-n", "4"), weights_only=True)) == {"x"}
    assert _sample(vae, tmp_path, "u.png", "-n", "4").stat().st_size > 1000


def test_a_class_gives_samples_of_that_class(cvae, tmp_path):
    pt = torch.load(_sample(cvae, tmp_path, "k.pt", "-n", "20", "--class", "7"), weights_only=True)
    assert pt["c"].tolist() == [7] * 20
    other = torch.load(_sample(cvae, tmp_path, "j.pt", "-n", "20", "--class", "2"), weights_only=True)
    assert not torch.allclose(pt["x"], other["x"])  # the label reaches the decoder


@pytest.mark.parametrize("args, fragment", [
    (["--class", "10"], "--class 10 is out of range: this model has 10 classes, 0..9"),
    (["--class", "-1"], "--class -1 is out of range"),
    (["--grid", "classes", "--class", "1"], "--grid classes shows every class; drop --class 1"),
    (["--grid", "classes", "-n", "0"], "-n 0: a --grid classes has between 1 and 100 columns"),
    (["--grid", "interpolate", "--steps", "1"], "--steps 1"),
    (["--steps", "12"], "--steps shape(s) an interpolation grid; add --grid interpolate, or drop --steps"),
    (["--grid", "classes", "--interpolation", "spherical"], "add --grid interpolate, or drop --interpolation"),
    (["--grid", "interpolate", "-o", "g.npz"], "unknown format '.npz'; use .png"),
    (["--seed", "-1"], "--seed -1 is out of range"),
    (["-o", "s.txt"], "unknown format '.txt'; use .png, .npz, .npy, .pt"),
])
def test_bad_sample_arguments_are_one_line(cvae, args, fragment, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, err = _cli(["sample", str(cvae), *(args if "-o" in args else args + ["-o", "s.png"])], capsys)
    _one_line(code, err, fragment)
    assert not (tmp_path / "s.png").exists()


@pytest.mark.parametrize("run, args, fragment", [
    ("vae", ["--class", "1"], "--class 1: this model is unconditional"),
    ("vae", ["--grid", "classes"], "--grid classes needs a conditional model"),
    ("ring", ["--grid", "interpolate"], "--grid interpolate needs an image model"),
    ("ring", ["--class", "0"], "this model is unconditional"),
])
def test_what_a_model_cannot_do_is_one_line(run, args, fragment, request, capsys, tmp_path):
    code, err = _cli(["sample", str(request.getfixturevalue(run)), *args, "-o", str(tmp_path / "s.png")], capsys)
    _one_line(code, err, fragment)


def test_samples_too_many_for_a_png_or_the_disk_are_refused_before_drawing(vae, ring, tmp_path, capsys, monkeypatch):
    code, err = _cli(["sample", str(vae), "-n", "1025", "-o", str(tmp_path / "s.png")], capsys)
    _one_line(code, err, "-n 1025: a .png shows at most 1,024 images; write more to .npz, .npy or .pt")
    assert _cli(["sample", str(ring), "-n", "5000", "-o", str(tmp_path / "r.png")], capsys)[0] == 0  # a scatter
    import shutil

    monkeypatch.setattr(shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(10 ** 9, 10 ** 9 - 10 ** 6, 10 ** 6))
    code, err = _cli(["sample", str(vae), "-n", "1000", "-o", str(tmp_path / "s.npy")], capsys)  # 3.1 MB of pixels
    _one_line(code, err, "-n 1000: the samples take about 3.1 MB but")
    assert "has 1.0 MB free; draw fewer, or write elsewhere" in err and not (tmp_path / "s.npy").exists()


def test_an_existing_output_is_kept_unless_forced(ring, tmp_path, capsys):
    path = tmp_path / "mine.npy"
    path.write_bytes(b"my own file")
    code, err = _cli(["sample", str(ring), "-n", "5", "-o", str(path)], capsys)
    _one_line(code, err, "already exists; choose another name, or pass --force")
    assert path.read_bytes() == b"my own file"
    assert main(["sample", str(ring), "-n", "5", "-o", str(path), "--force"]) == 0
    assert np.load(path).shape == (5, 2)
    before = (ring / "samples.png").stat().st_mtime_ns
    assert main(["sample", str(ring), "-n", "5"]) == 0  # no -o: the run's own samples.png is redrawn
    assert (ring / "samples.png").stat().st_mtime_ns != before


# ------------------------------------------------------------------------------------------ grids
def test_grids_are_written(vae, cvae, tmp_path):
    for run, args in ((vae, ["--grid", "interpolate"]), (cvae, ["--grid", "classes", "-n", "4"]),
                      (cvae, ["--grid", "interpolate", "--interpolation", "spherical", "--class", "3"])):
        path = tmp_path / "g.png"
        assert main(["sample", str(run), *args, "-o", str(path), "--force"]) == 0
        assert path.stat().st_size > 2000


class Shift(nn.Module):
    """x = w + 10 c with w ~ N(0, I) at a site named "w", and a discrete site "k": no assumed names."""

    def __init__(self):
        super().__init__()
        self.p = nn.Parameter(torch.zeros(()))

    def forward(self, x, c=None):
        batch_size = x.shape[0]
        zeros = self.p.new_zeros(batch_size, 2)
        with pyro.plate("data", batch_size):
            w = pyro.sample("w", dist.Normal(zeros, 1.0 + zeros).to_event(1))
            k = pyro.sample("k", dist.Categorical(logits=zeros.new_zeros(batch_size, 5)))
            shift = 0 if c is None else 10.0 * c.unsqueeze(-1)
            pyro.sample("x", dist.Delta(w + shift + 100 * k.unsqueeze(-1), event_dim=1), obs=x)


def test_interpolation_walks_between_two_draws_of_the_traced_latents():
    x = interpolate(Programs(model=Shift()).bind((2,)), rows=3, steps=5).reshape(3, 5, 2)
    k = torch.round(x / 100)  # |w| < 5: the discrete site's contribution
    w = x - 100 * k
    assert torch.equal(k, k[:, :1].expand_as(k))  # a discrete latent is kept along a row, not interpolated
    t = torch.linspace(0, 1, 5).reshape(1, 5, 1)
    torch.testing.assert_close(w, (1 - t) * w[:, :1] + t * w[:, -1:], atol=1e-4, rtol=0)
    assert not torch.allclose(w[:, 0], w[:, -1])


def test_spherical_interpolation():
    a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    mid = slerp(a, b, torch.tensor([0.0, 0.5, 1.0]))
    torch.testing.assert_close(mid[0], torch.tensor([[1.0, 0.0], [2 ** -0.5, 2 ** -0.5], [0.0, 1.0]]))
    torch.testing.assert_close(slerp(a, a, torch.tensor([0.3]))[0, 0], a[0])  # parallel: no division by 0


def test_class_grid_rows_are_classes_and_columns_share_a_latent():
    x = class_grid(Programs(model=Shift()).bind((2,)), num_classes=4, cols=3, device=torch.device("cpu")).reshape(4, 3, 2)
    torch.testing.assert_close(x - x[:1], 10.0 * torch.arange(4.0).reshape(4, 1, 1).expand(4, 3, 2))


# ----------------------------------------------------------------------------------------- export
@pytest.mark.parametrize("name", ["ring", "cvae"])
def test_samples_from_an_export_equal_samples_from_the_run(name, request, tmp_path):
    run = request.getfixturevalue(name)
    exported = tmp_path / "model.safetensors"
    assert main(["export", str(run), "-o", str(exported)]) == 0
    from_run = torch.load(_sample(run, tmp_path, "a.pt", "-n", "30", "--seed", "5"), weights_only=True)
    from_export = torch.load(_sample(exported, tmp_path, "b.pt", "-n", "30", "--seed", "5"), weights_only=True)
    assert from_run.keys() == from_export.keys()
    for k in from_run:
        torch.testing.assert_close(from_export[k], from_run[k], rtol=0, atol=0)
    a, b = unigen.load_run(run), unigen.load_run(exported)
    assert b.config == a.config
    sa, sb = a.programs.state_dict(), b.programs.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_export_metadata_holds_the_config(cvae, tmp_path):
    import json

    from safetensors import safe_open

    path = tmp_path / "m.safetensors"
    assert main(["export", str(cvae), "-o", str(path)]) == 0
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    assert json.loads(meta["unigen.config"])["model"]["conditional"] is True
    assert json.loads(meta["unigen.data_info"]) == {"shape": [1, 28, 28], "num_classes": 10, "support": "unit",
                                                    "labelled": True}


def test_export_refuses_to_overwrite_unless_forced(ring, tmp_path, capsys):
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"mine")
    code, err = _cli(["export", str(ring), "-o", str(path)], capsys)
    _one_line(code, err, "already exists; choose another name, or pass --force")
    assert path.read_bytes() == b"mine"
    assert main(["export", str(ring), "-o", str(path), "--force"]) == 0
    assert path.stat().st_size > 1000 and not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("args, fragment", [
    ([], "name the export file with -o"),
    (["-o", "m.pt"], "an export is a .safetensors file"),
    (["-o", "/no/such/dir/m.safetensors"], "does not exist; create it first"),
])
def test_bad_export_arguments_are_one_line(ring, args, fragment, capsys):
    code, err = _cli(["export", str(ring), *args], capsys)
    _one_line(code, err, fragment)


def test_a_foreign_or_missing_safetensors_file_is_one_line(tmp_path, capsys):
    from safetensors.torch import save_file

    foreign = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    code, err = _cli(["sample", str(foreign), "-o", str(tmp_path / "s.png")], capsys)
    _one_line(code, err, "was not written by `unigen export`")
    (tmp_path / "junk.safetensors").write_bytes(b"not a tensor file")
    code, err = _cli(["sample", str(tmp_path / "junk.safetensors"), "-o", str(tmp_path / "s.png")], capsys)
    _one_line(code, err, "is not a readable safetensors file")
    code, err = _cli(["sample", str(tmp_path / "none.safetensors"), "-o", str(tmp_path / "s.png")], capsys)
    _one_line(code, err, "does not exist")
    code, err = _cli(["sample", str(foreign)], capsys)
    _one_line(code, err, "name the output file")


@pytest.mark.parametrize("config, fragment", [("cyclegan_digits", "reads two domains"),
                                              ("dann_digits", "reads two domains")])
def test_a_model_that_draws_no_new_data_writes_no_samples_and_says_so(config, fragment, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", config, "train.steps=2", "train.log_every=1", "--out", str(run)]) == 0
    assert not (run / "samples.png").exists() and fragment in capsys.readouterr().out
    assert main(["sample", str(run), "-n", "4", "-o", str(tmp_path / "s.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and len(err.splitlines()) == 1 and not (tmp_path / "s.png").exists()
    assert main(["train", config, "train.steps=2", "train.log_every=1", "train.sample_every=1", "--out",
                 str(tmp_path / "r2")]) == 2
    assert "leave train.sample_every=0" in capsys.readouterr().err


def test_a_dann_run_is_evaluated_by_its_label_models_accuracy_on_the_target_digits(tmp_path):
    import json

    from unigen.data.digit_shift import MNISTToDigits

    run = tmp_path / "run"
    assert main(["train", "dann_digits", "train.steps=150", "train.log_every=50", "--out", str(run)]) == 0
    got = json.loads((run / "eval.json").read_text())["test_label_accuracy"]
    programs = unigen.load_run(str(run)).programs
    test = MNISTToDigits(target_size=20).load("test")  # the 500 held-out target digits (20 px, as the config)
    with torch.no_grad():
        by_hand = int((programs.model.logits(test.x).argmax(-1) == test.c).sum()) / len(test)
    assert got == pytest.approx(by_hand, abs=1e-9) and len(test) == 500
    assert got > 0.15  # 150 SGD steps beat chance (0.1 ± 0.013 on 500 digits) on the target (seeded: 0.20)


def test_the_grid_message_reads_an_8_and_a_10():
    from unigen.grids import article as _a

    assert [f"{_a(n)} {n}" for n in (8, 10, 11, 18, 80, 4)] == ["an 8", "a 10", "an 11", "an 18", "an 80", "a 4"]
