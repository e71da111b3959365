"""Data sets: tensors in memory (:class:`TensorData`) and the registered specs that build them.

Importing this package registers ``ring``, ``grid``, ``gaussian`` (:mod:`unigen.data.toy`), ``mnist``
(:mod:`unigen.data.mnist`), ``fashion_mnist`` (:mod:`unigen.data.fashion_mnist`), ``rotated_digits``
(:mod:`unigen.data.rotated_digits`, two unpaired digit domains), ``mnist_to_digits``
(:mod:`unigen.data.digit_shift`, MNIST to scikit-learn's digits), ``stacked_mnist``
(:mod:`unigen.data.stacked_mnist`, three digits as colour channels: 1,000 modes), ``npz`` (:mod:`unigen.data.npz`) and
``folder`` (:mod:`unigen.data.folder`, a folder of images) in
:data:`unigen.registry.DATASETS`.
"""
from __future__ import annotations

import torch

from unigen.data import digit_shift, fashion_mnist, folder, mnist, npz, rotated_digits, stacked_mnist, toy  # noqa: F401  (registration)
from unigen.data.base import SUPPORTS, TensorData
from unigen.data.fashion_mnist import FashionMNIST
from unigen.data.mnist import MNIST, read_idx
from unigen.data.npz import NPZ
from unigen.data.rotated_digits import RotatedDigits
from unigen.data.toy import Gaussian, Grid, Ring

__all__ = ["TensorData", "SUPPORTS", "read_idx", "load_data", "Ring", "Grid", "Gaussian", "MNIST", "FashionMNIST", "NPZ", "RotatedDigits"]


def load_data(spec, split: str = "train", device: torch.device | str = "cpu") -> TensorData:
    """Load one split of a data set onto ``device``.

    :param spec: a registered dataset spec instance (e.g. ``Ring(n=1000)``) or a registered name, which
        uses the spec's defaults.
    """
    if isinstance(spec, str):
        from unigen.registry import DATASETS
        spec = DATASETS.get(spec)()
    if not callable(getattr(spec, "load", None)):
        raise TypeError(f"{spec!r} is not a dataset spec (it has no load(split) method)")
    return spec.load(split).to(device)
