r"""Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017): 70,000 grey 28 px images of clothing in 10 classes.

The full-size image set that can be had offline: Debian's ``dataset-fashion-mnist`` package (about 30 MB,
``make data`` installs it) puts the four standard IDX files, gzipped, in
``/usr/share/datasets/fashion-mnist/`` — ``train-images-idx3-ubyte.gz`` (60,000 images),
``t10k-images-idx3-ubyte.gz`` (10,000) and their label files. ``data.root`` names another directory
holding the same files.

It is a drop-in replacement for MNIST (same format, sizes and class count), and takes the same options
through the same code (:class:`unigen.data.mnist.IDXImages`): 28 or 32 px, ``unit`` or ``symmetric``
range, static binarisation, a stratified ``fraction`` of the training split and a semi-supervised
``label_fraction``. Classes: 0 T-shirt/top, 1 trouser, 2 pullover, 3 dress, 4 coat, 5 sandal, 6 shirt,
7 sneaker, 8 bag, 9 ankle boot.
"""
from __future__ import annotations

import os

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from unigen.data.base import FeatureNetwork
from unigen.data.mnist import IDXImages, has_idx_files, read_idx_split
from unigen.errors import UserError
from unigen.registry import DATASETS

#: where Debian's dataset-fashion-mnist package installs the IDX files
DEBIAN_ROOT = "/usr/share/datasets/fashion-mnist"
CLASSES = ("T-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot")


@DATASETS.register("fashion_mnist")
@dataclass(frozen=True)
class FashionMNIST(IDXImages):
    """Fashion-MNIST, 60,000 + 10,000 clothing images (IDX files in data.root, by default Debian's package)."""

    feature_network: ClassVar[FeatureNetwork] = FeatureNetwork("Fashion-MNIST-classifier", "v1", steps=1900,
                                                               batch_size=128, lr=6e-3, augment=False)
    root: str = DEBIAN_ROOT

    def check_available(self) -> None:
        """Refuse in one line, before anything trains, when the IDX files are not in ``root``."""
        if not os.path.isfile(self.root) and not has_idx_files(self.root):
            raise UserError(f"Fashion-MNIST IDX files are not in {self.root}; install them with `sudo apt-get "
                            f"install dataset-fashion-mnist` (or `make data`), or set data.root=DIR to a "
                            f"directory holding them")

    def raw_split(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        self.check_available()
        return read_idx_split(self.root, split, name="Fashion-MNIST")
