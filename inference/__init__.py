"""Inference strategies, one per file; importing this package registers every module in it.

Installed as ``unigen.inference``. Helpers shared by several strategies: ``adversarial`` (the
two-player skeleton), ``penalties`` (gradient penalties that compose with any adversarial strategy)
and ``weights`` (importance log-weights).
"""
import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

from unigen.inference.adversarial import Adversarial  # noqa: E402
from unigen.inference.elbo import ELBO  # noqa: E402
from unigen.inference.gan_minimax import MinimaxGAN  # noqa: E402
from unigen.inference.gan_nonsaturating import NonSaturatingGAN  # noqa: E402
from unigen.registry import STRATEGIES  # noqa: E402

# every registered strategy class under its Python name, e.g. unigen.inference.IWAE
globals().update({STRATEGIES.get(n).__name__: STRATEGIES.get(n) for n in STRATEGIES.names()})
__all__ = sorted({"Adversarial", "ELBO", "MinimaxGAN", "NonSaturatingGAN"}
                 | {STRATEGIES.get(n).__name__ for n in STRATEGIES.names()})
