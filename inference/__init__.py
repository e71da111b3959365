"""Inference strategies, one per file; importing this package registers them.

Installed as ``unigen.inference``.
"""
from unigen.inference.adversarial import Adversarial
from unigen.inference.elbo import ELBO
from unigen.inference.gan_minimax import MinimaxGAN
from unigen.inference.gan_nonsaturating import NonSaturatingGAN

__all__ = ["Adversarial", "ELBO", "MinimaxGAN", "NonSaturatingGAN"]
