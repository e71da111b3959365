"""PNG figures of a run: a sample grid (images) or scatter (2-D data), and the loss curves."""
from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from einops import rearrange  # noqa: E402
from torch import Tensor  # noqa: E402


def image_grid(x: Tensor, support: str = "unit") -> Tensor:
    """Tile images ``(N, C, H, W)`` into one ``(rows*H, cols*W, C)`` array in [0, 1]."""
    x = x.detach().float().cpu()
    if support == "symmetric":
        x = (x + 1) / 2
    n = x.shape[0]
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    pad = torch.zeros(rows * cols - n, *x.shape[1:])
    x = torch.cat([x, pad]).clamp(0, 1)
    return rearrange(x, "(r c) ch h w -> (r h) (c w) ch", r=rows, c=cols)


# What each logged series means, as a panel title. Players' losses first (in this order), then diagnostics
# (those of DIAGNOSTICS first, in its order, then the rest sorted).
PLAYERS = ("discriminator", "latent_discriminator", "critic", "generator", "vae", "autoencoder", "model", "guide")
DIAGNOSTICS = ("d_real", "d_fake", "penalty", "bound", "reconstruction", "adversarial")
#: the shared vocabulary of logged names (players' losses and the diagnostics every strategy family uses); a
#: strategy's own names and their meanings are its ``meanings`` (:attr:`unigen.strategy.Strategy.meanings`)
COMMON_MEANINGS = {
    "discriminator": "discriminator loss (nats for BCE critics)",
    "generator": "generator loss (nats for the BCE-based GANs)",
    "vae": "VAE loss: − bound per example (nats)",
    "model": "the model player's loss (nats)",
    "guide": "the guide player's loss (nats)",
    "d_real": "mean critic logit on real data (AAE: on prior draws of z; AVB: on encoder pairs)",
    "d_fake": "mean critic logit on generated data (AAE: on codes of q(z | x); AVB: on prior pairs)",
    "penalty": "critic penalty, before its weight",
    "lecam": "LeCam regulariser of the critic, before its weight",
    "bound": "the strategy's lower bound on log p(x) per example (nats)",
    "kl_weight": "β_t, the weight of the KL part of the bound in training (β-VAE, KL warm-up)",
    "ess": "effective sample size of the importance weights",
    "reconstruction": "reconstruction: − log p(x | z) per example (nats)",
    "adversarial": "adversarial term of the loss",
    "ada_r": "ADA's r_t = E[sign D(x_real)] over the window (p moves to keep it at train.ada_target)",
    "ada_p": "ADA's augmentation probability p after this log step's update",
    "scaler_skips": "steps fp16's gradient scalers skipped for overflowing gradients (train.precision=fp16)",
    "skipped_steps": "updates skipped for a non-finite value (train.on_nan=skip)",
}


def limits(points: Tensor, pad: float = 0.12) -> tuple[tuple[float, float], tuple[float, float]]:
    """Square axis limits ``((x0, x1), (y0, y1))`` around 2-D ``points``: both axes share the larger span,
    plus ``pad`` of it on each side, so that an equal-aspect plot shows every point."""
    p = points.detach().float().cpu()
    lo, hi = p.min(0).values, p.max(0).values
    mid, half = (lo + hi) / 2, float((hi - lo).max()) / 2
    half = max(half, 1e-3) * (1 + 2 * pad)
    return (float(mid[0]) - half, float(mid[0]) + half), (float(mid[1]) - half, float(mid[1]) + half)


def save_samples(x: Tensor, path: str | Path, support: str = "unit", reference: Tensor | None = None,
                 title: str = "", centres: Tensor | None = None, step: int | None = None) -> None:
    """Write generated samples: a scatter over the real data for 2-D, an image grid otherwise.

    For 2-D data the axes have equal aspect and limits from the reference data and the mode ``centres`` (when
    given; else from the samples), so that a collapsed generator is shown as collapsed; generated points outside
    those limits are counted in the title. ``step`` (the training step) is added to the title.
    """
    fig, ax = plt.subplots(figsize=(5, 5.4))
    title = f"{title}, step {step}" if step is not None and title else (f"step {step}" if step is not None else title)
    if x.dim() == 2 and x.shape[1] == 2:
        g = x.detach().float().cpu()
        frame = [t.detach().float().cpu() for t in (reference, centres) if t is not None]
        finite = g[torch.isfinite(g).all(1)]
        (x0, x1), (y0, y1) = limits(torch.cat(frame) if frame else (finite if len(finite) else torch.zeros(1, 2)))
        if reference is not None:
            r = reference.detach().cpu()
            ax.scatter(r[:, 0], r[:, 1], s=2, c="tab:gray", alpha=0.3, label="data", rasterized=True)
        ax.scatter(g[:, 0], g[:, 1], s=2, c="tab:red", alpha=0.5, label="generated", rasterized=True)
        if centres is not None:
            c = centres.detach().cpu()
            ax.scatter(c[:, 0], c[:, 1], s=60, marker="+", c="k", lw=1, label="mode centres")
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_aspect("equal")
        ax.set_xlabel("x₁")
        ax.set_ylabel("x₂")
        outside = int((~((g[:, 0] >= x0) & (g[:, 0] <= x1) & (g[:, 1] >= y0) & (g[:, 1] <= y1))).sum())
        if outside:
            title = f"{title}\n{outside} of {len(g)} generated points outside the axes"
        legend = ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3, fontsize=8, frameon=False)
        for handle in legend.legend_handles:  # legible markers, whatever the plotted sizes
            handle.set_sizes([25])
    elif x.dim() == 4:
        grid = image_grid(x, support).numpy()
        ax.imshow(grid.squeeze(-1) if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=1)
        ax.axis("off")
    else:  # 1-D or other vector data: a histogram of the first coordinate
        ax.hist(x.detach().cpu().reshape(x.shape[0], -1)[:, 0].numpy(), bins=60, alpha=0.7, label="generated")
        if reference is not None:
            ax.hist(reference.detach().cpu().reshape(reference.shape[0], -1)[:, 0].numpy(), bins=60,
                    alpha=0.4, label="data")
        ax.set_xlabel("x₁ (first coordinate)")
        ax.set_ylabel("count")
        ax.legend()
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def meaning(key: str, meanings: dict[str, str] | None = None) -> str:
    """A panel's title: the strategy's ``meanings``, then :data:`COMMON_MEANINGS`, or the per-player series
    ``lr/NAME`` and ``grad_norm/NAME``."""
    kind, _, player = key.partition("/")
    if player and kind == "lr":
        return f"learning rate of {player}"
    if player and kind == "grad_norm":
        return f"gradient 2-norm of {player}'s last update"
    return (meanings or {}).get(key) or COMMON_MEANINGS.get(key, "logged value")


