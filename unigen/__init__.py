"""unigen: write a generative model once as Pyro programs, train it with any strategy of the unified
GAN/VAE view (Hu et al., 2018).

>>> from unigen import Programs, Trainer
>>> from unigen.inference import ELBO, NonSaturatingGAN
"""
from unigen.errors import UserError
from unigen.programs import Batch, DataInfo, Programs, generate
from unigen.strategy import Phase, Strategy
from unigen.trainer import Trainer

__all__ = ["Batch", "DataInfo", "Phase", "Programs", "Strategy", "Trainer", "UserError", "generate"]
__version__ = "0.1.0"
