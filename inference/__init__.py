"""Inference strategies, one per file; importing this package registers each of them.

Installed as ``unigen.inference``. Helpers shared by several strategies: ``adversarial`` (the
two-player skeleton), ``penalties`` (gradient penalties that compose with any adversarial strategy)
and ``divergences`` (f-GAN and MonoFlow's table); the importance log-weights of the VAE family are
core maths, :mod:`unigen.importance`. A new strategy file is imported here, by name.
"""
from unigen.inference.adversarial import Adversarial
from unigen.inference.aae import AAE
from unigen.inference.aavae import AAVAE
from unigen.inference.ali import ALI, BiGAN
from unigen.inference.avb import AVB
from unigen.inference.cgan import CGAN
from unigen.inference.cvae import CVAE
from unigen.inference.cyclegan import CycleGAN
from unigen.inference.dann import DANN
from unigen.inference.elbo import ELBO
from unigen.inference.fgan import FGAN
from unigen.inference.gan_minimax import MinimaxGAN
from unigen.inference.gan_nonsaturating import NonSaturatingGAN
from unigen.inference.hinge import HingeGAN
from unigen.inference.infogan import InfoGAN
from unigen.inference.iwae import IWAE
from unigen.inference.iwcgan import IWCGAN
from unigen.inference.iwgan import IWGAN
from unigen.inference.lsgan import LSGAN
from unigen.inference.monoflow import MonoFlow
from unigen.inference.rws import ReweightedWakeSleep
from unigen.inference.svae import SVAE
from unigen.inference.vaegan import VAEGAN
from unigen.inference.wake_sleep import WakeSleep
from unigen.inference.wgan import WGAN

__all__ = ["AAE", "AAVAE", "ALI", "AVB", "Adversarial", "BiGAN", "CGAN", "CVAE", "CycleGAN", "DANN", "ELBO",
           "FGAN", "HingeGAN", "IWAE", "IWCGAN", "IWGAN", "InfoGAN", "LSGAN", "MinimaxGAN", "MonoFlow",
           "NonSaturatingGAN", "ReweightedWakeSleep", "SVAE", "VAEGAN", "WGAN", "WakeSleep"]
