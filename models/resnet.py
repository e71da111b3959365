r"""Residual programs for 28/32-pixel images: the CIFAR-10 ResNets of WGAN-GP (Gulrajani et al., 2017, appendix F)
and SNGAN (Miyato et al., 2018, table 4 and appendix B.4), the networks of the hinge + spectral-norm recipe.

**Generator** :math:`x = \mathrm{squash}(G_\theta(z, c))`, :math:`z \sim \mathcal N(0, I_{128})`, observed through a point
mass ``Delta(G(z), event_dim=3)`` as in :mod:`unigen.models.dcgan`:

.. math::

    h_0 = \mathrm{reshape}_{(w, b, b)}(W_0 (z \oplus c) + b_0), \qquad
    h_{i+1} = \mathrm{Up}(h_i) \quad (i < n), \qquad
    x = \mathrm{squash}\big(\mathrm{conv}_{3\times3}(\mathrm{ReLU}(\mathrm{BN}(h_n)))\big),

with the up-sampling residual block (:class:`UpBlock`)

.. math::

    \mathrm{Up}(h) = \mathrm{conv}_{3\times3}\,\mathrm{ReLU}\,\mathrm{BN}\,\mathrm{conv}_{3\times3}\,
    \mathrm{up}_2\,\mathrm{ReLU}\,\mathrm{BN}(h) \;+\; \mathrm{up}_2\,\mathrm{conv}_{1\times1}(h),

:math:`\mathrm{up}_2` the nearest-neighbour doubling. (Both papers write the shortcut as
:math:`\mathrm{conv}_{1\times1}\,\mathrm{up}_2`; a 1×1 convolution acts on each pixel and nearest up-sampling copies
pixels, so the two orders give the same numbers, and the convolution first costs a quarter.) The side runs
:math:`b \to b 2^n` with :math:`S = b 2^n`, :math:`3 \le b \le 7` (:func:`unigen.models.dcgan.spatial_plan`):
``4 → 8 → 16 → 32`` for 32 px as in the papers, and ``7 → 14 → 28`` for 28 px (a 7×7 base and two blocks, rather than
a 4×4 base and a crop). ``squash`` is ``tanh`` for data in :math:`[-1, 1]` and a sigmoid for :math:`[0, 1]`.

**Critic** :math:`d_\phi(x, c) = w^\top \sum_{i,j} \mathrm{ReLU}(f(x \oplus c))_{:,i,j} + b`: an optimised first block
(:class:`FirstBlock`, :math:`\mathrm{pool}\,\mathrm{conv}\,\mathrm{ReLU}\,\mathrm{conv}(x) + \mathrm{conv}_{1\times1}\,
\mathrm{pool}(x)`), a down-sampling block and two blocks at that side (:class:`DownBlock`,
:math:`\mathrm{pool}\,\mathrm{conv}\,\mathrm{ReLU}\,\mathrm{conv}\,\mathrm{ReLU}(h) + \mathrm{pool}\,
\mathrm{conv}_{1\times1}(h)`, without the pools and with an identity shortcut when the side is kept), then ReLU,
global sum pooling and a linear map to one logit; ``pool`` is 2×2 average pooling. The side runs ``32 → 16 → 8`` and
``28 → 14 → 7``. No normalisation layer: with ``spectral_norm="critic"`` (the default) every convolution and the
linear map are spectrally normalised (Miyato et al.; :mod:`unigen.models.nets`), so the critic is about 1-Lipschitz
up to the reshaped-kernel approximation. The ``x`` features of a joint critic are that body up to the sum pooling
(``(batch, width)``); the ``z`` features and the ``latent_discriminator`` are MLPs of ``width`` units over :math:`z`.
The guide (VAE-GAN, AAE) is the critic's body, with its own weights and never normalised, and a Gaussian head.

Widths: every block has ``width`` channels (128 in both papers' critics and in WGAN-GP's generator; SNGAN's generator
has 256). Weights start Glorot-uniform with gain :math:`\sqrt 2` in the residual 3×3 convolutions and 1 elsewhere,
biases zero (SNGAN's code). Conditional (``conditional=true``): the one-hot label is appended to :math:`z` and, as
constant maps, to the critic's input channels, as in :mod:`unigen.models.dcgan`; the papers' conditional versions
(conditional batch norm and the projection discriminator of Miyato & Koyama, 2018) are not implemented.
"""
import math
from dataclasses import dataclass
from typing import Tuple

