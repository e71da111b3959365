"""Spectral normalisation on every spec's critics (Miyato et al., 2018) and the SNGAN/WGAN-GP ResNet spec."""
import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from unigen import checkpoint
from unigen.errors import UserError
from unigen.export import export_run
from unigen.loading import load_run
from unigen.models.nets import NORMALISED, apply_spectral_norm
from unigen.models.resnet import DownBlock, FirstBlock, UpBlock, up2
from unigen.models.spec import CRITIC_ROLES
from unigen.programs import DataInfo
from unigen.registry import MODELS
from unigen.roles import Critic
from unigen.run import train
from unigen.scoring import generate

RING = DataInfo(shape=(2,))
MNIST = DataInfo(shape=(1, 28, 28), num_classes=10, support="unit")
MNIST_SYM = DataInfo(shape=(1, 28, 28), num_classes=10, support="symmetric")
CIFAR = DataInfo(shape=(3, 32, 32), num_classes=10, support="symmetric")
JOINT = Critic("joint_discriminator", on=("x", "z"))

# every spec that builds critics, small, on data it takes; the joint critic where the spec has features of x and z
SPECS = [
    ("mlp", {"hidden": 8, "disc_hidden": 8}, RING, True),
    ("mlp_vae", {"hidden": 8, "disc_hidden": 8, "z_dim": 4}, MNIST, True),
    ("dcgan", {"ngf": 8, "ndf": 8, "z_dim": 8, "code_dim": 2}, MNIST, True),
    ("ssvae", {"hidden": 8, "disc_hidden": 8, "z_dim": 4}, MNIST, True),
    ("cyclegan", {"translator": "mlp", "critic": "mlp", "hidden": 8, "disc_hidden": 8}, RING, False),
    ("cyclegan", {"width": 4, "blocks": 1, "disc_width": 4}, MNIST, False),  # the ResNet translators, PatchGAN critics
    ("dann", {"conv1": 4, "conv2": 4, "hidden": 8, "disc_hidden": 8}, MNIST, False),
    ("resnet", {"width": 4, "z_dim": 4}, MNIST_SYM, True),
]
TINY_RING = ["data.n=2000", "model.hidden=16", "model.disc_hidden=16", "train.batch_size=32", "train.log_every=5",
             "train.progress=false", "eval.num_samples=100", "train.optim.schedule=constant"]


def layers(module):
    return [m for m in module.modules() if isinstance(m, NORMALISED)]


def normalised(m) -> bool:
    return parametrize.is_parametrized(m, "weight")


def sigma(m) -> float:
    """The largest singular value of the weight the layer computes with, reshaped to ``(out, in·k·k)``."""
    w = m.weight.detach()  # the effective weight W / sigma~(W) when normalised
    if isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
        w = w.transpose(0, 1)  # (in, out, k, k) -> (out, in, k, k)
    return torch.linalg.matrix_norm(w.flatten(1), 2).item()


def image_run(tmp_path, name, model, steps=40, extra=()):
    """A short seeded hinge GAN on the MNIST digits in [-1, 1] with Miyato et al.'s Adam (2·10⁻⁴, β = (0, 0.9))."""
    config = {"data": {"name": "mnist", "support": "symmetric"}, "model": model, "strategy": {"name": "hinge"},
              "train": {"steps": steps, "batch_size": 16, "log_every": 5, "progress": False,
                        "optim": {"name": "adam", "lr": 2e-4, "betas": [0.0, 0.9]}},
              "eval": {"num_samples": 64}}
    return train(config, list(extra), out=str(tmp_path / name))


# ------------------------------------------------------------------------------------- spectral norm
@pytest.mark.parametrize("setting", ["none", "critic", "all"])
@pytest.mark.parametrize("name, kwargs, info, joint", SPECS,
                         ids=[s[0] + ("-mlp" if s[1].get("translator") == "mlp" else "") for s in SPECS])
def test_spectral_norm_wraps_the_critics_and_with_all_the_model(name, kwargs, info, joint, setting):
    spec = MODELS.get(name)(**kwargs, spectral_norm=setting)
    offered = spec.networks(info).offered()
    programs = spec.build(info, [*offered, JOINT] if joint else None)
    critics = [r for r in programs.roles if r in CRITIC_ROLES or r == JOINT.name]
    assert critics and (not joint or JOINT.name in critics)
    expected = {r: setting == "all" and r == "model" or setting != "none" and r in critics for r in programs.roles}
    if name == "cyclegan":  # the translators are the model's modules
        expected.update(generator_ab=setting == "all", generator_ba=setting == "all")
    for role, module in programs.roles.items():
        found = [normalised(m) for m in layers(module)]
        assert found and set(found) == {expected[role]}, (role, found)
    for role in ("guide", "code_posterior", "classifier"):  # inference networks: never
        if programs.has(role):
            assert not any(normalised(m) for m in layers(programs.roles[role]))
    # the estimates are persistent buffers of the role's state
    keys = [k for k in programs.state_dict() if k.endswith(("._u", "._v"))]
    assert len(keys) == 2 * sum(normalised(m) for r in programs.roles.values() for m in set(layers(r)))


