r"""Image grids of a trained model: latent interpolations and a class × sample grid.

Both work on any model program, because its latent sites are found by tracing it
(:func:`unigen.scoring.latent_names`), never by name, and the model is re-run with
``poutine.condition`` on chosen latent values:

* :func:`interpolate` draws two latent values per row, :math:`z_a` and :math:`z_b`, and decodes
  :math:`z_t` at ``steps`` evenly spaced :math:`t \in [0, 1]`: linearly, :math:`(1 - t) z_a + t z_b`, or
  spherically, :math:`\frac{\sin((1-t)\Omega)}{\sin\Omega} z_a + \frac{\sin(t\Omega)}{\sin\Omega} z_b` with
  :math:`\cos\Omega = \hat z_a \cdot \hat z_b` per example (Shoemake, 1985; White, 2016), which keeps a
  Gaussian latent at a typical norm. Discrete latents (an InfoGAN category, M2's label) are not
  interpolated: each row keeps :math:`z_a`'s.
* :func:`class_grid` draws one latent value per column and decodes it under every class, one row per class.
* :func:`reconstruct` puts test inputs above their reconstructions through the guide (any model with one).
* ``--from-data`` interpolates between real test inputs: :func:`encode` puts each through the guide (its
  posterior mean), and each row shows :math:`x_a`, the decoded path, then :math:`x_b` (pythae's
  ``interpolate(x_start, x_end)``).
"""
from __future__ import annotations

from pathlib import Path

import torch
from einops import rearrange
from pyro import poutine
from torch import Tensor

from unigen.programs import Programs
from unigen.scoring import latent_names, observed_value, sample_model, trace_guide

METHODS = ("linear", "spherical")


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation per example: ``a``, ``b`` ``(batch, ...)``, ``t`` ``(steps,)`` -> ``(batch, steps, ...)``."""
    fa, fb = a.reshape(a.shape[0], 1, -1), b.reshape(b.shape[0], 1, -1)  # (batch, 1, d)
    cos = (fa * fb).sum(-1, keepdim=True) / (fa.norm(dim=-1, keepdim=True) * fb.norm(dim=-1, keepdim=True))
    omega = cos.clamp(-1, 1).acos()  # (batch, 1, 1)
    t = t.reshape(1, -1, 1)
    near = omega.abs() < 1e-4  # (almost) parallel: the linear path is the spherical one
    so = omega.sin().where(~near, torch.ones_like(omega))
    wa = (((1 - t) * omega).sin() / so).where(~near, 1 - t)
    wb = ((t * omega).sin() / so).where(~near, t)
    return (wa * fa + wb * fb).reshape(a.shape[0], t.shape[1], *a.shape[1:])


def lerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """``(1 - t) a + t b``: ``a``, ``b`` ``(batch, ...)``, ``t`` ``(steps,)`` -> ``(batch, steps, ...)``."""
    t = t.reshape(1, -1, *([1] * (a.dim() - 1)))
    return (1 - t) * a.unsqueeze(1) + t * b.unsqueeze(1)


def _continuous(site: dict) -> bool:
    return bool(site["fn"].has_rsample) and site["value"].is_floating_point()


def _ends(trace: poutine.Trace) -> dict[str, tuple[Tensor, bool]]:
    """``{latent: (value, continuous)}`` of a model trace: where an interpolation starts or ends."""
    return {name: (trace.nodes[name]["value"], _continuous(trace.nodes[name])) for name in latent_names(trace)}


@torch.no_grad()
def encode(programs: Programs, x: Tensor, c: Tensor | None = None) -> dict[str, tuple[Tensor, bool]]:
    r"""Where the guide puts ``x``: each latent's posterior mean :math:`\mathbb E_{q(z \mid x)}[z]` where its
    distribution has one (a Gaussian guide's location: the same inputs give the same grid), else its draw (an
    implicit or discrete latent); ``{latent: (value, continuous)}`` as :func:`interpolate` takes them."""
    tr = trace_guide(programs.guide, x, c)
    out = {}
    for name, (value, continuous) in _ends(tr).items():
        if continuous:
            try:
                mean = tr.nodes[name]["fn"].mean
                value = mean if mean.shape == value.shape and bool(mean.isfinite().all()) else value
            except NotImplementedError:  # a transformed or implicit guide: its draw
                pass
        out[name] = (value, continuous)
    return out


@torch.no_grad()
def interpolate(programs: Programs, rows: int, steps: int, c: Tensor | None = None,
                method: str = "linear", ends: tuple[dict, dict] | None = None) -> Tensor:
    """``rows × steps`` samples, row-major: row ``i`` walks from one latent value to another.

    :param c: labels ``(rows,)`` of a conditional model (each row keeps its label), or ``None``.
    :param ends: the latents to walk between, two ``{latent: (value, continuous)}`` with ``rows`` examples each
        (:func:`encode` of two sets of inputs); by default two draws from the prior.
    :returns: ``(rows * steps, *event_shape)``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if ends is None:
        ends = _ends(sample_model(programs, rows, c)), _ends(sample_model(programs, rows, c))
    first, last = ends
    mix = lerp if method == "linear" else slerp
    values = {}
    for name, (va, continuous) in first.items():  # the drawn data site is not among them
        vb = last[name][0]
        if va.dim() == 0 or va.shape[0] != rows:  # a global latent: one value for the whole grid
            values[name] = va
        elif continuous:
            t = torch.linspace(0, 1, steps, device=va.device, dtype=va.dtype)
            values[name] = mix(va, vb, t).reshape(rows * steps, *va.shape[1:])
        else:
            values[name] = va.repeat_interleave(steps, dim=0)
    cs = None if c is None else c.repeat_interleave(steps)
    return observed_value(programs, sample_model(programs, rows * steps, cs,
                                                 model=poutine.condition(programs.model, data=values)))


