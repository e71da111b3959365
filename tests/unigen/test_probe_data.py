"""Probes of the data files and data-set sizes a run is given (issue 29, items 7, 8 and 9): each bad input ends in
one line on stderr and exit code 2 (or, for a good one, exit 0 with the run's files); no traceback, no hang, no
allocation of what a damaged header claims, no pickle ever unpickled.

Each case builds its input under ``tmp_path`` and trains for 2 steps (a refusal comes before the first)."""
from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from probes import RING, TINY, cli, one_line

RING_TINY = [RING, *(t for t in TINY if not t.startswith("data.")), "train.steps=2"]  # data.n: not every set's
MNIST_TINY = ["experiments/configs/mnist_vae.yaml", "model.hidden=16", "model.z_dim=2", "train.batch_size=4",
              "train.steps=2", "train.progress=false", "eval.iw_samples=2", "eval.image_metrics=false",
              "eval.num_samples=10"]


# ------------------------------------------------------------------------------------------ builders
def npy_bytes(header: str, body: bytes = b"", version: int = 1) -> bytes:
    """A hand-made .npy file: magic, version, a header dict of our choosing (no check that it is true), body."""
    text = header.encode("latin1")
    pad = 64 - (10 + len(text) + 1) % 64
    text += b" " * pad + b"\n"
    size = struct.pack("<H", len(text)) if version == 1 else struct.pack("<I", len(text))
    return b"\x93NUMPY" + bytes([version, 0]) + size + text + body


