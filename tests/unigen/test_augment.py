"""DiffAugment (Zhao et al. 2020) on every critic of x, and ADA's adaptive probability (Karras et al. 2020):
the ops against the authors' reference, the identity at p = 0, one transform family for real and fake, the
generator's gradient through it, the module tree of checkpoints and exports, ADA's controller, bit-exact resume."""
import json
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from probes import cli, one_line
from toys import stopped_at
from unigen import checkpoint
from unigen.assemble import build, seed_everything
from unigen.augment import OPS, Augmented, adapt, augment_critics, diff_augment, parse_policy
from unigen.config import resolve
from unigen.errors import UserError
from unigen.inference import AAE, ALI, ELBO, CycleGAN, NonSaturatingGAN
from unigen.inference.avb import AVB
from unigen.loading import load_run
from unigen.programs import DataInfo
from unigen.registry import MODELS
from unigen.roles import needed_roles
from unigen.run import train
from unigen.scoring import label_mode

IMAGES = DataInfo(shape=(1, 8, 8), num_classes=None, support="unit")
POLICY = "color,translation,cutout"


def cfg(augment=POLICY, ada_target=0.0, **kw):
    return SimpleNamespace(augment=augment, ada_target=ada_target, ada_speed=500_000, log_every=5, batch_size=16,
                           **kw)


def dcgan(strategy, info=IMAGES):
    return MODELS.get("dcgan")(ngf=4, ndf=4, z_dim=4, disc_norm="layer").build(info, roles=needed_roles(strategy))


# ------------------------------------------------------------------ the authors' reference (DiffAugment_pytorch.py)
def ref_brightness(x):
    return x + (torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device) - 0.5)


def ref_saturation(x):
    x_mean = x.mean(dim=1, keepdim=True)
    return (x - x_mean) * (torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device) * 2) + x_mean


def ref_contrast(x):
    x_mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - x_mean) * (torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device) + 0.5) + x_mean


def ref_translation(x, ratio=0.125):
    shift_x, shift_y = int(x.size(2) * ratio + 0.5), int(x.size(3) * ratio + 0.5)
    translation_x = torch.randint(-shift_x, shift_x + 1, size=[x.size(0), 1, 1], device=x.device)
    translation_y = torch.randint(-shift_y, shift_y + 1, size=[x.size(0), 1, 1], device=x.device)
    grid_batch, grid_x, grid_y = torch.meshgrid(torch.arange(x.size(0)), torch.arange(x.size(2)),
                                                torch.arange(x.size(3)), indexing="ij")
    grid_x = torch.clamp(grid_x + translation_x + 1, 0, x.size(2) + 1)
    grid_y = torch.clamp(grid_y + translation_y + 1, 0, x.size(3) + 1)
    x_pad = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])
    return x_pad.permute(0, 2, 3, 1).contiguous()[grid_batch, grid_x, grid_y].permute(0, 3, 1, 2)


