r"""Mode collapse on the ring of 8 and the grid of 25 Gaussians (VEEGAN / PacGAN protocol).

Srivastava et al. (2017, VEEGAN) and Lin et al. (2018, PacGAN) measure mode collapse on two mixtures:

* **ring** — 8 Gaussians of std 0.01 at :math:`(\cos 2\pi i/8, \sin 2\pi i/8)`;
* **grid** — 25 Gaussians of std 0.05 at :math:`\{-4, -2, 0, 2, 4\}^2`.

From 2,500 generated samples: a sample is *high quality* if it lies within 3 std of its nearest mode
centre, a mode is *captured* if it is the nearest centre of at least one high-quality sample, and we add
:math:`\mathrm{KL}(\hat p \,\|\, U)` over the modes (:func:`unigen.metrics.mode_stats`). Each number is a
mean over seeds.

At the *shared schedule* we train every strategy of unigen that is a GAN for the same Pyro programs (the ``mlp``
model spec) with the same networks, optimiser, batch and number of generator updates; only the strategy changes:

* minimax GAN (Goodfellow et al., 2014) and non-saturating GAN;
* WGAN-GP (Gulrajani et al., 2017): ``wgan`` with ``clip=0, penalty=gp``, λ = 0.1 (the authors' value for
  their 2-D toys), 5 critic updates per generator update (its paper's schedule; with the penalty's double
  backward pass it costs about six times as much per generator update);
* NS-GAN + R1 (Mescheder et al., 2018): ``ns_gan`` with ``penalty=r1``, γ = 0.1;
* MonoFlow (Yi et al., 2023) with :math:`h` = logit, arcsinh and vanilla (:math:`C = 5`);
* IWGAN (Hu et al., 2018): the non-saturating generator reweighted by :math:`\mathrm{softmax}(d)`.

The shared schedule was tuned once, for the NS-GAN on the grid, and then applied unchanged to every
method: batch 512 (256 left the grid at about 89% high quality), Adam lr 2·10⁻³ with β = (0.5, 0.999), and
the learning rate held for the first half of training, then decayed geometrically to a tenth (this lifted
the grid from about 89% to 92–96% high quality). The decay is the optimiser's geometric schedule held for
the first part and moved in stairs (:func:`decay`); everything else is a plain unigen configuration (:func:`config`).

On a GPU the run adds a held-out selection for the grid, the harder data set: four candidate settings
of the best strategies (:data:`CANDIDATES`) are trained on development seeds (each reported seed + 100),
the candidate with the highest mean high-quality % among those that capture 25/25 on every development
seed is chosen (:func:`choose`), and only it is run on the reported seeds. The page lists every
candidate's development numbers.

Departures at the shared schedule: the papers' networks and training lengths are not ours (one small MLP pair
for every method); a CPU run shortens that schedule for every method and re-runs only the best strategy at the
full schedule (the notes of the results page say so); ``$UNIGEN_WORKERS`` runs the trainings in that many
processes (results do not depend on it: every training seeds itself).

**The papers' programs** (:data:`PAPERS`, rows "… (papers' programs)"): the shared schedule was tuned for the
NS-GAN, and with it the plain GAN rarely drops a mode, so it cannot show a game that avoids the GAN's collapse.
The NS-GAN, WGAN-GP and NS-GAN + R1 therefore also train, on every device at the same length, with the programs
and optimiser of PacGAN's code (its batch-normalised generator, ``model.batch_norm``); the page's protocol lists
them and where they still differ from that code.

The page's **Verdict** (:func:`claims`) states, per data set and seed by seed, the claim this protocol was made to
test (VEEGAN's and PacGAN's for their methods, which are not implemented here): a stabilised game captures more
modes than the plain GAN, taken for the two regularised games (:data:`CLAIMED`: WGAN-GP, Gulrajani et al. 2017;
NS-GAN + R1, Mescheder et al. 2018) against the NS-GAN of the same seed (a tie counts against the claim), with the
papers' programs; where it fails, the measured evidence is how often the NS-GAN itself already captured every mode.
The same comparison at the shared schedule is described after it, not claimed.

With the papers' programs the NS-GAN keeps the ring's 8 modes, so the ring's claim fails for want of a collapse;
the extra finding ``mode-collapse-unrolled`` (:mod:`mode_collapse_unrolled`) tests it in the Unrolled GAN's setting,
where the NS-GAN does collapse.

Published rows (VEEGAN, Unrolled GAN, PacGAN4, and the plain GAN of PacGAN's run) are listed beside ours.
**They are not the same experiment**: the papers use their own architectures and training lengths, and
VEEGAN, Unrolled GAN and PacGAN are not implemented here; they show where our strategies stand, not a
controlled re-run.
"""
from __future__ import annotations