def npz_with(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def npy_of(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


class Marker:
    """Unpickling it would make a folder: that the folder never appears shows that no pickle ran."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return os.mkdir, (self.path,)


def write_idx(path: Path, array: np.ndarray) -> None:
    payload = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload += np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    with (gzip.open if path.name.endswith(".gz") else open)(path, "wb") as f:
        f.write(payload)


def idx_dir(root: Path) -> Path:
    """The four MNIST IDX files, 10 images each split (each class once), in ``root``."""
    root.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    for stem in ("train", "t10k"):
        write_idx(root / f"{stem}-images-idx3-ubyte", rng.integers(0, 256, (10, 28, 28), dtype=np.uint8))
        write_idx(root / f"{stem}-labels-idx1-ubyte", np.arange(10, dtype=np.uint8))
    return root


def _marker(tmp: Path) -> Path:
    return tmp / "pickle-ran"


# ------------------------------------------------------------------------------------------ NPZ cases
def _npz_huge_header(tmp):  # 10^11 rows declared, 16 bytes held: never allocated
    return npz_with(tmp / "d.npz", {"x.npy": npy_bytes("{'descr': '<f4', 'fortran_order': False, "
                                                       "'shape': (100000000000, 2), }", b"\0" * 16)})


def _npz_huge_header_v2(tmp):
    return npz_with(tmp / "d.npz", {"x.npy": npy_bytes("{'descr': '<f8', 'fortran_order': False, "
                                                       "'shape': (100000000000, 100000), }", b"\0" * 16, 2)})


def _npz_truncated_member(tmp):
    return npz_with(tmp / "d.npz", {"x.npy": npy_of(np.zeros((100, 2), np.float32))[:-8]})


def _npz_pickle_member(tmp):  # a pickle posing as an .npy member: never unpickled
    return npz_with(tmp / "d.npz", {"x.npy": pickle.dumps(Marker(str(_marker(tmp))))})


def _npz_object_array(tmp):  # a real .npy of dtype object: its pickled items are never loaded
    x = np.empty((3, 2), dtype=object)
    x[0, 0] = Marker(str(_marker(tmp)))
    return npz_with(tmp / "d.npz", {"x.npy": npy_of(x)})


def _npz_pickle_labels(tmp):
    return npz_with(tmp / "d.npz", {"x.npy": npy_of(np.zeros((100, 2), np.float32)),
                                    "y.npy": pickle.dumps(Marker(str(_marker(tmp))))})


def _npz_damaged_header(tmp):
    return npz_with(tmp / "d.npz", {"x.npy": npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-5, 2), }",
                                                       b"\0" * 16)})


def _npz_header_not_a_dict(tmp):
    return npz_with(tmp / "d.npz", {"x.npy": npy_bytes("__import__('os').getcwd()", b"\0" * 16)})


def _npz_header_bad_dtype(tmp):
    return npz_with(tmp / "d.npz", {"x.npy": npy_bytes("{'descr': 'zz9', 'fortran_order': False, 'shape': (2, 2), }",
                                                       b"\0" * 16)})


def _npz_empty_archive(tmp):
    np.savez(tmp / "d.npz")
    return tmp / "d.npz"


def _npz_zero_bytes(tmp):
    (tmp / "d.npz").write_bytes(b"")
    return tmp / "d.npz"


def _npz_random_bytes(tmp):
    (tmp / "d.npz").write_bytes(np.random.default_rng(0).bytes(4096))
    return tmp / "d.npz"


def _npz_plain_pickle(tmp):  # a pickle file named .npz
    (tmp / "d.npz").write_bytes(pickle.dumps(Marker(str(_marker(tmp)))))
    return tmp / "d.npz"


def _npz_renamed_huge_npy(tmp):  # a bare .npy whose header claims 10^11 rows: refused before numpy reads it
    (tmp / "d.npz").write_bytes(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000, 2), }"))
    return tmp / "d.npz"


def _npz_truncated_zip(tmp):
    np.savez(tmp / "good.npz", x=np.zeros((100, 2), np.float32))
    (tmp / "d.npz").write_bytes((tmp / "good.npz").read_bytes()[:300])
    return tmp / "d.npz"


def _deflated(tmp) -> tuple[bytearray, int, int]:
    """A deflated archive's bytes, and the offsets of its local and central headers."""
    buf = io.BytesIO()
    np.save(buf, np.random.default_rng(0).normal(size=(500, 2)).astype(np.float32))
    with zipfile.ZipFile(tmp / "good.npz", "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("x.npy", buf.getvalue())
    raw = bytearray((tmp / "good.npz").read_bytes())
    return raw, raw.find(b"PK\x03\x04"), raw.find(b"PK\x01\x02")


def _npz_corrupt_stream(tmp):
    raw, _, _ = _deflated(tmp)
    raw[200:260] = bytes(b ^ 0xFF for b in raw[200:260])
    (tmp / "d.npz").write_bytes(bytes(raw))
    return tmp / "d.npz"


def _npz_unknown_compression(tmp):
    raw, local, central = _deflated(tmp)
    raw[local + 8:local + 10] = raw[central + 10:central + 12] = (99).to_bytes(2, "little")
    (tmp / "d.npz").write_bytes(bytes(raw))
    return tmp / "d.npz"


def _npz_encrypted(tmp):
    raw, local, central = _deflated(tmp)
    raw[local + 6] |= 1
    raw[central + 8] |= 1
    (tmp / "d.npz").write_bytes(bytes(raw))
    return tmp / "d.npz"


def _npz_a_folder(tmp):
    (tmp / "d.npz").mkdir()
    return tmp / "d.npz"


def _npz_a_fifo(tmp):  # reading a FIFO would block for ever
    os.mkfifo(tmp / "d.npz")
    return tmp / "d.npz"


def _npz_beyond_float32(tmp):  # finite float64 that float32 cannot hold: not "NaN or infinite"
    x = np.random.default_rng(0).normal(size=(100, 2))
    x[3, 1] = 1e300
    np.savez(tmp / "d.npz", x=x)
    return tmp / "d.npz"


def _npz_nan(tmp):
    x = np.random.default_rng(0).normal(size=(100, 2)).astype(np.float32)
    x[3, 1] = np.nan
    np.savez(tmp / "d.npz", x=x)
    return tmp / "d.npz"


def _npz_one_dimensional(tmp):
    np.savez(tmp / "d.npz", x=np.zeros(100, np.float32))
    return tmp / "d.npz"


def _npz_no_rows(tmp):
    np.savez(tmp / "d.npz", x=np.zeros((0, 2), np.float32))
    return tmp / "d.npz"


def _npz_strings(tmp):
    np.savez(tmp / "d.npz", x=np.array([["a", "b"]] * 100))
    return tmp / "d.npz"


def _npz_complex(tmp):
    np.savez(tmp / "d.npz", x=np.zeros((100, 2), np.complex64))
    return tmp / "d.npz"


NPZ = {  # case: (builder, extra overrides, fragment of the one line)
    "header claims 10^11 rows": (_npz_huge_header, [], "member x.npy of"),
    "v2 header claims 10^16 values": (_npz_huge_header_v2, [], "truncated or its header is damaged"),
    "truncated member": (_npz_truncated_member, [], "truncated or its header is damaged"),
    "pickle as .npy member": (_npz_pickle_member, [], "is not a NumPy array"),
    "object array": (_npz_object_array, [], "never unpickled"),
    "pickle as label member": (_npz_pickle_labels, ["data.label_key=y"], "member y.npy"),
    "negative shape in header": (_npz_damaged_header, [], "damaged .npy header"),
    "header is code": (_npz_header_not_a_dict, [], "damaged .npy header"),
    "header with unknown dtype": (_npz_header_bad_dtype, [], "damaged .npy header"),
    "empty archive": (_npz_empty_archive, [], "has no array 'x' (it has none)"),
    "zero bytes": (_npz_zero_bytes, [], "is not a readable .npz file"),
    "random bytes": (_npz_random_bytes, [], "is not a readable .npz file"),
    "plain pickle": (_npz_plain_pickle, [], "is not a readable .npz file"),
    "renamed .npy with a huge header": (_npz_renamed_huge_npy, [], "is a single .npy array"),
    "truncated zip": (_npz_truncated_zip, [], "d.npz"),
    "corrupt deflate stream": (_npz_corrupt_stream, [], "is not a readable .npz file (BadZipFile)"),
    "unknown compression method": (_npz_unknown_compression, [], "cannot be read (NotImplementedError"),
    "encrypted member": (_npz_encrypted, [], "is encrypted"),
    "a folder": (_npz_a_folder, [], "is not a regular file"),
    "a FIFO": (_npz_a_fifo, [], "is not a regular file"),
    "float64 beyond float32": (_npz_beyond_float32, [], "overflow float32 (largest 3.403e+38)"),
    "NaN": (_npz_nan, [], "NaN or infinite values in 1 examples"),
    "one-dimensional": (_npz_one_dimensional, [], "must be a numeric array of shape (N, ...)"),
    "no rows": (_npz_no_rows, [], "is empty"),
    "strings": (_npz_strings, [], "must be a numeric array"),
    "complex": (_npz_complex, [], "is complex"),
}


@pytest.mark.parametrize("case", sorted(NPZ))
def test_bad_npz_is_one_line(case, capsys, tmp_path):
    build, extra, fragment = NPZ[case]
    path = build(tmp_path)
    code, err, _ = cli(["train", *RING_TINY, "data.name=npz", f"data.path={path}", *extra,
                        "--out", tmp_path / "run"], capsys)
    one_line(code, err, fragment)
    assert not _marker(tmp_path).exists(), "a pickle ran"
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_a_good_npz_trains(capsys, tmp_path):
    x = np.random.default_rng(0).normal(size=(200, 2))  # float64 within float32's range: fine
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(200) % 4)
    code, err, _ = cli(["train", *RING_TINY, "data.name=npz", f"data.path={tmp_path / 'd.npz'}",
                        "data.label_key=y", "--out", tmp_path / "run"], capsys)
    assert code == 0, err
    assert (tmp_path / "run" / "checkpoint.pt").is_file() and (tmp_path / "run" / "eval.json").is_file()


def test_an_npz_larger_than_memory_is_refused_before_it_is_read(capsys, tmp_path, monkeypatch):
    import unigen.data.base as base

    np.savez(tmp_path / "d.npz", x=np.zeros((2000, 2)))
    monkeypatch.setattr(base, "available_memory", lambda: 10_000)  # 10 kB left
    code, err, _ = cli(["train", *RING_TINY, "data.name=npz", f"data.path={tmp_path / 'd.npz'}",
                        "--out", tmp_path / "run"], capsys)
    one_line(code, err, "more than the 10 kB available")


# ------------------------------------------------------------------------------------------ IDX cases
IMAGES = "train-images-idx3-ubyte"


def _idx_255_dims(root):  # 255 dimensions of size 1: the header matches its size, numpy could not reshape it
    (root / IMAGES).write_bytes(bytes([0, 0, 8, 255]) + struct.pack(">255I", *[1] * 255) + b"\0")


def _idx_255_dims_short(root):
    (root / IMAGES).write_bytes(bytes([0, 0, 8, 255]) + b"\0" * 12)


def _idx_overflowing_sizes(root):  # 3 sizes of 2^32 - 1: their product overflows int64
    (root / IMAGES).write_bytes(bytes([0, 0, 8, 3]) + struct.pack(">3I", *[2 ** 32 - 1] * 3) + b"\0" * 100)


def _idx_header_claims_more(root):
    write_idx(root / IMAGES, np.zeros((10, 28, 28), np.uint8))
    raw = (root / IMAGES).read_bytes()
    (root / IMAGES).write_bytes(raw[:4] + struct.pack(">I", 60000) + raw[8:])


def _idx_longer(root):
    with open(root / IMAGES, "ab") as f:
        f.write(b"\0" * 7)


def _idx_zero_length(root):
    (root / IMAGES).write_bytes(b"")


def _idx_wrong_magic(root):
    (root / IMAGES).write_bytes(b"\x12\x34\x56\x78" + (root / IMAGES).read_bytes()[4:])


def _idx_float_type(root):
    raw = (root / IMAGES).read_bytes()
    (root / IMAGES).write_bytes(raw[:2] + b"\x0d" + raw[3:])


def _idx_wrong_image_size(root):
    write_idx(root / IMAGES, np.zeros((10, 32, 32), np.uint8))


def _idx_labels_above_9(root):
    write_idx(root / "train-labels-idx1-ubyte", np.full(10, 200, np.uint8))


def _idx_label_count(root):
    write_idx(root / "train-labels-idx1-ubyte", np.zeros(7, np.uint8))


def _idx_gzip_garbage(root):
    (root / IMAGES).unlink()
    (root / f"{IMAGES}.gz").write_bytes(b"\x1f\x8b" + b"garbage, not deflate" * 10)


def _idx_gzip_truncated(root):
    (root / IMAGES).unlink()
    write_idx(root / f"{IMAGES}.gz", np.zeros((10, 28, 28), np.uint8))
    raw = (root / f"{IMAGES}.gz").read_bytes()
    (root / f"{IMAGES}.gz").write_bytes(raw[:len(raw) // 2])


def _idx_gzip_longer(root):
    (root / IMAGES).unlink()
    with gzip.open(root / f"{IMAGES}.gz", "wb") as f:
        f.write(struct.pack(">BBBBIII", 0, 0, 8, 3, 10, 28, 28) + b"\0" * (10 * 28 * 28 + 5))


def _idx_a_folder(root):
    (root / IMAGES).unlink()
    (root / IMAGES).mkdir()


def _idx_a_fifo(root):  # reading a FIFO would block for ever
    (root / IMAGES).unlink()
    os.mkfifo(root / IMAGES)


def _idx_missing(root):
    (root / "t10k-labels-idx1-ubyte").unlink()


IDX = {  # case: (damage to a good directory, fragment of the one line)
    "255 dimensions": (_idx_255_dims, "declares 255 dimensions"),
    "255 dimensions, short file": (_idx_255_dims_short, "declares 255 dimensions"),
    "sizes overflowing int64": (_idx_overflowing_sizes, "is truncated: header (4294967295, 4294967295, 4294967295)"),
    "header claims 60,000 images": (_idx_header_claims_more, "is truncated: header (60000, 28, 28)"),
    "longer than its header": (_idx_longer, "longer than its header says"),
    "zero length": (_idx_zero_length, "bad magic number (too short: 0 bytes)"),
    "wrong magic": (_idx_wrong_magic, "bad magic number 12345678"),
    "float type code": (_idx_float_type, "bad magic number 00000d03"),
    "32 px images": (_idx_wrong_image_size, "expected (28, 28)"),
    "labels above 9": (_idx_labels_above_9, "has labels above 9"),
    "too few labels": (_idx_label_count, "disagree"),
    "gzip garbage": (_idx_gzip_garbage, "cannot be read"),
    "gzip truncated": (_idx_gzip_truncated, f"{IMAGES}.gz"),
    "gzip longer than its header": (_idx_gzip_longer, "longer than its header says"),
    "a folder": (_idx_a_folder, "is a directory"),
    "a FIFO": (_idx_a_fifo, "is not a regular file"),
    "a file missing": (_idx_missing, "t10k-labels-idx1-ubyte[.gz] does not exist"),
}


@pytest.mark.parametrize("case", sorted(IDX))
def test_bad_idx_file_is_one_line(case, capsys, tmp_path):
    from unigen.data.mnist import _read_idx_pair

    _read_idx_pair.cache_clear()
    damage, fragment = IDX[case]
    root = idx_dir(tmp_path / "idx")
    damage(root)
    code, err, _ = cli(["train", *MNIST_TINY, f"data.root={root}", "--out", tmp_path / "run"], capsys)
    one_line(code, err, fragment)


def test_good_idx_files_train(capsys, tmp_path):
    root = idx_dir(tmp_path / "idx")
    code, err, _ = cli(["train", *MNIST_TINY, f"data.root={root}", "--out", tmp_path / "run"], capsys)
    assert code == 0, err
    assert (tmp_path / "run" / "eval.json").is_file()


def test_a_gzipped_idx_larger_than_memory_is_refused_before_it_is_read(capsys, tmp_path, monkeypatch):
    """A gzip bomb's header announces what it would decompress to: refused before a byte of it is read."""
    import unigen.data.base as base

    root = idx_dir(tmp_path / "idx")
    (root / IMAGES).unlink()
    with gzip.open(root / f"{IMAGES}.gz", "wb") as f:  # 10^6 images announced, none held
        f.write(struct.pack(">BBBBIII", 0, 0, 8, 3, 1_000_000, 28, 28))
    monkeypatch.setattr(base, "available_memory", lambda: 100_000_000)
    code, err, _ = cli(["train", *MNIST_TINY, f"data.root={root}", "--out", tmp_path / "run"], capsys)
    one_line(code, err, "more than the 100 MB available")


ROOTS = {  # data.root itself: (make it, fragment)
    "a FIFO": (lambda p: os.mkfifo(p), "is not a directory"),
    "a file": (lambda p: p.write_bytes(b"x"), "is a file, not a directory"),
    "missing": (lambda p: None, "does not exist"),
    "an empty folder": (lambda p: p.mkdir(), "does not exist; put the four standard IDX files in"),
}


@pytest.mark.parametrize("case", sorted(ROOTS))
@pytest.mark.parametrize("data", ["mnist", "fashion_mnist"])
def test_bad_data_root_is_one_line(case, data, capsys, tmp_path):
    make, fragment = ROOTS[case]
    root = tmp_path / "root"
    make(root)
    code, err, _ = cli(["train", *MNIST_TINY, f"data.name={data}", f"data.root={root}", "--out", tmp_path / "run"],
                       capsys)
    if data == "fashion_mnist" and case != "a file":  # its own message: where the files are not, how to get them
        fragment = "Fashion-MNIST IDX files are not in"
    one_line(code, err, fragment)


# ---------------------------------------------------------------------------------------- data-set sizes
SIZES = {  # overrides: fragment of the one line
    "ring n=10^10": (["data.n=10000000000"], "data.n=10000000000 is out of range: it must be >= 1 and <= 100,000,000"),
    "ring n=1e10": (["data.n=1e10"], "write it as a whole number"),
    "ring modes=10^9": (["data.modes=1000000000"], "data.modes=1000000000 is out of range"),
    "ring modes=0": (["data.modes=0"], "data.modes"),
    "ring std=0": (["data.std=0"], "data.std"),
    "ring radius=inf": (["data.radius=inf"], "data.radius=inf is not a finite number"),
    "ring seed=-1": (["data.seed=-1"], "data.seed=-1 is out of range"),
    "grid side=10^5": (["data.name=grid", "data.side=100000"], "data.side=100000 is out of range"),
    "grid n=10^9": (["data.name=grid", "data.n=1000000000"], "data.n=1000000000 is out of range"),
    "gaussian dim=10^9": (["data.name=gaussian", "data.dim=1000000000"], "data.dim=1000000000 is out of range"),
    "gaussian beyond memory": (["data.name=gaussian", "data.n=100000", "data.dim=1000000"],
                               "lower data.n (now 100,000) or data.dim (now 1,000,000)"),
    "stacked mnist beyond memory": (["data.name=stacked_mnist", "data.n=100000000"], "lower data.n (now 100,000,000)"),
    "mnist fraction=0": (["data.name=mnist", "data.fraction=0"], "fraction"),
    "mnist label_fraction=2": (["data.name=mnist", "data.label_fraction=2"], "label_fraction"),
}


@pytest.mark.parametrize("case", sorted(SIZES))
def test_bad_size_is_one_line(case, capsys, tmp_path):
    overrides, fragment = SIZES[case]
    code, err, _ = cli(["train", *RING_TINY, *overrides, "--out", tmp_path / "run"], capsys)
    one_line(code, err, fragment)


def test_a_toy_set_larger_than_memory_names_the_setting_to_lower(capsys, tmp_path, monkeypatch):
    import unigen.data.base as base

    monkeypatch.setattr(base, "available_memory", lambda: 1_000_000)  # 1 MB left
    code, err, _ = cli(["train", RING, *TINY, "train.steps=2", "data.n=100000", "--out", tmp_path / "run"], capsys)
    one_line(code, err, "data set ring (train) needs about 4 MB of memory, more than the 1 MB available; lower "
                        "data.n (now 100,000)")


def test_available_memory_is_read():
    from unigen.data.base import available_memory

    avail = available_memory()
    assert avail is None or avail > 0
