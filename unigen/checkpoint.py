"""Checkpoints: written atomically, read without executing pickled code."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from unigen.errors import UserError


def save(state: dict, path: str | Path) -> None:
    """Write ``state`` to ``path`` through a temporary file and a rename, so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint with ``weights_only=True``: tensors and plain containers only, no code."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist; train first or pass the right run directory")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, wrong format, disallowed global
        raise UserError(f"checkpoint {path} is corrupt or not a unigen checkpoint ({type(e).__name__}); "
                        f"retrain or restore it from a copy") from None
