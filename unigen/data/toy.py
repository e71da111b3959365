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

from unigen.data.base import TensorData, check_memory
from unigen.errors import UserError
from unigen.programs import DataInfo
from unigen.registry import DATASETS
from unigen.settings import bounded, count, seed as seed_setting

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


#: the most examples a synthetic data set may ask for (10⁸ 2-D points are 800 MB of float32)
MAX_N = 10 ** 8


def positive(default: float):
    """A positive real setting (a scale, a radius, a spacing)."""
    return bounded(default, 0, lo_open=True)


def _check_memory(n: int, dim: int, name: str, fix: str = "") -> None:
    """Refuse ``n`` draws of ``dim`` features that memory cannot hold: the float32 data, the draw's noise and
    the sum (about 4 copies), the int64 component of each example."""
    check_memory(n * (16 * dim + 8), f"data set {name}", fix or f"lower data.n (now {n:,})")


def _mixture(centres: Tensor, std: float, n: int, seed: int, name: str) -> TensorData:
    """``n`` i.i.d. draws from the equally weighted mixture of ``N(centre, std^2 I)``."""
    _check_memory(n, centres.shape[1], name)
    g = torch.Generator().manual_seed(seed)
    k = torch.randint(centres.shape[0], (n,), generator=g)
    x = centres[k] + std * torch.randn(n, centres.shape[1], generator=g)
    return TensorData(x, None, DataInfo(shape=(centres.shape[1],), support="real"), name=name)


@DATASETS.register("ring")
@dataclass(frozen=True)
class Ring:
    """8 Gaussians (std 0.01) on the unit circle: the VEEGAN/PacGAN mode-collapse ring.

    :param n: training examples drawn (the test split draws its own).
    :param modes: Gaussians evenly spaced on the circle.
    :param radius: the circle's radius.
    :param std: each Gaussian's standard deviation.
    :param seed: seeds the draw of the examples.
    """

    #: the metrics of :data:`unigen.metrics.evaluation.METRICS` this data set gets, besides the generic ones
    metrics: ClassVar[tuple[str, ...]] = ("modes",)

    n: int = count(50_000, hi=MAX_N)
    modes: int = count(8, hi=10_000)
    radius: float = positive(1.0)
    std: float = positive(0.01)
    seed: int = seed_setting(0)

    def __post_init__(self) -> None:
        _positive("ring", n=self.n, modes=self.modes, radius=self.radius, std=self.std)

    def centres(self) -> Tensor:
        """The ``(modes, 2)`` mode centres :math:`r(\\cos 2\\pi i/m, \\sin 2\\pi i/m)` (no duplicated endpoint)."""
        angle = 2 * math.pi * torch.arange(self.modes, dtype=torch.float64) / self.modes
        return (self.radius * torch.stack([angle.cos(), angle.sin()], 1)).to(torch.float32)

    @property
    def info(self) -> DataInfo:
        """The data's shape and range, known without loading them (``unigen config`` checks the model against it)."""
        return DataInfo(shape=(2,), support="real")

    def load(self, split: str = "train") -> TensorData:
        return _mixture(self.centres(), self.std, self.n, split_seed(self.seed, split), f"ring ({split})")


@DATASETS.register("grid")
@dataclass(frozen=True)
class Grid:
    """25 Gaussians (std 0.05) on the grid {-4,-2,0,2,4}^2: the VEEGAN/PacGAN mode-collapse grid.

    :param n: training examples drawn (the test split draws its own).
    :param side: modes per side: side² Gaussians, at most 10,000 as the ring's.
    :param spacing: the distance between neighbouring modes; the grid is centred on 0.
    :param std: each Gaussian's standard deviation.
    :param seed: seeds the draw of the examples.
    """

    #: the metrics of :data:`unigen.metrics.evaluation.METRICS` this data set gets, besides the generic ones
    metrics: ClassVar[tuple[str, ...]] = ("modes",)

    n: int = count(50_000, hi=MAX_N)
    side: int = count(5, hi=100)  # side² modes: at most 10,000, as the ring's
    spacing: float = positive(2.0)
    std: float = positive(0.05)
    seed: int = seed_setting(0)

    def __post_init__(self) -> None:
        _positive("grid", n=self.n, side=self.side, spacing=self.spacing, std=self.std)

    def centres(self) -> Tensor:
        """The ``(side**2, 2)`` centres, a square lattice of step ``spacing`` centred on the origin."""
        axis = self.spacing * (torch.arange(self.side, dtype=torch.float32) - (self.side - 1) / 2)
        return torch.cartesian_prod(axis, axis).reshape(-1, 2)

    @property
    def info(self) -> DataInfo:
        """The data's shape and range, known without loading them (``unigen config`` checks the model against it)."""
        return DataInfo(shape=(2,), support="real")

    def load(self, split: str = "train") -> TensorData:
        return _mixture(self.centres(), self.std, self.n, split_seed(self.seed, split), f"grid ({split})")


@DATASETS.register("gaussian")
@dataclass(frozen=True)
class Gaussian:
    """Isotropic Gaussian N(loc, scale^2 I) in dim dimensions: the smallest recover-the-mean check.

    :param n: training examples drawn.
    :param dim: dimensions.
    :param loc: every coordinate's mean.
    :param scale: every coordinate's standard deviation.
    :param seed: seeds the draw of the examples.
    """

    #: the metrics of :data:`unigen.metrics.evaluation.METRICS` this data set gets, besides the generic ones
    metrics: ClassVar[tuple[str, ...]] = ()

    n: int = count(20_000, hi=MAX_N)
    dim: int = count(1, hi=1_000_000)
    loc: float = 4.0
    scale: float = positive(1.0)
    seed: int = seed_setting(0)

    def __post_init__(self) -> None:
        _positive("gaussian", n=self.n, dim=self.dim, scale=self.scale)

    @property
    def info(self) -> DataInfo:
        """The data's shape and range, known without loading them (``unigen config`` checks the model against it)."""
        return DataInfo(shape=(self.dim,), support="real")

    def load(self, split: str = "train") -> TensorData:
        _check_memory(self.n, self.dim, f"gaussian ({split})",
                      f"lower data.n (now {self.n:,}) or data.dim (now {self.dim:,})")
        g = torch.Generator().manual_seed(split_seed(self.seed, split))
        x = self.loc + self.scale * torch.randn(self.n, self.dim, generator=g)
        return TensorData(x, None, DataInfo(shape=(self.dim,), support="real"), name=f"gaussian ({split})")
