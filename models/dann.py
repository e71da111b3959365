r"""Networks of adversarial domain adaptation (Ganin et al., 2016): a feature extractor, a label classifier on
its features and a domain discriminator on its features.

The ``model`` is the label model :math:`p_\theta(c \mid x) = \mathrm{Cat}(c;\ \mathrm{softmax}\,h_\theta(G_\theta(x)))`,
a Pyro program ``model(x, c)`` that records the features :math:`G_\theta(x)` as the deterministic site
``"feature"`` ``(batch, width)`` and observes the labels (site ``"c"``), masked where ``c = -1`` (a target
example, whose label is hidden). The ``domain_discriminator`` maps features to the logit of
:math:`q_\phi(y{=}1 \mid G(x))`, ``y = 1`` for the source domain.

For images ``(1, H, W)`` the feature extractor is Ganin et al.'s MNIST network (5×5 convolutions of ``conv1``
and ``conv2`` channels, each followed by ReLU and 2×2 max-pooling; 32 and 48 in the paper); the label
classifier has two hidden layers of ``hidden`` units (100 in the paper) and the domain discriminator one
of ``disc_hidden`` (100). For vectors ``(D,)`` the feature extractor is an MLP with two hidden layers of
``hidden`` units.
"""
from dataclasses import dataclass
from typing import Optional

import pyro
import pyro.distributions as dist
from torch import Tensor, nn

from unigen.errors import UserError
from unigen.programs import DataInfo
from unigen.registry import MODELS
from unigen.settings import choice, count

from .nets import SPECTRAL_NORM, mlp
from .spec import ModelSpec, Networks


class LabelModel(nn.Module):
    r""":math:`p_\theta(c \mid x)` through the features :math:`G_\theta(x)` (site ``"feature"``); ``-1`` labels masked."""

    def __init__(self, features: nn.Module, head: nn.Module):
        super().__init__()
        self.features, self.head = features, head

    def logits(self, x: Tensor) -> Tensor:
        """The label classifier's logits ``(batch, K)`` (for evaluation: target accuracy)."""
        return self.head(self.features(x))

    def forward(self, x: Tensor, c: Optional[Tensor] = None) -> None:
        with pyro.plate("data", x.shape[0]):
            f = pyro.deterministic("feature", self.features(x), event_dim=1)  # (batch, width)
            labels = dist.Categorical(logits=self.head(f))  # (batch,) of K classes
            if c is None:
                pyro.sample("c", labels)
            else:
                pyro.sample("c", labels.mask(c >= 0), obs=c.clamp(min=0))


def conv_width(conv2: int, size: int) -> int:
    """The feature width of :func:`conv_features` on ``size`` px images: ``conv2`` maps of side ((size − 4)/2 − 4)/2."""
    side = ((size - 4) // 2 - 4) // 2
    if side < 1:
        raise UserError(f"model 'dann' needs images of at least 16 px for its two 5×5 convolutions, got {size}")
    return conv2 * side * side


def conv_features(channels: int, conv1: int, conv2: int) -> nn.Module:
    """Ganin et al.'s MNIST feature extractor: two 5×5 convolutions, each with ReLU and 2×2 max-pooling."""
    return nn.Sequential(nn.Conv2d(channels, conv1, 5), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(conv1, conv2, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())


@MODELS.register("dann")
@dataclass(frozen=True)
class DANNNets(ModelSpec):
    """Feature extractor, label classifier and domain discriminator on the features (Ganin et al., 2016).

    :param conv1: channels of the first 5×5 convolution (images).
    :param conv2: channels of the second 5×5 convolution (images).
    :param hidden: width of the label classifier's two hidden layers (and of the vector feature extractor's).
    :param disc_hidden: width of the domain discriminator's hidden layer.
    :param spectral_norm: spectral normalisation (Miyato et al., 2018; :mod:`unigen.models.nets`): ``"critic"`` of
        the ``domain_discriminator``, ``"all"`` of the feature extractor and label classifier too, ``"none"``: off.
    """

    conv1: int = count(32, hi=100_000)
    conv2: int = count(48, hi=100_000)
    hidden: int = count(100, hi=100_000)
    disc_hidden: int = count(100, hi=100_000)
    spectral_norm: str = choice("none", SPECTRAL_NORM)

    def networks(self, info: DataInfo) -> Networks:
        if not info.num_classes:
            raise UserError("model 'dann' classifies the source labels but the data declare no classes; use a "
                            "labelled data set (e.g. data.name=mnist_to_digits)")
        if len(info.shape) == 3 and info.shape[1] == info.shape[2]:
            width = conv_width(self.conv2, info.shape[1])

            def features() -> nn.Module:
                return conv_features(info.shape[0], self.conv1, self.conv2)
        elif len(info.shape) == 1:
            width = self.hidden

            def features() -> nn.Module:
                return mlp([info.shape[0], self.hidden, self.hidden], final_act=True)
        else:
            raise UserError(f"model 'dann' takes vectors (D,) or square images (C, H, H), got {tuple(info.shape)}")

        def model() -> nn.Module:
            return LabelModel(features(), mlp([width, self.hidden, self.hidden, info.num_classes]))

        def domain_discriminator() -> nn.Module:
            return nn.Sequential(mlp([width, self.disc_hidden, 1]), nn.Flatten(0))  # logits (batch,)

        return Networks(model=model, roles={"domain_discriminator": domain_discriminator}, features={},
                        critic_hidden=self.disc_hidden, obs="c",
                        spectral_norm=self.spectral_norm)