def test_apply_spectral_norm_wraps_once_and_normalises_the_layer():
    torch.manual_seed(0)
    linear = nn.Linear(6, 5)
    w = linear.weight.detach().clone()
    shared = nn.Sequential(linear, nn.ReLU())
    apply_spectral_norm(nn.ModuleList([shared, shared]))  # a module shared by two roles
    apply_spectral_norm(shared)
    assert len(linear.parametrizations.weight) == 1
    torch.testing.assert_close(linear.parametrizations.weight.original, w, rtol=0, atol=0)
    linear.eval()  # the estimate frozen after 15 power iterations at wrapping: W / sigma(W)
    torch.testing.assert_close(linear.weight, w / torch.linalg.matrix_norm(w, 2), rtol=1e-4, atol=1e-6)


def test_spectral_norm_outside_its_choices_is_a_one_line_error():
    with pytest.raises(UserError) as err:
        MODELS.get("dcgan")(spectral_norm="discriminator").build(MNIST)
    assert "\n" not in str(err.value) and "model.spectral_norm" in str(err.value) and "critic" in str(err.value)


@pytest.mark.parametrize("setting", ["all", "none"])
def test_normalised_weights_have_unit_spectral_norm_after_training(tmp_path, setting):
    # DCGAN without batch norm in the critic (Miyato et al.'s setting); its generator has transposed convolutions
    run = image_run(tmp_path, setting, {"name": "dcgan", "ngf": 8, "ndf": 8, "z_dim": 8, "disc_norm": "none",
                                        "spectral_norm": setting})
    programs = load_run(run).programs  # evaluation mode: the layers use the trained estimates as they are
    for role in ("discriminator", "model"):
        sigmas = [sigma(m) for m in layers(programs.roles[role])]
        if setting == "all":
            assert sigmas == pytest.approx([1.0] * len(sigmas), abs=1e-2), role
        else:  # DCGAN's N(0, 0.02²) start is far from it: the check discriminates
            assert all(abs(s - 1) > 0.05 for s in sigmas), (role, sigmas)
    trained = checkpoint.load(run / "checkpoint.pt")["programs"]
    assert any(k.endswith("._u") for k in trained) == (setting == "all")


def test_spectral_norm_resumes_bit_for_bit(tmp_path):
    args = TINY_RING + ["model.spectral_norm=all", "strategy.name=hinge"]
    full = train("experiments/configs/ring_gan.yaml", args + ["train.steps=20"], out=str(tmp_path / "full"))
    part = train("experiments/configs/ring_gan.yaml", args + ["train.steps=8"], out=str(tmp_path / "part"))
    halfway = checkpoint.load(part / "checkpoint.pt")["programs"]
    train(overrides=["train.steps=20"], resume=part)
    a, b = checkpoint.load(full / "checkpoint.pt")["programs"], checkpoint.load(part / "checkpoint.pt")["programs"]
    estimates = [k for k in a if k.endswith(("._u", "._v"))]
    assert estimates and a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=0, atol=0, msg=name)
    assert any(not torch.equal(halfway[k], a[k]) for k in estimates)  # the power iteration went on after resuming
    # an export holds them too: it loads into normalised programs that compute what the run's do
    exported = load_run(export_run(part, tmp_path / "model.safetensors")).programs
    for name, value in load_run(part).programs.state_dict().items():
        torch.testing.assert_close(exported.state_dict()[name], value, rtol=0, atol=0, msg=name)


@pytest.mark.parametrize("model", ["mlp", "resnet"])
def test_traced_training_with_spectral_norm_equals_eager_bit_for_bit(tmp_path, model):
    def run(name, *extra):
        if model == "mlp":
            args = TINY_RING + ["model.spectral_norm=all", "strategy.name=hinge", "train.steps=6", *extra]
            return train("experiments/configs/ring_gan.yaml", args, out=str(tmp_path / name))
        return image_run(tmp_path, name, {"name": "resnet", "width": 4, "z_dim": 4, "spectral_norm": "all"}, 4,
                         ["train.batch_size=8", *extra])

    eager, traced = run("eager"), run("traced", "train.compile=trace-eager")
    a, b = checkpoint.load(eager / "checkpoint.pt")["programs"], checkpoint.load(traced / "checkpoint.pt")["programs"]
    assert any(k.endswith("._u") for k in a) and a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=0, atol=0, msg=name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="train.compile=cudagraph needs CUDA")
def test_captured_training_with_spectral_norm_matches_eager(tmp_path):
    args = TINY_RING + ["model.spectral_norm=all", "strategy.name=hinge", "train.steps=12", "train.device=cuda"]
    eager = train("experiments/configs/ring_gan.yaml", args, out=str(tmp_path / "eager"))
    graphed = train("experiments/configs/ring_gan.yaml", args + ["train.compile=cudagraph"], out=str(tmp_path / "cg"))
    a, b = checkpoint.load(eager / "checkpoint.pt")["programs"], checkpoint.load(graphed / "checkpoint.pt")["programs"]
    assert any(k.endswith("._u") for k in a) and a.keys() == b.keys()
    for name in a:  # the same kernels on the same random streams
        torch.testing.assert_close(b[name], a[name], msg=name)


