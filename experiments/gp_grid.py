r"""Do gradient penalties rescue a failing non-saturating GAN? A synthetic test in the spirit of Fedus et al. (2018).

This was the first version of ``gp-stabilises``; it is kept as the extra finding ``gp-stabilises-grid`` (page
``gp-stabilises-grid.md``), in its original settings, beside the rebuilt ``gp-stabilises`` (:mod:`gp_stabilises`),
which follows Fedus et al.'s protocols.

Fedus, Rosca, Lakshminarayanan, Dai, Mohamed and Goodfellow (ICLR 2018, "Many paths to equilibrium: GANs do not
need to decrease a divergence at every step") argue that penalties motivated by the Wasserstein view also help
GANs that are not Wasserstein GANs: on real image data (CIFAR-10, CelebA, colour MNIST), the non-saturating GAN
with WGAN-GP's penalty on interpolates (**GAN-GP**) and with DRAGAN's penalty around the data (**DRAGAN-NS**),
both with λ = 10, train more reliably over a sweep of hyper-parameters than the plain NS-GAN.

**This is not a reproduction of any table or figure of theirs**, and it does not confirm their claim; it is a
small synthetic test of it. We take the 25-Gaussian grid (std 0.05, the VEEGAN/PacGAN protocol) at the learning
rate with which the plain NS-GAN learns it (Adam lr 2·10⁻³, as in ``mode-collapse``; after the 2,000 updates used
here it is on its way, at about 20 of 25 modes), then raise the learning rate five-fold to 10⁻², where the plain
NS-GAN fails reproducibly, and train the *same* programs with the *same* strategy plus a penalty on the critic
(``ns_gan`` with ``penalty=gp`` or ``penalty=dragan``, ``penalty_weight=10``; :mod:`unigen.inference.penalties`).
Scores: modes captured, % high-quality samples, and the sliced Wasserstein-1 distance to held-out grid samples
(256 random directions).

**Result** (the page, with its computed verdict): at λ = 10 neither penalty rescues the NS-GAN at lr 10⁻², and
at lr 2·10⁻³ both are behind the plain NS-GAN on modes (DRAGAN-NS level with it on sliced W1): the penalised
generators collapse onto a point, an arc or a few lines (see the plot). So on this synthetic case we do *not* see the stabilisation Fedus et al. report on images.

What we searched before settling on this test (development runs, one seed each, 2,000–3,000 updates; not part
of the reported numbers), because it qualifies the result: GAN-GP λ = 10 on the grid at lr 2·10⁻³ (1 mode);
on the ring at lr 2·10⁻³ (5 of 8 modes, 16% high quality, where the NS-GAN covers 8/8); at lr 10⁻² on the grid,
GAN-GP λ = 10 (1 mode), DRAGAN-NS λ = 10 (5 modes), GAN-GP λ = 0.1 (16 modes, 4%) and R1 γ = 0.1 (23 modes,
10%) against the NS-GAN's 5–18 modes at 1–3%; the 2-D swiss roll with Adam β₁ = 0.9, lr 5·10⁻³, where the NS-GAN
oscillated and GAN-GP and DRAGAN-NS did no better; the swiss roll and a 64-D Gaussian on a 4-D subspace with SGD
(lr 10⁻², momentum 0.9), where the NS-GAN diverged in two of three runs and every generator, penalised or not,
collapsed to a point; the grid scaled ×10 (spacing 20, std 0.5, so that unit input gradients suit the data's
scale: NS-GAN 17 modes, GAN-GP 11); and cases where the NS-GAN did not fail (the swiss roll and the 64-D
Gaussian with Adam lr 2·10⁻³, a 16-D mixture of 10 Gaussians), where GAN-GP converged more slowly. In none did a
penalty at λ = 10 turn a failing NS-GAN run into a good one. A plausible reason: the penalty holds the
critic's input gradient near 1 between (and, for DRAGAN, around) the data, so on 2-D mixtures with modes of
width 0.05 the critic cannot resolve the modes; Fedus et al.'s data are images, where distances between
samples are large compared with the scale on which the penalty flattens the critic.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from unigen.config import resolve  # noqa: E402
from unigen.data import Grid  # noqa: E402
from unigen.experiments.common import Context, Row  # noqa: E402
from unigen.experiments.mode_collapse import cached_jobs  # noqa: E402
from unigen.experiments.verdict import Paired, by_seed, paired, verdict  # noqa: E402
from unigen.metrics import mode_stats  # noqa: E402
from unigen.metrics.sliced import sliced_w1  # noqa: E402
from unigen.assemble import build  # noqa: E402
from unigen.sampling import draw  # noqa: E402
from unigen.trainer import NonFiniteError  # noqa: E402

NAME = "gp-stabilises-grid"
TITLE = "Gradient penalties and a failing non-saturating GAN on the 25-Gaussian grid (synthetic test after Fedus et al. 2018)"
PUBLISHED = [
    {"method": "GAN-GP, DRAGAN-NS (published)", "metric": "claim",
     "value": "penalties (λ = 10) make the NS-GAN more stable and robust to hyper-parameters, on real image data; "
              "no synthetic number to compare with", "source": "Fedus et al. 2018"},
]

METHODS = [
    ("NS-GAN", {"name": "ns_gan"}),
    ("GAN-GP (λ=10)", {"name": "ns_gan", "penalty": "gp", "penalty_weight": 10.0}),
    ("DRAGAN-NS (λ=10)", {"name": "ns_gan", "penalty": "dragan", "penalty_weight": 10.0}),
]
MODEL = {"name": "mlp", "z_dim": 2, "hidden": 128, "depth": 3, "disc_hidden": 128}
CASES = {"lr 1e-2": 1e-2, "lr 2e-3": 2e-3}  # Adam learning rate of both players; 1e-2 is where NS-GAN fails
FAILING, CONTROL = "lr 1e-2", "lr 2e-3"  # the case the claim is about, and the rate where the NS-GAN learns
BASELINE = "NS-GAN"
STEPS, QUICK_STEPS, EVERY = 2000, 1000, 250
QUICK_CASE, QUICK_METHODS = FAILING, ("NS-GAN", "GAN-GP (λ=10)")
FLOOR = 0.13  # sliced W1 between two 2,500-point grid samples (0.11-0.15)

PROTOCOL = """
A synthetic test in the spirit of Fedus et al. (2018), **not a reproduction of a table of theirs**. Data: the
25-Gaussian grid (std 0.05 at {−4, −2, 0, 2, 4}², 50,000 points). Programs: unigen's `mlp` model (generator
2 → 128 → 128 → 128 → 2 ReLU, z ~ N(0, I₂), Delta observation; critic 2 → 128 → 128 → 128 → 1 LeakyReLU 0.2).
Strategy: `ns_gan` alone, with `penalty=gp` (GAN-GP: WGAN-GP's penalty on interpolates) or with `penalty=dragan`
(DRAGAN-NS: the penalty at perturbed data points), λ = 10 as in Fedus et al. Batch 256, 2,000 generator updates,
one critic update per generator update, Adam β = (0.5, 0.999) with the same learning rate for both players:
10⁻² (the failing case) or 2·10⁻³ (the control: the rate with which the plain NS-GAN learns the grid in
`mode-collapse`, there with more updates). Scores of 2,500 samples
at the end: modes captured and % high quality (VEEGAN/PacGAN protocol) and the sliced Wasserstein-1 distance to
2,500 held-out grid points (256 random directions; two data samples of that size are 0.1–0.15 apart, the floor). Rows:
mean ± std over seeds; one training per seed and method, every method from the same initialisation seed.

Verdict: Fedus et al.'s claim carried to this case, seed by seed at the failing rate (lr 10⁻²): GAN-GP and
DRAGAN-NS each capture more modes than the plain NS-GAN and end nearer the data (lower sliced W1); a tie does
not count. The control rate (2·10⁻³) is described after it.
"""


def _config(lr: float, strategy: dict, seed: int, steps: int, device: str) -> dict:
    return {"data": {"name": "grid"}, "model": dict(MODEL), "strategy": dict(strategy),
            "train": {"steps": steps, "batch_size": 256, "seed": seed, "device": device,
                      "optim": {"name": "adam", "lr": lr, "betas": [0.5, 0.999]}, "on_nan": "skip",
                      "progress": False, "log_every": 10 ** 9, "checkpoint_every": 0},
            "eval": {"num_samples": 2500}, "out": "unused"}


def _score(x: torch.Tensor, test: torch.Tensor) -> dict:
    spec = Grid()
    if not bool(torch.isfinite(x).all()):
        return {"modes": 0.0, "high_quality": 0.0, "sw1": math.inf}
    st = mode_stats(x, spec.centres(), spec.std)
    return {"modes": float(st["modes"]), "high_quality": float(st["high_quality"]), "sw1": sliced_w1(x, test)}


def _job(case: str, strategy: dict, seed: int, steps: int, device: str):
    """Train one (case, method, seed); return its scores every EVERY updates and its final samples."""
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
    test = Grid().load("test").x[:2500]
    built = build(resolve(_config(CASES[case], strategy, seed, steps, device)))
    trainer = built.trainer()
    curve, x = [], None
    for k in range(EVERY, steps + 1, EVERY):
        try:
            trainer.fit(k, log_every=10 ** 9, progress=False)
        except NonFiniteError:  # on_nan=skip drops bad updates; a run that still stops is scored as it is
            pass
        x = draw(built, 2500).cpu()
        curve.append((k, _score(x, test)))
    return curve, x


def _plot(curves: dict, samples: dict, seeds: list[int], path: Path) -> None:
    """Top row: sliced W1 against updates, one panel per case; below, one row per case of seed 0's samples."""
    cases = list(dict.fromkeys(c for c, _ in curves))
    labels = [m for m, _ in METHODS]
    shown = list(dict.fromkeys(label for _, label in samples))
    cols = max(len(cases), len(shown))
    fig, axes = plt.subplots(1 + len(cases), cols, figsize=(3.3 * cols, 3.4 * (1 + len(cases))), squeeze=False)
    for ax, case in zip(axes[0], cases):
        for (c, label), runs in curves.items():
            if c != case:
                continue
            for i, run in enumerate(runs):
                ax.plot([k for k, _ in run], [min(s["sw1"], 1e6) for _, s in run], lw=1, alpha=0.8,
                        color=f"C{labels.index(label)}", label=label if i == 0 else None)
        ax.axhline(FLOOR, color="k", ls=":", lw=0.8, label="two data samples")
        ax.set_yscale("log")
        ax.set_xlabel("generator updates")
        ax.set_ylabel("sliced W1 to held-out data")
        ax.set_title(f"grid, Adam {case} ({len(seeds)} seeds)", fontsize=9)
        ax.legend(fontsize=7)
    for ax in axes[0][len(cases):]:
        ax.axis("off")
    centres = Grid().centres()
    for row, case in zip(axes[1:], cases):
        for ax, label in zip(row, shown):
            if (case, label) not in samples:
                ax.axis("off")
                continue
            x, st = samples[case, label]
            ax.scatter(centres[:, 0], centres[:, 1], s=20, c="none", edgecolors="tab:red", lw=0.6)
            if x is not None and bool(torch.isfinite(x).all()):
                ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.4, color=f"C{labels.index(label)}", rasterized=True)
            ax.set_xlim(-6, 6)
            ax.set_ylim(-6, 6)
            ax.set_aspect("equal")
            ax.set_xlabel("x₁", fontsize=8)
            ax.set_ylabel("x₂", fontsize=8)
            ax.set_title(f"{label}, {case}, seed {seeds[0]}\n{st['modes']:.0f}/25 modes, "
                         f"{100 * st['high_quality']:.0f}% HQ", fontsize=8)
        for ax in row[len(shown):]:
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(ctx: Context) -> list[Row]:
    cases = ctx.pick((QUICK_CASE,), tuple(CASES))
    methods = [m for m in METHODS if not ctx.quick or m[0] in QUICK_METHODS]
    steps = ctx.pick(QUICK_STEPS, STEPS)
    jobs, runs = [], []
    for case in cases:
        for label, strategy in methods:
            for seed in ctx.seeds:
                jobs.append((case, strategy, seed, steps, ctx.device))
                runs.append((case, label, seed))
    # cached under the whole run configuration (programs, optimiser, batch) and the scoring's schedule
    keys = [[_config(CASES[case], strategy, seed, steps, device), EVERY, ctx.quick]
            for case, strategy, seed, steps, device in jobs]
    results = cached_jobs(ctx, _job, jobs, keys)
    rows: list[Row] = []
    curves: dict = {}
    samples: dict = {}
    for (case, label, seed), (curve, x) in zip(runs, results):
        curves.setdefault((case, label), []).append(curve)
        final = curve[-1][1]
        rows += [Row(label, f"{case}: modes (of 25)", final["modes"], seed),
                 Row(label, f"{case}: high-quality %", 100.0 * final["high_quality"], seed),
                 Row(label, f"{case}: sliced W1", final["sw1"], seed)]
        if seed == ctx.seeds[0]:
            samples[case, label] = (x, final)
    _plot(curves, samples, ctx.seeds, ctx.figure())
    ctx.notes.append(f"{steps} generator updates per run, batch 256; scores read at the end of training (the plot "
                     f"shows every {EVERY} updates). Non-finite updates are skipped (train.on_nan=skip), so a "
                     f"diverging run is measured rather than stopped.")
    if ctx.quick:
        ctx.notes.append(f"Quick mode: lr 1e-2 only, {', '.join(QUICK_METHODS)}, {QUICK_STEPS} updates.")
    else:
        ctx.notes.append("Run on a CPU with the settings above; nothing was reduced for it.")
    ctx.verdict = verdict_line(rows)
    return rows


