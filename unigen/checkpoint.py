"""Checkpoints: written atomically with the user's umask, read without executing pickled code."""
from __future__ import annotations

from pathlib import Path

import torch

from unigen.errors import UserError


def save(state: dict, path: str | Path) -> None:
    """Write ``state`` to ``path`` through a temporary file and a rename (:func:`unigen.rundir.atomic_path`: the
    umask's mode, synced), so a crash or a full disk never leaves half a file; a full disk is an ``OSError``
    (``ENOSPC``) that :func:`unigen.rundir.disk_errors` turns into one line, though torch's writer says only
    ``RuntimeError``."""
    from unigen.rundir import atomic_path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load(path: str | Path, map_location: str | torch.device = "cpu", mapping: bool = True) -> dict:
    """Read a checkpoint with ``weights_only=True``: tensors and plain containers only, no code. With ``mapping``
    (a run's checkpoint), anything but a dict (a list, a tensor) is refused in one line naming the file."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"checkpoint {path} is a folder, not a file; restore the run's checkpoint.pt from a copy, "
                        f"or retrain")
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist; train first or pass the right run directory")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, wrong format, disallowed global
        raise UserError(f"checkpoint {path} is corrupt or not a unigen checkpoint ({type(e).__name__}); "
                        f"retrain or restore it from a copy") from None
    if mapping and not isinstance(state, dict):
        raise UserError(f"checkpoint {path} holds a {type(state).__name__}, not a unigen checkpoint (a dict of the "
                        f"run's state); retrain or restore it from a copy")
    return state


# ------------------------------------------------------------------------------------------ RNG
def rng_state() -> dict:
    """Every random state a run draws from (torch CPU and CUDA, numpy, Python), as plain tensors and ints."""
    import random

    import numpy as np

    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(np_state[1].astype("int64")), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": {"version": int(py_state[0]), "state": list(py_state[1]), "gauss": py_state[2]},
    }


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` captured. Its tensors may have been loaded onto a GPU with the rest of a
    checkpoint (``load(path, map_location=cuda)``): each goes back to the CPU, where torch and numpy keep them."""
    import random

    import numpy as np

    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].cpu().numpy().astype("uint32"), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))


def check_matches(state: dict, config: dict, path: str | Path, normalise=lambda c: c) -> None:
    """Refuse a checkpoint written for another model, data set or strategy than ``config`` names.

    ``normalise`` maps the checkpoint's saved config through the current schema (filling the defaults
    of fields added since it was written), so that only settings that change the model's parameters,
    the strategy or the data are compared, and an older run still loads.
    """
    saved = state.get("config")
    if not isinstance(saved, dict):
        raise UserError(f"checkpoint {path} has no configuration; it was not written by unigen train")
    try:
        saved = normalise(saved)
    except UserError as e:
        raise UserError(f"checkpoint {path} holds a configuration this unigen cannot read ({e}); "
                        f"resume it with the unigen that wrote it") from None
    for section in ("model", "strategy", "data"):
        if saved.get(section) != config.get(section):
            a, b = saved.get(section, {}).get("name"), config.get(section, {}).get("name")
            keys = sorted(k for k in set(saved.get(section, {})) | set(config.get(section, {}))
                          if saved.get(section, {}).get(k) != config.get(section, {}).get(k))
            what = f"{a!r} vs {b!r}" if a != b else f"different {', '.join(f'{section}.{k}' for k in keys)}"
            raise UserError(f"checkpoint {path} is from another {section} ({what}); resume with the run's own "
                            f"config.yaml or start a new run directory")