# ------------------------------------------------------------------------------------------- resnet
@pytest.mark.parametrize("info, sides", [(MNIST, [7, 14, 28]), (CIFAR, [4, 8, 16, 32])], ids=["28px", "32px"])
def test_resnet_shapes(info, sides):
    programs = MODELS.get("resnet")(width=8, z_dim=6).build(info)
    gen = programs.model.likelihood.net
    h = gen.linear(torch.randn(3, 6)).reshape(3, 8, sides[0], sides[0])
    for block, side in zip(gen.blocks, sides[1:]):
        h = block(h)
        assert h.shape == (3, 8, side, side)
    assert len(gen.blocks) == len(sides) - 1
    x, _ = generate(programs, 3)
    assert x.shape == (3, *info.shape)
    body = programs.discriminator.net.net[0]
    h, out = torch.rand(3, *info.shape), []
    for block in body[:4]:
        h = block(h)
        out.append(h.shape[-1])
    assert out == [info.shape[1] // 2, info.shape[1] // 4, info.shape[1] // 4, info.shape[1] // 4]
    assert body[4](h).shape == (3, 8)  # global sum pooling
    assert programs.discriminator(x).shape == (3,) and programs.guide(x).shape == (3, 6)
    assert programs.latent_discriminator(torch.randn(3, 6)).shape == (3,)


@pytest.mark.parametrize("info, squash", [(MNIST, torch.sigmoid), (MNIST_SYM, torch.tanh)], ids=["unit", "symmetric"])
def test_resnet_generates_in_the_support(info, squash):
    programs = MODELS.get("resnet")(width=4, z_dim=4).build(info)
    programs.eval()
    torch.manual_seed(3)
    x, tr = generate(programs, 5)
    lo = 0.0 if info.support == "unit" else -1.0
    assert x.min() >= lo and x.max() <= 1.0 and x.std() > 0
    raw = programs.model.likelihood.net(tr.nodes["z"]["value"][:, :, None, None])
    torch.testing.assert_close(x, squash(raw))


def test_resnet_blocks_are_residual():
    # with the residual branch's last convolution zeroed, each block is its shortcut, in closed form
    torch.manual_seed(0)
    h = torch.randn(2, 3, 6, 6)
    up, first, down, keep = UpBlock(3, 5), FirstBlock(3, 5), DownBlock(3, 5, down=True), DownBlock(3, 3, down=False)
    for block in (up, first, down, keep):
        nn.init.zeros_(block.conv2.weight)
        nn.init.zeros_(block.conv2.bias)
    pool = torch.nn.functional.avg_pool2d
    with torch.no_grad():
        torch.testing.assert_close(up(h), up2(up.shortcut(h)))
        torch.testing.assert_close(first(h), first.shortcut(pool(h, 2)))
        torch.testing.assert_close(down(h), pool(down.shortcut(h), 2))
        torch.testing.assert_close(keep(h), h)
        # the up-sampled 1x1 shortcut: convolving first and up-sampling first are the same numbers
        torch.testing.assert_close(up2(up.shortcut(h)), up.shortcut(up2(h)), rtol=0, atol=0)
        # the critic's first block has no activation before its first convolution; the others have a ReLU there
        nn.init.normal_(first.conv2.weight)
        nn.init.normal_(keep.conv2.weight)
        neg, zero = -h.abs(), torch.zeros_like(h)
        residual = first(neg) - first.shortcut(pool(neg, 2))
        assert not torch.allclose(residual, first(zero) - first.shortcut(pool(zero, 2)))
        torch.testing.assert_close(keep(neg) - neg, keep(zero))


@pytest.mark.parametrize("info, fix", [
    (DataInfo(shape=(1, 14, 14), support="unit"), "resize"),
    (DataInfo(shape=(1, 30, 30), support="unit"), "resize"),
    (DataInfo(shape=(2,)), "model 'mlp'"),
    (DataInfo(shape=(1, 28, 28), support="real"), "scaling"),
])
def test_resnet_refuses_data_it_cannot_model_in_one_line(info, fix):
    with pytest.raises(UserError) as err:
        MODELS.get("resnet")().build(info)
    assert "\n" not in str(err.value) and fix in str(err.value) and "resnet" in str(err.value)


def test_resnet_hinge_steps_are_finite_and_in_the_support(tmp_path):
    run = image_run(tmp_path, "resnet", {"name": "resnet", "width": 8, "z_dim": 8}, steps=10)
    built = load_run(run)
    assert built.config.model.spectral_norm == "critic"  # the hinge + SN recipe by default
    state = checkpoint.load(run / "checkpoint.pt")
    assert all(torch.isfinite(v).all() for v in state["programs"].values() if v.is_floating_point())
    for m in layers(built.programs.discriminator):
        assert normalised(m) and sigma(m) == pytest.approx(1.0, abs=1e-2)
    assert not any(normalised(m) for m in layers(built.programs.model))
    torch.manual_seed(0)
    x, _ = generate(built.programs, 16)
    assert torch.isfinite(x).all() and x.min() >= -1 and x.max() <= 1 and x.std() > 0
