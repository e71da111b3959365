"""A user's own data set from a NumPy ``.npz`` file."""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Optional

import numpy as np
import torch

from unigen.data.base import SUPPORTS, TensorData
from unigen.errors import UserError
from unigen.programs import DataInfo
from unigen.registry import DATASETS
from unigen.settings import count


@DATASETS.register("npz")
@dataclass(frozen=True)
class NPZ:
    """Your own arrays from a .npz file: x (N, ...) and optional integer labels.

    :param path: the ``.npz`` file; ``test_path`` optionally names a held-out file with the same keys.
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
    support: str = "real"
    num_classes: int = count(0, lo=0, hi=1_000_000)  # 0: max label + 1, with every class present in train

    def __post_init__(self) -> None:
        if not self.path:
            raise UserError("dataset npz needs data.path=FILE.npz")
        if self.support not in SUPPORTS:
            raise UserError(f"data.support={self.support!r}; choose one of {', '.join(SUPPORTS)}")

    def _read(self, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
        """The arrays of one file, checked: numeric real x of shape (N, ...) and integer labels (N,)."""
        if not path.is_file():
            raise UserError(f"data file {path} does not exist; pass data.path=FILE.npz")
        try:
            arrays = np.load(path, allow_pickle=False)
            if not hasattr(arrays, "files"):  # a renamed .npy: one plain array
                raise UserError(f"{path} is a single .npy array, not an .npz archive; save it with "
                                f"numpy.savez('{path.stem}.npz', x=array)")
            with arrays:
                if self.x_key not in arrays:
                    raise UserError(f"{path} has no array {self.x_key!r} (it has {', '.join(arrays.files)}); "
                                    f"set data.x_key")
                x = arrays[self.x_key]
                labels = arrays[self.label_key] if self.label_key else None
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
            raise UserError(f"{path} is not a readable .npz file ({type(e).__name__}); re-save it with numpy.savez") from None
        except KeyError:
            raise UserError(f"{path} has no array {self.label_key!r}; set data.label_key or leave it empty") from None
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
