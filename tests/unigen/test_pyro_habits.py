"""What a Pyro user brings, taken as given: the tutorial VAE's bound methods, a ``pyro.optim`` optimiser, a
plain tensor. Pyro's VAE tutorial (pyro.ai/examples/vae.html) is ``toys.VAE``, as the tutorial writes it."""
import functools

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from torch import nn
from torch.testing import assert_close

from toys import VAE

from unigen import Programs, Trainer, UserError
from unigen.arguments import as_optim_settings, as_tensor_data
from unigen.config import OptimConfig
from unigen.inference import ELBO


def _digits(n=256):
    torch.manual_seed(0)
    return (torch.rand(n, 784) < 0.3).float()


def test_the_tutorial_vae_trains_from_its_methods_with_a_pyro_optimiser_and_a_plain_tensor(tmp_path):
    torch.manual_seed(0)
    vae = VAE(z_dim=4, hidden_dim=32)
    programs = Programs(model=vae.model, guide=vae.guide)
    assert set(programs.state_dict()) >= {"method_owners.model.decoder.fc1.weight", "method_owners.model.encoder.fc1.weight"}
    trainer = Trainer(programs, ELBO(), _digits(), batch_size=32, optim=pyro.optim.Adam({"lr": 1e-2}))
    assert trainer.optimizers["vae"].param_groups[0]["lr"] == pytest.approx(1e-2)
    trainer.fit(40, log_every=20, progress=False)
    assert trainer.history[-1]["bound"] > trainer.history[0]["bound"]  # the bound rises
    torch.save(programs.state_dict(), tmp_path / "w.pt")  # the tutorial's save holds the trained weights
    fresh = VAE(z_dim=4, hidden_dim=32)
    Programs(model=fresh.model, guide=fresh.guide).load_state_dict(torch.load(tmp_path / "w.pt"))
    assert_close(fresh.decoder.fc1.weight, vae.decoder.fc1.weight)


@pytest.mark.parametrize("optim, expected", [
    (pyro.optim.Adam({"lr": 3e-4, "betas": (0.9, 0.99)}), OptimConfig(name="adam", lr=3e-4, betas=[0.9, 0.99])),
    (pyro.optim.SGD({"lr": 0.1, "momentum": 0.9}), OptimConfig(name="sgd", lr=0.1, momentum=0.9)),
    (torch.optim.Adam, OptimConfig(name="adam", lr=1e-3, betas=[0.9, 0.999])),  # torch's betas, not the GAN pair
    (pyro.optim.Adam({"lr": 1e-3}), OptimConfig(name="adam", lr=1e-3, betas=[0.9, 0.999])),
    (functools.partial(torch.optim.RMSprop, lr=1e-4), OptimConfig(name="rmsprop", lr=1e-4)),
    (OptimConfig(lr=5e-3), OptimConfig(lr=5e-3)),
])
def test_what_pyro_and_pytorch_users_pass_as_optim_becomes_an_optim_config(optim, expected):
    assert as_optim_settings(optim)("generator") == expected


def test_optimisers_per_player_and_refusals_in_one_line():
    settings = as_optim_settings({"generator": torch.optim.Adam, "discriminator": pyro.optim.Adam({"lr": 1e-4})})
    assert settings("generator").lr == 1e-3 and settings("discriminator").lr == 1e-4
    for bad, fragment in ((torch.optim.AdamW, "unigen builds Adam, RMSprop and SGD"),
                          (functools.partial(torch.optim.Adam, amsgrad=True), "not amsgrad"), (3, "optim is a int"),
                          (pyro.optim.Adam({"lr": 1e-3}, clip_args={"clip_norm": 1.0}), "does not clip gradients"),
                          (pyro.optim.ExponentialLR({"optimizer": torch.optim.Adam, "optim_args": {"lr": 0.01},
                                                     "gamma": 0.1}), "unigen schedules rates itself")):
        with pytest.raises(UserError, match=fragment) as e:
            as_optim_settings(bad)("generator")
        assert "\n" not in str(e.value)


