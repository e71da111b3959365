r"""WGAN's motivating example (Arjovsky et al. 2017, Example 1): distributions on parallel lines.

:math:`P_0 = (0, Z)` and :math:`P_\theta = (\theta, Z)`, :math:`Z \sim U[0, 1]`. For :math:`\theta \ne 0`,
:math:`JS(P_0, P_\theta) = \log 2` and the KLs are infinite: the divergence is flat, with no gradient in θ.
Meanwhile :math:`W_1(P_0, P_\theta) = |\theta|`. We train each strategy's own critic at fixed θ and read:

* the GAN critic's estimate of JS, :math:`\widehat{JS} = \tfrac12(\log 4 - \ell_D)` (:math:`\ell_D` the
  minimised BCE critic loss, Goodfellow et al. 2014, Thm. 1);
* the WGAN-GP critic's estimate :math:`\widehat{W}_1 = \mathbb{E}_{P_0} d - \mathbb{E}_{P_\theta} d`;
* the generator's gradient :math:`\partial_\theta` of each generator loss at the trained critic.

The page's **Verdict** (:func:`claims`) states the example's claims seed by seed: the generator's gradient
:math:`|\partial_\theta|` at θ = 0.5 from the GAN critic below the WGAN-GP critic's (JS gives θ nothing to follow,
:math:`W_1` does), and each critic's largest error over the grid against its analytic curve (JS = log 2,
:math:`W_1 = |\theta|`) below :data:`TOL`.
"""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from unigen.experiments.common import Context, Row  # noqa: E402
from unigen.experiments.verdict import Paired, by_seed, level, paired, verdict  # noqa: E402
from unigen.registry import STRATEGIES  # noqa: E402

NAME = "wgan-disjoint"
TITLE = "WGAN's parallel lines: JS is flat, W1 = |θ| (Arjovsky et al. 2017, Example 1)"
GAN, WGAN = "GAN critic (JS)", "WGAN-GP critic (W1)"
ERROR, GRAD = "max abs error vs truth", "generator ∂θ at θ=0.5"
SIZE = "|generator ∂θ| at θ=0.5"  # the verdict compares the gradients' magnitudes
TOL = 0.1  # an estimate follows its analytic curve when its largest error is below this (W1 reaches 1 on the grid)
PUBLISHED = [
    {"method": "GAN critic (JS)", "metric": "max abs error vs truth", "value": "JS = log 2 for θ ≠ 0",
     "kind": "analytic", "source": "Arjovsky et al. 2017"},
    {"method": "WGAN-GP critic (W1)", "metric": "max abs error vs truth", "value": "W1 = |θ|",
     "kind": "analytic", "source": "Arjovsky et al. 2017"},
    {"method": "GAN critic (JS)", "metric": "generator ∂θ at θ=0.5", "value": "0",
     "kind": "analytic", "source": "Arjovsky et al. 2017"},
    {"method": "WGAN-GP critic (W1)", "metric": "generator ∂θ at θ=0.5", "value": "1 = ∂θ |θ|",
     "kind": "analytic", "source": "Arjovsky et al. 2017"},
]
PROTOCOL = """
P0 = (0, Z), Pθ = (θ, Z), Z ~ U[0, 1]. For each θ on a grid in [−1, 1] (θ = 0, where the two coincide,
excluded), a fresh MLP critic (2-64-64-1, LeakyReLU) is trained on batches of 256 from each distribution with the
strategy's own critic loss (ns_gan: BCE; wgan with clip=0, penalty=gp, λ=10; Adam 1e-3, β (0.5, 0.9)).
Rows report the largest absolute error of the critic's estimate over the grid, and the generator's
gradient ∂θ at θ = 0.5 (minimax generator loss E log(1 − D) for the GAN, −E d for the WGAN). The verdict, seed
by seed: |∂θ| from the GAN critic below that from the WGAN-GP critic, and each critic's largest error below 0.1.
"""


def _critic() -> nn.Module:
    return nn.Sequential(nn.Linear(2, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64), nn.LeakyReLU(0.2),
                         nn.Linear(64, 1), nn.Flatten(0))


def _line(theta: torch.Tensor, n: int) -> torch.Tensor:
    z = torch.rand(n, 1)
    return torch.cat([theta.expand(n, 1), z], dim=1)


def _fit(strategy, theta: float, steps: int, seed: int):
    """Train a critic between P0 and Pθ; return (critic, final critic loss averaged over the last steps)."""
    torch.manual_seed(seed)
    critic = _critic()
    opt = torch.optim.Adam(critic.parameters(), lr=1e-3, betas=(0.5, 0.9))
    t = torch.tensor(float(theta))
    tail = []
    for i in range(steps):
        real, fake = _line(torch.tensor(0.0), 256), _line(t, 256)
        loss = strategy.critic_loss(critic(real), critic(fake))
        if getattr(strategy, "penalty", "none") == "gp":
            from unigen.inference.penalties import gradient_penalty

            loss = loss + strategy.penalty_weight * gradient_penalty(critic, real, fake)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= steps - 50:
            tail.append(float(strategy.critic_loss(critic(real), critic(fake)).detach()))
    return critic, sum(tail) / len(tail)


def _generator_grad(strategy, critic: nn.Module, theta: float) -> float:
    t = torch.tensor(float(theta), requires_grad=True)
    d = critic(_line(t, 4096))
    loss = strategy.generator_loss(d)
    (g,) = torch.autograd.grad(loss, t)
    return float(g)


