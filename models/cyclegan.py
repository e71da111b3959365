r"""The four networks of CycleGAN (Zhu et al., 2017) for two-domain data, and the pair as one Pyro program.

Roles built (``unigen.inference.cyclegan`` reads them):

* ``generator_ab`` — :math:`G: A \to B`, a plain module ``G(x) -> x'`` of the data's shape;
* ``generator_ba`` — :math:`F: B \to A`, likewise;
* ``critic_a``, ``critic_b`` — :math:`D_A`, :math:`D_B`: plain modules ``D(x, c=None)`` of raw scores (the strategy's
  loss gives them their meaning): ``(batch,)`` for an MLP critic, a map of per-patch scores ``(batch, H', W')`` for a
  PatchGAN critic;
* ``model`` — :class:`CycleModel`, the two generators as one implicit Pyro program over an interleaved
  two-domain batch (the same two modules, so it adds no weights).

**Translators** (``translator``). ``resnet`` (the default, for images ``(C, S, S)`` with :math:`4 \mid S`) is Zhu et
al.'s ResNet generator (their appendix 7.2, after Johnson et al., 2016) at a reduced width: a 7×7 convolution of
``width`` channels, two stride-2 3×3 convolutions (``2·width``, ``4·width``), ``blocks`` residual blocks
(3×3, instance norm, ReLU, 3×3, instance norm, plus the input), two stride-2 transposed 3×3 convolutions back to the
image's side and a 7×7 convolution to the image's channels; instance norm (no affine scale, as theirs) and ReLU after
every convolution but the last, reflection padding, weights :math:`\mathcal N(0, 0.02^2)`:
:math:`G(x) = \mathrm{squash}(r(x))`. With ``skip`` the network's output is a residual on the input instead, taken
before the squash:

.. math::

    G(x) = \mathrm{squash}\big(\mathrm{squash}^{-1}(\bar x) + r(x)\big),

:math:`\bar x` the input clamped to within 1% of the support's range from its ends (so that
:math:`\mathrm{squash}^{-1}` is finite: a logit for ``unit`` data, ``atanh`` for ``symmetric``); :math:`r = 0` is the
identity (to that 1%) and, :math:`r` starting small, training starts near it. It is off by default, as in Zhu et
al.'s generator: on the ``cyclegan-digits`` pairs (28 px, width 16, 2 blocks, 300 steps of batch 32, seed 0) it
slowed the inversion of digits, labels kept 0.40 / 0.34 against 0.96 / 0.98 without it (a pixel is turned over only once
:math:`r` reaches about 9 in logit units; after 1,000 steps it keeps them too, but its translation stays about three
times as far from the true map: the page's ablation rows), and did not help the thickening of strokes (0.94 / 0.98
against 0.96 / 0.97); a gated form, :math:`m \odot \mathrm{squash}(r) + (1 - m) \odot x`, fell into the identity on the
inversion (cycle error 0, labels at chance), a cycle-consistent map whose adversarial gradient the closed gate
blocks.

``mlp`` is an MLP over the flattened example (any event shape: 2-D toys, 28 px digits); ``depth=0`` makes it one
linear layer (then squashed), which can represent a global map such as a 90° rotation (a permutation of the pixels),
which a stack of small convolutions cannot. A generator's output is squashed into the data's support (sigmoid for
``unit``, tanh for ``symmetric``).

**Critics** (``critic``). ``patch`` (the default, for images) is Zhu et al.'s PatchGAN (after Isola et al., 2017):
4×4 convolutions, ``patch_layers`` of stride 2 (``disc_width``, doubling), one of stride 1 (doubling again) and a
stride-1 convolution to one channel, LeakyReLU 0.2 and instance norm (none on the first layer). It scores every
overlapping patch of the image: on 28 px digits with ``patch_layers=2`` a 5×5 map of scores over 34 px receptive
fields (12×12 of 16 px ones with ``patch_layers=1``). The strategy's least-squares terms average over the patches
and the batch, as Zhu et al.'s ``MSELoss`` on the patch map does. ``mlp`` is an MLP over the flattened example,
returning ``(batch,)``.
"""
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

import pyro
import pyro.distributions as dist
import torch
from torch import Tensor, nn

from unigen.errors import UserError
from unigen.programs import DataInfo
from unigen.registry import MODELS
from unigen.settings import choice, count

