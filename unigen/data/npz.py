"""A user's own data set from a NumPy ``.npz`` file."""
from __future__ import annotations

import math
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Optional

import numpy as np
import torch

from unigen.data.base import SUPPORTS, TensorData, check_float32_range, check_memory
from unigen.errors import UserError, first_line
from unigen.programs import DataInfo
from unigen.registry import DATASETS
from unigen.settings import check_choices, choice, count


@DATASETS.register("npz")
@dataclass(frozen=True)
class NPZ:
    """Your own arrays from a .npz file: x (N, ...) and optional integer labels.

    :param path: the ``.npz`` file; ``test_path`` optionally names a held-out file with the same keys.
    :param test_path: a held-out ``.npz`` file with the same keys (without it the test split is the training one).
    :param x_key: key of the examples, shape ``(N, *event_shape)``.
    :param label_key: key of integer labels ``(N,)`` in ``0..K-1``, or empty for none.
    :param support: ``real``, ``unit`` ([0, 1]) or ``symmetric`` ([-1, 1]); checked against the data.
    """

    #: no metric of its own: arrays of any shape have no feature network or known modes (generic ones apply)
    metrics: ClassVar[tuple[str, ...]] = ()

    path: str = ""
    test_path: Optional[str] = None
    x_key: str = "x"
    label_key: str = ""
    support: str = choice("real", SUPPORTS)
    num_classes: int = count(0, lo=0, hi=1_000_000)  # 0: max label + 1, with every class present in train

    def __post_init__(self) -> None:
        if not self.path:
            raise UserError("dataset npz needs data.path=FILE.npz")
        check_choices(self, "data.", f"{self.registry_name}: ")

    def _read(self, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
        """The arrays of one file, checked: numeric real x of shape (N, ...) and integer labels (N,)."""
        if not path.is_file():
            if path.exists():  # a directory, a FIFO (which would block for ever), a device
                raise UserError(f"data file {path} is not a regular file; pass data.path=FILE.npz")
            raise UserError(f"data file {path} does not exist; pass data.path=FILE.npz")
        try:
            with open(path, "rb") as f:
                if f.read(6) == b"\x93NUMPY":  # a renamed .npy: refused before numpy allocates what it declares
                    raise UserError(f"{path} is a single .npy array, not an .npz archive; save it with "
                                    f"numpy.savez('{path.stem}.npz', x=array)")
            arrays = np.load(path, allow_pickle=False)
            if not hasattr(arrays, "files"):  # not reached for a .npy (above); kept for any other single array
                raise UserError(f"{path} is a single .npy array, not an .npz archive; save it with "
                                f"numpy.savez('{path.stem}.npz', x=array)")
            with arrays:
                if self.x_key not in arrays:
                    raise UserError(f"{path} has no array {self.x_key!r} (it has "
                                    f"{', '.join(arrays.files) or 'none'}); set data.x_key")
                for key in (self.x_key, self.label_key):
                    if key and key in arrays:
                        self._check_member(path, arrays.zip, key)
                x = arrays[self.x_key]
                labels = arrays[self.label_key] if self.label_key else None
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, zlib.error, NotImplementedError, RuntimeError) as e:
            raise UserError(f"{path} is not a readable .npz file ({type(e).__name__}); re-save it with numpy.savez") from None
        except KeyError:
            raise UserError(f"{path} has no array {self.label_key!r}; set data.label_key or leave it empty") from None
        if x.dtype.kind == "f":  # finite float64 beyond float32 would become infinite in the cast
            check_float32_range(x, f"npz {path.name}", f"rescale {self.x_key!r} in {path} (e.g. standardise "
                                                       f"each feature)")
        if np.iscomplexobj(x):
            raise UserError(f"{path}: {self.x_key!r} is complex ({x.dtype}); store the real and imaginary parts as "
                            f"separate features")
        if x.ndim < 2 or not np.issubdtype(x.dtype, np.number) or 0 in x.shape[1:]:
            raise UserError(f"{path}: {self.x_key!r} must be a numeric array of shape (N, ...) with non-empty "
                            f"examples, got {x.dtype} {x.shape}")
        if labels is not None:
            if labels.shape != (x.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
                raise UserError(f"{path}: labels must be integers of shape ({x.shape[0]},), got {labels.dtype} "
                                f"{labels.shape}")
            if labels.size and labels.min() < 0:
                raise UserError(f"{path}: labels must be 0..K-1, found {int(labels.min())}; relabel them")
        return x, labels

    @staticmethod
    def _check_member(path: Path, archive: zipfile.ZipFile, key: str) -> None:
        """Read the ``.npy`` header of member ``key`` before numpy allocates the array it declares: it must be
        a NumPy array (not a pickle or other bytes) of a plain dtype, whose declared size the member holds
        and the memory available can take."""
        names = archive.namelist()
        name = key if key in names else f"{key}.npy"
        member = f"member {name} of {path}"
        fmt = np.lib.format
        try:
            with archive.open(name) as f:
                try:
                    version = fmt.read_magic(f)
                except ValueError:
                    raise UserError(f"{member} is not a NumPy array (other bytes, e.g. a pickle, which is never "
                                    f"loaded); save the arrays with numpy.savez") from None
                if version not in ((1, 0), (2, 0)):
                    raise UserError(f"{member} uses .npy format {version[0]}.{version[1]} (structured data); store a "
                                    f"plain numeric array with numpy.savez")
                read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
                shape, _, dtype = read(f)
                offset = f.tell()
        except UserError:
            raise
        except (ValueError, SyntaxError, TypeError) as e:
            raise UserError(f"{member} has a damaged .npy header ({type(e).__name__}); re-save it with "
                            f"numpy.savez") from None
        except (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError) as e:
            # a corrupt stream, an unsupported compression method, an encrypted member
            raise UserError(f"{member} cannot be read ({type(e).__name__}: {first_line(e)}); re-save it with "
                            f"numpy.savez") from None
        if any(d < 0 for d in shape):  # numpy's header reader lets a negative size through
            raise UserError(f"{member} has a damaged .npy header (shape {shape}); re-save it with numpy.savez")
        if dtype.hasobject:
            raise UserError(f"{member} holds Python objects ({dtype}), which are never unpickled; store a numeric "
                            f"array")
        nbytes = math.prod(shape) * dtype.itemsize  # exact: Python integers do not overflow
        held = archive.getinfo(name).file_size - offset
        if nbytes > held:
            raise UserError(f"{member} is truncated or its header is damaged: shape {shape} of {dtype} needs "
                            f"{nbytes:,} bytes, the member holds {held:,}; re-save it with numpy.savez")
        # the array as stored and a copy of it (the range check), its float32 copy and the checks' masks
        check_memory(2 * nbytes + 5 * math.prod(shape), f"{member} (shape {shape}, {dtype})",
                     "use a smaller data set or free memory")

    def load(self, split: str = "train") -> TensorData:
        if split not in ("train", "test"):
            raise UserError(f"unknown split {split!r}; use train or test")
        path = Path(self.test_path if split == "test" and self.test_path else self.path)
        x, labels = self._read(path)
        train_x, train_labels = (x, labels) if split == "train" else self._read(Path(self.path))
        # the two files must agree, refused up front (not when evaluation first reads the test file)
        test_x = x if split == "test" else self._read(Path(self.test_path))[0] if self.test_path else train_x
        if test_x.shape[1:] != train_x.shape[1:]:
            raise UserError(f"{self.test_path}: examples have shape {test_x.shape[1:]} but the training file's "
                            f"have {train_x.shape[1:]}; use a test file of the same shape")
        k = self._classes(train_labels)
        c = None
        if labels is not None:
            if k is not None and labels.size and labels.max() >= k:
                raise UserError(f"{path}: label {int(labels.max())} is outside the training labels 0..{k - 1}")
            c = torch.from_numpy(labels.astype(np.int64))
        info = DataInfo(shape=tuple(x.shape[1:]), num_classes=k, support=self.support)
        return TensorData(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), c, info,
                          name=f"npz {path.name} ({split})")

    def _classes(self, labels: np.ndarray | None) -> int | None:
        """K: ``num_classes``, or the training labels' max + 1 when every class 0..K-1 occurs."""
        if labels is None or not labels.size:
            return None
        top = int(labels.max())
        if self.num_classes:
            if top >= self.num_classes:
                raise UserError(f"{self.path}: label {top} is outside data.num_classes={self.num_classes}")
            return self.num_classes
        present = np.unique(labels).size
        if present < top + 1:
            raise UserError(f"{self.path}: labels span 0..{top} but only {present} distinct values occur; relabel "
                            f"them to 0..{present - 1}, or set data.num_classes={top + 1} to keep the gaps")
        return top + 1
