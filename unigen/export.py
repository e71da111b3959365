"""``unigen export``: a trained run's weights as one ``.safetensors`` file that needs no pickle and no run directory.

The file holds every role's parameters and persistent buffers (``Programs.state_dict()``; a tensor that
two roles share, such as M2's classifier, is stored once) and, in the safetensors metadata:

* ``unigen.config`` — the run's resolved config as JSON (model, strategy, data, train, eval);
* ``unigen.data_info`` — the shape, class count and support the programs were built for, and whether the
  data were labelled, so that :func:`load_export` rebuilds the programs without loading any data;
* ``unigen.format`` and ``unigen.version``.

``load_export(path)`` (and :func:`unigen.load_run`, given such a file) returns the same
:class:`~unigen.run.Built` as a run directory: sampling it with the same seed gives the same samples.
"""
from __future__ import annotations

import json
from pathlib import Path

import pyro
import torch
from omegaconf import OmegaConf

from unigen.data.base import TensorData
from unigen.errors import UserError
from unigen.programs import DataInfo
from unigen.roles import needed_roles

#: the value of the ``unigen.format`` metadata key (bumped if the layout changes)
FORMAT = "unigen-export-1"


def metadata(built, config: dict) -> dict[str, str]:
    """The safetensors metadata of a run and its saved config (all values strings, as the format requires)."""
    import unigen

    info = built.info
    data_info = {"shape": list(info.shape), "num_classes": info.num_classes, "support": info.support,
                 "labelled": built.train_data.c is not None}
    return {"unigen.format": FORMAT, "unigen.version": unigen.__version__,
            "unigen.config": json.dumps(config, sort_keys=True),
            "unigen.data_info": json.dumps(data_info)}


def export_run(run: str | Path, path: str | Path, force: bool = False) -> Path:
    """Write the trained programs of ``run`` (a run directory) to ``path`` (``.safetensors``).

    An existing ``path`` is refused unless ``force``; the file is written beside it first and renamed,
    so an interrupted export never leaves half a file under that name.
    """
    from safetensors.torch import save_model

    from unigen.config import resolve
    from unigen.rundir import disk_errors
    from unigen.run import load_run

    path = Path(path)
    if path.suffix != ".safetensors":
        raise UserError(f"-o {path}: an export is a .safetensors file; name it e.g. -o {path.with_suffix('.safetensors')}")
    if path.is_dir():
        raise UserError(f"-o {path} is a directory; name a file in it, e.g. -o {path / 'model.safetensors'}")
    if not path.parent.is_dir():
        raise UserError(f"-o {path}: the folder {path.parent} does not exist; create it first")
    if path.exists() and not force:
        raise UserError(f"-o {path} already exists; choose another name, or pass --force to replace it")
    if Path(run).suffix == ".safetensors":
        raise UserError(f"{run} is already an export; export a run directory")
    built = load_run(run, "cpu")  # the weights, read on the host; the config as the run saved it (its device)
    config = OmegaConf.to_container(resolve(Path(run) / "config.yaml").config)
    tmp = path.with_name(f".{path.name}.tmp")
    with disk_errors(path.parent):
        try:
            save_model(built.programs, str(tmp), metadata=metadata(built, config))
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
    return path


def read_metadata(path: Path) -> dict[str, str]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"{path} is not a readable safetensors file ({str(e).splitlines()[0][:100]}); "
                        f"write it with `unigen export RUN -o {path.name}`") from None
    if meta.get("unigen.format") != FORMAT:
        raise UserError(f"{path} was not written by `unigen export` (no {FORMAT!r} metadata); "
                        f"export a run with `unigen export RUN -o FILE.safetensors`")
    return meta


def load_export(path: str | Path, device: str | None = None):
    """Rebuild the programs of an exported run on ``device`` (default: the run's own) and load its weights."""
    from safetensors.torch import load_model

    from unigen.run import Built, _resolve_saved, check_finite, pick_device, seed_everything

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist; pass a run directory or a file written by `unigen export`")
    meta = read_metadata(path)
    try:
        config, data = json.loads(meta["unigen.config"]), json.loads(meta["unigen.data_info"])
        info = DataInfo(tuple(data["shape"]), data["num_classes"], data["support"])
    except (KeyError, TypeError, ValueError) as e:
        raise UserError(f"{path}: damaged unigen metadata ({type(e).__name__}); export the run again") from None
    resolved = _resolve_saved(config, path, device)
    dev = pick_device(resolved.config.train.device)
    seed_everything(resolved.config.train.seed)
    pyro.enable_validation(False)
    programs = resolved.model.build(info, roles=needed_roles(resolved.strategy)).to(dev)  # the roles trained
    try:
        missing, unexpected = load_model(programs, str(path), strict=False, device=str(dev))
    except (RuntimeError, ValueError) as e:
        raise UserError(f"{path} does not fit model {resolved.config.model.name!r} "
                        f"({str(e).splitlines()[0][:120]}); export the run again") from None
    if missing or unexpected:
        raise UserError(f"{path} does not fit model {resolved.config.model.name!r} "
                        f"({len(missing)} missing, {len(unexpected)} unexpected tensors); export the run again")
    check_finite(programs, path)
    programs.eval()
    empty = torch.empty(0, *info.shape, device=dev)
    c = torch.empty(0, dtype=torch.long, device=dev) if data.get("labelled") else None
    return Built(resolved, programs, TensorData._trusted(empty, c, info, f"{path.name} (no data)"), dev)
