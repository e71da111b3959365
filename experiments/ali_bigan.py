r"""ALI on Dumoulin et al.'s 2-D mixture (2017, §4.5): samples and reconstructions beside a GAN with a post-hoc encoder.

Data: the 25-Gaussian grid (std 0.05 at :math:`\{-4, -2, 0, 2, 4\}^2`, unigen's ``grid``), :math:`z \in \mathbb{R}^2`,
:math:`z \sim \mathcal N(0, I)`. Two methods on the *same* networks (unigen's ``mlp`` spec: a ``Delta`` generator,
a Gaussian encoder, an MLP critic), the same optimiser, batch and number of updates:

* **ALI** (``ali``): the joint critic :math:`D(x, z)` against encoder and generator trained together;
* **GAN + post-hoc encoder**: the non-saturating GAN (``ns_gan``) trains the generator alone, then the encoder
  is fitted to invert the frozen generator by maximising :math:`\log q_\phi(z \mid G(z))` on its own samples
  (the sleep phase of wake-sleep, :func:`unigen.inference.wake_sleep.sleep_log_q`): Dumoulin et al.'s "GAN with
  post-hoc learned inference".

Read from each trained run: mode coverage of 2,500 samples (:func:`unigen.metrics.mode_stats`, the VEEGAN/PacGAN
protocol: high quality = within 3 std of the nearest centre), and the reconstruction x → z → x of 2,500 test
points (:func:`unigen.inference.ali.reconstruct`): the mean squared distance :math:`\lVert \hat x - x \rVert^2`
and the fraction of reconstructions whose nearest centre is the centre nearest x.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pyro  # noqa: E402
import torch  # noqa: E402

from unigen import Trainer  # noqa: E402
from unigen.config import OptimConfig  # noqa: E402
from unigen.experiments.common import Context, Row  # noqa: E402
from unigen.inference.ali import reconstruct  # noqa: E402
from unigen.inference.wake_sleep import sleep_log_q  # noqa: E402
from unigen.metrics import mode_stats  # noqa: E402
from unigen.optim import set_rate  # noqa: E402
from unigen.programs import Batch, generate  # noqa: E402
from unigen.registry import DATASETS, MODELS, STRATEGIES  # noqa: E402
from unigen.roles import needed_roles  # noqa: E402

NAME = "ali-bigan"
TITLE = "ALI vs a GAN with a post-hoc encoder on the 25-Gaussian grid (Dumoulin et al. 2017, §4.5)"
_ALI = "Dumoulin et al. 2017 (ALI), §4.5: 10 runs of random hyper-parameters"
PUBLISHED = [
    {"method": "ALI", "metric": "modes (of 25)", "value": "13.4 ± 5.8", "source": _ALI},
    {"method": "GAN + post-hoc encoder", "metric": "modes (of 25)", "value": "10.4 ± 9.2 (the GAN's)", "source": _ALI},
]
# hidden width, training updates, post-hoc encoder updates, batch, training points, evaluation points
FULL = {"hidden": 128, "steps": 2500, "posthoc_steps": 1000, "batch_size": 256, "n": 50_000, "n_eval": 2500}
QUICK = {"hidden": 16, "steps": 40, "posthoc_steps": 20, "batch_size": 64, "n": 2_000, "n_eval": 500}
LR, BETAS, DECAY = 5e-4, [0.5, 0.999], 0.1  # Adam; the rate falls geometrically to DECAY × LR over the second half

PROTOCOL = """
Data: unigen's `grid` (25 Gaussians, std 0.05, at {−4, −2, 0, 2, 4}²), 50,000 training points, 2,500 held-out
test points for reconstruction. Programs: unigen's `mlp` spec, z ∈ R² with z ~ N(0, I); generator 2 → 128 → 128
→ 128 → 2 (ReLU) with a Delta observation; encoder 2 → 128 → 128 → 128 → Gaussian (mean, scale) over z; ALI's
joint critic: x-features 2 → 128³ and z-features (the spec's latent features), concatenated, then a 128-unit head
(LeakyReLU 0.2); the GAN's critic 2 → 128³ → 1. Both methods: Adam (β = (0.5, 0.999)), lr 5·10⁻⁴ for every
player, held for the first half and then decayed geometrically to a tenth, batch 256, 2,500 updates. The GAN's
post-hoc encoder: 1,000 Adam updates (lr 5·10⁻⁴) of −log q(z | G(z)) on batches of 256 fresh generator samples.
Evaluation: 2,500 samples for mode coverage (VEEGAN/PacGAN protocol: a sample is high quality within 3 std of its
nearest centre; a mode is captured when it is the nearest centre of a high-quality sample); reconstruction
x̂ = G(z), z ~ q(z | x) (the decoder's point) of 2,500 test points: mean ‖x̂ − x‖² and the fraction whose nearest
centre is x's. The row "data (reference)" applies the mode metric to 2,500 test points (the metric's ceiling).
Rows: mean ± std over seeds, one training per seed and method.

**Reduced for a CPU (2 shared cores)**: Dumoulin et al. use 100,000 points, an encoder 400×2 with batch norm, a
decoder 400×4, a maxout critic (3 × 200, 5 pieces), Adam 1e-4 (β1 0.8), batch 100 and far longer training; here
one small MLP set, 2,500 updates and 3 seeds. Their published mode counts come from 10 runs with random
hyper-parameters and assign modes by responsibility, a different protocol from the one used here; they are
listed for orientation, not as a controlled re-run.
"""


def train(strategy_name: str, seed: int, cfg: dict):
    """Train ``strategy_name`` on the grid with the shared schedule; return ``(programs, grid spec)``."""
    torch.manual_seed(seed)
    pyro.set_rng_seed(seed)
    grid = DATASETS.get("grid")(n=cfg["n"], seed=seed)
    data = grid.load("train")
    strategy = STRATEGIES.get(strategy_name)()
    spec = MODELS.get("mlp")(z_dim=2, hidden=cfg["hidden"], depth=3, disc_hidden=cfg["hidden"], likelihood="delta")
    roles = (*needed_roles(strategy), "guide")  # the GAN's encoder is built now, trained afterwards
    programs = spec.build(data.info, roles=tuple(dict.fromkeys(roles)))
    trainer = Trainer(programs, strategy, data, cfg["batch_size"], optim=OptimConfig(lr=LR, betas=BETAS), seed=seed)
    steps, chunk = cfg["steps"], max(cfg["steps"] // 10, 1)
    for k in range(chunk, steps + chunk, chunk):
        k = min(k, steps)
        frac = max(0.0, (k - steps / 2) / (steps / 2))
        for opt in trainer.optimizers.values():
            for group in opt.param_groups:
                set_rate(group, LR * DECAY ** frac)
        trainer.fit(k, log_every=10 ** 9, progress=False)
        if k == steps:
            break
    return programs, grid


def fit_posthoc_encoder(programs, cfg: dict) -> None:
    """Fit the guide to invert the frozen generator: maximise log q(z | G(z)) on fresh generator samples."""
    opt = torch.optim.Adam(programs.guide.parameters(), lr=LR, betas=tuple(BETAS))
    like = programs.placeholder(cfg["batch_size"])
    for _ in range(cfg["posthoc_steps"]):
        loss = -sleep_log_q(programs, Batch(like)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


@torch.no_grad()
def measure(programs, grid, seed: int, n: int) -> tuple[dict, dict]:
    """Mode statistics of samples and reconstruction errors of test points, with the points for the plot."""
    torch.manual_seed(10_000 + seed)
    centres = grid.centres()
    x_test = grid.load("test").x[:n]
    samples, _ = generate(programs, n)
    x_rec = reconstruct(programs, x_test)
    own = torch.cdist(x_test, centres).argmin(1)
    stats = mode_stats(samples, centres, grid.std)
    stats["rec_mse"] = float(((x_rec - x_test) ** 2).sum(-1).mean())
    stats["rec_same_mode"] = float((torch.cdist(x_rec, centres).argmin(1) == own).double().mean())
    return stats, {"data": x_test, "samples": samples, "reconstructions": x_rec, "own": own}


def rows_of(method: str, stats: dict, seed: int) -> list[Row]:
    return [Row(method, "modes (of 25)", stats["modes"], seed),
            Row(method, "high-quality %", 100 * stats["high_quality"], seed),
            Row(method, "reconstruction ‖x̂ − x‖²", stats["rec_mse"], seed),
            Row(method, "reconstruction on x's mode %", 100 * stats["rec_same_mode"], seed)]


def plot(points: dict, stats: dict, path) -> None:
    """Rows: methods; columns: data, samples, reconstructions (coloured by the mode of the original x)."""
    fig, axes = plt.subplots(len(points), 3, figsize=(9.6, 3.3 * len(points)), squeeze=False, layout="constrained")
    for row, (method, p) in zip(axes, points.items()):
        st = stats[method]
        colours = p["own"].float()
        titles = ("test data (colour: its mode)", f"samples: {st['modes']}/25 modes, {100 * st['high_quality']:.0f}% HQ",
                  f"reconstructions x→z→x (colour: x's mode)\n‖x̂−x‖² {st['rec_mse']:.2f}, "
                  f"{100 * st['rec_same_mode']:.0f}% on x's mode")
        row[0].scatter(p["data"][:, 0], p["data"][:, 1], s=2, c=colours, cmap="hsv")
        row[1].scatter(p["samples"][:, 0], p["samples"][:, 1], s=2, alpha=0.5, c="tab:blue")
        row[2].scatter(p["reconstructions"][:, 0], p["reconstructions"][:, 1], s=2, c=colours, cmap="hsv")
        for ax, title in zip(row, titles):
            ax.set_title(f"{method}\n{title}", fontsize=8)
            ax.set_xlim(-6, 6)
            ax.set_ylim(-6, 6)
            ax.set_aspect("equal")
            ax.grid(alpha=0.3)
    fig.suptitle("25-Gaussian grid, seed 0: data, samples and reconstructions (points outside [−6, 6]² are cut)",
                 fontsize=9)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(ctx: Context) -> list[Row]:
    cfg = ctx.pick(QUICK, FULL)
    rows, points, first = [], {}, {}
    for seed in ctx.seeds:
        ali, grid = train("ali", seed, cfg)
        gan, _ = train("ns_gan", seed, cfg)
        fit_posthoc_encoder(gan, cfg)
        for method, programs in (("ALI", ali), ("GAN + post-hoc encoder", gan)):
            stats, pts = measure(programs, grid, seed, cfg["n_eval"])
            rows += rows_of(method, stats, seed)
            if seed == ctx.seeds[0]:
                points[method], first[method] = pts, stats
        ref = mode_stats(grid.load("test").x[:cfg["n_eval"]], grid.centres(), grid.std)
        rows += [Row("data (reference)", "modes (of 25)", ref["modes"], seed),
                 Row("data (reference)", "high-quality %", 100 * ref["high_quality"], seed)]
    plot(points, first, ctx.figure())
    ctx.notes.append(f"{'Quick' if ctx.quick else 'CPU-reduced'} settings: {cfg}; Adam lr {LR}, β {BETAS}.")
    return rows
