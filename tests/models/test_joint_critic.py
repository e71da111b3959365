"""The joint critic's two forms: the spec's feature networks with a head (the default, unchanged), and the reference
code's one MLP on concat(x, z) with dropout 0.2 on its inputs and 0.5 on its hidden layers (``joint_critic=concat``)."""
import pytest
import torch
from torch import nn

from unigen import UserError
from unigen.inference.ali import JOINT
from unigen.models.nets import CONCAT_DROPOUT, JointCritic, Labels
from unigen.programs import DataInfo
from unigen.registry import MODELS

RING = DataInfo(shape=(2,))
RING_LABELLED = DataInfo(shape=(2,), num_classes=4)
MNIST = DataInfo(shape=(1, 28, 28), num_classes=10, support="unit")


def build(name, info, form, **kwargs):
    torch.manual_seed(0)
    return MODELS.get(name)(**kwargs).build(info, roles=("model", "guide", JOINT), joint_critic=form)


def linears(module):
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def test_the_default_form_is_unchanged_features_and_a_one_layer_head_without_dropout():
    for form in (None, "features"):
        critic = build("mlp", RING, form, z_dim=2, hidden=8, disc_hidden=8, depth=3).joint_discriminator
        assert not any(isinstance(m, nn.Dropout) for m in critic.modules())
        assert [k for k in critic.state_dict() if k.startswith("head")] == ["head.0.weight", "head.0.bias",
                                                                             "head.2.weight", "head.2.bias"]
        assert [lin.in_features for lin in linears(critic.head)] == [16, 8]  # x-features 8 ⊕ z-features 8


@pytest.mark.parametrize("name, info, kwargs, x_width, depth", [
    ("mlp", RING, {"z_dim": 2, "hidden": 8, "disc_hidden": 8, "depth": 3}, 2, 3),
    ("mlp", RING, {"z_dim": 5, "hidden": 8, "disc_hidden": 8, "depth": 2}, 2, 2),
    ("mlp_vae", MNIST, {"z_dim": 3, "hidden": 16, "disc_hidden": 16}, 784, 1),
])
def test_the_concat_form_is_one_mlp_on_the_raw_inputs_with_the_specs_depth(name, info, kwargs, x_width, depth):
    programs = build(name, info, "concat", **kwargs)
    critic = programs.joint_discriminator
    layers = linears(critic)
    assert len(layers) == depth + 1 and layers[0].in_features == x_width + kwargs["z_dim"]
    assert all(lin.out_features == kwargs["disc_hidden"] for lin in layers[:-1]) and layers[-1].out_features == 1
    drops = [m.p for m in critic.modules() if isinstance(m, nn.Dropout)]
    assert drops == [CONCAT_DROPOUT[0]] + [CONCAT_DROPOUT[1]] * depth == [0.2] + [0.5] * depth
    n = 5
    x, z = torch.rand(n, *info.shape), torch.randn(n, kwargs["z_dim"])
    assert critic(x, z).shape == (n,)


def test_a_conditional_concat_critic_appends_the_label_once():
    critic = build("mlp", RING_LABELLED, "concat", z_dim=3, hidden=8, disc_hidden=8, depth=2, conditional=True)
    critic = critic.joint_discriminator.eval()
    assert linears(critic)[0].in_features == 2 + 3 + 4
    x, z = torch.randn(4, 2), torch.randn(4, 3)
    d0, d1 = critic(x, z, torch.zeros(4, dtype=torch.long)), critic(x, z, torch.ones(4, dtype=torch.long))
    assert d0.shape == (4,) and not torch.equal(d0, d1)  # the label reaches the logits
    with pytest.raises(UserError, match="conditional"):
        critic(x, z)


def test_dropout_acts_in_training_mode_only():
    critic = build("mlp", RING, "concat", z_dim=2, hidden=32, disc_hidden=32, depth=3).joint_discriminator
    x, z = torch.randn(64, 2), torch.randn(64, 2)
    critic.eval()
    assert torch.equal(critic(x, z), critic(x, z))  # deterministic
    critic.train()
    torch.manual_seed(1)
    a = critic(x, z)
    b = critic(x, z)
    assert not torch.allclose(a, b)  # fresh masks each call
    critic.eval()
    assert not torch.allclose(a, critic(x, z))  # and the masked logits are not the evaluation-mode ones


@pytest.mark.parametrize("form", ["features", "concat"])
def test_the_gradient_reaches_both_x_and_z(form):
    critic = build("mlp", RING, form, z_dim=2, hidden=16, disc_hidden=16, depth=3).joint_discriminator
    x = torch.randn(32, 2, requires_grad=True)
    z = torch.randn(32, 2, requires_grad=True)
    critic.train()
    critic(x, z).sum().backward()
    assert x.grad is not None and z.grad is not None
    assert x.grad.abs().sum() > 0 and z.grad.abs().sum() > 0
    assert all(p.grad is not None for p in critic.parameters())


def test_joint_critic_refuses_bad_settings():
    with pytest.raises(UserError, match="joint_critic"):
        build("mlp", RING, "sideways", z_dim=2, hidden=8, disc_hidden=8)
    with pytest.raises(UserError, match="depth"):
        JointCritic([nn.Identity()], 2, 8, depth=0)
    with pytest.raises(UserError, match="dropout"):
        JointCritic([nn.Identity()], 2, 8, dropout=(1.0, 0.5))


def test_concat_builds_directly_from_widths():
    critic = JointCritic.concat([2, 3], Labels(None), hidden=8, depth=2, dropout=(0.0, 0.0))
    assert not any(isinstance(m, nn.Dropout) for m in critic.modules())  # no dropout asked: none added
    assert critic(torch.randn(6, 2), torch.randn(6, 3)).shape == (6,)


def test_the_mlp_spec_takes_the_form_as_a_setting_and_build_can_override_it():
    from unigen.programs import DataInfo

    info = DataInfo(shape=(2,))
    spec = MODELS.get("mlp")(z_dim=2, hidden=8, joint_critic="concat")

    def dropouts(programs):
        return sum(isinstance(m, torch.nn.Dropout) for m in programs.modules())

    assert dropouts(spec.build(info, roles=("model", "guide", JOINT))) > 0  # the spec's own setting
    assert dropouts(spec.build(info, roles=("model", "guide", JOINT), joint_critic="features")) == 0
    assert dropouts(MODELS.get("mlp")(z_dim=2, hidden=8).build(info, roles=("model", "guide", JOINT))) == 0
