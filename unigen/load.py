"""``unigen.load_run``: a trained run from a run directory or from a ``unigen export`` file."""
from __future__ import annotations

from pathlib import Path

from unigen.run import Built


def load_run(path: str | Path, device: str | None = None) -> Built:
    """A trained run, ready to sample: ``load_run("runs/mnist_vae").programs`` and ``.config``.

    ``path`` is a run directory (its ``config.yaml`` and ``checkpoint.pt``, :func:`unigen.run.load_run`) or
    a file written by ``unigen export`` (``.safetensors``, :func:`unigen.export.load_export`). The
    programs are in eval mode.
    """
    if Path(path).suffix == ".safetensors":
        from unigen.export import load_export

        return load_export(path, device)
    from unigen.run import load_run as load_run_dir

    return load_run_dir(path, device)