import torch.nn.functional as F
from torch import Tensor, nn

from unigen.programs import DataInfo
from unigen.registry import MODELS
from unigen.settings import choice, count

from .dcgan import SQUASH, ChannelNet, DeltaImage, image_plan
from .nets import (SPECTRAL_NORM, Discriminator, GaussianGuide, Labels, LatentModel, latent_discriminator,
                   latent_features, num_classes_for)
from .spec import ModelSpec, Networks

RESIDUAL_GAIN = math.sqrt(2)  # Glorot gain of the residual branch's 3x3 convolutions (SNGAN's code)


def glorot(layer: nn.Module, gain: float = 1.0) -> nn.Module:
    """``layer`` with Glorot-uniform weights of ``gain`` and a zero bias."""
    nn.init.xavier_uniform_(layer.weight, gain)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def conv3x3(c_in: int, c_out: int, gain: float = RESIDUAL_GAIN) -> nn.Conv2d:
    return glorot(nn.Conv2d(c_in, c_out, 3, 1, 1), gain)


def conv1x1(c_in: int, c_out: int) -> nn.Conv2d:
    return glorot(nn.Conv2d(c_in, c_out, 1, 1, 0))


def up2(h: Tensor) -> Tensor:
    """Nearest-neighbour ×2 up-sampling: ``(batch, C, H, W) -> (batch, C, 2H, 2W)``."""
    return F.interpolate(h, scale_factor=2, mode="nearest")


def pool2(h: Tensor) -> Tensor:
    """2×2 average pooling: ``(batch, C, H, W) -> (batch, C, H // 2, W // 2)``."""
    return F.avg_pool2d(h, 2)


