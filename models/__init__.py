"""Model specs: registered dataclasses whose ``build(info)`` returns the Pyro programs for that data.

Importing this package registers every model in :data:`unigen.registry.MODELS`. Models hold no losses
and no optimisers; any strategy in :mod:`unigen.inference` can train them.
"""
from .dcgan import DCGAN
from .mlp import MLP
from .ssvae import SSVAE
from .vae import MLPVAE

__all__ = ["DCGAN", "MLP", "MLPVAE", "SSVAE"]