import math
import multiprocessing as mp
import os
import textwrap
from concurrent.futures import ProcessPoolExecutor

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from unigen.config import resolve  # noqa: E402
from unigen.experiments import partial  # noqa: E402
from unigen.experiments.common import (Context, Row, cache_path, gpu_settings, load_or_compute,  # noqa: E402
                                      on_gpu)
from unigen.experiments.verdict import Paired, by_seed, paired, verdict  # noqa: E402
from unigen.metrics import mode_stats  # noqa: E402
from unigen.assemble import build  # noqa: E402
from unigen.sampling import draw  # noqa: E402
from unigen.trainer import NonFiniteError  # noqa: E402

NAME = "mode-collapse"
TITLE = "Mode collapse on the 2-D ring (8 modes) and grid (25 modes): VEEGAN/PacGAN protocol"

_VEEGAN = "Srivastava et al. 2017 (VEEGAN)"
_PACGAN = "Lin et al. 2018 (PacGAN)"
PUBLISHED = [
    {"method": "VEEGAN (published)", "metric": "ring: modes (of 8)", "value": 8.0, "source": _VEEGAN},
    {"method": "VEEGAN (published)", "metric": "ring: high-quality %", "value": 52.9, "source": _VEEGAN},
    {"method": "VEEGAN (published)", "metric": "grid: modes (of 25)", "value": 24.6, "source": _VEEGAN},
    {"method": "VEEGAN (published)", "metric": "grid: high-quality %", "value": 40.0, "source": _VEEGAN},
    {"method": "Unrolled GAN (published)", "metric": "ring: modes (of 8)", "value": 7.6, "source": _VEEGAN},
    {"method": "Unrolled GAN (published)", "metric": "ring: high-quality %", "value": 35.6, "source": _VEEGAN},
    {"method": "Unrolled GAN (published)", "metric": "grid: modes (of 25)", "value": 23.6, "source": _VEEGAN},
    {"method": "Unrolled GAN (published)", "metric": "grid: high-quality %", "value": 16.0, "source": _VEEGAN},
    {"method": "PacGAN4 (published)", "metric": "ring: modes (of 8)", "value": 7.8, "source": _PACGAN},
    {"method": "PacGAN4 (published)", "metric": "ring: high-quality %", "value": 95.9, "source": _PACGAN},
    {"method": "PacGAN4 (published)", "metric": "grid: modes (of 25)", "value": 24.8, "source": _PACGAN},
    {"method": "PacGAN4 (published)", "metric": "grid: high-quality %", "value": 93.6, "source": _PACGAN},
    {"method": "GAN (published, PacGAN's run)", "metric": "ring: modes (of 8)", "value": 6.3, "source": _PACGAN},
    {"method": "GAN (published, PacGAN's run)", "metric": "grid: modes (of 25)", "value": 17.3, "source": _PACGAN},
]

# every method: (label, strategy section). The networks, optimiser, batch and steps are shared.
METHODS = [
    ("minimax GAN", {"name": "minimax_gan"}),
    ("NS-GAN", {"name": "ns_gan"}),
    ("WGAN-GP", {"name": "wgan", "clip": 0.0, "penalty": "gp", "penalty_weight": 0.1, "n_critic": 5}),
    ("NS-GAN + R1", {"name": "ns_gan", "penalty": "r1", "penalty_weight": 0.1}),
    ("MonoFlow (h=logit)", {"name": "monoflow", "h": "logit"}),
    ("MonoFlow (h=arcsinh)", {"name": "monoflow", "h": "arcsinh"}),
    ("MonoFlow (h=vanilla)", {"name": "monoflow", "h": "vanilla", "C": 5.0}),
    ("IWGAN", {"name": "iwgan"}),
]
QUICK_METHODS = ("NS-GAN", "MonoFlow (h=logit)")
BASELINE = "NS-GAN"
CLAIMED = ("WGAN-GP", "NS-GAN + R1")  # the verdict: each captures more modes than the NS-GAN (per data set)
MODEL = {"name": "mlp", "z_dim": 2, "hidden": 128, "depth": 3, "disc_hidden": 128}
# the schedule of the experiment: generator updates, batch, Adam lr, and the fraction of the updates
# after which the learning rate starts its geometric decay to DECAY × lr
FULL = {"ring": {"steps": 4000, "batch_size": 512, "lr": 2e-3, "decay_from": 0.5},
        "grid": {"steps": 8000, "batch_size": 512, "lr": 2e-3, "decay_from": 0.5}}