def _pairs(rows: list[Row], case: str) -> list[Paired]:
    """Each penalised NS-GAN against the plain one at ``case``, seed by seed: more modes, lower sliced W1 (the
    pairs this run has: a quick run trains one case and two methods)."""
    pairs = [paired(rows, label, BASELINE, f"{case}: {metric}", higher=higher)
             for label, _ in METHODS if label != BASELINE
             for metric, higher in (("modes (of 25)", True), ("sliced W1", False))]
    return [p for p in pairs if p.diffs]


def claims(rows: list[Row]) -> list[Paired]:
    """Fedus et al.'s claim carried to the grid: at the failing rate, each penalty beats the plain NS-GAN."""
    return _pairs(rows, FAILING)


def verdict_line(rows: list[Row]) -> str:
    """The page's verdict on the failing case; the per-seed mode counts, and the control rate (described)."""
    def listed(label: str, case: str) -> str:
        return ", ".join(f"{v:.0f}" for v in by_seed(rows, label, f"{case}: modes (of 25)").values())

    present = [label for label, _ in METHODS if label in {r.method for r in rows}]
    finding = "Measured modes (of 25) by seed at lr 1e-2: " + "; ".join(
        f"{label} {listed(label, FAILING)}" for label in present) + "."
    line, control = verdict(claims(rows), finding), _pairs(rows, CONTROL)
    if line and control:  # described whatever the verdict
        line += (" The control rate, where the plain NS-GAN learns (described, not claimed): "
                 + "; ".join(c.describe() for c in control) + ".")
    return line