def ref_cutout(x, ratio=0.5):
    cutout_size = int(x.size(2) * ratio + 0.5), int(x.size(3) * ratio + 0.5)
    offset_x = torch.randint(0, x.size(2) + (1 - cutout_size[0] % 2), size=[x.size(0), 1, 1], device=x.device)
    offset_y = torch.randint(0, x.size(3) + (1 - cutout_size[1] % 2), size=[x.size(0), 1, 1], device=x.device)
    grid_batch, grid_x, grid_y = torch.meshgrid(torch.arange(x.size(0)), torch.arange(cutout_size[0]),
                                                torch.arange(cutout_size[1]), indexing="ij")
    grid_x = torch.clamp(grid_x + offset_x - cutout_size[0] // 2, min=0, max=x.size(2) - 1)
    grid_y = torch.clamp(grid_y + offset_y - cutout_size[1] // 2, min=0, max=x.size(3) - 1)
    mask = torch.ones(x.size(0), x.size(2), x.size(3), dtype=x.dtype, device=x.device)
    mask[grid_batch, grid_x, grid_y] = 0
    return x * mask.unsqueeze(1)


REFERENCE = {"color": lambda x: ref_contrast(ref_saturation(ref_brightness(x))), "translation": ref_translation,
             "cutout": ref_cutout}


def seeded(fn, x, seed=0):
    torch.manual_seed(seed)
    return fn(x)


# ----------------------------------------------------------------------------------------------- the ops
@pytest.mark.parametrize("name", list(OPS))
def test_each_op_is_the_references_on_symmetric_data(name):
    x = torch.rand(32, 3, 9, 7) * 2 - 1
    ours = seeded(lambda v: OPS[name](v), x)
    ref = seeded(REFERENCE[name], x)
    assert torch.equal(ours.abs(), ref.abs())  # bit for bit (the reference's cutout may leave -0.0 for 0.0)


@pytest.mark.parametrize("name", list(OPS))
def test_on_unit_data_each_op_is_the_references_on_the_image_rescaled_to_symmetric(name):
    x = torch.rand(32, 3, 9, 7)
    ours = seeded(lambda v: OPS[name](v, 0.5, 0.5), x)
    ref = (seeded(REFERENCE[name], x * 2 - 1) + 1) / 2  # the fill is 0.5, the brightness shift ±0.25
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", list(OPS))
@pytest.mark.parametrize("support", ["unit", "symmetric"])
def test_each_op_at_p_one_changes_x_and_keeps_its_shape(name, support):
    x = torch.rand(16, 3, 8, 8) if support == "unit" else torch.rand(16, 3, 8, 8) * 2 - 1
    wrapper = Augmented(nn.Identity(), (name,), support).train()
    y = seeded(wrapper, x)
    assert y.shape == x.shape and y.dtype == x.dtype and torch.isfinite(y).all()
    assert not torch.equal(y, x)


def test_p_zero_is_the_identity_bit_for_bit_and_p_one_augments_every_example():
    x = torch.rand(64, 3, 8, 8)
    assert torch.equal(diff_augment(x, tuple(OPS), torch.tensor(0.0), 0.5, 0.5), x)
    wrapper = Augmented(nn.Identity(), ("cutout",), "symmetric", adaptive=True).train()
    assert wrapper.p.item() == 0 and torch.equal(wrapper(x), x)  # ADA starts at p = 0
    wrapper.p.fill_(1.0)
    changed = (wrapper(x) != x).flatten(1).any(1)
    assert changed.all()
    wrapper.p.fill_(0.5)  # each example gated on its own: some pass through, some do not
    changed = (seeded(wrapper, x) != x).flatten(1).any(1)
    assert 0 < changed.sum() < len(x)


def test_the_same_transform_reaches_real_and_fake_drawn_with_the_same_generator_state():
    """The wrapper applies one op family identically to both calls: a one-hot pixel at different places in the
    real and the generated image moves by the same shift."""
    seen = []
    wrapper = Augmented(Recorder(seen), ("translation",), "symmetric").train()
    n, h = 32, 16
    real, fake = torch.zeros(n, 1, h, h), torch.zeros(n, 1, h, h)
    real[:, 0, 5, 6], fake[:, 0, 9, 8] = 1.0, 1.0
    seeded(wrapper, real, seed=3)
    seeded(wrapper, fake, seed=3)
    moved = []
    for out, (i, j) in zip(seen, [(5, 6), (9, 8)]):
        assert torch.equal(out.sum(dim=(1, 2, 3)), torch.ones(n))  # the pixel stays in the image
        hot = out[:, 0].flatten(1).argmax(1)
        moved.append(torch.stack([hot // h - i, hot % h - j], 1))
    assert torch.equal(moved[0], moved[1])
    assert moved[0].abs().max() == round(h / 8) and (moved[0] != 0).any()  # up to 1/8 of the image each way
    # and a fresh draw (another call) is another transform
    seeded(wrapper, real, seed=4)
    assert not torch.equal(seen[0], seen[2])


class Recorder(nn.Module):
    """A critic that records what it reads."""

    def __init__(self, seen):
        super().__init__()
        self.seen = seen

    def forward(self, x, c=None):
        self.seen.append(x.detach().clone())
        return x.flatten(1).sum(1)


@pytest.mark.parametrize("ada", [False, True])
def test_the_generator_receives_gradient_through_the_augmentation(ada):
    torch.manual_seed(0)
    gen = nn.Sequential(nn.Linear(4, 3 * 8 * 8), nn.Tanh(), nn.Unflatten(1, (3, 8, 8)))
    critic = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 1))
    wrapper = Augmented(critic, tuple(OPS), "symmetric", adaptive=ada).train()
    if ada:
        wrapper.p.fill_(0.5)
    fake = gen(torch.randn(16, 4))
    fake.retain_grad()
    F.softplus(-wrapper(fake)).mean().backward()  # the non-saturating generator loss
    for g in (fake.grad, gen[0].weight.grad):
        assert torch.isfinite(g).all() and g.abs().sum() > 0


def test_the_wrapper_keeps_the_critics_label_signature_and_is_bare_in_eval_mode():
    critic = Recorder([])
    wrapper = Augmented(critic, tuple(OPS), "unit")
    assert label_mode(wrapper) == label_mode(critic) == "positional"  # D(x, c=None): c is passed
    assert label_mode(Augmented(nn.Sequential(nn.Flatten(), nn.Linear(64, 1)), ("color",))) is None
    x = torch.rand(4, 1, 8, 8)
    state = torch.get_rng_state()
    assert torch.equal(wrapper.eval()(x), x.flatten(1).sum(1)) and torch.equal(critic.seen[0], x)
    assert torch.equal(torch.get_rng_state(), state)  # nothing drawn outside training


# --------------------------------------------------------------------------------- which critics are wrapped
def test_the_discriminator_of_a_gan_is_wrapped_and_ada_adapts_it():
    programs = dcgan(NonSaturatingGAN())
    inner = programs.discriminator
    wrappers = augment_critics(programs, NonSaturatingGAN(), cfg(ada_target=0.6), IMAGES)
    assert set(wrappers) == {"discriminator"} and programs.discriminator is wrappers["discriminator"]
    assert programs.modules_by_role["discriminator"].critic is inner and wrappers["discriminator"].adaptive
    assert wrappers["discriminator"].p.item() == 0.0
    keys = set(programs.state_dict())
    assert "modules_by_role.discriminator.p" in keys
    assert {k.replace("discriminator.critic.", "discriminator.") for k in keys} - {"modules_by_role.discriminator.p"} \
        == set(dcgan(NonSaturatingGAN()).state_dict())


def test_alis_joint_critic_gets_only_its_x_augmented():
    programs = dcgan(ALI())
    wrappers = augment_critics(programs, ALI(), cfg(augment="cutout"), IMAGES)
    assert set(wrappers) == {"joint_discriminator"} and wrappers["joint_discriminator"].x_at == 0
    seen = []
    wrappers["joint_discriminator"].critic.register_forward_pre_hook(lambda module, args: seen.append(args))
    x, z = torch.rand(8, 1, 8, 8), torch.randn(8, 4)
    wrappers["joint_discriminator"].train()(x, z)
    assert not torch.equal(seen[0][0], x) and seen[0][1] is z


def test_cyclegans_two_critics_are_wrapped():
    strategy = CycleGAN()
    programs = MODELS.get("cyclegan")(translator="mlp", critic="mlp", hidden=8, depth=0, disc_hidden=8, disc_depth=1).build(
        IMAGES, roles=needed_roles(strategy))
    wrappers = augment_critics(programs, strategy, cfg(), IMAGES)
    assert set(wrappers) == {"critic_a", "critic_b"} and not any(w.adaptive for w in wrappers.values())
    assert all(w.p.item() == 1.0 for w in wrappers.values())


@pytest.mark.parametrize("strategy, settings, fragment", [
    (AAE(), cfg(), "has no critic that reads x"),  # a latent critic only
    (ELBO(), cfg(), "has no critic that reads x"),
    (AVB(), cfg(), "has no critic that reads x"),  # T(x, z) pairs share the real x
    (ALI(), cfg(ada_target=0.6), "ADA's statistic"),
    (NonSaturatingGAN(), cfg(augment="", ada_target=0.6), "which is off"),
    (NonSaturatingGAN(), cfg(augment="color,,cutout"), "an empty item"),
    (NonSaturatingGAN(), cfg(augment="colour"), "unknown op 'colour'"),
])
def test_refusals_are_one_line(strategy, settings, fragment):
    programs = MODELS.get("mlp_vae")(hidden=8, disc_hidden=8, z_dim=4).build(IMAGES, roles=needed_roles(strategy))
    with pytest.raises(UserError, match=fragment) as e:
        augment_critics(programs, strategy, settings, IMAGES)
    assert "\n" not in str(e.value)


def test_parse_policy():
    assert parse_policy("") == ()
    assert parse_policy("translation, cutout") == ("translation", "cutout")


# -------------------------------------------------------------------------------------------- the CLI
TINY = ["model.name=dcgan", "model.ngf=8", "model.ndf=8", "model.z_dim=8", "strategy.name=ns_gan",
        "data.binarize=false", "data.fraction=0.1", "train.batch_size=16", "train.log_every=5",
        "train.progress=false", "train.optim.lr=1e-3", "train.optim.schedule=constant", "eval.image_metrics=false",
        "eval.num_samples=64", f"train.augment={POLICY}"]
ADA = ["train.ada_target=0.6", "train.ada_speed=640"]  # 5 steps of 16 images move p by 1/8
CONFIG = "experiments/configs/mnist_vae.yaml"


@pytest.mark.parametrize("args, fragment", [
    (["train", "ring_gan", "train.augment=colour"], "unknown op 'colour'"),
    (["train", "ring_gan", "train.augment=color"], "needs image data (C, H, W)"),
    (["train", CONFIG, "train.augment=translation"], "strategy 'elbo' has no critic that reads x"),
])
def test_the_cli_refuses_a_bad_policy_in_one_line(tmp_path, capsys, args, fragment):
    one_line(*cli([*args, "--out", tmp_path / "run"], capsys)[:2], fragment)


def _rows(run):
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "time"} for r in rows if r["kind"] == "train"]


def _params(run):
    return checkpoint.load(run / "checkpoint.pt")["programs"]


@pytest.fixture(scope="module")
def ada_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ada") / "run"
    assert cli(["train", CONFIG, *TINY, *ADA, "train.steps=20", "--out", out], _Quiet())[0] == 0
    return out


class _Quiet:  # cli() without pytest's capsys, for a module-scoped fixture
    def readouterr(self):
        return SimpleNamespace(err="", out="")


def test_a_tiny_mnist_training_logs_ada_p_that_follows_the_controller(ada_run):
    rows = _rows(ada_run)
    assert [r["step"] for r in rows] == [5, 10, 15, 20]
    p = 0.0
    for r in rows:
        assert -1 <= r["ada_r"] <= 1
        p = min(max(p + ((r["ada_r"] > 0.6) - (r["ada_r"] < 0.6)) * 5 * 16 / 640, 0.0), 1.0)
        assert r["ada_p"] == pytest.approx(p, abs=1e-6)
    assert len({r["ada_p"] for r in rows}) > 1  # p moves
    state = _params(ada_run)
    assert state["modules_by_role.discriminator.p"].item() == pytest.approx(rows[-1]["ada_p"])


def test_plain_diffaugment_trains_and_logs_no_ada_names(tmp_path):
    run = train(CONFIG, [*TINY, "train.steps=5"], out=str(tmp_path / "run"))
    rows = _rows(run)
    assert rows and not any(k.startswith("ada_") for r in rows for k in r)
    assert _params(run)["modules_by_role.discriminator.p"].item() == 1.0


def test_a_traced_ada_run_equals_the_eager_one(tmp_path, ada_run):
    """A traced step (trace-eager: the eager kernels replayed from one graph) with the augmentation's draws and
    gates in the graph trains bit for bit as the eager one while the host moves p between replays."""
    run = train(CONFIG, [*TINY, *ADA, "train.steps=20", "train.compile=trace-eager"], out=str(tmp_path / "run"))
    ref = _params(ada_run)
    assert _params(run).keys() == ref.keys()
    for name, value in _params(run).items():
        assert torch.equal(value, ref[name]), name


def test_a_resumed_ada_run_continues_bit_for_bit(tmp_path, ada_run, monkeypatch):
    with stopped_at(monkeypatch, 12):  # as if SIGTERM arrived during step 12, inside a log window
        part = train(CONFIG, [*TINY, *ADA, "train.steps=20"], out=str(tmp_path / "part"))
    state = checkpoint.load(part / "checkpoint.pt")
    assert state["step"] == 12 and state["programs"]["modules_by_role.discriminator.p"].item() > 0  # p restored
    train(resume=part)
    full = _params(ada_run)
    for name, value in _params(part).items():
        assert torch.equal(value, full[name]), name
    assert _rows(part) == _rows(ada_run)


def test_an_export_and_a_reload_have_the_trained_module_tree(tmp_path, capsys, ada_run):
    path = tmp_path / "model.safetensors"
    assert cli(["export", ada_run, "-o", path], capsys)[0] == 0
    for loaded in (load_run(ada_run), load_run(path)):
        state = loaded.programs.state_dict()
        assert state.keys() == _params(ada_run).keys()
        assert isinstance(loaded.programs.discriminator, Augmented)
        assert state["modules_by_role.discriminator.p"].item() == _params(ada_run)[
            "modules_by_role.discriminator.p"].item()


def test_without_augment_nothing_is_wrapped_nor_drawn():
    resolved = resolve(CONFIG, [o for o in TINY if not o.startswith("train.augment")])
    built = build(resolved)
    after_build = torch.get_rng_state()
    seed_everything(resolved.config.train.seed)
    bare = resolved.model.build(built.info, roles=needed_roles(resolved.strategy))
    assert torch.equal(torch.get_rng_state(), after_build)  # the random streams as they were
    assert list(built.programs.state_dict()) == list(bare.state_dict())
    assert not any(isinstance(m, Augmented) for m in built.programs.modules())


def test_adapt_is_silent_without_ada():
    programs = dcgan(NonSaturatingGAN())
    augment_critics(programs, NonSaturatingGAN(), cfg(), IMAGES)
    assert adapt(programs, NonSaturatingGAN(), cfg(), 5, {"ada_r": 1.0}) == {}
    assert programs.discriminator.p.item() == 1.0