# a CPU without a GPU: every method at a shorter schedule, plus the best strategy at FULL
CPU = {"ring": {"steps": 1500, "batch_size": 512, "lr": 2e-3, "decay_from": 0.5},
       "grid": {"steps": 3000, "batch_size": 512, "lr": 2e-3, "decay_from": 0.5}}
# the schedule tuned for the best strategies (development runs on seeds 0-2): longer, with an earlier and
# deeper decay (to 0.02 × lr from 30% of the updates); TUNED_METHODS run it besides the shared schedule
TUNED = {"ring": {"steps": 6000, "batch_size": 512, "lr": 2e-3, "decay_from": 0.3, "decay": 0.02},
         "grid": {"steps": 12000, "batch_size": 512, "lr": 2e-3, "decay_from": 0.3, "decay": 0.02}}
TUNED_METHODS = ("NS-GAN", "NS-GAN + R1")
# held-out selection on the grid (GPU runs): candidate settings for the best strategy are compared on
# development seeds (each reported seed + DEV_SEED_OFFSET), and only the winner is run on the reported seeds
CANDIDATES = {
    "NS-GAN + R1, batch 1024": ("NS-GAN + R1", {**TUNED["grid"], "batch_size": 1024}),
    "NS-GAN + R1, 20000 updates": ("NS-GAN + R1", {**TUNED["grid"], "steps": 20000}),
    "NS-GAN + R1, decay to 0.005×": ("NS-GAN + R1", {**TUNED["grid"], "decay": 0.005}),
    "MonoFlow (h=logit), tuned schedule": ("MonoFlow (h=logit)", TUNED["grid"]),
}
DEV_SEED_OFFSET = 100
QUICK = {"ring": {"steps": 1500, "batch_size": 256, "lr": 2e-3, "decay_from": 1.0}}
# the papers' programs and optimiser (PacGAN's configurations for the ring and the grid; ALI's mixture scripts the
# same), for PAPERS_STEPS generator updates of their 4·10⁵ (config() reads "model", "betas" and "compile")
PAPERS_LABEL = "papers' programs"
PAPERS_STEPS = 10_000
PAPERS_MODEL = {"hidden": 400, "depth": 4, "disc_hidden": 400, "batch_norm": True}
PAPERS = {d: {"steps": PAPERS_STEPS, "batch_size": 100, "lr": 1e-4, "decay_from": 1.0, "betas": [0.8, 0.999],
              "model": PAPERS_MODEL, "compile": "trace"} for d in ("ring", "grid")}
PAPERS_METHODS = (BASELINE, *CLAIMED)
DECAY = 0.1
STAIR = 250  # generator updates per stair of the decay (the rate moves every STAIR updates)
PAGE_VARIANTS = ("cpu",)  # a full run on a CPU has the shortened schedule and writes NAME-cpu.md (ctx.variant)
WORKERS_ENV = "UNIGEN_WORKERS"  # trainings run in this many processes (default 1)