from .dcgan import dcgan_init
from .nets import SPECTRAL_NORM, Discriminator, FlatNet, Labels, leaky_relu, mlp
from .spec import ModelSpec, Networks

OUTPUTS = {"unit": nn.Sigmoid, "symmetric": nn.Tanh, "real": nn.Identity}
TRANSLATORS = ("resnet", "mlp")  # the ``translator`` setting
CRITICS = ("patch", "mlp")  # the ``critic`` setting
#: ``squash⁻¹`` of the skip, per support: its input clamped to within :data:`SKIP_MARGIN` of the range's ends
INVERSE_SQUASH = {"unit": torch.logit, "symmetric": torch.atanh}
SKIP_MARGIN = 0.01  # of the support's range


class Translator(nn.Module):
    """An image-to-image map: ``net(flatten(x))`` squashed into the support and shaped like ``x``."""

    def __init__(self, net: nn.Module, support: str):
        super().__init__()
        self.net, self.out = FlatNet(net, Labels(None)), OUTPUTS[support]()

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.net(x)).reshape(x.shape)  # (batch, *event)


class ResidualBlock(nn.Module):
    """Zhu et al.'s residual block: ``h + IN(conv(ReLU(IN(conv(h)))))``, 3×3 convolutions with reflection padding."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels),
                                  nn.ReLU(), nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3),
                                  nn.InstanceNorm2d(channels))

    def forward(self, h: Tensor) -> Tensor:
        return h + self.body(h)


def resnet_body(channels: int, width: int, blocks: int) -> nn.Sequential:
    r"""``(batch, C, S, S) -> (batch, C, S, S)`` pre-squash, :math:`4 \mid S`: Zhu et al.'s ResNet generator (c7s1-w,
    d2w, d4w, ``blocks`` × R4w, u2w, uw, c7s1-C)."""
    def down(c_in: int, c_out: int) -> list[nn.Module]:
        return [nn.Conv2d(c_in, c_out, 3, 2, 1), nn.InstanceNorm2d(c_out), nn.ReLU()]

    def up(c_in: int, c_out: int) -> list[nn.Module]:
        return [nn.ConvTranspose2d(c_in, c_out, 3, 2, 1, output_padding=1), nn.InstanceNorm2d(c_out), nn.ReLU()]

    w = width
    net = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(channels, w, 7), nn.InstanceNorm2d(w), nn.ReLU(),
                        *down(w, 2 * w), *down(2 * w, 4 * w), *[ResidualBlock(4 * w) for _ in range(blocks)],
                        *up(4 * w, 2 * w), *up(2 * w, w), nn.ReflectionPad2d(3), nn.Conv2d(w, channels, 7))
    dcgan_init(net)  # N(0, 0.02²) weights, zero biases: Zhu et al.'s init_type="normal"
    return net


class ResNetTranslator(nn.Module):
    r"""Zhu et al.'s ResNet generator, ``(batch, C, S, S) -> (batch, C, S, S)`` in the support:
    :math:`\mathrm{squash}(r(x))`, or with ``skip`` :math:`\mathrm{squash}(\mathrm{squash}^{-1}(\bar x) + r(x))`."""

    def __init__(self, channels: int, width: int, blocks: int, support: str, skip: bool = False):
        super().__init__()
        self.net, self.out = resnet_body(channels, width, blocks), OUTPUTS[support]()
        self.skip, self.support = skip, support
        lo, hi = (0.0, 1.0) if support == "unit" else (-1.0, 1.0)
        margin = SKIP_MARGIN * (hi - lo)
        self.lo, self.hi = lo + margin, hi - margin

    def forward(self, x: Tensor) -> Tensor:
        r = self.net(x)
        if self.skip:  # a setting: fixed at build time
            r = r + INVERSE_SQUASH[self.support](x.clamp(self.lo, self.hi))
        return self.out(r)


class PatchCritic(nn.Module):
    """Zhu et al.'s PatchGAN critic: ``(batch, C, S, S) -> (batch, H', W')``, one raw score per patch."""

    def __init__(self, channels: int, width: int, layers: int):
        super().__init__()
        self.body, self.width = patch_body(channels, width, layers)
        self.head = nn.Conv2d(self.width, 1, 4, 1, 1)
        dcgan_init(self)

    def forward(self, x: Tensor, c: Optional[Tensor] = None) -> Tensor:
        return self.head(self.body(x)).squeeze(1)  # (batch, H', W')


