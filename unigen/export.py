"""``unigen export``: a trained run's weights as one ``.safetensors`` file that needs no pickle and no run directory.

The file holds every role's parameters and persistent buffers (``Programs.state_dict()``; a tensor that
two roles share, such as M2's classifier, is stored once) and, in the safetensors metadata:

* ``unigen.config`` — the run's resolved config as JSON (model, strategy, data, train, eval);
* ``unigen.data_info`` — the shape, class count and support the programs were built for, and whether the
  data were labelled, so that :func:`unigen.loading.load_export` rebuilds the programs without loading any data;
* ``unigen.format`` and ``unigen.version``.

:func:`unigen.load_run`, given such a file, returns the same
:class:`~unigen.assemble.Built` as a run directory: sampling it with the same seed gives the same samples.
"""
from __future__ import annotations

import json
from pathlib import Path

from omegaconf import OmegaConf

from unigen.environment import environment
from unigen.errors import UserError
from unigen.loading import FORMAT, load_run


def metadata(built, config: dict) -> dict[str, str]:
    """The safetensors metadata of a run and its saved config (all values strings, as the format requires)."""
    import unigen

    info = built.info
    data_info = {"shape": list(info.shape), "num_classes": info.num_classes, "support": info.support,
                 "labelled": built.train_data.c is not None}
    return {"unigen.format": FORMAT, "unigen.version": unigen.__version__,
            "unigen.config": json.dumps(config, sort_keys=True),
            "unigen.data_info": json.dumps(data_info),
            "unigen.environment": json.dumps(environment(built.device))}  # what exported it (unigen.environment)


def export_run(run: str | Path, path: str | Path, force: bool = False) -> Path:
    """Write the trained programs of ``run`` (a run directory) to ``path`` (``.safetensors``).

    An existing ``path`` is refused unless ``force``; the file is written beside it first and renamed,
    so an interrupted export never leaves half a file under that name.
    """
    from safetensors.torch import save_model

    from contextlib import nullcontext

    from unigen.config import resolve
    from unigen.rundir import RunLock, atomic_path, check_names, disk_errors, own_file, run_of

    path = Path(path)
    check_names(path, "-o")
    if path.suffix != ".safetensors":
        raise UserError(f"-o {path}: an export is a .safetensors file; name it e.g. -o {path.with_suffix('.safetensors')}")
    if path.is_dir():
        raise UserError(f"-o {path} is a directory; name a file in it, e.g. -o {path / 'model.safetensors'}")
    if not path.parent.is_dir():
        what = "is not a folder" if path.parent.exists() else "does not exist; create it first"
        raise UserError(f"-o {path}: the folder {path.parent} {what}" + ("; name a file in a folder"
                                                                        if path.parent.exists() else ""))
    if (path.exists() or path.is_symlink()) and not force:
        raise UserError(f"-o {path} already exists; choose another name, or pass --force to replace it")
    own = own_file(path)
    if own is not None:
        raise UserError(f"-o {path} is {own}; an export never replaces a run's own files, with or without --force: "
                        f"name another file")
    if Path(run).suffix == ".safetensors":
        raise UserError(f"{run} is already an export; export a run directory")
    into = run_of(path)  # an export written into a run directory waits for no training there
    with RunLock(into, shared=True, fix="wait for its training to finish, or write the export outside the run") \
            if into is not None else nullcontext():
        built = load_run(run, "cpu")  # the weights, read on the host; the config as the run saved it (its device)
        config = OmegaConf.to_container(resolve(Path(run) / "config.yaml").config)
        with disk_errors(path.parent), atomic_path(path) as tmp:  # the umask's mode, like a run's files
            save_model(built.programs, str(tmp), metadata=metadata(built, config))
    return path