class UpBlock(nn.Module):
    r"""The generator's residual block: :math:`\mathrm{conv}\,\mathrm{ReLU}\,\mathrm{BN}\,\mathrm{conv}\,\mathrm{up}_2\,
    \mathrm{ReLU}\,\mathrm{BN}(h) + \mathrm{up}_2\,\mathrm{conv}_{1\times1}(h)`, ``(batch, c_in, H, W) -> (batch, c_out, 2H, 2W)``."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(c_in), conv3x3(c_in, c_out)
        self.bn2, self.conv2 = nn.BatchNorm2d(c_out), conv3x3(c_out, c_out)
        self.shortcut = conv1x1(c_in, c_out)

    def forward(self, h: Tensor) -> Tensor:
        r = self.conv1(up2(F.relu(self.bn1(h))))
        r = self.conv2(F.relu(self.bn2(r)))
        return r + up2(self.shortcut(h))


class FirstBlock(nn.Module):
    r"""The critic's optimised first block (Miyato et al.): :math:`\mathrm{pool}\,\mathrm{conv}\,\mathrm{ReLU}\,
    \mathrm{conv}(x) + \mathrm{conv}_{1\times1}\,\mathrm{pool}(x)`, no activation before the first convolution,
    ``(batch, c_in, H, W) -> (batch, c_out, H/2, W/2)``."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv1, self.conv2, self.shortcut = conv3x3(c_in, c_out), conv3x3(c_out, c_out), conv1x1(c_in, c_out)

    def forward(self, x: Tensor) -> Tensor:
        return pool2(self.conv2(F.relu(self.conv1(x)))) + self.shortcut(pool2(x))


class DownBlock(nn.Module):
    r"""The critic's residual block: :math:`\mathrm{pool}\,\mathrm{conv}\,\mathrm{ReLU}\,\mathrm{conv}\,\mathrm{ReLU}(h)
    + \mathrm{pool}\,\mathrm{conv}_{1\times1}(h)`; with ``down=False`` and as many channels out as in, no pools and
    the identity shortcut."""

    def __init__(self, c_in: int, c_out: int, down: bool):
        super().__init__()
        self.down = down
        self.conv1, self.conv2 = conv3x3(c_in, c_out), conv3x3(c_out, c_out)
        self.shortcut = conv1x1(c_in, c_out) if down or c_in != c_out else None

    def forward(self, h: Tensor) -> Tensor:
        r = self.conv2(F.relu(self.conv1(F.relu(h))))
        s = h if self.shortcut is None else self.shortcut(h)  # fixed at build time
        if self.down:
            r, s = pool2(r), pool2(s)
        return r + s


class SumPool(nn.Module):
    """ReLU, then the sum over the spatial positions: ``(batch, C, H, W) -> (batch, C)``."""

    def forward(self, h: Tensor) -> Tensor:
        return F.relu(h).sum(dim=(2, 3))


class Generator(nn.Module):
    """``(batch, z_in, 1, 1)`` (DCGAN's code layout) ``-> (batch, channels, base * 2**ups, base * 2**ups)``, pre-squash."""

    def __init__(self, z_in: int, width: int, channels: int, base: int, ups: int):
        super().__init__()
        self.width, self.base = width, base
        self.linear = glorot(nn.Linear(z_in, width * base * base))
        self.blocks = nn.Sequential(*[UpBlock(width, width) for _ in range(ups)])
        self.out = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(), conv3x3(width, channels, gain=1.0))

    def forward(self, code: Tensor) -> Tensor:
        h = self.linear(code.flatten(1)).reshape(code.shape[0], self.width, self.base, self.base)
        return self.out(self.blocks(h))


def critic_body(c_in: int, width: int) -> nn.Sequential:
    """``(batch, c_in, S, S) -> (batch, width)``: first block, a down-sampling block, two blocks, ReLU, sum pooling."""
    return nn.Sequential(FirstBlock(c_in, width), DownBlock(width, width, down=True),
                         DownBlock(width, width, down=False), DownBlock(width, width, down=False), SumPool())


@MODELS.register("resnet")
@dataclass(frozen=True)
class ResNet(ModelSpec):
    """SNGAN/WGAN-GP ResNet generator and critic (Miyato et al. 2018; Gulrajani et al. 2017) for 28/32-pixel images.

    :param z_dim: latent width (128 in both papers).
    :param width: channels of every residual block, generator and critic (128 in both papers' critics).
    :param conditional: append the one-hot label to z and as input channels of the critic (needs labelled data).
    :param spectral_norm: spectral normalisation (Miyato et al., 2018; :mod:`unigen.models.nets`): ``"critic"`` of the
        critics (the default, SNGAN's), ``"all"`` of the generator too, ``"none"``: off.
    """

    z_dim: int = count(128, hi=100_000)
    width: int = count(128, hi=100_000)
    conditional: bool = False
    spectral_norm: str = choice("critic", SPECTRAL_NORM)

    def networks(self, info: DataInfo) -> Networks:
        shape, plan = image_plan("resnet", info, min_ups=2)
        k = num_classes_for("resnet", self.conditional, info)
        channels, (base, ups), kd, w = shape[0], plan, k or 0, self.width

        def model() -> LatentModel:
            gen = Generator(self.z_dim + kd, w, channels, base, ups)
            return LatentModel(self.z_dim, DeltaImage(gen, Labels(k), SQUASH[info.support]()))

        def x_features() -> Tuple[nn.Module, int]:  # the critic's body: (batch, width)
            return ChannelNet(critic_body(channels + kd, w), Labels(k)), w

        def discriminator() -> Discriminator:
            return Discriminator(ChannelNet(nn.Sequential(critic_body(channels + kd, w), glorot(nn.Linear(w, 1))),
                                            Labels(k)))

        def guide() -> GaussianGuide:
            return GaussianGuide(x_features()[0], w, self.z_dim)

        return Networks(model, {
            "guide": guide,
            "discriminator": discriminator,
            "latent_discriminator": lambda: latent_discriminator(self.z_dim, w, 2, Labels(k)),
            "code_posterior": None,
        }, {"x": x_features, "z": lambda: (latent_features(self.z_dim, w, Labels(k)), w)},
            critic_hidden=w, spectral_norm=self.spectral_norm)
