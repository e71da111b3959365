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


def save_samples(x: Tensor, path: str | Path, support: str = "unit", reference: Tensor | None = None,
                 title: str = "") -> None:
    """Write generated samples: a scatter over the real data for 2-D, an image grid otherwise."""
    fig, ax = plt.subplots(figsize=(5, 5))
    if x.dim() == 2 and x.shape[1] == 2:
        if reference is not None:
            r = reference.detach().cpu()
            ax.scatter(r[:, 0], r[:, 1], s=2, c="tab:gray", alpha=0.3, label="data")
        g = x.detach().cpu()
        ax.scatter(g[:, 0], g[:, 1], s=2, c="tab:red", alpha=0.5, label="generated")
        ax.set_aspect("equal")
        ax.legend(loc="upper right", markerscale=4)
    elif x.dim() == 4:
        grid = image_grid(x, support).numpy()
        ax.imshow(grid.squeeze(-1) if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=1)
        ax.axis("off")
    else:  # 1-D or other vector data: a histogram of the first coordinate
        ax.hist(x.detach().cpu().reshape(x.shape[0], -1)[:, 0].numpy(), bins=60, alpha=0.7, label="generated")
        if reference is not None:
            ax.hist(reference.detach().cpu().reshape(reference.shape[0], -1)[:, 0].numpy(), bins=60,
                    alpha=0.4, label="data")
        ax.legend()
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save_curves(metrics_path: str | Path, path: str | Path) -> None:
    """Plot every logged series of a ``metrics.jsonl`` against the step, one panel per series."""
    rows = [json.loads(line) for line in Path(metrics_path).read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r.get("kind", "train") == "train"]
    keys = sorted({k for r in rows for k, v in r.items()
                   if k not in ("step", "kind", "time") and isinstance(v, (int, float))})
    if not keys:
        return
    fig, axes = plt.subplots(len(keys), 1, figsize=(6, 1.8 * len(keys)), sharex=True, squeeze=False)
    for ax, k in zip(axes[:, 0], keys):
        pts = [(r["step"], math.nan if r[k] is None else r[k]) for r in rows if k in r]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=1)
        ax.set_ylabel(k, rotation=0, ha="right")
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("step")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
