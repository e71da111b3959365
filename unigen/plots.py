"""PNG figures of a run: a sample grid (images) or scatter (2-D data), and the loss curves."""
from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter  # noqa: E402
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
    "d_real": "mean critic logit on real data",
    "d_fake": "mean critic logit on generated data",
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
    title = ", ".join(t for t in (title, f"step {step:,}" if step is not None else "") if t)
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


def meaning(key: str, meanings: dict[str, str] | None = None, bce: bool = False) -> str:
    """A panel's title: the strategy's ``meanings``, then (for a critic's binary cross-entropy, ``bce``) what it is,
    then :data:`COMMON_MEANINGS`, or the per-player series ``lr/NAME`` and ``grad_norm/NAME``."""
    kind, _, player = key.partition("/")
    if player and kind == "lr":
        return f"learning rate of {player}"
    if player and kind == "grad_norm":
        return f"gradient 2-norm of {player}'s last update"
    own = (meanings or {}).get(key)
    if own:
        return own
    if bce:
        return "the critic's binary cross-entropy, real against generated (nats)"
    return COMMON_MEANINGS.get(key, "logged value")


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


def read_rows(metrics_path: str | Path) -> list[dict]:
    """The training rows (``kind`` ``train``) of a ``metrics.jsonl``, torn lines left out."""
    rows = [r for r in map(_json_row, Path(metrics_path).read_text(errors="replace").splitlines()) if r is not None]
    return [r for r in rows if r.get("kind", "train") == "train"]


#: the largest side of ``losses.png`` in pixels, whatever the number of series; the figure's DPI
MAX_SIDE, DPI = 1600, 110
#: a BCE critic's loss where it cannot tell the two apart (D = 1/2): −log ½ − log ½
TWO_LN2 = 2 * math.log(2)
#: the per-player series drawn together, one panel for all players
GROUPS = {"lr": "learning rates (drawn raw)", "grad_norm": "gradient 2-norms of the players' last updates"}


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _points(rows: list[dict], key: str) -> tuple[list[float], list[float]]:
    """The finite ``(steps, values)`` of ``key``."""
    pts = [(float(r["step"]), float(r[key])) for r in rows if _number(r.get(key)) and math.isfinite(r[key])]
    return [p[0] for p in pts], [p[1] for p in pts]


def _constant(ys: list[float]) -> bool:
    return max(ys) - min(ys) <= 1e-12 * max(1.0, abs(max(ys)))


def _monotone(ys: list[float]) -> bool:
    """A schedule or a counter (never smoothed): the values only rise, or only fall."""
    steps = [b - a for a, b in zip(ys, ys[1:])]
    return all(d >= 0 for d in steps) or all(d <= 0 for d in steps)


#: two curves closer than this fraction of their range everywhere look like one curve in a panel
SAME_CURVE = 0.02


def _mirror(a: tuple[list[float], list[float]], b: tuple[list[float], list[float]]) -> tuple[int, bool]:
    """``(sign, exact)``: sign ``1`` when two series draw one curve (same steps, values equal or within
    :data:`SAME_CURVE` of its range over at least 5 points), ``-1`` when one is the other negated, 0 otherwise;
    ``exact`` when equal up to rounding (the ELBO's loss and its bound) rather than close (WGAN's generator loss,
    − E D(G(z)), and ``d_fake`` on the next batch)."""
    (sa, ya), (sb, yb) = a, b
    if sa != sb or len(ya) < 2:
        return 0, False
    spread = max(ya) - min(ya)
    for sign in (1, -1):
        gap = [abs(x - sign * y) / max(1.0, abs(x)) for x, y in zip(ya, yb)]
        if max(gap) <= 1e-6:
            return sign, True
        if len(ya) >= 5 and spread > 0 and max(abs(x - sign * y) for x, y in zip(ya, yb)) <= SAME_CURVE * spread:
            return sign, False
    return 0, False


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:.3g}"


def _wrap(text: str, width_in: float, fontsize: float, lines: int) -> str:
    """``text`` wrapped to a panel ``width_in`` inches wide at ``fontsize`` points (less the margin of the y tick
    labels, where a title starts), cut with … after ``lines``."""
    chars = max(12, int((width_in - 0.4) * 72 / (fontsize * 0.58)))  # DejaVu Sans: about 0.58 em a character
    out = textwrap.wrap(text, chars)
    if len(out) > lines:
        out = out[:lines]
        out[-1] = out[-1][: chars - 1].rstrip() + "…"
    return "\n".join(out)


