r"""Fully connected programs for vector data ``x`` of shape ``(D,)``, such as the 2-D ring and grid.

The generator is :math:`x = G_\theta(z, c)` with :math:`z \sim \mathcal N(0, I)`, observed either through
a point mass (``likelihood="delta"``, an implicit generator as in Goodfellow et al., 2014) or a fixed-noise
Gaussian :math:`x \sim \mathcal N(G_\theta(z, c), \sigma^2 I)` (``likelihood="normal"``, a VAE decoder
as in Kingma & Welling, 2014). Both are reparameterisable, so a generated ``x`` is differentiable in
:math:`\theta`. The guide is a Gaussian encoder and the discriminator an MLP with LeakyReLU(0.2); the
``latent_discriminator`` is an MLP of the discriminator's size over :math:`z`. With InfoGAN codes
(``code_classes``, ``code_dim``) the generator reads :math:`(z, \text{code}, c)` and the ``code_posterior``
is a network of the discriminator's architecture (separate weights) with a categorical and/or Gaussian head.
The guide infers :math:`z` only.
"""
from dataclasses import dataclass
from typing import Optional

import pyro.distributions as dist
import torch
from torch import Tensor, nn

from unigen.errors import UserError
from unigen.programs import DataInfo
from unigen.registry import MODELS
from unigen.settings import bounded, choice, count

from .nets import (CODE_PRIORS, JOINT_CRITICS, SPECTRAL_NORM, CodePosterior, Discriminator, FlatNet, GaussianGuide,
                   Labels, LatentModel, build_codes, latent_discriminator, latent_features, leaky_relu, maxout_mlp, mlp,
                   num_classes_for)
from .spec import ModelSpec, Networks

LIKELIHOODS = ("delta", "normal")


class VectorLikelihood(nn.Module):
    r""":math:`p_\theta(x \mid z, c)`: ``Delta(G(z, c))`` or ``Normal(G(z, c), σ)`` over ``(batch, D)``."""

    def __init__(self, net: nn.Module, labels: Labels, sigma: Optional[float]):
        super().__init__()
        self.net, self.labels = net, labels
        self.delta = sigma is None
        # a buffer, so that the scale follows the device and dtype of the programs
        self.register_buffer("sigma", torch.tensor(1.0 if sigma is None else sigma), persistent=False)

    def forward(self, z: Tensor, c: Optional[Tensor] = None) -> dist.Distribution:
        loc = self.net(self.labels.append(z, c))  # (batch, D)
        if self.delta:  # fixed at build time
            return dist.Delta(loc, event_dim=1)
        return dist.Normal(loc, self.sigma.expand_as(loc)).to_event(1)


