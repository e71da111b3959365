r"""Low-dimensional synthetic data sets with known modes, for the mode-collapse protocol.

The **ring** and **grid** are the mixtures of Srivastava et al. (2017, VEEGAN) and Lin et al. (2018,
PacGAN):

* ring — 8 equally weighted isotropic Gaussians with std 0.01 centred at
  :math:`\mu_i = r\,(\cos 2\pi i/8, \sin 2\pi i/8)`, :math:`i = 0..7`, :math:`r = 1`;
* grid — 25 equally weighted isotropic Gaussians with std 0.05 centred at :math:`\{-4,-2,0,2,4\}^2`.

A generated sample is *high quality* when it lies within 3 std of its nearest centre, and a mode is
*captured* when it is the nearest centre of at least one high-quality sample (2,500 samples per run);
:meth:`Ring.centres` / :meth:`Grid.centres` and ``std`` give what that metric needs.

The **gaussian** data set, :math:`\mathcal N(\mathrm{loc}\,\mathbf 1, \mathrm{scale}^2 I)`, is the
smallest check that a strategy moves a generator onto the data (a 1-D GAN must recover ``loc``).

Each spec is seeded; its ``"test"`` split is drawn with a different seed derived from ``seed``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from unigen.data.base import TensorData
from unigen.errors import UserError
from unigen.programs import DataInfo
from unigen.registry import DATASETS

SPLITS = ("train", "test")


def split_seed(seed: int, split: str) -> int:
    """Seed of one split: ``2 seed`` for train and ``2 seed + 1`` for test, so no two (seed, split) collide."""
    if split not in SPLITS:
        raise UserError(f"unknown data split {split!r}; use 'train' or 'test'")
    return 2 * seed + SPLITS.index(split)


def _positive(name: str, **values: float) -> None:
    for field, v in values.items():
        if not v > 0:
            raise UserError(f"dataset {name}: {field} must be positive, got {v}; set data.{field} > 0")


def _mixture(centres: Tensor, std: float, n: int, seed: int, name: str) -> TensorData:
    """``n`` i.i.d. draws from the equally weighted mixture of ``N(centre, std^2 I)``."""
    g = torch.Generator().manual_seed(seed)
    k = torch.randint(centres.shape[0], (n,), generator=g)
    x = centres[k] + std * torch.randn(n, centres.shape[1], generator=g)
    return TensorData(x, None, DataInfo(shape=(centres.shape[1],), support="real"), name=name)


@DATASETS.register("ring")
@dataclass(frozen=True)
class Ring:
    """8 Gaussians (std 0.01) on the unit circle: the VEEGAN/PacGAN mode-collapse ring."""

    #: the metrics of :data:`unigen.metrics.evaluation.METRICS` this data set gets, besides the generic ones
    metrics: ClassVar[tuple[str, ...]] = ("modes",)

    n: int = 50_000
    modes: int = 8
    radius: float = 1.0
    std: float = 0.01
    seed: int = 0

    def __post_init__(self) -> None:
        _positive("ring", n=self.n, modes=self.modes, radius=self.radius, std=self.std)

    def centres(self) -> Tensor:
        """The ``(modes, 2)`` mode centres :math:`r(\\cos 2\\pi i/m, \\sin 2\\pi i/m)` (no duplicated endpoint)."""
        angle = 2 * math.pi * torch.arange(self.modes, dtype=torch.float64) / self.modes
        return (self.radius * torch.stack([angle.cos(), angle.sin()], 1)).to(torch.float32)

    def load(self, split: str = "train") -> TensorData:
        return _mixture(self.centres(), self.std, self.n, split_seed(self.seed, split), f"ring ({split})")


@DATASETS.register("grid")
@dataclass(frozen=True)
class Grid:
    """25 Gaussians (std 0.05) on the grid {-4,-2,0,2,4}^2: the VEEGAN/PacGAN mode-collapse grid."""

    #: the metrics of :data:`unigen.metrics.evaluation.METRICS` this data set gets, besides the generic ones
    metrics: ClassVar[tuple[str, ...]] = ("modes",)

    n: int = 50_000
    side: int = 5
    spacing: float = 2.0
    std: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        _positive("grid", n=self.n, side=self.side, spacing=self.spacing, std=self.std)

    def centres(self) -> Tensor:
        """The ``(side**2, 2)`` centres, a square lattice of step ``spacing`` centred on the origin."""
        axis = self.spacing * (torch.arange(self.side, dtype=torch.float32) - (self.side - 1) / 2)
        return torch.cartesian_prod(axis, axis).reshape(-1, 2)

    def load(self, split: str = "train") -> TensorData:
        return _mixture(self.centres(), self.std, self.n, split_seed(self.seed, split), f"grid ({split})")


@DATASETS.register("gaussian")
@dataclass(frozen=True)
class Gaussian:
    """Isotropic Gaussian N(loc, scale^2 I) in dim dimensions: the smallest recover-the-mean check."""

    #: the metrics of :data:`unigen.metrics.evaluation.METRICS` this data set gets, besides the generic ones
    metrics: ClassVar[tuple[str, ...]] = ()

    n: int = 20_000
    dim: int = 1
    loc: float = 4.0
    scale: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        _positive("gaussian", n=self.n, dim=self.dim, scale=self.scale)

    def load(self, split: str = "train") -> TensorData:
        g = torch.Generator().manual_seed(split_seed(self.seed, split))
        x = self.loc + self.scale * torch.randn(self.n, self.dim, generator=g)
        return TensorData(x, None, DataInfo(shape=(self.dim,), support="real"), name=f"gaussian ({split})")
