"""Draw the figures of docs/concepts.md into this folder.

    .venv/bin/python docs/_static/concepts/make_figures.py

* ``unified_view.png``: GANs and VAEs as one graphical model with the real/fake indicator y (Hu et al., 2018).
* ``monoflow_h.png``: MonoFlow's maps h(d) and their slopes h'(d), read from unigen's own ``MonoFlow`` strategy.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Circle, FancyArrowPatch  # noqa: E402

HERE = Path(__file__).resolve().parent
DPI = 150  # every figure is at most 10 inches wide: 1,500 px
GEN, INF, ADV = "#222222", "#1f5fbf", "#c0392b"  # generative, inference, reversed (adversarial) arrows


def node(ax, xy, name, observed=False, r=0.42):
    ax.add_patch(Circle(xy, r, facecolor="#d9d9d9" if observed else "white", edgecolor="black", lw=1.6, zorder=3))
    ax.text(*xy, name, ha="center", va="center", fontsize=17, zorder=4)


def arrow(ax, a, b, color=GEN, style="-", rad=0.0, r=0.44, lw=1.8):
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=16, color=color, lw=lw, linestyle=style,
                                 connectionstyle=f"arc3,rad={rad}", shrinkA=r * 72 / 2.0, shrinkB=r * 72 / 2.0,
                                 zorder=2))


def label(ax, at, text, color=GEN, size=11.5):
    ax.text(*at, text, color=color, fontsize=size, ha="center", va="center")


def unified_view() -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax in axes:
        ax.set_xlim(-0.6, 6.8)
        ax.set_ylim(-1.45, 3.3)
        ax.set_aspect("equal")
        ax.axis("off")
    z, y, x = (1.0, 2.6), (4.6, 2.6), (2.8, 0.8)

    # (a) GAN: y is drawn from p(y); x is generated given y (data for y = 1, G(z) for y = 0); q_phi(y|x) infers y
    ax = axes[0]
    ax.set_title("(a) GAN: generation is inference of x given y", fontsize=12.5)
    node(ax, z, "$z$")
    node(ax, y, "$y$", observed=True)
    node(ax, x, "$x$")
    arrow(ax, z, x)
    label(ax, (0.75, 1.35), "$G_\\theta(z)$\nwhen $y{=}0$")
    arrow(ax, y, x)
    label(ax, (2.8, 2.35), "$p_{data}$\nwhen $y{=}1$")
    arrow(ax, x, y, color=INF, style="--", rad=0.45)
    label(ax, (5.8, 1.6), "$q_\\phi(y\\mid x)$\ndiscriminator", color=INF)
    arrow(ax, x, y, color=ADV, rad=0.95, lw=2.2)
    label(ax, (5.6, 0.2), "$q^r_\\phi(y\\mid x)$\ngenerator's target", color=ADV)
    label(ax, (2.9, -0.65), "$\\min_\\theta\\;\\mathrm{KL}(p_\\theta(x\\mid y)\\,\\|\\,q^r(x\\mid y))$"
          "  (model first: sleep)")
    label(ax, (2.9, -1.15), "$x$ latent, $y$ observed", color="#555555", size=10.5)

    # (b) VAE: x observed; q_eta(z|x,y) infers z; the discriminator q_*(y|x) is degenerate (perfect)
    ax = axes[1]
    ax.set_title("(b) VAE: the degenerate adversarial case", fontsize=12.5)
    node(ax, z, "$z$")
    node(ax, y, "$y$")
    node(ax, x, "$x$", observed=True)
    arrow(ax, z, x)
    arrow(ax, y, x)
    label(ax, (2.8, 2.35), "$p_\\theta(x\\mid z, y)$")
    arrow(ax, x, z, color=INF, style="--", rad=-0.45)
    label(ax, (0.45, 0.75), "$q_\\eta(z\\mid x, y)$\nencoder", color=INF)
    arrow(ax, x, y, color=INF, style="--", rad=0.45)
    label(ax, (5.15, 1.1), "$q_*(y\\mid x)$\nperfect, fixed", color=INF)
    label(ax, (2.9, -0.65), "$\\min\\;\\mathrm{KL}(q_\\eta(z\\mid x,y)\\,q^r_*(y\\mid x)\\,\\|\\,p_\\theta(z,y\\mid x))$"
          "  (guide first: wake)")
    label(ax, (2.9, -1.15), "$x$ observed, $z$ and $y$ latent", color="#555555", size=10.5)

    handles = [plt.Line2D([], [], color=GEN, lw=1.8, label="generative process"),
               plt.Line2D([], [], color=INF, lw=1.8, ls="--", label="inference network"),
               plt.Line2D([], [], color=ADV, lw=2.2, label="reversed posterior $q^r(y\\mid x) = q(1-y\\mid x)$")]
    fig.legend(handles=handles, loc="lower center", ncol=3, frameon=False, fontsize=10.5)
    fig.tight_layout(rect=(0, 0.07, 1, 1), w_pad=0.5)
    out = HERE / "unified_view.png"
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return out


def monoflow_h() -> Path:
    from unigen.inference import MonoFlow

    d = torch.linspace(-6, 6, 601, dtype=torch.float64, requires_grad=True)
    curves = [("logit", "logit: $h = d$ (the default)", "-"), ("ns", "ns: $h = \\log\\sigma(d)$ (NS-GAN)", "-"),
              ("minimax", "minimax: $h = \\log(1 + e^d)$", "-"), ("arcsinh", "arcsinh: $h = \\sinh^{-1} d$", "-"),
              ("kl", "kl: $h = r = e^d$", "--")]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    for name, text, style in curves:
        h = MonoFlow(h=name).h_function()(d)
        (slope,) = torch.autograd.grad(h.sum(), d)
        left.plot(d.detach(), h.detach(), style, label=text, lw=1.9)
        right.plot(d.detach(), slope, style, label=text, lw=1.9)
    left.set_ylim(-6.5, 6.5)
    left.set_title("$h(d)$: the generator minimises $-\\mathbb{E}\\,h(d(G(z)))$", fontsize=11.5)
    right.set_yscale("log")
    right.set_ylim(1e-3, 12)
    right.set_title("$h'(d)$: the speed of a sample along $\\nabla_x \\log r$", fontsize=11.5)
    for ax in (left, right):
        ax.set_xlabel("critic logit $d \\approx \\log p_{data}(x)/p_\\theta(x)$")
        ax.axvline(0, color="#999999", lw=0.8)
        ax.grid(alpha=0.3)
    left.legend(fontsize=8.5, loc="upper left")
    right.annotate("minimax (and kl) saturate:\n$h' \\to 0$ on clear fakes", xy=(-4.6, 0.0105), xytext=(-3.2, 0.0025),
                   fontsize=9.5, arrowprops=dict(arrowstyle="->", color="#555555"))
    fig.tight_layout()
    out = HERE / "monoflow_h.png"
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return out


if __name__ == "__main__":
    for path in (unified_view(), monoflow_h()):
        print(path)
