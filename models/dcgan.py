r"""Deep convolutional programs after Radford, Metz & Chintala (2016), "DCGAN".

The generator is an implicit model :math:`x = G_\theta(z, c)`, :math:`z \sim \mathcal N(0, I_{100})`,
observed through a point mass ``Delta(G(z), event_dim=3)``. :math:`G` maps the code (with the one-hot
label appended when conditional) as a ``1 × 1`` map through a transposed convolution to a ``b × b`` map
and doubles the side with stride-2 transposed convolutions (BatchNorm + ReLU between them) up to the image:
``1 → 7 → 14 → 28`` for 28 × 28 and ``1 → 4 → 8 → 16 → 32`` for 32 × 32. The last layer is squashed by
``tanh`` for data in :math:`[-1, 1]` and by a sigmoid for data in :math:`[0, 1]`.

The discriminator mirrors it with stride-2 convolutions and LeakyReLU(0.2), no normalisation on the first
layer, and a final ``b × b`` convolution to one logit. ``disc_norm`` picks its normalisation: ``"batch"``
as in the paper, ``"layer"`` (``GroupNorm(1, C)``) or ``"none"``; a gradient penalty (Gulrajani et al.,
2017) needs a critic whose output for one example does not depend on the others, i.e. not ``"batch"``.
``spectral_norm`` (Miyato et al., 2018; :mod:`unigen.models.nets`) divides each critic convolution by its largest
singular value. It is allowed beside ``disc_norm="batch"``/``"layer"``, but those layers' scales and batch statistics
are not normalised, so the critic's Lipschitz bound holds only with ``disc_norm=none`` (Miyato et al.'s critics have
no normalisation layer).
The guide is the same convolutional trunk (with BatchNorm) and a Gaussian head over :math:`z`, for
VAE-GAN (Larsen et al., 2016) and AAE (Makhzani et al., 2016). The AAE's ``latent_discriminator`` is an MLP
over :math:`z` with two hidden layers of ``8 * ndf`` units (LeakyReLU 0.2). With InfoGAN codes
(``code_classes``, ``code_dim``) the generator reads :math:`(z, \text{code}, c)` and the ``code_posterior`` is
the discriminator's convolutional trunk (separate weights) with a categorical and/or Gaussian head.

Weights start from :math:`\mathcal N(0, 0.02^2)` and BatchNorm scales from :math:`\mathcal N(1, 0.02^2)`,
as in the paper.
"""
from dataclasses import dataclass
from typing import Optional, Tuple

import pyro.distributions as dist
from torch import Tensor, nn

from unigen.errors import UserError
from unigen.programs import DataInfo
from unigen.registry import MODELS
from unigen.settings import choice, count

from .nets import (CODE_PRIORS, SPECTRAL_NORM, CodePosterior, Discriminator, GaussianGuide, Labels, LatentModel,
                   build_codes, latent_discriminator, latent_features, leaky_relu, num_classes_for)
from .spec import ModelSpec, Networks

NORMS = ("batch", "layer", "none")
SQUASH = {"symmetric": nn.Tanh, "unit": nn.Sigmoid}


def spatial_plan(size: int) -> Optional[Tuple[int, int]]:
    """``(base, ups)`` with ``size = base * 2**ups``, ``3 <= base <= 7``, ``ups >= 1``; ``None`` if impossible.

    28 → (7, 2) and 32 → (4, 3).
    """
    base, ups = size, 0
    while base > 7 and base % 2 == 0:
        base, ups = base // 2, ups + 1
    return (base, ups) if ups >= 1 and 3 <= base <= 7 else None


def image_plan(model: str, info: DataInfo, min_ups: int = 1) -> tuple[tuple[int, ...], Tuple[int, int]]:
    """The data's shape and its :func:`spatial_plan`, for a convolutional spec ``model``; one-line refusals of data
    that are not square images of a plannable size (at least ``min_ups`` doublings) or not scaled to a squashable
    range."""
    shape = tuple(info.shape)
    plan = spatial_plan(shape[1]) if len(shape) == 3 and shape[1] == shape[2] else None
    if plan is None or plan[1] < min_ups:
        need = f", n >= {min_ups}" if min_ups > 1 else ""
        raise UserError(f"model {model!r} needs square images (C, S, S) with S = 28, 32 or b * 2**n, 3 <= b <= 7"
                        f"{need}, got {shape}; resize the data, or use model 'mlp' for vectors")
    if info.support not in SQUASH:
        raise UserError(f"model {model!r} needs data scaled to [0, 1] or [-1, 1], got support {info.support!r}; "
                        f"set the dataset's scaling to 'unit' or 'symmetric'")
    return shape, plan