@MODELS.register("mlp")
@dataclass(frozen=True)
class MLP(ModelSpec):
    """MLP generator, Gaussian encoder and discriminator for vector data (e.g. the 2-D ring).

    :param z_dim: latent width.
    :param hidden: width of the generator's and encoder's hidden layers.
    :param depth: number of hidden layers of every network.
    :param likelihood: ``"delta"`` (implicit generator) or ``"normal"`` (Gaussian with fixed ``sigma``).
    :param sigma: observation noise of the ``"normal"`` likelihood.
    :param conditional: feed the one-hot label to every role (needs labelled data).
    :param disc_hidden: width of the discriminator's (and latent discriminator's, code posterior's) hidden layers.
    :param code_classes: categories of InfoGAN's categorical code ``"code_cat"`` (0: none).
    :param code_dim: width of InfoGAN's continuous code ``"code"`` (0: none).
    :param code_prior: prior of the continuous code, ``"uniform"`` (:math:`U(-1, 1)`) or ``"normal"``.
    :param spectral_norm: spectral normalisation (Miyato et al., 2018; :mod:`unigen.models.nets`): ``"critic"`` of
        the critics' Linear layers, ``"all"`` of the generator or decoder too, ``"none"``: off.
    :param joint_critic: the form of a joint critic D(x, z) (ALI, BiGAN): ``"features"`` (feature networks of x and
        z, concatenated, then a head) or ``"concat"`` (one MLP on concat(x, z), dropout 0.2 on the inputs and 0.5
        hidden, IshmaelBelghazi/ALI's 2-D form; :class:`~unigen.models.nets.JointCritic`).
    :param batch_norm: a batch norm before every hidden activation of the generator and the encoder, as in the
        2-D programs of Dumoulin et al. (ALI) and Lin et al. (PacGAN); critics are never batch-normalised here.
    :param disc_depth: hidden layers of the discriminator's body (0: ``depth``), e.g. PacGAN's 3 under a 4-layer
        generator; a ``"concat"`` joint critic takes its depth from that body too.
    :param disc_maxout: pieces of a maxout discriminator (Goodfellow et al., 2013; :class:`~unigen.models.nets.Maxout`):
        every hidden layer of the discriminator's body (the discriminator, the code posterior, the x features of a
        ``"features"`` joint critic) is a maxout of this many pieces instead of Linear + LeakyReLU(0.2), as in the 2-D
        critics of PacGAN's code (3 layers of 200 units, 5 pieces); 0: off. The latent discriminator, the z features
        and the ``"concat"`` joint critic keep LeakyReLU.
    """

    z_dim: int = count(8, hi=100_000)
    hidden: int = count(128, hi=100_000)
    depth: int = count(3, hi=1000)
    likelihood: str = choice("delta", LIKELIHOODS)
    sigma: float = bounded(0.1, 0, lo_open=True)
    conditional: bool = False
    disc_hidden: int = count(128, hi=100_000)
    code_classes: int = count(0, lo=0, hi=100_000)
    code_dim: int = count(0, lo=0, hi=100_000)
    code_prior: str = choice("uniform", CODE_PRIORS)
    spectral_norm: str = choice("none", SPECTRAL_NORM)
    joint_critic: str = choice("features", JOINT_CRITICS)
    batch_norm: bool = False
    disc_depth: int = count(0, lo=0, hi=1000)
    disc_maxout: int = count(0, lo=0, hi=1000)

    def networks(self, info: DataInfo) -> Networks:
        if len(info.shape) != 1:
            raise UserError(f"model 'mlp' needs vector data of shape (D,), got {tuple(info.shape)}; "
                            f"use model 'mlp_vae' or 'dcgan' for images")
        if self.depth < 1:
            raise UserError(f"model 'mlp' needs depth >= 1, got {self.depth}; set model.depth=1 or more")
        if self.disc_maxout == 1:
            raise UserError("model.disc_maxout=1 is a Linear layer without an activation; set 0 (LeakyReLU) or 2 or "
                            "more pieces")
        k = num_classes_for("mlp", self.conditional, info)
        codes = build_codes("mlp", self.code_classes, self.code_dim, self.code_prior)
        d, kd, width = info.shape[0], k or 0, codes.width if codes else 0

        def model() -> LatentModel:
            generator = mlp([self.z_dim + width + kd] + [self.hidden] * self.depth + [d], batch_norm=self.batch_norm)
            return LatentModel(self.z_dim, VectorLikelihood(
                generator, Labels(k), self.sigma if self.likelihood == "normal" else None), codes)

        def guide() -> GaussianGuide:
            encoder = FlatNet(mlp([d + kd] + [self.hidden] * self.depth, final_act=True, batch_norm=self.batch_norm),
                              Labels(k))
            return GaussianGuide(encoder, self.hidden, self.z_dim)

        disc_sizes = [d + kd] + [self.disc_hidden] * (self.disc_depth or self.depth)

        def critic_mlp(sizes: list, final_act: bool = False) -> nn.Sequential:
            if self.disc_maxout:
                return maxout_mlp(sizes, self.disc_maxout, final_act=final_act)
            return mlp(sizes, act=leaky_relu, final_act=final_act)

        def x_features() -> tuple:  # the discriminator's body
            return FlatNet(critic_mlp(disc_sizes, final_act=True), Labels(k)), self.disc_hidden

        def discriminator() -> Discriminator:
            return Discriminator(FlatNet(critic_mlp(disc_sizes + [1]), Labels(k)))

        def code_posterior() -> CodePosterior:
            return CodePosterior(*x_features(), self.code_classes, self.code_dim)

        return Networks(model, {
            "guide": guide,
            "discriminator": discriminator,
            "latent_discriminator": lambda: latent_discriminator(self.z_dim, self.disc_hidden, self.depth, Labels(k)),
            "code_posterior": code_posterior if codes else None,
        }, {"x": x_features, "z": lambda: (latent_features(self.z_dim, self.disc_hidden, Labels(k)), self.disc_hidden)},
            critic_hidden=self.disc_hidden, spectral_norm=self.spectral_norm)