def _steps(v: float, _=None) -> str:
    """A step on the x-axis, short: 800, 25k, 1.5M."""
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if abs(v) >= size:
            return f"{v / size:g}{unit}"
    return f"{v:g}"


def _log_scale(ax, ys: list[float]) -> None:
    """A log y-axis with plain numbers (0.5, 2, 30); when it spans under two decades its minor ticks at 2 and 5
    times a power of ten are labelled too."""
    def twos_fives(v, _) -> str:
        return f"{v:g}" if v > 0 and f"{v:.0e}"[0] in "25" else ""

    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(twos_fives) if math.log10(max(ys) / min(ys)) < 2 else NullFormatter())


def curves_figure(rows: list[dict], players=None, meanings: dict[str, str] | None = None, bce=(),
                  smooth: int | None = None, name: str = ""):
    """The figure of ``losses.png`` (a matplotlib ``Figure``, or ``None`` when ``rows`` log no number), at most
    :data:`MAX_SIDE` pixels on either side at :data:`DPI`: one panel per series in a grid of up to five columns,
    the players' losses first, then the diagnostics (:func:`meaning` gives each title, from the strategy's
    ``meanings``); the players' learning rates share one panel, drawn raw and left out when constant (the suptitle
    gives their value), and so do their gradient norms (log scale). A series that is another one or its negation
    (the ELBO's loss and its bound) is drawn once, its title saying so. The losses named in ``bce`` (a critic's
    binary cross-entropy) get a dashed line at 2 ln 2, their value at D = 1/2.

    :param smooth: moving-average window in logged points, drawn over the faint raw curve; ``None`` picks one
        twentieth of the points, 0 or 1 draws the raw curve only. Schedules and counters (monotone series) are
        drawn raw.
    :param name: the strategy's name, for the suptitle.
    """
    numeric = {k for r in rows for k, v in r.items() if k not in ("step", "kind", "time") and _number(v)}
    series = {k: _points(rows, k) for k in numeric}
    series = {k: v for k, v in series.items() if v[1]}  # never finite: nothing to draw
    if not series:
        return None
    players = tuple(players) if players is not None else PLAYERS
    bce = set(bce)
    all_steps = sorted({s for xs, _ in series.values() for s in xs})
    first, last = all_steps[0], all_steps[-1]
    window = max(1, len(all_steps) // 20) if smooth is None else max(1, smooth)

    # one panel a single series, or a group (lr/*, grad_norm/*, any NAME/*): (key, members, title)
    panels, groups, notes = [], {}, []
    for k in series:
        prefix, _, member = k.partition("/")
        if member:
            groups.setdefault(prefix, []).append(k)
    singles = series_order([k for k in series if "/" not in k], players)
    kept: dict[str, str] = {}  # single series drawn -> what its title adds (the series it stands for too)
    for k in singles:
        twin = next(((j, *m) for j in kept if (m := _mirror(series[j], series[k]))[0]), None)
        if twin:
            j, sign, exact = twin
            kept[j] += f" ({'=' if exact else '≈'} {'−' if sign < 0 else ''}{k})"
        else:
            kept[k] = ""
    for k, extra in kept.items():
        panels.append((k, {k: None}, f"{k}: {meaning(k, meanings, k in bce)}{extra}"))
    for prefix in sorted(groups, key=lambda p: (p != "grad_norm", p != "lr", p)):
        members = sorted(groups[prefix], key=lambda k: (players.index(k.partition("/")[2])
                                                       if k.partition("/")[2] in players else len(players), k))
        if prefix == "lr":
            fixed = [k for k in members if _constant(series[k][1])]
            if fixed:
                values = {_fmt(series[k][1][0]) for k in fixed}
                who = ("every player" if len(fixed) == len(members) and len(values) == 1
                       else ", ".join(k.partition("/")[2] for k in fixed))
                notes.append(f"constant learning rate {' / '.join(sorted(values))} ({who}), not drawn")
            members = [k for k in members if k not in fixed]
            if not members:
                continue
        lines: dict[str, list[str]] = {}  # a line -> the members it draws (players on one schedule share one)
        for k in members:
            same = next((j for j in lines if _mirror(series[j], series[k]) == (1, True)), None)
            lines.setdefault(same or k, []).append(k)
        if len(members) == 1:
            title = f"{members[0]}: {meaning(members[0], meanings)}"
        else:
            title = GROUPS.get(prefix, f"{prefix}/NAME: {meaning(members[0], meanings)}")
        named = len(lines) > 1 or len(members) > 1  # a legend names the players of each line
        panels.append((prefix, {k: ", ".join(m.partition("/")[2] for m in ms) if named else None
                                for k, ms in lines.items()}, title))

    n = len(panels)
    cols = min(5, math.ceil(math.sqrt(n)))
    rows_n = math.ceil(n / cols)
    side = (MAX_SIDE - 5) / DPI  # inches
    width = min(4.4, side / cols)
    span = f"steps {_fmt(first)} to {_fmt(last)} ({len(all_steps):,} logged)"
    how = [f"faint: as logged; solid: trailing mean of {window} logged points (schedules and counters raw)"] \
        if window > 1 else []
    head_text = "; ".join([f"{name + ': ' if name else ''}training curves, {span}", *how, *notes])
    head_text = _wrap(head_text, width * cols + 0.4, 9.5, 4)  # the suptitle starts at the figure's edge
    head = 0.25 + 0.17 * (head_text.count("\n") + 1)
    height = min(2.9, (side - head) / rows_n)
    fig = plt.figure(figsize=(width * cols, height * rows_n + head), layout="constrained")
    grid = fig.add_gridspec(rows_n, cols)
    fs = 8.5 if width >= 3.5 and height >= 2.2 else 7
    title_lines = 3 if height >= 2.2 else 2
    for i, (key, members, title) in enumerate(panels):
        r, c = divmod(i, cols)
        ax = fig.add_subplot(grid[r, c])
        for j, (k, label) in enumerate(members.items()):
            steps, ys = series[k]
            colour = f"C{j}"
            if key == "lr" or window <= 1 or len(ys) <= window or _monotone(ys):
                ax.plot(steps, ys, lw=1.2, color=colour, label=label, marker="o" if len(ys) < 3 else None, ms=3)
            else:
                ax.plot(steps, ys, lw=0.7, alpha=0.3, color=colour)
                ax.plot(steps, _smoothed(ys, window), lw=1.3, color=colour, label=label)
        if key == "grad_norm" and all(y > 0 for k in members for y in series[k][1]):
            _log_scale(ax, [y for k in members for y in series[k][1]])
        if key in bce:
            ax.axhline(TWO_LN2, ls="--", lw=1, color="k", alpha=0.7, label="2 ln 2 (D = ½)")
        if any(members.values()) or key in bce:
            ax.legend(loc="best", fontsize=fs - 1.5, frameon=False, ncol=math.ceil(len(members) / 4))
        ax.set_title(_wrap(title, width, fs, title_lines), fontsize=fs, loc="left")
        if last > first:
            ax.set_xlim(first, last)
        ax.tick_params(which="both", labelsize=fs - 1)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=6 if width >= 3.5 else 4, integer=True))
        ax.xaxis.set_major_formatter(FuncFormatter(_steps))
        ax.grid(alpha=0.3)
        if i + cols >= n:  # the lowest panel of its column
            ax.set_xlabel("training step", fontsize=fs)
        else:
            ax.tick_params(labelbottom=False)
    fig.suptitle(head_text, fontsize=9.5, x=0.01, ha="left")
    return fig


def save_curves(metrics_path: str | Path, path: str | Path, strategy=None, smooth: int | None = None) -> None:
    """Write ``losses.png``: :func:`curves_figure` of a ``metrics.jsonl``'s training rows (nothing when they log
    no number).

    :param strategy: the run's strategy: its players, its ``meanings`` and its ``bce_losses`` (the losses that
        are a critic's binary cross-entropy); without one, :data:`PLAYERS` and :data:`COMMON_MEANINGS`.
    """
    players = None if strategy is None else list(strategy.players)
    fig = curves_figure(read_rows(metrics_path), players, getattr(strategy, "meanings", None),
                        getattr(strategy, "bce_losses", ()), smooth, getattr(strategy, "registry_name", "") or "")
    if fig is not None:
        save_figure(fig, path, dpi=DPI)


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
