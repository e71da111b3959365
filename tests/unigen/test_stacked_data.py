"""The registered ``stacked_mnist`` data set: shapes, mode labels from the channels' own digits, seeds, options."""
from __future__ import annotations

import struct

import numpy as np
import pytest
import torch
from torch.testing import assert_close

from unigen.config import resolve
from unigen.data import MNIST
from unigen.data.stacked_mnist import TEST_SIZE, StackedMNIST
from unigen.errors import UserError
from unigen.registry import DATASETS


def labels_by_image(digits) -> dict[bytes, int]:
    """Each source digit's image bytes -> its label (the images of a split are distinct)."""
    table = {bytes(img.numpy().tobytes()): int(c) for img, c in zip(digits.x[:, 0], digits.c)}
    assert len(table) == len(digits)
    return table


def source_labels(stacks, table) -> torch.Tensor:
    """``(N, 3)`` labels of the source digit in each channel (a KeyError if a channel is no source digit)."""
    return torch.tensor([[table[bytes(stacks.x[n, j].numpy().tobytes())] for j in range(3)]
                         for n in range(len(stacks))])


def write_idx(path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def test_shapes_info_and_the_registered_metric():
    assert DATASETS.get("stacked_mnist") is StackedMNIST and StackedMNIST.metrics == ("stacked_modes",)
    data = StackedMNIST(n=300).load("train")
    assert data.x.shape == (300, 3, 28, 28) and data.x.dtype == torch.float32
    assert data.info.shape == (3, 28, 28) and data.info.num_classes == 1000 and data.info.support == "unit"
    assert 0.0 <= float(data.x.min()) and float(data.x.max()) <= 1.0
    big = StackedMNIST(n=20, size=32, support="symmetric").load("train")
    assert big.x.shape == (20, 3, 32, 32) and float(big.x.min()) == -1.0 and big.info == StackedMNIST(
        size=32, support="symmetric").info


def test_mode_labels_are_the_channels_digits_in_base_ten_and_each_split_uses_its_own_digits():
    for split, n in (("train", 400), ("test", None)):
        stacks = StackedMNIST(n=400, seed=5).load(split)
        if n is None:
            assert len(stacks) == TEST_SIZE
            stacks = stacks.subset(torch.arange(400))
        digits = source_labels(stacks, labels_by_image(MNIST().load(split)))  # KeyError: a digit of the other split
        assert_close(stacks.c, 100 * digits[:, 0] + 10 * digits[:, 1] + digits[:, 2])
    assert len(set(stacks.c.tolist())) > 300  # 400 draws spread over the 1,000 modes (about 330 expected)


def test_root_reads_the_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    for stem, n in (("train", 40), ("t10k", 20)):
        write_idx(tmp_path / f"{stem}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(tmp_path / f"{stem}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8))
    stacks = StackedMNIST(n=50, root=str(tmp_path)).load("train")
    digits = source_labels(stacks, labels_by_image(MNIST(root=str(tmp_path)).load("train")))
    assert_close(stacks.c, 100 * digits[:, 0] + 10 * digits[:, 1] + digits[:, 2])


def test_a_seed_reproduces_its_draw_and_another_seed_or_split_differs():
    a, b = StackedMNIST(n=200, seed=3).load("train"), StackedMNIST(n=200, seed=3).load("train")
    assert_close(a.x, b.x)
    assert_close(a.c, b.c)
    assert not torch.equal(StackedMNIST(n=200, seed=4).load("train").x, a.x)
    assert not torch.equal(StackedMNIST(n=200, seed=3).load("test").x[:200], a.x)


@pytest.mark.parametrize("key, value, says", [
    ("n", 0, "stacked_mnist n must be"), ("size", 30, "data.size=30 is not one of 28, 32"),
    ("support", "real", "data.support='real' is not one of unit, symmetric"), ("seed", -1, "data.seed")])
def test_a_bad_option_is_one_line_naming_the_fix(key, value, says):
    with pytest.raises(UserError) as err:
        resolve({"data": {"name": "stacked_mnist", key: value}})
    message = str(err.value)
    assert says in message and "\n" not in message
    if key != "seed":
        with pytest.raises(UserError, match=says):
            StackedMNIST(**{key: value})
        assert f"data.{key}" in message