def _plot(thetas: list[float], curves: dict[str, list[float]], path) -> None:
    """Each critic's estimate against θ beside the truth; θ = 0 is not evaluated, so each curve is drawn as two
    branches, θ < 0 and θ > 0, and no line crosses it."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    grid = torch.linspace(-1, 1, 201)
    ax.plot(grid, grid.abs(), "k--", lw=1, label="W1 = |θ| (analytic)")
    ax.plot([-1, 0], [math.log(2)] * 2, "k:", lw=1, label="JS = log 2 for θ ≠ 0 (analytic)")
    ax.plot([0, 1], [math.log(2)] * 2, "k:", lw=1)
    ax.plot([0.0], [0.0], "ko", ms=3, mfc="none", label="θ = 0: both 0 (not evaluated)")
    for i, (label, ys) in enumerate(curves.items()):
        for sign in (-1, 1):  # the branch θ < 0, then θ > 0
            pts = [(t, y) for t, y in zip(thetas, ys) if t * sign > 0]
            ax.plot([t for t, _ in pts], [y for _, y in pts], "o-", ms=4, color=f"C{i}",
                    label=label if sign < 0 else None)
    ax.set_xlabel("θ (offset of the generated line)")
    ax.set_ylabel("critic's estimate (JS in nats; W1)")
    ax.set_xlim(-1.08, 1.08)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("critic estimates on parallel lines (seed 0)", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _seed(gan, wgan, thetas: list[float], steps: int, seed: int) -> dict:
    """One seed's critics over the grid of θ: the estimates, their largest errors, and the generator gradients at
    θ = 0.5 (numbers only, so that ``--cache`` can keep them)."""
    js, w1 = [], []
    for theta in thetas:
        js.append(0.5 * (math.log(4) - _fit(gan, theta, steps, seed)[1]))
        w1.append(-_fit(wgan, theta, steps, seed)[1])  # critic loss is E_Q d − E_P d
    gan_critic, _ = _fit(gan, 0.5, steps, seed)
    wgan_critic, _ = _fit(wgan, 0.5, steps, seed)
    return {"js": js, "w1": w1, "js_err": max(abs(v - math.log(2)) for v in js),
            "w_err": max(abs(v - abs(t)) for v, t in zip(w1, thetas)),
            "gan_grad": float(_generator_grad(gan, gan_critic, 0.5)),
            "wgan_grad": float(_generator_grad(wgan, wgan_critic, 0.5))}


def run(ctx: Context) -> list[Row]:
    thetas = ctx.pick([-1.0, -0.5, 0.5, 1.0], [x / 10 for x in range(-10, 11) if x != 0])
    steps = ctx.pick(200, 2000)
    gan, wgan = STRATEGIES.get("minimax_gan")(), STRATEGIES.get("wgan")(clip=0.0, penalty="gp", penalty_weight=10.0)
    rows, curves = [], {"JS estimate (GAN critic)": [], "W1 estimate (WGAN-GP critic)": []}
    for seed in ctx.seeds:
        r = ctx.cached({"thetas": thetas, "steps": steps, "seed": seed}, lambda: _seed(gan, wgan, thetas, steps, seed))
        if seed == ctx.seeds[0]:
            curves["JS estimate (GAN critic)"], curves["W1 estimate (WGAN-GP critic)"] = r["js"], r["w1"]
        rows += [Row(GAN, ERROR, r["js_err"], seed), Row(WGAN, ERROR, r["w_err"], seed),
                 Row(GAN, GRAD, r["gan_grad"], seed), Row(WGAN, GRAD, r["wgan_grad"], seed)]
    ctx.notes.append(f"Grid: {len(thetas)} values of θ from {thetas[0]:g} to {thetas[-1]:g} (θ = 0 left out); each "
                     f"critic trained {steps:,} steps from a fresh initialisation, per θ, method and seed; the "
                     f"gradient rows train one more critic per method at θ = 0.5. Seeds {ctx.seeds}.")
    _plot(thetas, curves, ctx.figure())
    ctx.verdict = verdict_line(rows)
    return rows


def claims(rows: list[Row]) -> list[Paired]:
    """Example 1's claims, seed by seed: the GAN critic leaves the generator no gradient where the WGAN-GP critic
    gives one (|∂θ| of the one below the other's), and both critics follow their analytic curves (error < TOL)."""
    sizes = [Row(r.method, SIZE, abs(r.value), r.seed) for r in rows if r.metric == GRAD]
    return [paired(sizes, GAN, WGAN, SIZE, higher=False), level(rows, WGAN, ERROR, TOL), level(rows, GAN, ERROR, TOL)]


def verdict_line(rows: list[Row]) -> str:
    """The page's verdict; where a claim fails, the measured numbers per seed."""
    def listed(method: str, metric: str) -> str:
        return ", ".join(f"{v:.3g}" for v in by_seed(rows, method, metric).values())

    finding = (f"Measured per seed: ∂θ {listed(GAN, GRAD)} (GAN critic) and {listed(WGAN, GRAD)} (WGAN-GP "
               f"critic); largest errors {listed(GAN, ERROR)} (JS) and {listed(WGAN, ERROR)} (W1).")
    return verdict(claims(rows), finding)
