r"""The semi-supervised VAE of Kingma, Rezende, Mohamed & Welling (2014), their model "M2", for images in [0, 1].

.. math::

    y \sim \mathrm{Cat}(1/K), \qquad z \sim \mathcal N(0, I), \qquad
    x \sim \prod_i \mathrm{Bernoulli}\big(x_i;\ \sigma(f_\theta(z, y))_i\big);
    \qquad
    q_\phi(y \mid x) = \mathrm{Cat}\big(\mathrm{softmax}\, g_\phi(x)\big), \qquad
    q_\phi(z \mid x, y) = \mathcal N\big(\mu_\phi(x, y), \operatorname{diag}\sigma^2_\phi(x, y)\big).

Roles:

* ``model(batch_size, c=None)`` — the label at site ``"y"``, the style at ``"z"``, the image at ``"x"``. Given
  labels ``c``, ``"y"`` is observed (``obs=c``); without them ``y`` is drawn from its uniform prior.
* ``guide(x, c=None)`` — given labels, :math:`q_\phi(z \mid x, c)` at ``"z"``; without them the whole M2
  guide :math:`q_\phi(y \mid x)\, q_\phi(z \mid x, y)`, sampling ``"y"`` from the classifier.
* ``classifier(x)`` — the logits of :math:`q_\phi(y \mid x)`, shape ``(batch, K)`` (the same module the
  guide uses).
* ``discriminator(x, c=None)`` — an MLP critic that ignores ``c``, for adversary-activated training
  (``strategy.name=aavae strategy.base=svae``, Hu et al.'s AA-SVAE).

**Unlabelled rows** (``c = -1``, :data:`unigen.data.base.UNLABELLED`). The ``svae`` strategy never passes
them to the programs: it enumerates every label instead. Other callers may: the model then draws the
missing labels from its uniform prior (so generating with the labels of a semi-supervised batch works), and
the guide encodes those rows with an all-zero label code. A trace over such rows is therefore a sample with
imputed labels; scored by ``log_weights`` it is a lower bound on :math:`\log p_\theta(x, y)` at the imputed
``y``, not the bound :math:`\mathcal U(x)` of the ``svae`` strategy.

Departures from Kingma et al.: ReLU rather than softplus hidden units and ``depth`` hidden layers of
``hidden`` units in every network (they used 500-unit softplus layers, 50 latent units). The Bernoulli
likelihood scores grey levels as the usual cross-entropy (support check off), as in ``mlp_vae``.
"""

import functools
from dataclasses import dataclass
from typing import Optional

import pyro
import pyro.distributions as dist
import torch
from torch import Tensor, nn

from unigen.errors import UserError
from unigen.programs import DataInfo
from unigen.registry import MODELS
from unigen.settings import choice, count

from .nets import (LATENT, OBS, SPECTRAL_NORM, Discriminator, FlatNet, GaussianHead, Labels, StandardNormal,
                   latent_features, leaky_relu, mlp, num_classes_for)
from .spec import ModelSpec, Networks
from .vae import BernoulliImage

LABEL = "y"  # the sample site of the class label, shared by model and guide


