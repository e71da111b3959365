r"""The four networks of CycleGAN (Zhu et al., 2017) for two-domain data, and the pair as one Pyro program.

Roles built (``unigen.inference.cyclegan`` reads them):

* ``generator_ab`` — :math:`G: A \to B`, a plain module ``G(x) -> x'`` of the data's shape;
* ``generator_ba`` — :math:`F: B \to A`, likewise;
* ``critic_a``, ``critic_b`` — :math:`D_A`, :math:`D_B`: plain modules ``D(x, c=None) -> (batch,)`` (raw
  scores; the strategy's loss gives them their meaning), like the ``discriminator`` role;
* ``model`` — :class:`CycleModel`, the two generators as one implicit Pyro program over an interleaved
  two-domain batch (the same two modules, so it adds no weights).

Every network is an MLP over the flattened example (any event shape: 2-D toys, 28 px digits). A generator's
output is squashed into the data's support (sigmoid for ``unit``, tanh for ``symmetric``). An MLP sees the
whole image, so it can represent a global map such as a 90° rotation (a permutation of the pixels), which a
stack of small stride-1 convolutions cannot.
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

from .nets import SPECTRAL_NORM, Discriminator, FlatNet, Labels, leaky_relu, mlp
from .spec import ModelSpec, Networks

OUTPUTS = {"unit": nn.Sigmoid, "symmetric": nn.Tanh, "real": nn.Identity}


class Translator(nn.Module):
    """An image-to-image map: ``net(flatten(x))`` squashed into the support and shaped like ``x``."""

    def __init__(self, net: nn.Module, support: str):
        super().__init__()
        self.net, self.out = FlatNet(net, Labels(None)), OUTPUTS[support]()

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.net(x)).reshape(x.shape)  # (batch, *event)


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
    """Two MLP generators (A to B, B to A) and two MLP critics for two-domain data (CycleGAN).

    :param hidden: width of the generators' hidden layers.
    :param depth: hidden layers of each generator; 0 makes it one linear layer (then squashed), which can
        represent a permutation of the pixels (a rotation) or an inversion exactly.
    :param disc_hidden: width of the critics' hidden layers.
    :param disc_depth: hidden layers of each critic.
    :param spectral_norm: spectral normalisation (Miyato et al., 2018; :mod:`unigen.models.nets`): ``"critic"`` of
        ``critic_a`` and ``critic_b``, ``"all"`` of the two translators too, ``"none"``: off.
    """

    hidden: int = count(256, hi=100_000)
    depth: int = count(2, lo=0, hi=100)
    disc_hidden: int = count(256, hi=100_000)
    disc_depth: int = count(2, hi=100)
    spectral_norm: str = choice("none", SPECTRAL_NORM)

    def networks(self, info: DataInfo) -> Networks:
        if info.support not in OUTPUTS:
            raise UserError(f"model 'cyclegan' knows the supports {', '.join(OUTPUTS)}, got {info.support!r}")
        d = math.prod(info.shape)

        def translator() -> Translator:
            return Translator(mlp([d] + [self.hidden] * self.depth + [d]), info.support)

        g, f = lru_cache(maxsize=None)(translator), lru_cache(maxsize=None)(translator)  # one module each

        def critic() -> Discriminator:
            return Discriminator(FlatNet(mlp([d] + [self.disc_hidden] * self.disc_depth + [1], act=leaky_relu),
                                         Labels(None)))

        def x_features() -> tuple:  # a generic Critic request's body
            return FlatNet(mlp([d] + [self.disc_hidden] * self.disc_depth, act=leaky_relu, final_act=True),
                           Labels(None)), self.disc_hidden

        return Networks(lambda: CycleModel(g(), f()),
                        {"generator_ab": g, "generator_ba": f, "critic_a": critic, "critic_b": critic},
                        {"x": x_features}, critic_hidden=self.disc_hidden, obs="x",
                        spectral_norm=self.spectral_norm)