@torch.no_grad()
def class_grid(programs: Programs, num_classes: int, cols: int, device: torch.device) -> Tensor:
    """``num_classes × cols`` samples, row ``k`` of class ``k``; column ``j`` shares its latent draw.

    :returns: ``(num_classes * cols, *event_shape)``.
    """
    first = sample_model(programs, cols, torch.zeros(cols, dtype=torch.long, device=device))
    values = {}
    for name in latent_names(first):
        v = first.nodes[name]["value"]
        values[name] = v if v.dim() == 0 or v.shape[0] != cols else v.repeat(num_classes, *([1] * (v.dim() - 1)))
    c = torch.arange(num_classes, device=device).repeat_interleave(cols)
    return observed_value(programs, sample_model(programs, num_classes * cols, c,
                                                 model=poutine.condition(programs.model, data=values)))


def tile(x: Tensor, rows: int, cols: int, support: str = "unit") -> Tensor:
    """Images ``(rows * cols, C, H, W)`` (row-major) as one ``(rows*H, cols*W, C)`` array in [0, 1]."""
    x = x.detach().float().cpu()
    if support == "symmetric":
        x = (x + 1) / 2
    return rearrange(x.clamp(0, 1), "(r c) ch h w -> (r h) (c w) ch", r=rows, c=cols)