PROTOCOL = f"""
Data: ring (8 Gaussians, std 0.01, radius 1) and grid (25 Gaussians, std 0.05, at {{−4, −2, 0, 2, 4}}²), 50,000
training points each (unigen's `ring` and `grid`). Programs: unigen's `mlp` model — generator
2 → 128 → 128 → 128 → 2 (ReLU), z ~ N(0, I₂), a Delta observation; discriminator 2 → 128 → 128 → 128 → 1
(LeakyReLU 0.2). **At the shared schedule every method uses the same programs, batch (512), optimiser (Adam,
β = (0.5, 0.999), lr 2·10⁻³ for both players) and number of generator updates** (ring 4,000, grid 8,000 in the full schedule); the learning
rate is held for the first half of the updates, then decays geometrically to a tenth (the same schedule for
every method). Only the strategy changes. Strategy-specific settings: WGAN-GP takes 5 critic updates per
generator update with λ = 0.1 (Gulrajani et al.'s value for their 2-D toys), so it costs
about 6× more per generator update; NS-GAN + R1 uses γ = 0.1; MonoFlow vanilla uses C = 5. No setting was
tuned per method; the shared schedule was tuned for the NS-GAN on the grid (batch 256 → 512, the decay).
Evaluation (VEEGAN/PacGAN protocol): 2,500 samples; high quality = within 3 std of the nearest centre; a mode is
captured when it is the nearest centre of at least one high-quality sample; KL(p̂‖U) over the histogram of
nearest modes of the high-quality samples. Samples are drawn in evaluation mode. Rows: mean ± std over seeds, one training per seed and method.
Rows marked "(published)" are the papers' numbers with their own networks and schedules, not re-runs.

**The papers' programs** (rows "… ({PAPERS_LABEL})"): the shared schedule above was tuned for the NS-GAN, and
with it the plain GAN rarely drops a mode. The NS-GAN, WGAN-GP and NS-GAN + R1 (the same strategy settings) also
train with the programs and optimiser of PacGAN's code for these two data sets (ALI's mixture scripts use the same):
generator 2 → {' → '.join([str(PAPERS_MODEL['hidden'])] * PAPERS_MODEL['depth'])} → 2 with a batch norm before each
ReLU (`model.batch_norm=true`), Adam {PAPERS['grid']['lr']:g}, β = {tuple(PAPERS['grid']['betas'])}, batch
{PAPERS['grid']['batch_size']}, a constant rate, {PAPERS_STEPS:,} generator updates on every device (PacGAN's: 400
epochs of 100,000 points, 4·10⁵ updates); on a CPU the traced step. Where this still differs from PacGAN's code:
its critic, 3 maxout layers of 200 units with 5 pieces, is not used here (`model.disc_maxout=5 model.disc_depth=3 model.disc_hidden=200` builds it;
the critic is the spec's 2 → {PAPERS_MODEL['disc_hidden']}
× {PAPERS_MODEL['depth']} → 1, LeakyReLU 0.2); its weights start from N(0, 0.02²) with zero biases and its generator's
layers before a batch norm have no bias (here PyTorch's default initialisation, biases kept); its batch norms
average their statistics with weight 0.05 (here 0.1); it trains on 100,000 points (here 50,000).

Verdict: per data set, seed by seed, with the papers' programs, WGAN-GP and NS-GAN + R1 capture more modes than
the NS-GAN (a tie does not count). The same comparison at the shared schedule is described after it.
"""


def schedule(dataset: str, ctx: Context, full: bool = False) -> dict:
    """The shared schedule for ``dataset`` under this context (quick, CPU-reduced, or full)."""
    if ctx.quick:
        return QUICK[dataset]
    return FULL[dataset] if full or on_gpu(ctx.device) else CPU[dataset]


def config(dataset: str, strategy: dict, seed: int, sched: dict, device: str) -> dict:
    """A unigen run configuration (a mapping for :func:`unigen.config.resolve`); on a GPU the whole step is
    captured in a CUDA graph (``train.compile=cudagraph``), on a CPU the schedule's ``compile`` (default none).
    A schedule's ``model`` entries replace :data:`MODEL`'s, its ``betas`` Adam's (0.5, 0.999), and its ``players``
    (``train.players``: per-player overrides, e.g. another rate for the generator) are passed on when it has them."""
    return {"data": {"name": dataset}, "model": {**MODEL, **sched.get("model", {})}, "strategy": dict(strategy),
            "train": {"steps": sched["steps"], "batch_size": sched["batch_size"], "seed": seed, "device": device,
                      "compile": "cudagraph" if on_gpu(device) else sched.get("compile", "none"),
                      "optim": {"name": "adam", "lr": sched["lr"], "betas": list(sched.get("betas", [0.5, 0.999])),
                                **decay(sched)},
                      **({"players": sched["players"]} if "players" in sched else {}),
                      "progress": False,
                      "log_every": 10 ** 9, "checkpoint_every": 0},
            "eval": {"num_samples": 2500}, "out": "unused"}