def norm2d(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    return nn.Identity()


def generator_net(z_in: int, ngf: int, channels: int, base: int, ups: int) -> nn.Sequential:
    """``(batch, z_in, 1, 1) -> (batch, channels, base * 2**ups, base * 2**ups)``, pre-squash."""
    width = ngf * 2 ** (ups - 1)
    layers = [nn.ConvTranspose2d(z_in, width, base, 1, 0, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
    for _ in range(ups - 1):  # side doubles, width halves
        layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width // 2), nn.ReLU()]
        width //= 2
    layers.append(nn.ConvTranspose2d(width, channels, 4, 2, 1))
    return nn.Sequential(*layers)


def conv_trunk(in_channels: int, ndf: int, ups: int, norm: str) -> Tuple[nn.Sequential, int]:
    """``(batch, in_channels, S, S) -> (batch, width, S / 2**ups, S / 2**ups)``; returns the net and width."""
    layers = [nn.Conv2d(in_channels, ndf, 4, 2, 1), leaky_relu()]
    width = ndf
    for _ in range(ups - 1):  # side halves, width doubles
        layers += [nn.Conv2d(width, 2 * width, 4, 2, 1, bias=norm == "none"), norm2d(norm, 2 * width), leaky_relu()]
        width *= 2
    return nn.Sequential(*layers), width


def dcgan_init(module: nn.Module) -> None:
    r"""Radford et al.'s initialisation: conv weights :math:`\mathcal N(0, 0.02^2)`, norm scales
    :math:`\mathcal N(1, 0.02^2)`, biases zero."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DeltaImage(nn.Module):
    r""":math:`p_\theta(x \mid z, c) = \delta\big(x - \mathrm{squash}(G_\theta(z \oplus c))\big)` over ``(C, H, W)``."""

    def __init__(self, net: nn.Module, labels: Labels, squash: nn.Module):
        super().__init__()
        self.net, self.labels, self.squash = net, labels, squash

    def forward(self, z: Tensor, c: Optional[Tensor] = None) -> dist.Distribution:
        code = self.labels.append(z, c)[:, :, None, None]  # (batch, z_dim + K, 1, 1)
        return dist.Delta(self.squash(self.net(code)), event_dim=3)  # (batch, C, H, W)


class ChannelNet(nn.Module):
    """``(x, c) -> net(x ⊕ onehot(c) as feature maps)``."""

    def __init__(self, net: nn.Module, labels: Labels):
        super().__init__()
        self.net, self.labels = net, labels

    def forward(self, x: Tensor, c: Optional[Tensor] = None) -> Tensor:
        return self.net(self.labels.append_channels(x, c))


@MODELS.register("dcgan")
@dataclass(frozen=True)
class DCGAN(ModelSpec):
    """DCGAN generator and discriminator (Radford et al. 2016) with a conv encoder, for 28/32-pixel images.

    :param z_dim: latent width.
    :param ngf: generator width (channels before the last layer).
    :param ndf: discriminator and encoder width (channels after the first layer).
    :param disc_norm: discriminator normalisation, ``"batch"``, ``"layer"`` or ``"none"``.
    :param conditional: append the one-hot label to z and as input channels (needs labelled data).
    :param code_classes: categories of InfoGAN's categorical code ``"code_cat"`` (0: none).
    :param code_dim: width of InfoGAN's continuous code ``"code"`` (0: none).
    :param code_prior: prior of the continuous code, ``"uniform"`` (:math:`U(-1, 1)`) or ``"normal"``.
    :param spectral_norm: spectral normalisation (Miyato et al., 2018; :mod:`unigen.models.nets`): ``"critic"`` of
        the critics' layers (not their ``disc_norm``), ``"all"`` of the generator too, ``"none"``: off.
    """

    z_dim: int = count(100, hi=100_000)
    ngf: int = count(64, hi=100_000)
    ndf: int = count(64, hi=100_000)
    disc_norm: str = choice("batch", NORMS)
    conditional: bool = False
    code_classes: int = count(0, lo=0, hi=100_000)
    code_dim: int = count(0, lo=0, hi=100_000)
    code_prior: str = choice("uniform", CODE_PRIORS)
    spectral_norm: str = choice("none", SPECTRAL_NORM)

    def networks(self, info: DataInfo) -> Networks:
        shape, plan = image_plan("dcgan", info)
        k = num_classes_for("dcgan", self.conditional, info)
        codes = build_codes("dcgan", self.code_classes, self.code_dim, self.code_prior)
        channels, (base, ups), kd = shape[0], plan, k or 0

        def model() -> LatentModel:
            gen = generator_net(self.z_dim + (codes.width if codes else 0) + kd, self.ngf, channels, base, ups)
            return LatentModel(self.z_dim, DeltaImage(gen, Labels(k), SQUASH[info.support]()), codes)

        def guide() -> GaussianGuide:
            trunk, width = conv_trunk(channels + kd, self.ndf, ups, "batch")
            return GaussianGuide(ChannelNet(nn.Sequential(trunk, nn.Flatten()), Labels(k)),
                                 width * base * base, self.z_dim)

        def x_features() -> Tuple[nn.Module, int]:  # the discriminator's trunk: (batch, width * base²)
            trunk, width = conv_trunk(channels + kd, self.ndf, ups, self.disc_norm)
            return ChannelNet(nn.Sequential(trunk, nn.Flatten()), Labels(k)), width * base * base

        def discriminator() -> Discriminator:
            trunk, width = conv_trunk(channels + kd, self.ndf, ups, self.disc_norm)
            critic = nn.Sequential(trunk, nn.Conv2d(width, 1, base, 1, 0))  # (batch, 1, 1, 1)
            return Discriminator(ChannelNet(critic, Labels(k)))

        def code_posterior() -> CodePosterior:
            return CodePosterior(*x_features(), self.code_classes, self.code_dim)

        hidden = 8 * self.ndf  # the latent critics' width
        return Networks(model, {
            "guide": guide,
            "discriminator": discriminator,
            "latent_discriminator": lambda: latent_discriminator(self.z_dim, hidden, 2, Labels(k)),
            "code_posterior": code_posterior if codes else None,
        }, {"x": x_features, "z": lambda: (latent_features(self.z_dim, hidden, Labels(k)), hidden)},
            critic_hidden=hidden, finish=dcgan_init, spectral_norm=self.spectral_norm)
