"""Model specs: registered dataclasses whose ``build(info, roles)`` returns the Pyro programs for that data,
with only the roles asked for (:mod:`unigen.models.spec`; runs ask for :func:`unigen.roles.needed_roles`).

Importing this package registers every model in :data:`unigen.registry.MODELS`. Models hold no losses
and no optimisers; any strategy in :mod:`unigen.inference` can train them.
"""
from .cyclegan import CycleGANNets
from .dann import DANNNets
from .dcgan import DCGAN
from .mlp import MLP
from .resnet import ResNet
from .ssvae import SSVAE
from .vae import MLPVAE

__all__ = ["CycleGANNets", "DANNNets", "DCGAN", "MLP", "MLPVAE", "ResNet", "SSVAE"]