def decay(sched: dict) -> dict:
    """The optimiser schedule of ``sched``: the rate held for ``decay_from × steps`` generator updates, then
    decayed geometrically to ``decay × lr`` at the end, in stairs of :data:`STAIR` updates
    (:func:`unigen.optim.multiplier`); a constant rate when ``decay_from`` is 1."""
    if sched["decay_from"] >= 1:
        return {}
    return {"schedule": "geometric", "final": sched.get("decay", DECAY), "hold": sched["decay_from"], "stair": STAIR}


def train_and_sample(config: dict, n: int = 2500):
    """Train one configuration with unigen's trainer and return ``(resolved, samples (n, D) or None)``;
    ``samples`` is ``None`` when the run stopped on a non-finite loss or produced non-finite samples."""
    resolved = resolve(config)
    built = build(resolved)
    trainer = built.trainer()
    try:
        partial.fit(trainer, resolved.config.train.steps, log_every=10 ** 9, progress=False, check_every=50)
    except NonFiniteError:
        return resolved, None
    x = draw(built, n).cpu()
    if not bool(torch.isfinite(x).all()):
        return resolved, None
    return resolved, x


def train_job(dataset: str, strategy: dict, seed: int, sched: dict, device: str):
    """One training (in a worker process): ``(samples or None, mode statistics)``."""
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
    resolved, x = train_and_sample(config(dataset, strategy, seed, sched, device))
    spec = resolved.data
    if x is None:
        return None, {"modes": 0, "high_quality": 0.0, "kl_modes": math.inf, "num_modes": len(spec.centres())}
    return x, mode_stats(x, spec.centres(), spec.std)


def run_jobs(fn, jobs: list) -> list:
    """``[fn(j) for j in jobs]``, in ``$UNIGEN_WORKERS`` spawned processes when that is above 1."""
    workers = max(1, int(os.environ.get(WORKERS_ENV, "1") or 1))
    if workers == 1 or len(jobs) == 1:
        return [fn(j) for j in jobs]
    with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=mp.get_context("spawn")) as pool:
        return list(pool.map(fn, jobs))


def _cached_call(args):
    fn, job, path = args
    return load_or_compute(path, lambda: fn(*job))


def cached_jobs(ctx: Context, fn, jobs: list, keys: list) -> list:
    """``[fn(*job) for job in jobs]`` (``fn`` a module-level function, so that a worker can import it), in
    ``$UNIGEN_WORKERS`` processes (:func:`run_jobs`), each result stored in ``ctx.cache`` under its key of
    ``keys`` and reused from there (counted as reused on the page)."""
    paths = [cache_path(ctx.cache, key) for key in keys]
    for p in paths:
        if p is not None and p.is_file():
            ctx.count_reused(p)
    return run_jobs(_cached_call, [(fn, job, p) for job, p in zip(jobs, paths)])


def cached_trainings(ctx: Context, jobs: list) -> list:
    """Run ``jobs`` (:func:`train_job`), each stored in and reused from ``ctx.cache`` when it is set."""
    return cached_jobs(ctx, train_job, jobs, [[config(*job), ctx.quick] for job in jobs])  # the whole configuration


def choose(keys: list[tuple[str, int]], stats: list[dict]) -> tuple[str, dict[str, tuple[float, float]]]:
    """The candidate with the highest mean high-quality % among those that captured every mode on every seed
    (if none did: the most modes, then the highest quality), and each candidate's mean (modes, high-quality %)."""
    per: dict[str, list[dict]] = {}
    for (label, _), st in zip(keys, stats):
        per.setdefault(label, []).append(st)
    summary = {label: (sum(s["modes"] for s in sts) / len(sts), 100 * sum(s["high_quality"] for s in sts) / len(sts))
               for label, sts in per.items()}
    full = {label: all(s["modes"] == s["num_modes"] for s in per[label]) for label in per}
    chosen = max(per, key=lambda label: (full[label], summary[label][0] if not full[label] else 0, summary[label][1]))
    return chosen, summary


