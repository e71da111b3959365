"""A user's own data set from a NumPy ``.npz`` file."""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from unigen.data.base import SUPPORTS, TensorData
from unigen.errors import UserError
from unigen.programs import DataInfo
from unigen.registry import DATASETS


@DATASETS.register("npz")
@dataclass(frozen=True)
class NPZ:
    """Your own arrays from a .npz file: x (N, ...) and optional integer labels.

    :param path: the ``.npz`` file; ``test_path`` optionally names a held-out file with the same keys.
    :param x_key: key of the examples, shape ``(N, *event_shape)``.
    :param label_key: key of integer labels ``(N,)`` in ``0..K-1``, or empty for none.
    :param support: ``real``, ``unit`` ([0, 1]) or ``symmetric`` ([-1, 1]); checked against the data.
    """

    path: str = ""
    test_path: Optional[str] = None
    x_key: str = "x"
    label_key: str = ""
    support: str = "real"

    def __post_init__(self) -> None:
        if not self.path:
            raise UserError("dataset npz needs data.path=FILE.npz")
        if self.support not in SUPPORTS:
            raise UserError(f"data.support={self.support!r}; choose one of {', '.join(SUPPORTS)}")

    def load(self, split: str = "train") -> TensorData:
        if split not in ("train", "test"):
            raise UserError(f"unknown split {split!r}; use train or test")
        path = Path(self.test_path if split == "test" and self.test_path else self.path)
        if not path.is_file():
            raise UserError(f"data file {path} does not exist; pass data.path=FILE.npz")
        try:
            with np.load(path, allow_pickle=False) as arrays:
                if self.x_key not in arrays:
                    raise UserError(f"{path} has no array {self.x_key!r} (it has {', '.join(arrays.files)}); "
                                    f"set data.x_key")
                x = arrays[self.x_key]
                labels = arrays[self.label_key] if self.label_key else None
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
            raise UserError(f"{path} is not a readable .npz file ({type(e).__name__}); re-save it with numpy.savez") from None
        except KeyError:
            raise UserError(f"{path} has no array {self.label_key!r}; set data.label_key or leave it empty") from None
        if x.ndim < 2 or not np.issubdtype(x.dtype, np.number):
            raise UserError(f"{path}: {self.x_key!r} must be a numeric array of shape (N, ...), got {x.dtype} {x.shape}")
        c = None
        k = None
        if labels is not None:
            if labels.shape != (x.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
                raise UserError(f"{path}: labels must be integers of shape ({x.shape[0]},), got {labels.dtype} {labels.shape}")
            c = torch.from_numpy(labels.astype(np.int64))
            k = int(labels.max()) + 1 if labels.size else None
        info = DataInfo(shape=tuple(x.shape[1:]), num_classes=k, support=self.support)
        return TensorData(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), c, info,
                          name=f"npz {path.name} ({split})")