class UniformLabels(nn.Module):
    r"""The prior :math:`p(y) = \mathrm{Cat}(1/K)`, from a buffer of zero logits (capture-safe)."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.register_buffer("logits", torch.zeros(num_classes), persistent=False)

    def forward(self, batch_size: int) -> dist.Distribution:
        return dist.Categorical(logits=self.logits.expand(batch_size, -1))

    def impute(self, c: Tensor) -> Tensor:
        """``c`` with every unlabelled entry (``c < 0``) replaced by a draw from the uniform prior."""
        return torch.where(c >= 0, c, torch.randint_like(c, self.logits.shape[0]))


class LabelledModel(nn.Module):
    r"""The ``model`` role of M2: :math:`y \sim p(y)` at ``"y"``, :math:`z \sim \mathcal N(0, I)` at ``"z"``,
    :math:`x \sim p_\theta(x \mid z, y)` at ``"x"``."""

    def __init__(self, z_dim: int, num_classes: int, likelihood: nn.Module):
        super().__init__()
        self.prior_y = UniformLabels(num_classes)
        self.prior_z = StandardNormal(z_dim)
        self.likelihood = likelihood

    def forward(self, x: Tensor, c: Optional[Tensor] = None) -> Tensor:
        n = x.shape[0]
        with pyro.plate("data", n, device=x.device):
            p_y = self.prior_y(n)
            if c is None:  # structural: generate the labels too
                y = pyro.sample(LABEL, p_y)  # (batch,)
            else:
                y = pyro.sample(LABEL, p_y, obs=self.prior_y.impute(c))  # (batch,)
            z = pyro.sample(LATENT, self.prior_z(n))  # (batch, z_dim)
            return pyro.sample(OBS, self.likelihood(z, y), obs=x)  # (batch, C, H, W)


class LabelledGuide(nn.Module):
    r"""The ``guide`` role of M2: :math:`z \sim q_\phi(z \mid x, c)`; without labels, first
    :math:`y \sim q_\phi(y \mid x)` at ``"y"`` from ``classifier``."""

    def __init__(self, classifier: nn.Module, features: nn.Module, feature_dim: int, z_dim: int):
        super().__init__()
        self.classifier = classifier
        self.features = features  # (x, y) -> (batch, feature_dim)
        self.head = GaussianHead(feature_dim, z_dim)

    def forward(self, x: Tensor, c: Optional[Tensor] = None) -> Tensor:
        with pyro.plate("data", x.shape[0], device=x.device):
            if c is None:  # structural: the label is latent
                c = pyro.sample(LABEL, dist.Categorical(logits=self.classifier(x)))  # (batch,)
            return pyro.sample(LATENT, self.head(self.features(x, c)))  # (batch, z_dim)


@MODELS.register("ssvae")
@dataclass(frozen=True)
class SSVAE(ModelSpec):
    """Kingma et al.'s M2 semi-supervised VAE: label y and style z generate x; a classifier q(y|x) infers y.

    :param z_dim: width of the style latent ``z``.
    :param hidden: width of the hidden layers of the decoder, the encoder and the classifier.
    :param depth: hidden layers in each of those networks.
    :param disc_hidden: width of the discriminator's hidden layer (used only by adversarial strategies).
    :param spectral_norm: spectral normalisation (Miyato et al., 2018; :mod:`unigen.models.nets`): ``"critic"`` of
        the critics' Linear layers, ``"all"`` of the decoder too, ``"none"``: off.
    """

    z_dim: int = count(50, hi=100_000)
    hidden: int = count(500, hi=100_000)
    depth: int = count(1, hi=1000)
    disc_hidden: int = count(400, hi=100_000)
    spectral_norm: str = choice("none", SPECTRAL_NORM)

    def networks(self, info: DataInfo) -> Networks:
        if len(info.shape) != 3 or info.support != "unit":
            raise UserError(f"model 'ssvae' needs images (C, H, W) with values in [0, 1] (support 'unit'), got "
                            f"shape {tuple(info.shape)} with support {info.support!r}; use e.g. data.name=mnist "
                            f"data.support=unit")
        if self.depth < 1:
            raise UserError(f"model 'ssvae' needs depth >= 1, got {self.depth}; set model.depth=1 or more")
        k = num_classes_for("ssvae", True, info)
        d = info.shape[0] * info.shape[1] * info.shape[2]
        layers = [self.hidden] * self.depth

        def model() -> LabelledModel:
            decoder = mlp([self.z_dim + k] + layers + [d])  # logits of the pixels
            return LabelledModel(self.z_dim, k, BernoulliImage(decoder, Labels(k), tuple(info.shape)))

        @functools.lru_cache(maxsize=None)
        def classifier() -> FlatNet:  # one module: the guide's q(y|x) is the classifier role
            return FlatNet(mlp([d] + layers + [k]), Labels(None))  # x -> (batch, K) logits

        def guide() -> LabelledGuide:
            q_y = classifier()
            encoder = FlatNet(mlp([d + k] + layers, final_act=True), Labels(k))  # (x, y) -> features
            return LabelledGuide(q_y, encoder, self.hidden, self.z_dim)

        def x_features() -> tuple:  # the discriminator's body; it ignores c
            return FlatNet(mlp([d, self.disc_hidden], act=leaky_relu, final_act=True), Labels(None)), self.disc_hidden

        def discriminator() -> Discriminator:
            return Discriminator(FlatNet(mlp([d, self.disc_hidden, 1], act=leaky_relu), Labels(None)))

        return Networks(model, {"guide": guide, "discriminator": discriminator, "classifier": classifier},
                        {"x": x_features,
                         "z": lambda: (latent_features(self.z_dim, self.disc_hidden, Labels(None)), self.disc_hidden)},
                        critic_hidden=self.disc_hidden, obs=OBS,
                        spectral_norm=self.spectral_norm)
