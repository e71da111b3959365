"""Each run builds the roles its strategy needs, no more; a new strategy with a new role gets its network from
the model spec with no change to unigen.models or the trainer (ALI's joint critic, defined only here)."""
from dataclasses import dataclass
from typing import ClassVar

import pyro
import pytest
import torch
from torch import Tensor

from unigen import Trainer, UserError
from unigen.config import OptimConfig, resolve
from unigen.data.base import TensorData
from unigen.inference import AAE, SVAE, AAVAE, InfoGAN, NonSaturatingGAN
from unigen.inference.adversarial import Adversarial
from unigen.programs import Batch, DataInfo, Programs
from unigen.scoring import log_q_fake, log_q_real, sample_model, trace_guide
from unigen.registry import MODELS
from unigen.needs import Needs
from unigen.roles import Critic, needed_roles
from unigen.assemble import build
from unigen.loading import load_run
from unigen.run import train

RING = DataInfo(shape=(2,))
RING_LABELLED = DataInfo(shape=(2,), num_classes=4)
MNIST = DataInfo(shape=(1, 28, 28), num_classes=10, support="unit")
SYM = DataInfo(shape=(1, 28, 28), num_classes=10, support="symmetric")
SMALL = {"mlp": {"hidden": 8, "disc_hidden": 8}, "mlp_vae": {"hidden": 16, "disc_hidden": 16, "z_dim": 3},
         "dcgan": {"ngf": 8, "ndf": 8, "z_dim": 4, "disc_norm": "layer"}, "ssvae": {"hidden": 16, "z_dim": 3,
                                                                                      "disc_hidden": 16}}


def spec(name, **kwargs):
    return MODELS.get(name)(**{**SMALL[name], **kwargs})


# ------------------------------------------------------------------------ the roles a strategy asks for
def test_a_gan_gets_no_latent_discriminator_and_no_code_posterior():
    programs = spec("mlp", code_classes=3).build(RING, roles=needed_roles(NonSaturatingGAN()))
    assert set(programs.roles) == {"model", "discriminator"}


def test_the_aae_gets_its_latent_discriminator():
    programs = spec("mlp", likelihood="normal").build(RING, roles=needed_roles(AAE()))
    assert set(programs.roles) == {"model", "guide", "latent_discriminator"}


def test_infogan_gets_a_code_posterior_only_when_the_model_has_codes():
    with_codes = spec("mlp", code_classes=3, code_dim=1).build(RING, roles=needed_roles(InfoGAN()))
    assert set(with_codes.roles) == {"model", "discriminator", "guide", "code_posterior"}
    without = spec("mlp").build(RING, roles=needed_roles(InfoGAN()))
    assert set(without.roles) == {"model", "discriminator", "guide"}  # the guide plays q(code|x)
    InfoGAN().check(without)


def test_the_base_of_aavae_asks_for_the_classifier_and_it_is_the_guides():
    programs = spec("ssvae").build(MNIST, roles=needed_roles(AAVAE(base="svae")))
    assert set(programs.roles) == {"model", "guide", "discriminator", "classifier"}
    assert programs.classifier is programs.guide.classifier
    assert set(spec("ssvae").build(MNIST, roles=needed_roles(SVAE())).roles) == {"model", "guide", "classifier"}


def test_without_roles_a_spec_builds_every_role_it_offers():
    assert set(spec("mlp").build(RING).roles) == {"model", "guide", "discriminator", "latent_discriminator"}
    assert set(spec("ssvae").build(MNIST).roles) == {"model", "guide", "discriminator", "classifier"}


def test_a_required_role_the_spec_lacks_is_refused_in_one_line():
    programs = spec("ssvae").build(MNIST, roles=needed_roles(AAE()))  # M2 names no latent discriminator
    with pytest.raises(UserError, match="latent_discriminator") as e:
        AAE().check(programs)
    assert "\n" not in str(e.value)


def test_a_critic_on_an_unknown_input_is_refused():
    with pytest.raises(UserError, match="must be a non-empty tuple of x, z"):
        Critic("d", on=("x", "y"))


@pytest.mark.parametrize("strategy, roles", [("ns_gan", {"model", "discriminator"}),
                                             ("aae", {"model", "guide", "latent_discriminator"})])
def test_run_build_and_load_run_build_the_strategys_roles(tmp_path, strategy, roles):
    overrides = ["data.name=ring", "data.n=200", "model.name=mlp", "model.hidden=8", "model.disc_hidden=8",
                 "model.likelihood=normal", f"strategy.name={strategy}", "train.steps=2", "train.batch_size=16",
                 "train.progress=false", "eval.num_samples=50"]
    assert set(build(resolve(None, overrides)).programs.roles) == roles
    run = train(None, overrides, out=str(tmp_path / "run"))
    assert set(load_run(run).programs.roles) == roles  # the checkpoint's keys fit exactly


# ------------------------------------------------- a new adversarial strategy with a new role (test only)
JOINT = Critic("joint_discriminator", on=("x", "z"))