def save_grid(x: Tensor, rows: int, cols: int, path: str | Path, support: str = "unit",
              row_labels: list[str] | None = None, title: str = "") -> None:
    """Write a ``rows × cols`` image grid as a PNG, with optional labels on the left of the rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = tile(x, rows, cols, support).numpy()
    h = grid.shape[0] / rows
    fig, ax = plt.subplots(figsize=(max(3.0, 0.5 * cols + 1), max(3.0, 0.5 * rows + 0.6)))
    ax.imshow(grid.squeeze(-1) if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    if row_labels:
        ax.set_yticks([h * (i + 0.5) for i in range(rows)], row_labels)
        ax.tick_params(length=0)
    else:
        ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


@torch.no_grad()
def reconstruct(programs: Programs, x: Tensor, c: Tensor | None = None) -> Tensor:
    r"""``x`` ``(n, ...)`` above its reconstruction: the guide's latents :math:`z \sim q(z \mid x)`, the model
    replayed on them with its data site drawn (:func:`~unigen.scoring.observed_value`); ``(2n, ...)``, row-major."""
    guide_tr = trace_guide(programs.guide, x, c)
    x_hat = observed_value(programs, sample_model(programs, x.shape[0], c, replay=guide_tr, like=x))
    return torch.cat([x, x_hat.reshape(x.shape)])


def write_grid(built, kind: str, path: Path, num: int | None, label: int | None, steps: int, method: str,
               seed: int, from_data: bool = False) -> str:
    """Write ``unigen sample --grid KIND`` (``interpolate``, ``classes`` or ``reconstruct``) to ``path``; return what
    was written."""
    from unigen.assemble import seed_everything
    from unigen.errors import UserError
    from unigen.rundir import atomic_path
    from unigen.sampling import uses_labels

    info = built.info
    if len(info.shape) != 3:
        raise UserError(f"--grid {kind} needs an image model; this run's data have shape {tuple(info.shape)}: "
                        f"draw a scatter with `unigen sample RUN -o samples.png` instead")
    conditional = built.conditional and uses_labels(built)
    seed_everything(seed)
    title = f"{built.config.strategy.name} on {built.config.data.name}" + (
        f", step {built.step:,}" if built.step is not None else "")
    if kind == "reconstruct":
        if not built.programs.has("guide"):
            raise UserError(f"--grid reconstruct needs a model with a guide (a VAE, ALI, AAE...); strategy "
                            f"{built.config.strategy.name!r} trained none: use --grid interpolate")
        cols = num or 8
        x, c = _test_inputs(built, cols, seed)
        with atomic_path(path) as tmp:
            save_grid(reconstruct(built.programs, x, c), 2, cols, tmp, info.support, row_labels=["x", "x̂"],
                      title=f"{title}: test inputs and their reconstructions")
        return f"a 2 × {cols} grid of test inputs and their reconstructions"
    if kind == "classes":
        if not conditional:
            raise UserError(f"--grid classes needs a conditional model; this one (model {built.config.model.name!r}, "
                            f"strategy {built.config.strategy.name!r}) ignores labels: use --grid interpolate")
        k, cols = info.num_classes, num or 10
        x = class_grid(built.programs, k, cols, built.device)
        with atomic_path(path) as tmp:
            save_grid(x, k, cols, tmp, info.support, row_labels=[str(i) for i in range(k)], title=title)
        return f"{article(k)} {k} × {cols} class grid"
    rows = num or 8
    c = None
    if label is not None:
        c = torch.full((rows,), label, dtype=torch.long, device=built.device)
    elif conditional:  # each row of a conditional model keeps one random class
        c = torch.randint(info.num_classes, (rows,), device=built.device)
    if from_data:
        return _from_data(built, path, rows, steps, method, seed, title)
    x = interpolate(built.programs, rows, steps, c, method=method)
    labels = None if c is None else [str(v) for v in c.tolist()]
    with atomic_path(path) as tmp:
        save_grid(x, rows, steps, tmp, info.support, row_labels=labels,
                        title=f"{title}: {method} interpolation")
    return f"{article(rows)} {rows} × {steps} {method} interpolation grid"


def _test_inputs(built, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``n`` test inputs (fewer when the split is smaller) drawn with ``seed``, on the run's device, with their labels
    where the model uses them."""
    from unigen.sampling import uses_labels

    test = built.resolved.data.load("test")
    idx = torch.randperm(len(test.x), generator=torch.Generator().manual_seed(seed))[:n]
    x = test.x[idx].to(built.device)
    return x, test.c[idx].to(built.device) if test.c is not None and uses_labels(built) else None


def _from_data(built, path: Path, rows: int, steps: int, method: str, seed: int, title: str) -> str:
    """``--grid interpolate --from-data``: rows of ``x_a``, the decoded path between the guide's encodings, ``x_b``."""
    from unigen.errors import UserError
    from unigen.rundir import atomic_path

    if not built.programs.has("guide"):
        raise UserError(f"--from-data encodes test inputs through the guide; strategy {built.config.strategy.name!r} "
                        f"trained none: drop --from-data to interpolate between prior draws")
    x, c = _test_inputs(built, 2 * rows, seed)
    if len(x) < 2 * rows:
        raise UserError(f"-n {rows}: --from-data needs {2 * rows} test inputs and the test split has {len(x)}; "
                        f"use -n {max(1, len(x) // 2)}")
    ca, cb = (None, None) if c is None else (c[:rows], c[rows:])
    ends = encode(built.programs, x[:rows], ca), encode(built.programs, x[rows:], cb)
    path_x = interpolate(built.programs, rows, steps, ca, method=method, ends=ends)
    path_x = path_x.reshape(rows, steps, *x.shape[1:])
    grid = torch.cat([x[:rows, None], path_x, x[rows:, None]], dim=1).reshape(rows * (steps + 2), *x.shape[1:])
    labels = None if ca is None else [str(v) for v in ca.tolist()]
    with atomic_path(path) as tmp:
        save_grid(grid, rows, steps + 2, tmp, built.info.support, row_labels=labels,
                  title=f"{title}: x_a to x_b ({method}, encoded)")
    return f"{article(rows)} {rows} × {steps} {method} interpolation grid between encoded test inputs"


def article(n: int) -> str:
    """The article before a number said aloud: "an 8", "an 11", "an 18", "a 10"."""
    return "an" if str(n).startswith("8") or n in (11, 18) else "a"
