"""Drawing from a trained run's programs and writing the samples (``unigen sample``, ``samples.png``, training
snapshots): a class for conditional models, the file format by suffix."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from unigen import plots
from unigen.assemble import Built, seed_everything, seeded
from unigen.errors import UserError
from unigen.rundir import atomic_path
from unigen.scoring import generate

#: the folder of ``train.sample_every``'s sample grids inside a run directory
SNAPSHOTS = "samples"


def check_label(built: Built, label: int | None) -> None:
    """Refuse, in one line, a class for an unconditional model or one outside ``0..K-1``."""
    if label is None:
        return
    if not built.conditional or not uses_labels(built):
        raise UserError(f"--class {label}: this model is unconditional (model {built.config.model.name!r}, "
                        f"strategy {built.config.strategy.name!r}); drop --class, or train with "
                        f"model.conditional=true")
    k = built.info.num_classes
    if not 0 <= label < k:
        raise UserError(f"--class {label} is out of range: this model has {k} classes, 0..{k - 1}")


@torch.no_grad()
def draw_labelled(built: Built, n: int, label: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``n`` samples from the trained generator and the labels they were drawn with: class ``label``
    for all, else uniform over the classes for labelled data, ``None`` otherwise."""
    built.programs.eval()
    k = built.info.num_classes
    if label is not None:
        c = torch.full((n,), label, dtype=torch.long, device=built.device)
    else:
        c = torch.randint(k, (n,), device=built.device) if built.conditional else None
    x, _ = generate(built.programs, n, c)
    return x, c


def draw(built: Built, n: int) -> torch.Tensor:
    """``n`` samples from the trained generator (labels drawn uniformly if conditional)."""
    return draw_labelled(built, n)[0]


#: what ``write_samples`` writes, by the file's suffix
SAMPLE_FORMATS = (".png", ".npz", ".npy", ".pt")


def no_samples(built: Built) -> str | None:
    """Why these programs draw no new examples to write (a two-domain strategy), or ``None`` when they do."""
    if built.resolved.strategy.needs.domains:
        return ("the strategy reads two domains: its model maps examples of one domain to the other (or labels "
                "them) rather than drawing new ones, so there are no samples to draw; use the programs in Python "
                "(unigen.load_run(RUN).programs)")
    return None


def write_samples(built: Built, path: Path, n: int | None = None, label: int | None = None,
                  seed: int | None = None, step: int | None = None) -> int:
    """Draw ``n`` samples (by default 2,500 of 2-D data, 64 images) and write them by ``path``'s suffix:
    ``.png`` (an image grid, or a scatter over the data for 2-D), ``.npz`` (arrays ``x`` and, for a
    conditional model, ``c``), ``.npy`` (``x``) or ``.pt`` (a dict of tensors ``x``, ``c``, readable with
    ``torch.load(weights_only=True)``). ``seed`` seeds every generator first: the same seed gives the same
    samples. Returns how many were drawn."""
    path = Path(path)
    info = built.info
    n = n or (2500 if len(info.shape) == 1 else 64)
    if seed is not None:
        seed_everything(seed)
    if no_samples(built):
        raise UserError(no_samples(built))
    x, c = draw_labelled(built, n, label)
    x, c = x.detach().cpu(), None if c is None or not uses_labels(built) else c.cpu()
    suffix = path.suffix.lower()
    if suffix in (".npz", ".npy", ".pt"):
        with atomic_path(path) as tmp:  # the temporary keeps the suffix: numpy adds none
            if suffix == ".npz":
                np.savez(tmp, **{"x": x.numpy(), **({} if c is None else {"c": c.numpy()})})
            elif suffix == ".npy":
                np.save(tmp, x.numpy())
            else:
                torch.save({"x": x, **({} if c is None else {"c": c})}, tmp)
    else:  # plots.save_samples writes through a temporary too
        ref = built.train_data.x[:n] if len(info.shape) == 1 else None
        cfg = built.config
        title = f"{cfg.strategy.name} on {cfg.data.name}" + (f", class {label}" if label is not None else "")
        spec = getattr(getattr(built, "resolved", None), "data", None)
        centres = spec.centres() if hasattr(spec, "centres") else None  # ring / grid: mark the modes
        plots.save_samples(x, path, support=info.support, reference=ref, title=title, centres=centres,
                           step=built.step if step is None else step)  # a loaded run: its step
    return n


@contextmanager
def truncated(built: Built, threshold: float | None):
    """Draws inside it take their Gaussian latents from the prior truncated at ``threshold`` standard deviations
    (:class:`unigen.truncation.Truncate`; nothing changes for ``None``); yields the messenger, or ``None``. A
    threshold that truncates no latent is refused in one line."""
    if threshold is None:
        yield None
        return
    from unigen.truncation import Truncate, require_truncated

    if no_samples(built) is None:  # one draw first: refuse before any file is written
        with seeded(built), Truncate(threshold, skip=built.programs.obs_name) as probe:
            draw_labelled(built, 1)
        require_truncated(probe, built.config.strategy.name)
    with Truncate(threshold, skip=built.programs.obs_name) as truncate:
        yield truncate


def uses_labels(built: Built) -> bool:
    """Whether generation depends on the label (a conditional model)."""
    return built.resolved.strategy.needs.labels != "none" or bool(getattr(built.resolved.model, "conditional", False))


def snapshot(built: Built, path: Path, step: int) -> None:
    """Write a sample grid during training without touching its random streams or its train/eval mode:
    every snapshot draws the same noise (``train.seed``), so successive ones show the model changing. Its title
    names the training ``step``."""
    if path.parent.exists() and not path.parent.is_dir():
        raise UserError(f"{path.parent} is a file where the run keeps its training snapshots "
                        f"(train.sample_every); move it away, or set train.sample_every=0")
    path.parent.mkdir(exist_ok=True)
    with seeded(built):
        write_samples(built, path, step=step)