def figure_jobs(dataset: str, seed: int, device: str, chosen: str | None = None) -> list[tuple[str, tuple]]:
    """The full-schedule trainings behind one panel figure of a GPU page: ``(label, job)`` for every method at
    the shared schedule, the tuned rows, the papers' programs and (``chosen``, on the grid) the held-out selection's
    winner."""
    jobs = [(label, (dataset, strategy, seed, FULL[dataset], device)) for label, strategy in METHODS]
    jobs += [(f"{label} (tuned schedule: {TUNED[dataset]['steps']} updates)",
              (dataset, dict(METHODS)[label], seed, TUNED[dataset], device)) for label in TUNED_METHODS]
    jobs += [(papers(label), (dataset, dict(METHODS)[label], seed, PAPERS[dataset], device)) for label in PAPERS_METHODS]
    if chosen is not None:
        method, sched = CANDIDATES[chosen]
        first = DEV_SEED_OFFSET
        jobs.append((f"{chosen} (selected on seeds {first}–{first + 2})", (dataset, dict(METHODS)[method], seed, sched,
                                                                          device)))
    return jobs


def redraw(dataset: str, path, seed: int = 0, device: str = "cpu", chosen: str | None = None,
           note: str = "", cache=None) -> dict[str, dict]:
    """Re-train the trainings of one figure (:func:`figure_jobs`) and draw it at ``path``; returns each
    panel's mode statistics. For a figure that must be redrawn where the page's own machine is not at
    hand: the panels are new trainings with the page's settings (and other random numbers), so ``note``
    (a line under the title) should say so. With ``cache`` (a folder) each training is kept there, so that
    drawing the figure again costs no training."""
    from unigen.registry import DATASETS

    labelled = figure_jobs(dataset, seed, device, chosen)
    results = run_jobs(_cached_call, [(train_job, job, cache_path(cache, [list(job), False])) for _, job in labelled])
    shown = {label: res for (label, _), res in zip(labelled, results)}
    scatter(shown, dataset, DATASETS.get(dataset)().centres(), path, seed=seed, note=note)
    return {label: st for label, (_, st) in shown.items()}


