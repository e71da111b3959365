r"""The fully connected VAE of Kingma & Welling (2014) for images in :math:`[0, 1]` (e.g. MNIST).

.. math::

    z \sim \mathcal N(0, I_{20}), \qquad
    x \sim \prod_{i} \mathrm{Bernoulli}\big(x_i;\ \sigma(f_\theta(z, c))_i\big), \qquad
    q_\phi(z \mid x, c) = \mathcal N\big(\mu_\phi, \operatorname{diag}\sigma_\phi^2\big),

with encoder 784-400-(20, 20) and decoder 20-400-784 by default. The Bernoulli likelihood is scored on
grey levels in :math:`[0, 1]` as the usual binary cross-entropy, so its support check is turned off.
The ``latent_discriminator`` is an MLP over :math:`z` with two hidden layers of ``disc_hidden``; with
InfoGAN codes the decoder reads :math:`(z, \text{code}, c)` and the ``code_posterior`` has the
discriminator's architecture (separate weights).

.. note::
    Bernoulli is not reparameterisable: a strategy that trains this model adversarially uses the
    Bernoulli mean :math:`\sigma(f_\theta(z, c))` as the generated image
    (:func:`unigen.scoring.observed_value`), which is differentiable in :math:`\theta`.
"""
from dataclasses import dataclass
from typing import Optional, Tuple

import pyro.distributions as dist
from torch import Tensor, nn

from unigen.errors import UserError
from unigen.programs import DataInfo
from unigen.registry import MODELS
from unigen.settings import choice, count

from .nets import (CODE_PRIORS, SPECTRAL_NORM, CodePosterior, Discriminator, FlatNet, GaussianGuide, Labels,
                   LatentModel, build_codes, latent_discriminator, latent_features, leaky_relu, mlp, num_classes_for)
from .spec import ModelSpec, Networks


class BernoulliImage(nn.Module):
    r""":math:`p_\theta(x \mid z, c)`: independent Bernoulli pixels with logits ``net(z ⊕ onehot(c))``."""

    def __init__(self, net: nn.Module, labels: Labels, shape: Tuple[int, int, int]):
        super().__init__()
        self.net, self.labels = net, labels
        self.channels, self.height, self.width = shape

    def forward(self, z: Tensor, c: Optional[Tensor] = None) -> dist.Distribution:
        logits = self.net(self.labels.append(z, c))  # (batch, C*H*W)
        logits = logits.reshape(logits.shape[0], self.channels, self.height, self.width)  # "b (c h w) -> b c h w"
        return dist.Bernoulli(logits=logits, validate_args=False).to_event(3)


@MODELS.register("mlp_vae")
@dataclass(frozen=True)
class MLPVAE(ModelSpec):
    """Kingma & Welling's MLP VAE (784-400-20, Bernoulli pixels) with an MLP discriminator.

    :param z_dim: latent width.
    :param hidden: width of the single hidden layer of the encoder and the decoder.
    :param conditional: feed the one-hot label to every role (a CVAE; needs labelled data).
    :param disc_hidden: width of the discriminator's hidden layer (and of the latent discriminator's two).
    :param code_classes: categories of InfoGAN's categorical code ``"code_cat"`` (0: none).
    :param code_dim: width of InfoGAN's continuous code ``"code"`` (0: none).
    :param code_prior: prior of the continuous code, ``"uniform"`` (:math:`U(-1, 1)`) or ``"normal"``.
    :param spectral_norm: spectral normalisation (Miyato et al., 2018; :mod:`unigen.models.nets`): ``"critic"`` of
        the critics' Linear layers, ``"all"`` of the decoder too, ``"none"``: off.
    """

    z_dim: int = count(20, hi=100_000)
    hidden: int = count(400, hi=100_000)
    conditional: bool = False
    disc_hidden: int = count(400, hi=100_000)
    code_classes: int = count(0, lo=0, hi=100_000)
    code_dim: int = count(0, lo=0, hi=100_000)
    code_prior: str = choice("uniform", CODE_PRIORS)
    spectral_norm: str = choice("none", SPECTRAL_NORM)

    def networks(self, info: DataInfo) -> Networks:
        if len(info.shape) != 3 or info.support != "unit":
            raise UserError(f"model 'mlp_vae' needs images (C, H, W) with values in [0, 1] (support 'unit'), "
                            f"got shape {tuple(info.shape)} with support {info.support!r}; "
                            f"use a [0, 1] image dataset, or model 'mlp' for vectors")
        k = num_classes_for("mlp_vae", self.conditional, info)
        codes = build_codes("mlp_vae", self.code_classes, self.code_dim, self.code_prior)
        d, kd, width = info.shape[0] * info.shape[1] * info.shape[2], k or 0, codes.width if codes else 0

        def model() -> LatentModel:
            decoder = mlp([self.z_dim + width + kd, self.hidden, d])  # logits
            return LatentModel(self.z_dim, BernoulliImage(decoder, Labels(k), tuple(info.shape)), codes)

        def guide() -> GaussianGuide:
            return GaussianGuide(FlatNet(mlp([d + kd, self.hidden], final_act=True), Labels(k)), self.hidden, self.z_dim)

        def x_features() -> tuple:  # the discriminator's body
            return FlatNet(mlp([d + kd, self.disc_hidden], act=leaky_relu, final_act=True), Labels(k)), self.disc_hidden

        def discriminator() -> Discriminator:
            return Discriminator(FlatNet(mlp([d + kd, self.disc_hidden, 1], act=leaky_relu), Labels(k)))

        def code_posterior() -> CodePosterior:
            return CodePosterior(*x_features(), self.code_classes, self.code_dim)

        return Networks(model, {
            "guide": guide,
            "discriminator": discriminator,
            "latent_discriminator": lambda: latent_discriminator(self.z_dim, self.disc_hidden, 2, Labels(k)),
            "code_posterior": code_posterior if codes else None,
        }, {"x": x_features, "z": lambda: (latent_features(self.z_dim, self.disc_hidden, Labels(k)), self.disc_hidden)},
            critic_hidden=self.disc_hidden, spectral_norm=self.spectral_norm)