def _smoothed(ys: list[float], window: int) -> list[float]:
    """Trailing moving average over ``window`` points (shorter at the start)."""
    out, total = [], 0.0
    for i, y in enumerate(ys):
        total += y
        if i >= window:
            total -= ys[i - window]
        out.append(total / min(i + 1, window))
    return out


def series_order(keys, players=None) -> list[str]:
    """Logged series in plotting order: the players' losses (``players``, default :data:`PLAYERS`), then the
    diagnostics, each group in a stable order."""
    players = tuple(players) if players is not None else PLAYERS
    first = [k for k in players if k in keys]
    known = [k for k in DIAGNOSTICS if k in keys and k not in first]
    return first + known + sorted(k for k in keys if k not in first and k not in known)


def _json_row(line: str) -> dict | None:
    """A ``metrics.jsonl`` line as its row; a torn or garbage line is no row (a resume keeps it aside and says so)."""
    try:
        row = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return row if isinstance(row, dict) and isinstance(row.get("step"), (int, float)) else None


def save_curves(metrics_path: str | Path, path: str | Path, players=None, smooth: int | None = None,
                meanings: dict[str, str] | None = None) -> None:
    """Plot the logged series of a ``metrics.jsonl`` against the step, one titled panel per series: the
    players' losses first, then the diagnostics (:func:`meaning` gives each title, from the strategy's ``meanings``).

    :param players: the strategy's player names (default: :data:`PLAYERS`, the names strategies use).
    :param smooth: moving-average window in logged points, drawn over the faint raw curve; ``None`` picks one
        twentieth of the points, 0 or 1 draws the raw curve only.
    """
    rows = [r for r in map(_json_row, Path(metrics_path).read_text(errors="replace").splitlines()) if r is not None]
    rows = [r for r in rows if r.get("kind", "train") == "train"]
    keys = series_order({k for r in rows for k, v in r.items()  # numbers only (not a "nonfinite" note)
                         if k not in ("step", "kind", "time") and isinstance(v, (int, float))}, players)
    if not keys:
        return
    fig, axes = plt.subplots(len(keys), 1, figsize=(6.4, 1.9 * len(keys) + 0.4), sharex=True, squeeze=False)
    for ax, k in zip(axes[:, 0], keys):
        pts = [(r["step"], r[k]) for r in rows if k in r and r[k] is not None]
        steps, ys = [p[0] for p in pts], [float(p[1]) for p in pts]
        window = max(1, len(ys) // 20) if smooth is None else max(1, smooth)
        if window > 1:
            ax.plot(steps, ys, lw=0.8, alpha=0.3, color="C0")
            ax.plot(steps, _smoothed(ys, window), lw=1.4, color="C0", label=f"moving average of {window}")
            ax.legend(loc="best", fontsize=7, frameon=False)
        else:
            ax.plot(steps, ys, lw=1, color="C0")
        role = "player" if k in (players if players is not None else PLAYERS) else "diagnostic"
        ax.set_title(f"{k} ({role}): {meaning(k, meanings)}", fontsize=9, loc="left")
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("training step")
    fig.tight_layout()
    save_figure(fig, path)


def save_figure(fig, path: str | Path, dpi: int = 110) -> None:
    """Save ``fig`` to ``path`` through a temporary file and a rename (:func:`unigen.rundir.atomic_path`: a full
    disk leaves the old figure or none, never a 0-byte one; a link at ``path`` is replaced), then close it."""
    from unigen.rundir import atomic_path

    path = Path(path)
    try:
        with atomic_path(path) as tmp:  # the format by path's suffix, as savefig(path) picks it
            fig.savefig(tmp, dpi=dpi, format=path.suffix[1:].lower() or None)
    finally:
        plt.close(fig)