def test_data_as_users_pass_them():
    x = torch.rand(50, 3)
    c = torch.randint(4, (50,))
    for given in (x, x.numpy(), (x, c), torch.utils.data.TensorDataset(x, c)):
        data = as_tensor_data(given)
        assert_close(data.x, x) and data.info.shape == (3,) and data.info.support == "unit"
    assert as_tensor_data((x, c)).info.num_classes == 4

    class Squares(torch.utils.data.Dataset):  # a map-style Dataset of (x, label) items
        def __len__(self):
            return 10

        def __getitem__(self, i):
            return torch.full((2,), float(i)), i % 2

    data = as_tensor_data(Squares())
    assert data.x.shape == (10, 2) and data.c.tolist() == [0, 1] * 5 and data.info.support == "real"
    with pytest.raises(UserError, match="data has shape \\(5,\\)"):
        as_tensor_data(np.zeros(5))


def test_sample_grid_reconstruct_shows_test_inputs_above_their_reconstructions(tmp_path, capsys):
    from probes import cli, one_line

    from unigen.grids import reconstruct
    from unigen.loading import load_run
    from unigen.run import train

    run = train("experiments/configs/mnist_vae.yaml", ["train.steps=5", "data.fraction=0.05", "model.hidden=16",
                                                       "eval.image_metrics=false", "eval.iw_samples=2",
                                                       "train.progress=false"], out=str(tmp_path / "vae"))
    code, err, out = cli(["sample", run, "--grid", "reconstruct", "-n", "4", "-o", tmp_path / "rec.png"], capsys)
    assert code == 0, err
    assert out.startswith("a 2 × 4 grid of test inputs and their reconstructions") and (tmp_path / "rec.png").is_file()
    built = load_run(run)
    x = built.resolved.data.load("test").x[:3]
    both = reconstruct(built.programs, x)
    assert both.shape == (6, *x.shape[1:]) and torch.equal(both[:3], x) and not torch.equal(both[3:], x)
    gan = train("experiments/configs/ring_gan.yaml", ["train.steps=2", "data.n=600", "train.batch_size=64", "eval.num_samples=50",
                                                      "train.progress=false"], out=str(tmp_path / "gan"))
    code, err, _ = cli(["sample", gan, "--grid", "reconstruct", "-o", tmp_path / "g.png"], capsys)
    one_line(code, err, "--grid reconstruct needs an image model")


@pytest.mark.parametrize("strategy", ["elbo", "iwae"])
def test_a_discrete_guide_latent_is_refused_by_the_reparameterised_bounds(strategy):
    """A Bernoulli z in the guide gets no gradient through its sample: the ELBO and IWAE say so instead of training
    silently on a biased gradient (RWS and wake-sleep train such guides)."""
    from unigen.registry import STRATEGIES

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.means = torch.nn.Parameter(torch.tensor([-1.0, 1.0]))

        def forward(self, x, c=None):
            with pyro.plate("data", x.shape[0]):
                z = pyro.sample("z", dist.Bernoulli(0.5 * torch.ones(x.shape[0])))
                pyro.sample("x", dist.Normal(self.means[z.long()].unsqueeze(-1), 0.5).to_event(1), obs=x)

    class Guide(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = torch.nn.Linear(1, 1)

        def forward(self, x, c=None):
            with pyro.plate("data", x.shape[0]):
                pyro.sample("z", dist.Bernoulli(logits=self.enc(x).squeeze(-1)))

    x = torch.cat([torch.randn(50, 1) - 2, torch.randn(50, 1) + 2])
    with pytest.raises(UserError, match="'z' cannot be reparameterised .* strategy.name=rws") as e:
        Trainer(Programs(model=Model(), guide=Guide()), STRATEGIES.get(strategy)(), x, batch_size=20)
    assert "\n" not in str(e.value)
    Trainer(Programs(model=Model(), guide=Guide()), STRATEGIES.get("rws")(), x, batch_size=20).fit(2)


def test_a_second_tutorial_model_with_the_same_module_names_is_told_to_clear_the_param_store(capsys):
    """pyro.module("decoder", m) returns the weights an earlier VAE stored under that name: the second model's own
    weights would never train. The warning names the cause and the fix, not pyro.module (which it already calls)."""
    pyro.clear_param_store()
    x = torch.rand(64, 784).round()
    first = VAE(z_dim=4, hidden_dim=16)
    Trainer(Programs(model=first.model, guide=first.guide), ELBO(), x, batch_size=16).fit(1, progress=False)
    assert "warning" not in capsys.readouterr().err
    second = VAE(z_dim=4, hidden_dim=16)
    Trainer(Programs(model=second.model, guide=second.guide), ELBO(), x, batch_size=16)
    err = capsys.readouterr().err
    assert "reached by no player's trace" in err and "call pyro.clear_param_store()" in err
    pyro.clear_param_store()
