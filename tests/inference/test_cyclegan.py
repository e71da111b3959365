"""CycleGAN: its losses by hand, the cycle term of exact inverse maps, a short training, the two-domain digits."""
import math

import numpy as np
import pyro
import pytest
import torch
from pyro import poutine
from torch import nn
from torch.testing import assert_close

from toys import ROT90
from unigen import Programs, Trainer
from unigen.config import OptimConfig
from unigen.data.base import TensorData
from unigen.data.rotated_digits import RotatedDigits, maps
from unigen.errors import UserError
from unigen.inference.cyclegan import CycleGAN
from unigen.models.cyclegan import CycleGANNets, CycleModel, interleave
from unigen.programs import Batch, DataInfo
from unigen.roles import needed_roles

INFO = DataInfo(shape=(2,), support="real")


class Linear(nn.Module):
    """x -> x W^T: a 2-D linear map with a set matrix."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.as_tensor(w, dtype=torch.float32).clone())

    def forward(self, x):
        return x @ self.w.T


class Score(nn.Module):
    """d(x) = v · x + k: a critic with known scores."""

    def __init__(self, v, k=0.0):
        super().__init__()
        self.v, self.k = nn.Parameter(torch.tensor(v)), nn.Parameter(torch.tensor(k))

    def forward(self, x, c=None):
        return x @ self.v + self.k  # (batch,)


def rotation(deg):
    t = math.radians(deg)
    return [[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]]


def programs_for(g, f, critic_a=None, critic_b=None):
    g, f = Linear(g), Linear(f)
    return Programs(CycleModel(g, f), generator_ab=g, generator_ba=f,
                    critic_a=critic_a or Score([0.5, -1.0], 0.2), critic_b=critic_b or Score([-0.3, 0.4], -0.1))


def batch(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(n, 2, generator=g) + 1, torch.randn(n, 2, generator=g) - 1
    return a, b, Batch(interleave(a, b), None, torch.arange(2 * n) % 2)


def test_exact_inverse_maps_have_zero_cycle_loss_and_a_perturbed_inverse_does_not():
    a, b, x = batch()
    exact = CycleGAN().generators_step(programs_for(rotation(90), rotation(-90)), x)
    assert_close(exact["cycle"], torch.tensor(0.0), atol=1e-6, rtol=0)
    off = CycleGAN().generators_step(programs_for(rotation(90), rotation(-80)), x)  # F turns back only 80°
    r10 = torch.tensor(rotation(10), dtype=torch.float32)  # F∘G = G∘F = R(10°)
    expected = (a @ r10.T - a).abs().mean() + (b @ r10.T - b).abs().mean()
    assert_close(off["cycle"], expected)
    assert float(expected) > 0.05


def test_the_losses_equal_the_equations_by_hand():
    a, b, x = batch()
    G, F = torch.tensor(rotation(90)), torch.tensor(rotation(-60))
    da, db = Score([0.5, -1.0], 0.2), Score([-0.3, 0.4], -0.1)
    programs = programs_for(G, F, da, db)
    s = CycleGAN(cycle_weight=10.0, identity_weight=0.5)
    fake_b, fake_a = a @ G.T, b @ F.T
    with torch.no_grad():
        critics = (0.5 * (((db(b) - 1) ** 2).mean() + (db(fake_b) ** 2).mean())
                   + 0.5 * (((da(a) - 1) ** 2).mean() + (da(fake_a) ** 2).mean()))
        adversarial = ((db(fake_b) - 1) ** 2).mean() + ((da(fake_a) - 1) ** 2).mean()
    cycle = (fake_b @ F.T - a).abs().mean() + (fake_a @ G.T - b).abs().mean()
    identity = (b @ G.T - b).abs().mean() + (a @ F.T - a).abs().mean()
    out = s.critics_step(programs, x)
    assert_close(out["critics"], critics)
    assert_close(out["d_real"], torch.cat([da(a), db(b)]).mean().detach())
    out = s.generators_step(programs, x)
    assert_close(out["adversarial"], adversarial)
    assert_close(out["cycle"], cycle)
    assert_close(out["identity"], identity)
    assert_close(out["generators"], adversarial + 10.0 * cycle + 0.5 * 10.0 * identity)
    assert "identity" not in CycleGAN().generators_step(programs, x)  # identity_weight = 0: not computed


def test_the_model_program_is_the_pair_translating_partners_and_twice_is_the_cycle():
    a, b, x = batch(8)
    programs = programs_for(rotation(90), rotation(-60))
    g, f = programs.generator_ab, programs.generator_ba
    model = programs.model
    assert_close(model.translate(x.x), interleave(f(b), g(a)))
    assert_close(model.translate(model.translate(x.x)), interleave(f(g(a)), g(f(b))))
    tr = poutine.trace(model).get_trace(x.x)
    assert tr.nodes["x"]["is_observed"] and bool((tr.nodes["x"]["value"] == x.x).all())
    assert_close(tr.nodes["x"]["fn"].v, model.translate(x.x))
    assert model.g is g and model.f is f  # shared, not copied
    from unigen.models.cyclegan import CycleGANNets
    from unigen.programs import DataInfo
    built = CycleGANNets(translator="mlp", critic="mlp", hidden=8, depth=1, disc_hidden=8).build(
        DataInfo(shape=(2,), support="real"))
    assert built.model.g is built.generator_ab and built.model.f is built.generator_ba  # the spec shares them too
    with pytest.raises(UserError, match="even size"):
        model.translate(x.x[:3])


def test_the_strategy_refuses_one_domain_data():
    programs = CycleGANNets(translator="mlp", critic="mlp", hidden=8, depth=1, disc_hidden=8).build(
        INFO, roles=needed_roles(CycleGAN()))
    with pytest.raises(UserError, match="two domains"):
        Trainer(programs, CycleGAN(), TensorData(torch.randn(32, 2), None, INFO), batch_size=8)


def test_a_short_training_learns_a_cycle_consistent_map_onto_the_rotated_domain():
    """A: N((2, 0), diag(1, 0.3²)); B: other draws turned 90° (so B = N((0, 2), diag(0.3², 1))), unpaired."""
    torch.manual_seed(0)
    pyro.set_rng_seed(0)
    g = torch.Generator().manual_seed(0)
    scale, loc = torch.tensor([1.0, 0.3]), torch.tensor([2.0, 0.0])
    a, b = (torch.randn(2048, 2, generator=g) * scale + loc for _ in range(2))
    data = TensorData(torch.cat([a, b @ ROT90.T]), None, INFO, domain=torch.cat([torch.zeros(2048), torch.ones(2048)]))
    programs = CycleGANNets(translator="mlp", critic="mlp", hidden=32, depth=2, disc_hidden=32).build(
        INFO, roles=needed_roles(CycleGAN()))
    test = torch.randn(1000, 2, generator=g) * scale + loc
    G, F = programs.generator_ab, programs.generator_ba

    def cycle_error():
        with torch.no_grad():
            return float((F(G(test)) - test).abs().mean())

    before = cycle_error()
    Trainer(programs, CycleGAN(), data, batch_size=128, optim=OptimConfig(lr=5e-3, betas=[0.5, 0.999])).fit(
        150, progress=False)
    with torch.no_grad():
        fake_b = G(test)
    assert before > 0.8
    assert cycle_error() < 0.15  # from about 1 to under 0.15 per coordinate
    assert_close(fake_b.mean(0), torch.tensor([0.0, 2.0]), atol=0.3, rtol=0)  # G(a) lands on B's mean ...
    assert_close(fake_b.std(0), torch.tensor([0.3, 1.0]), atol=0.2, rtol=0)  # ... and its spread, axes swapped


# ------------------------------------------------------------------------------------- the data set
def test_rotated_digits_are_two_disjoint_stratified_halves_with_a_known_map():
    spec = RotatedDigits(transform="rotate")
    xa, ca, xb, cb = spec.halves("train")
    assert np.bincount(ca).tolist() == np.bincount(cb).tolist() == [225] * 10  # 450 training digits a class, halved
    a_set = {img.tobytes() for img in xa}
    assert not any(img.tobytes() in a_set for img in xb)  # no digit in both domains: no pair shared
    data = spec.load("train")
    forward, inverse = maps("rotate")
    b = data.x[data.domain == 1]
    assert_close(inverse(b), torch.from_numpy(xb.astype(np.float32) / 255).unsqueeze(1))  # B = M(other digits)
    assert_close(forward(inverse(b)), b)
    assert_close(data.x[data.domain == 0], torch.from_numpy(xa.astype(np.float32) / 255).unsqueeze(1))
    assert data.c.tolist() == ca.tolist() + cb.tolist()


def test_inverted_digits_and_bad_settings():
    data = RotatedDigits(transform="invert", support="symmetric", fraction=0.2).load("test")
    forward, inverse = maps("invert", "symmetric")
    b = data.x[data.domain == 1]
    assert_close(forward(inverse(b)), b)
    assert float(b.mean()) > 0.5 and float(data.x[data.domain == 0].mean()) < -0.5  # background flipped
    assert np.bincount(data.c[data.domain == 0].numpy()).tolist() == [5] * 10  # 20% of 25 test digits a class
    with pytest.raises(UserError, match="data.transform=.flip. is not one of rotate, invert, thicken"):
        RotatedDigits(transform="flip")
    with pytest.raises(UserError, match="fraction"):
        RotatedDigits(fraction=0)


def test_the_known_maps_are_exact():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 1, 28, 28, generator=g)
    for support, y in (("unit", x), ("symmetric", 2 * x - 1)):
        forward, inverse = maps("invert", support)
        assert torch.equal(forward(forward(y)), y) and torch.equal(inverse(forward(y)), y)  # its own inverse
    forward, inverse = maps("rotate")
    assert torch.equal(inverse(forward(x)), x) and torch.equal(forward(forward(forward(forward(x)))), x)
    assert torch.equal(forward(x)[0, 0, 27 - 3, 5], x[0, 0, 5, 3])  # anticlockwise: (row, col) -> (27 - col, row)
    # thicken: the 3×3 maximum (by hand, the frame ignored); thin: the 3×3 minimum; thicken∘thin∘thicken = thicken
    thicken, thin = maps("thicken")
    padded = np.pad(x.numpy(), ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    by_hand = np.max([padded[:, :, i:i + 28, j:j + 28] for i in range(3) for j in range(3)], axis=0)
    assert torch.equal(thicken(x), torch.from_numpy(by_hand))
    assert torch.equal(thin(x), -thicken(-x)) and torch.equal(thicken(thin(thicken(x))), thicken(x))
    assert bool((thin(thicken(x)) >= x).all())  # the closing only adds ink
    dot = torch.zeros(1, 1, 28, 28)
    dot[0, 0, 10, 20] = 1
    assert torch.equal(thicken(dot).nonzero()[:, 2:].unique(dim=0),
                       torch.tensor([[r, c] for r in (9, 10, 11) for c in (19, 20, 21)]))  # a dot becomes a 3×3 square
    assert torch.equal(thin(thicken(dot)), dot)


def test_thickened_digits_are_the_dilated_second_half():
    spec = RotatedDigits(transform="thicken", fraction=0.2)
    _, _, xb, _ = spec.halves("test")
    data = spec.load("test")
    thicken, thin = maps("thicken")
    b = data.x[data.domain == 1]
    assert torch.equal(b, thicken(torch.from_numpy(xb.astype(np.float32) / 255).unsqueeze(1)))
    assert torch.equal(thicken(thin(b)), b)  # δεδ = δ: thin is an exact inverse on domain B
    assert float(b.mean()) > 1.7 * float(data.x[data.domain == 0].mean())  # bolder strokes: about twice the ink


MNIST_INFO = DataInfo(shape=(1, 28, 28), num_classes=10, support="unit")


@pytest.mark.parametrize("layers, side", [(1, 12), (2, 5)])
def test_the_default_networks_are_a_resnet_translator_and_a_patchgan(layers, side):
    from unigen.models.cyclegan import PatchCritic, ResNetTranslator

    torch.manual_seed(0)
    programs = CycleGANNets(width=4, blocks=2, disc_width=4, patch_layers=layers, skip=True).build(
        MNIST_INFO, roles=needed_roles(CycleGAN()))
    G, D = programs.generator_ab, programs.critic_a
    assert isinstance(G, ResNetTranslator) and isinstance(D, PatchCritic)
    convs = [m for m in G.modules() if isinstance(m, nn.Conv2d)]
    assert [m.stride for m in convs if m.stride != (1, 1)] == [(2, 2), (2, 2)]  # two down-samplings
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in G.modules()) == 2  # and two up-samplings
    assert len(convs) == 1 + 2 + 2 * 2 + 1 and sum(isinstance(m, nn.InstanceNorm2d) for m in G.modules()) == 9
    x = torch.rand(6, 1, 28, 28)
    y = G(x)
    assert y.shape == x.shape and bool(((y > 0) & (y < 1)).all())
    scores = D(x)
    assert scores.shape == (6, side, side)  # one score per patch
    # the skip: with the residual's last convolution at zero, G is the identity up to the clamp at 1% of the range
    with torch.no_grad():
        convs[-1].weight.zero_()
        convs[-1].bias.zero_()
    assert_close(G(x), x.clamp(0.01, 0.99), atol=1e-5, rtol=0)
    y = ResNetTranslator(1, 4, 1, "symmetric", skip=True)(2 * x - 1)
    assert y.shape == x.shape and bool((y.abs() < 1).all())
    unskipped = CycleGANNets(width=4, blocks=1).build(MNIST_INFO, roles=["generator_ab"]).generator_ab  # the default
    with torch.no_grad():
        last = [m for m in unskipped.modules() if isinstance(m, nn.Conv2d)][-1]
        last.weight.zero_()
        last.bias.zero_()
    assert_close(unskipped(x), torch.full_like(x, 0.5))  # Zhu et al.'s: squash(r(x)), no input at the output
    assert not CycleGANNets().skip


def test_the_lsgan_terms_of_a_patch_critic_average_over_its_patches():
    torch.manual_seed(0)
    programs = CycleGANNets(width=4, blocks=1, disc_width=4).build(MNIST_INFO, roles=needed_roles(CycleGAN()))
    a, b = torch.rand(4, 1, 28, 28), torch.rand(4, 1, 28, 28)
    x = Batch(interleave(a, b), None, torch.arange(8) % 2)
    G, F, DA, DB = programs.generator_ab, programs.generator_ba, programs.critic_a, programs.critic_b
    with torch.no_grad():
        by_hand = 0.5 * (((DB(b) - 1) ** 2).mean() + (DB(G(a)) ** 2).mean() + ((DA(a) - 1) ** 2).mean()
                         + (DA(F(b)) ** 2).mean())
        per_example = 0.5 * (((DB(b).mean((1, 2)) - 1) ** 2).mean() + (DB(G(a)).mean((1, 2)) ** 2).mean()
                             + ((DA(a).mean((1, 2)) - 1) ** 2).mean() + (DA(F(b)).mean((1, 2)) ** 2).mean())
        out = CycleGAN().critics_step(programs, x)
        adversarial = ((DB(G(a)) - 1) ** 2).mean() + ((DA(F(b)) - 1) ** 2).mean()
    assert_close(out["critics"], by_hand)
    assert abs(float(by_hand - per_example)) > 1e-4  # per patch, not the squared mean score
    assert_close(CycleGAN().generators_step(programs, x)["adversarial"].detach(), adversarial)


@pytest.mark.parametrize("settings, info, fragment", [
    ({}, INFO, "model.translator=mlp model.critic=mlp"),  # vectors: the conv family refuses in one line
    ({"critic": "mlp"}, DataInfo(shape=(1, 30, 30), support="unit"), "multiple of 4"),
    ({"translator": "mlp", "patch_layers": 3}, DataInfo(shape=(1, 16, 16), support="unit"), "patch_layers"),
    ({"critic": "mlp"}, DataInfo(shape=(1, 28, 28), support="real"), "scaled to"),
])
def test_the_conv_family_refuses_data_it_cannot_take(settings, info, fragment):
    with pytest.raises(UserError, match=fragment) as e:
        CycleGANNets(**settings).build(info, roles=needed_roles(CycleGAN()))
    assert "\n" not in str(e.value)
    CycleGANNets(translator="mlp", critic="mlp", hidden=8, disc_hidden=8).build(info, roles=needed_roles(CycleGAN()))