def scatter(samples: dict, dataset: str, centres: torch.Tensor, path, seed: int = 0, note: str = "") -> None:
    n = len(samples)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    # constrained layout keeps the figure's title clear of the two-line panel titles
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 3.2 * rows + 0.4), squeeze=False, layout="constrained")
    lim = float(centres.abs().max()) * 1.4 + 0.2
    for ax, (label, (x, st)) in zip(axes.flat, samples.items()):
        ax.scatter(centres[:, 0], centres[:, 1], s=30, c="none", edgecolors="tab:red", lw=0.8)
        if x is not None:
            out = (x.abs() > lim).any(1)  # beyond the frame: drawn on its edge, and counted in the title
            ax.scatter(x[~out, 0], x[~out, 1], s=1, alpha=0.4, c="tab:blue")
            if out.any():
                edge = x[out].clamp(-lim * 0.98, lim * 0.98)
                ax.scatter(edge[:, 0], edge[:, 1], s=8, marker="x", lw=0.6, c="tab:orange")
            beyond = f"\n{int(out.sum())} beyond the frame (× on its edge)" if out.any() else ""
            ax.set_title(f"{textwrap.fill(label, 34)}\n{st['modes']}/{st['num_modes']} modes, "
                         f"{100 * st['high_quality']:.0f}% HQ{beyond}", fontsize=8)
        else:
            ax.set_title(f"{textwrap.fill(label, 34)}\n(stopped: non-finite loss)", fontsize=8)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(f"{dataset}: 2,500 samples per method, seed {seed} (red circles: mode centres)"
                 + (f"\n{note}" if note else ""), fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def describe(sched: dict) -> str:
    """One line on a schedule: generator updates, batch and the Adam rate with its decay."""
    decay = (f"lr {sched['lr']:g} held for {sched['decay_from']:.0%} of the updates, then decayed geometrically "
             f"to {sched.get('decay', DECAY):g}× lr" if sched["decay_from"] < 1 else f"constant lr {sched['lr']:g}")
    return f"{sched['steps']} generator updates, batch {sched['batch_size']}, Adam {decay}"


def run(ctx: Context) -> list[Row]:
    datasets = ctx.pick(("ring",), ("ring", "grid"))
    methods = [m for m in METHODS if not ctx.quick or m[0] in QUICK_METHODS]
    reduced = not gpu_settings(ctx) and not ctx.quick  # a CPU's page: mode-collapse-cpu.md
    jobs, keys = [], []
    for dataset in datasets:
        sched = schedule(dataset, ctx)
        for label, strategy in methods:
            for seed in ctx.seeds:
                jobs.append((dataset, strategy, seed, sched, ctx.device))
                keys.append((dataset, label, seed))
        if not ctx.quick:  # the best strategy (on a GPU, also NS-GAN + R1) at the tuned schedule
            for label in TUNED_METHODS:
                for seed in ctx.seeds:
                    jobs.append((dataset, dict(METHODS)[label], seed, TUNED[dataset], ctx.device))
                    keys.append((dataset, f"{label} (tuned schedule: {TUNED[dataset]['steps']} updates)", seed))
            for label in PAPERS_METHODS:  # the claim's condition: the papers' programs and optimiser
                for seed in ctx.seeds:
                    jobs.append((dataset, dict(METHODS)[label], seed, PAPERS[dataset], ctx.device))
                    keys.append((dataset, papers(label), seed))
    select = on_gpu(ctx.device) and not ctx.quick  # the held-out selection of the best grid setting
    dev_seeds = [seed + DEV_SEED_OFFSET for seed in ctx.seeds]
    dev_keys = [(label, seed) for label in CANDIDATES for seed in dev_seeds] if select else []
    dev_jobs = [("grid", dict(METHODS)[CANDIDATES[label][0]], seed, CANDIDATES[label][1], ctx.device)
                for label, seed in dev_keys]
    results = cached_trainings(ctx, jobs + dev_jobs)
    results, dev_results = results[:len(jobs)], results[len(jobs):]
    if select:
        chosen, summary = choose(dev_keys, [st for _, st in dev_results])
        method, sched = CANDIDATES[chosen]
        label = f"{chosen} (selected on seeds {dev_seeds[0]}–{dev_seeds[-1]})"
        for seed in ctx.seeds:
            jobs.append(("grid", dict(METHODS)[method], seed, sched, ctx.device))
            keys.append(("grid", label, seed))
        results += cached_trainings(ctx, jobs[-len(ctx.seeds):])
        ctx.notes.append(
            f"Held-out selection (GPU run): {len(CANDIDATES)} candidate settings for the grid's best strategy were "
            f"each trained on the development seeds {dev_seeds} (not reported above), and the one with the highest "
            f"mean high-quality % among those that captured 25/25 modes on every development seed was then run "
            f"on the reported seeds (row '{label}'). Development results (modes, high-quality %, means): "
            + "; ".join(f"{c}: {m:.1f}, {q:.1f}%" for c, (m, q) in summary.items()) + f". Chosen: {chosen}.")
    rows: list[Row] = []
    failed: list[str] = []
    shown: dict[str, dict] = {d: {} for d in datasets}
    for (dataset, label, seed), (x, st) in zip(keys, results):
        if x is None:
            failed.append(f"{label} on {dataset}, seed {seed}")
        rows += stat_rows(label, dataset, st, seed)
        if seed == ctx.seeds[0]:
            shown[dataset][label] = (x, st)
    from unigen.registry import DATASETS

    for dataset in datasets:
        scatter(shown[dataset], dataset, DATASETS.get(dataset)().centres(), ctx.figure(f"-{dataset}"))
        ctx.notes.append(f"{dataset}: {describe(schedule(dataset, ctx))} (identical for every method at the shared "
                         f"schedule).")
    if reduced:
        ctx.notes.append(
            "CPU run (2 cores): at the shared schedule every method was trained shortened "
            f"(ring {CPU['ring']['steps']}, grid {CPU['grid']['steps']} generator updates instead of "
            f"{FULL['ring']['steps']} and {FULL['grid']['steps']}) so that {len(ctx.seeds)} seeds × {len(methods)} "
            f"methods × {len(datasets)} data sets fit the time available; {' and '.join(TUNED_METHODS)} also run the "
            f"tuned schedule (below), and {', '.join(PAPERS_METHODS)} the papers' programs (not shortened). On a GPU "
            f"(--device cuda) every method runs the full schedule.")
    if not ctx.quick:
        ctx.notes.append(f"Tuned schedule (rows '… (tuned schedule: …)', {' and '.join(TUNED_METHODS)}): ring "
                         f"{describe(TUNED['ring'])}; grid the same with {TUNED['grid']['steps']} updates. Found "
                         f"with development runs of NS-GAN (ring seeds 0 and 1, grid seed 0) and checked on NS-GAN + R1 "
                         f"(ring seed 0, grid seed 2), seeds that are "
                         f"among the seeds reported here; the other methods were not tuned, so these rows "
                         f"show what the best strategy reaches, not a comparison between methods.")
    if on_gpu(ctx.device) and not ctx.quick:
        ctx.notes.append("GPU run: every training step is captured in one CUDA graph (train.compile=cudagraph).")
    if failed:
        ctx.notes.append(stopped_note(failed))
    if ctx.quick:
        ctx.notes.append(f"Quick mode: ring only, methods {', '.join(QUICK_METHODS)}, {describe(QUICK['ring'])}; "
                         f"a smoke test, not the experiment.")
    ctx.verdict = verdict_line(rows)
    return rows


def stat_rows(label: str, dataset: str, st: dict, seed: int) -> list[Row]:
    """The rows of one training's mode statistics (:func:`train_job`): modes, high-quality %, KL to uniform."""
    return [Row(label, f"{dataset}: modes (of {st['num_modes']})", float(st["modes"]), seed),
            Row(label, f"{dataset}: high-quality %", 100.0 * st["high_quality"], seed),
            Row(label, f"{dataset}: KL(modes‖uniform)", float(st["kl_modes"]), seed)]


def stopped_note(failed: list[str]) -> str:
    """The note naming the trainings that stopped on a non-finite loss (scored as no mode captured)."""
    return "Runs stopped by a non-finite loss (counted as 0 modes, 0% high quality, KL = inf): " + "; ".join(failed) + "."


def _modes_metrics(rows: list[Row]) -> list[str]:
    """The modes-captured metric of each data set in ``rows`` (``ring: modes (of 8)``, …), in order."""
    return list(dict.fromkeys(r.metric for r in rows if ": modes (of " in r.metric))


def papers(label: str) -> str:
    """The row label of method ``label`` with the papers' programs (:data:`PAPERS`)."""
    return f"{label} ({PAPERS_LABEL})"


def _pairs(rows: list[Row], name=lambda label: label) -> list[Paired]:
    out = [paired(rows, name(m), name(BASELINE), metric) for metric in _modes_metrics(rows) for m in CLAIMED]
    return [c for c in out if c.diffs]


def claims(rows: list[Row]) -> list[Paired]:
    """Per data set, seed by seed, with the papers' programs: each method of :data:`CLAIMED` captures more modes
    than the NS-GAN (modes − NS-GAN's modes > 0); left out where a method did not run (a quick run)."""
    return _pairs(rows, papers)


def shared(rows: list[Row]) -> list[Paired]:
    """The same comparison at the shared schedule tuned for the NS-GAN (described, not claimed)."""
    return _pairs(rows)


def all_modes(rows: list[Row], found: list[Paired], baseline: str) -> str:
    """Where the claims of ``found`` fail: in how many seeds ``baseline`` already captured every mode."""
    parts = []
    for metric in dict.fromkeys(c.metric for c in found if not c.holds):
        n = int(metric.split("(of ")[1].rstrip(")"))
        base = list(by_seed(rows, baseline, metric).values())
        parts.append(f"{metric.split(':')[0]}: the {baseline} captured all {n} modes in {sum(v >= n for v in base)} of "
                     f"{len(base)} seeds ({', '.join(f'{v:g}' for v in base)} by seed)")
    return "; ".join(parts)


def verdict_line(rows: list[Row]) -> str:
    """The page's verdict on the papers' programs; where a claim fails, in how many seeds the NS-GAN already
    captured every mode, where no method can capture more. The shared schedule's comparison follows, described."""
    found = claims(rows)
    measured = all_modes(rows, found, papers(BASELINE))
    line = verdict(found, f"Measured: {measured}; a tie there counts against the claim." if measured else "")
    described = shared(rows)
    if line and described:
        why = all_modes(rows, described, BASELINE)
        line += (" At the shared schedule tuned for the NS-GAN (described, not claimed): "
                 + "; ".join(c.describe() for c in described) + (f"; {why}" if why else "") + ".")
    return line