def patch_body(channels: int, width: int, layers: int) -> tuple[nn.Sequential, int]:
    """The PatchGAN's convolutions before its one-channel head: ``layers`` of stride 2 and one of stride 1, 4×4,
    LeakyReLU 0.2, instance norm after all but the first; returns the net and its output channels."""
    mods: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), leaky_relu()]
    w = width
    for stride in [2] * (layers - 1) + [1]:
        mods += [nn.Conv2d(w, 2 * w, 4, stride, 1), nn.InstanceNorm2d(2 * w), leaky_relu()]
        w *= 2
    net = nn.Sequential(*mods)
    dcgan_init(net)
    return net, w


class PooledFeatures(nn.Module):
    """``(x, c) -> mean over positions of body(x)``: ``(batch, width)``, the x features of a generic critic request."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x: Tensor, c: Optional[Tensor] = None) -> Tensor:
        return self.body(x).mean(dim=(2, 3))


def interleave(a: Tensor, b: Tensor) -> Tensor:
    """Rows ``a[0], b[0], a[1], b[1], ...``: the layout of a two-domain batch (inverse of ``split_domains``)."""
    return torch.stack([a, b], dim=1).reshape(-1, *a.shape[1:])


class CycleModel(nn.Module):
    r"""The generator pair as an implicit Pyro program, ``model(x, c=None)``, on an interleaved batch
    :math:`x = (a_1, b_1, a_2, b_2, \dots)` (even rows domain A, odd rows domain B).

    In Hu et al.'s (2018) reading of a GAN generator, :math:`x = G_\theta(z)` with :math:`z \sim p(z)`; here
    each domain's "prior" is the other domain's data: the site ``"x"`` is a ``Delta`` at the translation
    :math:`T(x) = (F(b_1), G(a_1), F(b_2), G(a_2), \dots)`, each example generated from its partner in the
    other domain, so the program's implicit distribution of domain A is :math:`F_\# p_B` and of domain B is
    :math:`G_\# p_A`, the distributions that CycleGAN's critics compare with :math:`p_A` and :math:`p_B`.
    :math:`T` applied twice is the cycle, :math:`T(T(x)) = (F(G(a_1)), G(F(b_1)), \dots)`.

    As for any ``Delta`` generator, the observed run's density is not a likelihood. Drawn with
    :func:`unigen.scoring.generate` the model translates the zero placeholder batch; translate data with
    :meth:`translate` (or the ``generator_ab``/``generator_ba`` roles).
    """

    def __init__(self, g: nn.Module, f: nn.Module):
        super().__init__()
        self.g, self.f = g, f

    def translate(self, x: Tensor) -> Tensor:
        """:math:`T(x)`: every example replaced by its partner's translation into its own domain."""
        if x.shape[0] % 2:
            raise UserError(f"the CycleGAN model takes interleaved two-domain batches of even size, got "
                            f"{x.shape[0]} examples; pass an even batch (even rows domain A, odd rows domain B)")
        return interleave(self.f(x[1::2]), self.g(x[0::2]))

    def forward(self, x: Tensor, c: Optional[Tensor] = None) -> None:
        with pyro.plate("data", x.shape[0], device=x.device):
            pyro.sample("x", dist.Delta(self.translate(x), event_dim=x.dim() - 1), obs=x)


