"""unigen: write a generative model once as Pyro programs, train it with any strategy of the unified
GAN/VAE view (Hu et al., 2018).

>>> from unigen import Programs, Trainer
>>> from unigen.inference import ELBO, NonSaturatingGAN
>>> run = unigen.load_run("runs/mnist_vae")  # a trained run (or an export): run.programs, run.config

Importing the package is cheap (``unigen --version`` answers without torch): the public names below are
imported on first use (PEP 562), and the component packages (``unigen.data``, ``unigen.inference``,
``unigen.models``) when a registry is first read (:func:`unigen.registry.fill`) or when they are imported.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: public name -> the module that defines it, imported when the name is first used
_PUBLIC = {"Batch": "unigen.programs", "DataInfo": "unigen.programs", "Programs": "unigen.programs",
           "generate": "unigen.scoring", "Phase": "unigen.strategy", "Strategy": "unigen.strategy",
           "Trainer": "unigen.trainer", "UserError": "unigen.errors", "load_run": "unigen.loading"}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    if name in ("data", "inference", "models", "metrics", "experiments"):  # unigen.inference without importing it
        return importlib.import_module(f"unigen.{name}")
    raise AttributeError(f"module 'unigen' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