@dataclass(frozen=True)
class JointGAN(Adversarial):
    r"""ALI / BiGAN (Dumoulin et al., 2017; Donahue et al., 2017), for this test: a critic :math:`D(x, z)` tells
    the encoder's pairs :math:`(x, z \sim q(z \mid x))`, :math:`x \sim p_{data}` (real) from the generator's
    :math:`(x \sim p_\theta(x \mid z), z \sim p(z))` (fake); model and guide fool it (non-saturating)."""

    needs: ClassVar[Needs] = Needs(("model", "guide", "joint_discriminator"))
    networks: ClassVar[tuple[Critic, ...]] = (JOINT,)
    players: ClassVar[dict[str, tuple[str, ...]]] = {"discriminator": ("joint_discriminator",),
                                                     "generator": ("model", "guide")}

    def pairs(self, programs: Programs, batch: Batch) -> tuple[Tensor, Tensor]:
        n = batch.x.shape[0]
        z_q = trace_guide(programs.guide, batch.x, batch.c).nodes["z"]["value"]  # (batch, z_dim)
        fake = sample_model(programs, n, batch.c, like=batch.x)
        d_real = self.critic(programs, batch.x, z_q, batch.c)  # (batch,)
        d_fake = self.critic(programs, fake.nodes[programs.obs_name]["value"], fake.nodes["z"]["value"], batch.c)
        return d_real, d_fake

    def discriminator_step(self, programs: Programs, batch: Batch) -> dict[str, Tensor]:
        d_real, d_fake = self.pairs(programs, batch)
        return {"discriminator": -(log_q_real(d_real).mean() + log_q_fake(d_fake).mean())}

    def generator_step(self, programs: Programs, batch: Batch) -> dict[str, Tensor]:
        d_real, d_fake = self.pairs(programs, batch)
        return {"generator": -(log_q_fake(d_real).mean() + log_q_real(d_fake).mean())}

    @staticmethod
    def critic(programs: Programs, x: Tensor, z: Tensor, c: Tensor | None) -> Tensor:
        return programs.joint_discriminator(x, z) if c is None else programs.joint_discriminator(x, z, c)


@pytest.mark.parametrize("name, kwargs, info", [("mlp", {}, RING), ("mlp", {"conditional": True}, RING_LABELLED),
                                                ("mlp_vae", {}, MNIST), ("dcgan", {"conditional": True}, SYM),
                                                ("ssvae", {}, MNIST)])
def test_every_spec_builds_a_joint_critic_from_its_features(name, kwargs, info):
    programs = spec(name, **kwargs).build(info, roles=needed_roles(JointGAN()))
    assert set(programs.roles) == {"model", "guide", "joint_discriminator"}
    JointGAN().check(programs)
    n = 3
    c = torch.arange(n) % info.num_classes if info.num_classes else None
    x = torch.rand(n, *info.shape)
    z = torch.randn(n, programs.guide(x, c).shape[-1])
    d = programs.joint_discriminator(x, z) if c is None else programs.joint_discriminator(x, z, c)
    assert d.shape == (n,) and torch.isfinite(d).all()
    critic = {id(p) for p in programs.joint_discriminator.parameters()}
    assert critic and not critic & {id(p) for r in ("model", "guide") for p in programs.roles[r].parameters()}


def test_a_new_strategy_with_a_new_role_trains_on_a_spec_unchanged():
    pyro.set_rng_seed(0)
    programs = spec("mlp", likelihood="normal", z_dim=2).build(RING, roles=needed_roles(JointGAN()))
    data = TensorData(torch.randn(256, 2), None, RING)
    trainer = Trainer(programs, JointGAN(), data, batch_size=32, optim=OptimConfig(lr=1e-3))
    assert set(trainer.params) == {"discriminator", "generator"}
    assert {id(p) for p in trainer.params["discriminator"]} == {id(p) for p in programs.joint_discriminator.parameters()}
    before = {r: [p.detach().clone() for p in programs.roles[r].parameters()] for r in programs.roles}
    for _ in range(3):
        losses = trainer.step()
    assert all(torch.isfinite(v).all() for v in losses.values())
    for role, old in before.items():  # every role was trained by its player
        assert any(not torch.equal(o, p) for o, p in zip(old, programs.roles[role].parameters())), role


def test_a_checkpoint_with_roles_no_longer_built_still_loads(tmp_path):
    """Runs written when every spec built every role hold weights of roles a GAN does not ask for now."""
    import torch

    from unigen import checkpoint

    run = train("experiments/configs/ring_gan.yaml", ["data.n=500", "model.hidden=16", "model.disc_hidden=16",
                "train.steps=2", "train.batch_size=32", "train.progress=false", "eval.num_samples=50"],
                out=str(tmp_path / "r"))
    state = checkpoint.load(run / "checkpoint.pt")
    older = dict(state["programs"], **{"modules_by_role.guide.head.weight": torch.zeros(3, 3)})
    torch.save({**state, "programs": older}, run / "checkpoint.pt")
    built = load_run(run)
    assert not built.programs.has("guide")
    for key, value in built.programs.state_dict().items():
        torch.testing.assert_close(value, state["programs"][key], rtol=0, atol=0, msg=key)