@MODELS.register("cyclegan")
@dataclass(frozen=True)
class CycleGANNets(ModelSpec):
    """Two generators (A to B, B to A) and two critics for two-domain data (CycleGAN): by default Zhu et al.'s
    ResNet translators and PatchGAN critics at a reduced width; MLPs for vectors (``translator=mlp critic=mlp``).

    :param translator: ``resnet`` (Zhu et al.'s convolutional ResNet generator, images whose side is a multiple of 4)
        or ``mlp`` (an MLP over the flattened example; ``depth=0``: one linear layer).
    :param critic: ``patch`` (Zhu et al.'s PatchGAN, a score per patch; images) or ``mlp`` (one score per example).
    :param width: channels of the ResNet translator's first convolution (doubled by each of its two down-samplings;
        Zhu et al.: 64).
    :param blocks: residual blocks of the ResNet translator (Zhu et al.: 6 at 128 px, 9 at 256 px).
    :param skip: the ResNet translator's output is a residual on its input (before the squash), so that the identity
        is its starting point; ``false`` (the default): Zhu et al.'s generator as published (the module's docstring
        gives the measurements behind the default).
    :param disc_width: channels of the PatchGAN's first convolution (doubling with each further one; Zhu et al.: 64).
    :param patch_layers: the PatchGAN's stride-2 convolutions (Zhu et al.: 3, 70 px patches at 256 px; here 2: a 5×5
        map of 34 px patches on 28 px digits).
    :param hidden: width of the MLP translators' hidden layers.
    :param depth: hidden layers of each MLP translator; 0 makes it one linear layer (then squashed), which can
        represent a permutation of the pixels (a rotation) or an inversion exactly.
    :param disc_hidden: width of the MLP critics' hidden layers.
    :param disc_depth: hidden layers of each MLP critic.
    :param spectral_norm: spectral normalisation (Miyato et al., 2018; :mod:`unigen.models.nets`): ``"critic"`` of
        ``critic_a`` and ``critic_b``, ``"all"`` of the two translators too, ``"none"``: off.
    """

    translator: str = choice("resnet", TRANSLATORS)
    critic: str = choice("patch", CRITICS)
    width: int = count(32, hi=100_000)
    blocks: int = count(6, lo=0, hi=100)
    skip: bool = False
    disc_width: int = count(32, hi=100_000)
    patch_layers: int = count(2, hi=10)
    hidden: int = count(256, hi=100_000)
    depth: int = count(2, lo=0, hi=100)
    disc_hidden: int = count(256, hi=100_000)
    disc_depth: int = count(2, hi=100)
    spectral_norm: str = choice("none", SPECTRAL_NORM)

    def networks(self, info: DataInfo) -> Networks:
        if info.support not in OUTPUTS:
            raise UserError(f"model 'cyclegan' knows the supports {', '.join(OUTPUTS)}, got {info.support!r}")
        self._check_images(info)
        d, channels = math.prod(info.shape), info.shape[0]

        def translator() -> nn.Module:
            if self.translator == "resnet":
                return ResNetTranslator(channels, self.width, self.blocks, info.support, self.skip)
            return Translator(mlp([d] + [self.hidden] * self.depth + [d]), info.support)

        g, f = lru_cache(maxsize=None)(translator), lru_cache(maxsize=None)(translator)  # one module each

        def critic() -> nn.Module:
            if self.critic == "patch":
                return PatchCritic(channels, self.disc_width, self.patch_layers)
            return Discriminator(FlatNet(mlp([d] + [self.disc_hidden] * self.disc_depth + [1], act=leaky_relu),
                                         Labels(None)))

        def x_features() -> tuple:  # a generic Critic request's body
            if self.critic == "patch":
                body, width = patch_body(channels, self.disc_width, self.patch_layers)
                return PooledFeatures(body), width
            return FlatNet(mlp([d] + [self.disc_hidden] * self.disc_depth, act=leaky_relu, final_act=True),
                           Labels(None)), self.disc_hidden

        return Networks(lambda: CycleModel(g(), f()),
                        {"generator_ab": g, "generator_ba": f, "critic_a": critic, "critic_b": critic},
                        {"x": x_features}, critic_hidden=self.disc_hidden, obs="x",
                        spectral_norm=self.spectral_norm)

    def _check_images(self, info: DataInfo) -> None:
        """One-line refusals of data the convolutional networks cannot take (vectors, sides not a multiple of 4,
        data not squashed into a range)."""
        conv = [f"{key}={value}" for key, value in (("translator", self.translator), ("critic", self.critic))
                if value != "mlp"]
        if not conv:
            return
        shape = tuple(info.shape)
        # the PatchGAN's side: halved by each stride-2 layer, then two 4×4 stride-1 layers take 1 each
        side = shape[-1] if len(shape) == 3 else 0
        for _ in range(self.patch_layers if self.critic == "patch" else 0):
            side //= 2
        image = len(shape) == 3 and shape[1] == shape[2] and (self.translator != "resnet" or shape[1] % 4 == 0)
        if not image or (self.critic == "patch" and side < 3):
            raise UserError(f"model 'cyclegan' with {' '.join('model.' + c for c in conv)} needs square images "
                            f"(C, S, S) with S a multiple of 4 (and S / 2**patch_layers >= 3), got {shape}; set "
                            f"model.translator=mlp model.critic=mlp for other data")
        if self.translator == "resnet" and info.support not in INVERSE_SQUASH:
            raise UserError(f"model 'cyclegan' with model.translator=resnet needs data scaled to [0, 1] or [-1, 1], "
                            f"got support {info.support!r}; set model.translator=mlp")
