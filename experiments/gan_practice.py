r"""``gan-practice``: what the GAN practice layer does to one DCGAN on Fashion-MNIST, with all data and with 10 %.

The techniques of :mod:`unigen.ema`, ``model.spectral_norm``, :mod:`unigen.augment` and
:mod:`unigen.inference.lecam`, each added to the same non-saturating DCGAN (``ns_gan``, Radford et al. 2016),
then DiffAugment and LeCam together, and the hinge + SN recipe of Miyato et al. (2018) on the DCGAN and on the
SNGAN ResNet (``model.name=resnet``). Each is trained on the full 60,000 training images and on a 10 % stratified
subset (6,000: Zhao et al.'s and Tseng et al.'s limited-data setting), with the same steps, batch and seeds, and
scored by FID and KID against the 10,000 test images with the project's Fashion-MNIST classifier features (not
Inception: the numbers compare the variants with each other, not with the papers').

The published directions (beside the table): DiffAugment and LeCam help most with little data (Zhao et al. 2020,
Table 1: CIFAR-10 with 10 % of the data, BigGAN FID 39.8 → 23.3 with DiffAugment; Tseng et al. 2021, Table 2:
LeCam lowers FID further when combined); an EMA of the generator lowers FID (Yazıcı et al. 2019); spectral
normalisation steadies the critic (Miyato et al. 2018). The page computes the paired per-seed differences against
the plain NS-GAN and says, per technique and data size, in how many seeds the FID went down; its **Verdict**
(:func:`claims`) takes each paper's claim at the data size it is made for: with all the data, an EMA of the generator,
spectral norm in place of the critic's batch norm and the hinge + SN recipe lower FID; with 10 %, DiffAugment, LeCam
and the two together lower FID (variant's FID − NS-GAN's < 0, seed by seed). Where the schedule is short for the
EMA's window (a CPU's 3,000 steps against a window of about 1,000), :func:`ema_rows` trains one + EMA run per seed
for ``ema_steps`` and scores its trained weights and its average (:func:`ema_long`), and :func:`long_rows` trains the
NS-GAN, DiffAugment and LeCam on the 10 % subset as long (:data:`LONG`: the limited-data gap that the short schedule
leaves small); both are described after the verdict (:func:`longer`), not claimed.
"""
from __future__ import annotations

import math
import os
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from unigen.assemble import build  # noqa: E402
from unigen.config import resolve  # noqa: E402
from unigen.data import FashionMNIST  # noqa: E402
from unigen.ema import scoring_weights  # noqa: E402
from unigen.experiments import partial  # noqa: E402
from unigen.experiments.common import Context, Row, on_gpu  # noqa: E402
from unigen.experiments.gp_sweep import scores  # noqa: E402
from unigen.experiments.mode_collapse import cached_jobs  # noqa: E402
from unigen.experiments.verdict import Paired, verdict  # noqa: E402
from unigen.experiments.verdict import paired as paired_rows  # noqa: E402
from unigen.metrics import feature_classifier  # noqa: E402
from unigen.sampling import draw  # noqa: E402
from unigen.trainer import NonFiniteError  # noqa: E402

NAME = "gan-practice"
NEEDS_DATA = ("fashion_mnist",)
TITLE = "The GAN practice layer on one DCGAN: EMA, spectral norm, DiffAugment, LeCam, hinge + SN (Fashion-MNIST)"
SEEDS = 3

#: the variants: overrides over the plain NS-GAN DCGAN (BASE)
VARIANTS = {
    "NS-GAN": [],
    "+ SN": ["model.spectral_norm=critic", "model.disc_norm=none"],
    "+ EMA": ["train.ema=0.999", "train.ema_start=500"],
    "+ DiffAugment": ["train.augment=color,translation,cutout"],
    "+ LeCam": ["strategy.lecam_weight=0.1"],
    "+ DiffAugment + LeCam": ["train.augment=color,translation,cutout", "strategy.lecam_weight=0.1"],
    "hinge + SN": ["strategy.name=hinge", "model.spectral_norm=critic", "model.disc_norm=none",
                   "train.optim.betas=[0.0,0.9]"],
    "hinge + SN (ResNet)": ["model.name=resnet", "strategy.name=hinge", "model.spectral_norm=critic",
                            "train.optim.betas=[0.0,0.9]"],
}
#: the published direction of each technique (what the page compares the measured differences with)
DIRECTIONS = {
    "+ SN": "steadier training (Miyato et al. 2018)",
    "+ EMA": "lower FID (Yazıcı et al. 2019)",
    "+ DiffAugment": "lower FID, most with little data (Zhao et al. 2020)",
    "+ LeCam": "lower FID, most with little data (Tseng et al. 2021)",
    "+ DiffAugment + LeCam": "lowest FID with little data (Tseng et al. 2021, Table 2)",
    "hinge + SN": "the SNGAN recipe (Miyato et al. 2018)",
    "hinge + SN (ResNet)": "the SNGAN recipe on its ResNet (Miyato et al. 2018)",
}
PUBLISHED = [{"method": f"{v} (10 %)", "metric": "FID", "value": d, "kind": "published direction",
              "source": d.split("(")[-1].rstrip(")")} for v, d in DIRECTIONS.items()]
#: data sizes: the share of the 60,000 training images
FRACTIONS = {"full": 1.0, "10 %": 0.1}
PAGE_VARIANTS = ("cpu",)  # a full run on a CPU has the 'cpu' schedule and writes NAME-cpu.md (ctx.variant)
#: the verdict's claims: (variant, the data size its paper's claim is about); each lowers FID below the NS-GAN's
CLAIMS = [("+ EMA", "full"), ("+ SN", "full"), ("hinge + SN", "full"),
          ("+ DiffAugment", "10 %"), ("+ LeCam", "10 %"), ("+ DiffAugment + LeCam", "10 %")]
#: the schedule and the evaluation, by mode
#: (``ema_steps``: the length of the longer runs where the schedule is short: the EMA run scored twice, with the
#: trained weights and with their average, and the limited-data runs of :data:`LONG`; none on a GPU, whose 20,000
#: steps are ten EMA windows)
SCHED = {"quick": dict(steps=30, batch=16, ngf=8, width=8, eval=200, kid=5, variants=("NS-GAN", "+ DiffAugment"),
                       eager=True, ema_steps=40),
         "cpu": dict(steps=3000, batch=64, ngf=32, width=16, eval=5000, kid=50, variants=tuple(VARIANTS),
                     ema_steps=10_000),
         "gpu": dict(steps=20000, batch=64, ngf=64, width=128, eval=10000, kid=100, variants=tuple(VARIANTS),
                     ema_steps=None)}

PROTOCOL = """
One DCGAN (`model.name=dcgan`: ngf = ndf as in the mode's settings, z of 100, batch-normalised critic unless a
variant says otherwise), trained with the non-saturating loss (`ns_gan`), Adam (lr 2e-4, β = (0.5, 0.999); the
hinge variants (0, 0.9) as Miyato et al.), a constant rate, the traced step (`train.compile=trace`), on
Fashion-MNIST scaled to [-1, 1]: the 60,000 training images ("full") or a stratified 10 % of them (6,000:
`data.fraction=0.1`, "10 %"). Every variant and data size trains for the same number of steps at batch 64 on
the same seeds. Variants: `+ SN`: spectral norm on every critic layer (`model.spectral_norm=critic`) with the
critic's batch norm off; `+ EMA`: samples from an exponential moving average of the generator's weights (decay
0.999 from step 500) with standing batch-norm statistics (`train.ema_bn`, 32 batches of 256 samples); `+ DiffAugment`: colour, translation and cutout on every critic input, real and generated
(`train.augment`); `+ LeCam`: λ = 0.1 (`strategy.lecam_weight`); `hinge + SN`: the hinge loss with SN (Miyato et
al.); `hinge + SN (ResNet)`: the same on the SNGAN ResNet (`model.name=resnet`, width as in the mode's settings).
Scores: FID and KID (cubic polynomial kernel on the 128 features, the mean over subsets of 1,000; the features'
scale makes KID large here: compare rows, not papers) of the mode's number of samples
against as many of the 10,000 test images, on the penultimate features of the project's Fashion-MNIST classifier
(`unigen.metrics.feature_classifier`, 0.909 test accuracy), lower is better. A diverged run scores inf. The
reading compares each variant with the plain NS-GAN seed by seed (paired differences); the verdict takes the
claims at the data size each paper makes them for: EMA, SN and hinge + SN with all the data, DiffAugment, LeCam and
both with 10 %. Where the schedule is short for the average's window (a CPU's), one more + EMA run per seed trains
longer on all the data and is scored twice, with its trained weights and with their average (rows "… N steps"):
Yazıcı et al.'s comparison within one training; and the NS-GAN, DiffAugment and LeCam train as long on the 10 %
subset (rows "… 10 %, N steps"), for the limited-data gap at that length. Both are described after the verdict, not
claimed.
"""


def config(variant: str, fraction: float, seed: int, p: dict, device: str) -> tuple[dict, list[str]]:
    """The run of ``variant`` on ``fraction`` of the training images with ``seed`` (and the mode's settings ``p``)."""
    base = {"data": {"name": "fashion_mnist", "support": "symmetric", "fraction": fraction, "seed": 0},
            "model": {"name": "dcgan", "ngf": p["ngf"], "ndf": p["ngf"]},
            "strategy": {"name": "ns_gan"},
            "train": {"steps": p["steps"], "batch_size": p["batch"], "seed": seed, "device": device,
                      "log_every": max(1, p["steps"] // 10), "compile": "trace" if not p.get("eager") else "none",
                      "optim": {"name": "adam", "lr": 2e-4, "betas": [0.5, 0.999], "schedule": "constant"},
                      "progress": False},
            "eval": {"image_metrics": False}}
    overrides = list(VARIANTS[variant])
    if "model.name=resnet" in overrides:  # the ResNet has its own settings
        base["model"] = {"name": "resnet", "width": p["width"], "z_dim": 128}
        overrides.remove("model.name=resnet")
    return base, overrides


def classifier(device: str = "cpu"):
    return feature_classifier(FashionMNIST(), device=device)


def reference(n: int) -> torch.Tensor:
    """``n`` test images in [-1, 1] (a seeded subset when fewer than 10,000): the FID/KID reference."""
    x = FashionMNIST(support="symmetric").load("test").x
    return x if n >= len(x) else x[torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:n]]


def _fit(variant: str, fraction: float, seed: int, p: dict, device: str, extra: tuple[str, ...] = ()):
    """Build and train one run of ``variant`` (see :func:`config`; ``extra``: overrides after the variant's own);
    returns ``(built, trainer)``."""
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
    cfg, overrides = config(variant, fraction, seed, p, device)
    resolved = resolve(cfg, overrides + list(extra))
    built = build(resolved)
    trainer = built.trainer()
    partial.fit(trainer, resolved.config.train.steps, log_every=resolved.config.train.log_every, progress=False)
    built.programs.eval()
    return built, trainer


def _draw(built, average, seed: int, n: int) -> torch.Tensor:
    """``n`` samples with the trained weights (``average`` None) or their average, on the evaluation's own stream."""
    with scoring_weights(built, average), torch.no_grad():
        torch.manual_seed(10_000 + seed)
        return draw(built, n).cpu()


def train_and_score(variant: str, fraction: float, seed: int, p: dict, device: str) -> dict:
    """Train one run, draw ``p["eval"]`` samples (the weight average for ``+ EMA``) and score them."""
    import time

    start = time.perf_counter()
    try:
        built, trainer = _fit(variant, fraction, seed, p, device)
        x = _draw(built, trainer.players.average, seed, p["eval"])
    except NonFiniteError:
        x = None
    s = scores(x, reference(p["eval"]), classifier(device)[0], p["kid"]) if x is not None else \
        {"fid": math.inf, "kid": math.inf}
    return {**s, "samples": None if x is None else x[:32],
            "seconds": partial.elapsed(start)}  # with an interrupted invocation's share


def ema_long(seed: int, p: dict, device: str) -> dict:
    """One ``+ EMA`` run on all the data for ``p["ema_steps"]`` steps, scored twice on the same samples' stream: with
    the trained weights (``"trained"``) and with their average (``"ema"``). The pair differs only in the averaging,
    which does not touch training: Yazıcı et al.'s comparison. ``p["ema_decay"]``, where given, replaces the
    variant's decay (:mod:`gan_practice_ema`)."""
    import time

    start = time.perf_counter()
    q = {**p, "steps": p["ema_steps"]}
    ref, clf = reference(p["eval"]), classifier(device)[0]
    decay = (f"train.ema={p['ema_decay']}",) if "ema_decay" in p else ()
    try:
        built, trainer = _fit("+ EMA", FRACTIONS["full"], seed, q, device, decay)
        out = {name: scores(_draw(built, average, seed, p["eval"]), ref, clf, p["kid"])
               for name, average in (("trained", None), ("ema", trainer.players.average))}
    except NonFiniteError:
        out = {name: {"fid": math.inf, "kid": math.inf} for name in ("trained", "ema")}
    return {**out, "seconds": partial.elapsed(start)}


def run(ctx: Context) -> list[Row]:
    mode = "quick" if ctx.quick else "gpu" if on_gpu(ctx.device) else "cpu"
    if mode == "cpu":
        ctx.variant = "cpu"
    p = SCHED[mode]
    classifier(ctx.device)  # trained once, before the workers start (they read the cache)
    jobs = [(v, f, s) for f in FRACTIONS.values() for v in p["variants"] for s in ctx.seeds]
    # (an EMA variant's key names the standing statistics its average is scored with since train.ema_bn)
    results = cached_jobs(ctx, train_and_score, [(*job, p, ctx.device) for job in jobs],
                          [[list(job), _keyed(p), ctx.quick, ctx.device] + (["ema_bn"] if "EMA" in job[0] else [])
                           for job in jobs])
    by = {job: r for job, r in zip(jobs, results)}
    rows: list[Row] = []
    for size, f in FRACTIONS.items():
        for v in p["variants"]:
            for s in ctx.seeds:
                r = by[(v, f, s)]
                rows += [Row(f"{v} ({size})", "FID", r["fid"], s), Row(f"{v} ({size})", "KID", r["kid"], s),
                         Row(f"{v} ({size})", "minutes", r["seconds"] / 60, s)]
    rows += ema_rows(ctx, p) + long_rows(ctx, p)
    ctx.notes += notes(by, p, ctx.seeds, mode)
    ctx.verdict = verdict_line(rows)
    figure(by, p, ctx)
    return rows


def _keyed(p: dict) -> dict:
    """A schedule as the cache keys of its runs name it: without ``ema_steps``, which only the longer EMA run reads
    (so the runs kept the keys they had before it)."""
    return {k: v for k, v in p.items() if k != "ema_steps"}


def ema_label(steps: int) -> tuple[str, str]:
    """The rows of the longer EMA run: the trained weights and their average, at ``steps``."""
    return f"NS-GAN (full, {steps:,} steps)", f"+ EMA (full, {steps:,} steps)"


def ema_pair_rows(ctx: Context, p: dict, trained: str, ema: str) -> list[Row]:
    """:func:`ema_long` for every seed (cached, in ``$UNIGEN_WORKERS`` processes) as rows: FID and KID of the trained
    weights (method ``trained``) and of their average (``ema``), and the run's minutes (on the average's row)."""
    results = cached_jobs(ctx, ema_long, [(s, p, ctx.device) for s in ctx.seeds],
                          [["ema-long", s, p, ctx.quick, ctx.device] for s in ctx.seeds])
    rows = []
    for s, r in zip(ctx.seeds, results):
        for label, key in ((trained, "trained"), (ema, "ema")):
            rows += [Row(label, "FID", r[key]["fid"], s), Row(label, "KID", r[key]["kid"], s)]
        rows.append(Row(ema, "minutes", r["seconds"] / 60, s))
    return rows


def ema_rows(ctx: Context, p: dict) -> list[Row]:
    """The longer EMA run of every seed (cached, in ``$UNIGEN_WORKERS`` processes), as FID and KID rows of the trained
    weights and of their average; none where the schedule has no ``ema_steps``."""
    if not p.get("ema_steps"):
        return []
    rows = ema_pair_rows(ctx, p, *ema_label(p["ema_steps"]))
    ctx.notes.append(
        f"EMA at a longer schedule (rows '… {p['ema_steps']:,} steps'): one + EMA run per seed on all the data for "
        f"{p['ema_steps']:,} steps (the same settings otherwise: decay 0.999 from step 500, standing statistics), its "
        f"samples scored twice, with the trained weights and with their average: the same training, so the pair "
        f"differs only in the averaging (described after the verdict, not claimed).")
    return rows


#: the longer runs beside the EMA's (where the schedule has ``ema_steps``): the limited-data comparison, whose gap
#: the short schedule leaves small (variant, data size)
LONG = [("NS-GAN", "10 %"), ("+ DiffAugment", "10 %"), ("+ LeCam", "10 %")]


def long_label(variant: str, size: str, steps: int) -> str:
    return f"{variant} ({size}, {steps:,} steps)"


def long_rows(ctx: Context, p: dict) -> list[Row]:
    """The runs of :data:`LONG` for ``ema_steps`` on every seed (cached, in ``$UNIGEN_WORKERS`` processes), as FID and
    KID rows; none where the schedule has no ``ema_steps``."""
    if not p.get("ema_steps"):
        return []
    q = {**p, "steps": p["ema_steps"]}
    runs = [(long_label(v, size, q["steps"]), (v, FRACTIONS[size], s)) for v, size in LONG for s in ctx.seeds]
    results = cached_jobs(ctx, train_and_score, [(*job, q, ctx.device) for _, job in runs],
                          [["long", list(job), _keyed(q), ctx.quick, ctx.device] for _, job in runs])
    rows = []
    for (label, (_, _, s)), r in zip(runs, results):
        rows += [Row(label, "FID", r["fid"], s), Row(label, "KID", r["kid"], s),
                 Row(label, "minutes", r["seconds"] / 60, s)]
    ctx.notes.append(
        f"Limited data at the longer schedule (rows '… 10 %, {q['steps']:,} steps'): "
        + ", ".join(v for v, _ in LONG) + f" on the 10 % subset for {q['steps']:,} steps, every seed; beside the "
        f"NS-GAN's trained weights on all the data at the same length (the EMA run's), they measure the limited-data "
        f"gap at this length and what DiffAugment and LeCam do to it (described after the verdict, not claimed).")
    return rows


def longer(rows: list[Row], steps: int) -> list[Paired]:
    """The longer runs' comparisons at ``steps`` (described, not claimed): the EMA's average against the trained
    weights of the same run; the NS-GAN with 10 % of the data against all of it (the gap); DiffAugment and LeCam
    against the NS-GAN with 10 %."""
    trained, ema = ema_label(steps)
    small = long_label("NS-GAN", "10 %", steps)
    out = [paired_rows(rows, ema, trained, "FID", higher=False),
           paired_rows(rows, small, trained, "FID", higher=True)]
    out += [paired_rows(rows, long_label(v, size, steps), small, "FID", higher=False)
            for v, size in LONG if v != "NS-GAN"]
    return [c for c in out if c.diffs]


def claims(rows: list[Row]) -> list[Paired]:
    """The verdict's claims (:data:`CLAIMS`): each variant's FID below the plain NS-GAN's at the same data size, seed
    by seed; a claim whose variant did not run (a quick run) is left out."""
    out = [paired_rows(rows, f"{v} ({size})", f"NS-GAN ({size})", "FID", higher=False) for v, size in CLAIMS]
    return [c for c in out if c.diffs]


def verdict_line(rows: list[Row]) -> str:
    """The page's verdict; where a limited-data claim fails, the measured size of the gap it is meant to close (the
    NS-GAN's FID with 10 % of the data against all of it, seed by seed)."""
    found = claims(rows)
    gap = paired_rows(rows, "NS-GAN (10 %)", "NS-GAN (full)", "FID", higher=True)
    small = any(not c.holds and c.method.endswith("(10 %)") for c in found)
    finding = (f"Measured, the limited-data gap these techniques address: {gap.describe()}." if small and gap.diffs
               else "")
    line = verdict(found, finding)
    longer_ema = (re.fullmatch(r"\+ EMA \(full, ([\d,]+) steps\)", r.method) for r in rows)
    steps = sorted({int(m.group(1).replace(",", "")) for m in longer_ema if m})
    for n in steps:
        found = longer(rows, n)
        if line and found:
            line += (f" Described, not claimed, at {n:,} steps (the EMA's average against the trained weights of the "
                     f"same run; the limited-data gap and what DiffAugment and LeCam do to it): "
                     + "; ".join(c.describe() for c in found) + ".")
    return line


def paired(by: dict, variant: str, fraction: float, seeds: list[int]) -> tuple[int, int, float]:
    """Seeds where ``variant``'s FID is below the plain NS-GAN's, the seeds compared, and the mean paired
    difference over the seeds where neither diverged (variant − NS-GAN; negative: better)."""
    claim = Paired(variant, "NS-GAN", "FID", False,
                   tuple(by[(variant, fraction, s)]["fid"] - by[("NS-GAN", fraction, s)]["fid"] for s in seeds))
    return claim.wins, len(claim.diffs), claim.mean


def notes(by: dict, p: dict, seeds: list[int], mode: str) -> list[str]:
    """The reading, computed from the numbers: per technique and data size, in how many seeds FID went down."""
    out = []
    if mode == "cpu":
        out.append(f"CPU-reduced: {p['steps']:,} steps at batch {p['batch']} (the papers train 10⁵ and more), DCGAN "
                   f"with ngf = ndf = {p['ngf']} and the ResNet at width {p['width']} (128 in the papers), FID and KID "
                   f"of {p['eval']:,} samples against {p['eval']:,} test images, {len(seeds)} seeds.")
    for size, f in FRACTIONS.items():
        base = [by[("NS-GAN", f, s)]["fid"] for s in seeds]
        parts = []
        for v in p["variants"][1:]:
            k, n, mean = paired(by, v, f, seeds)
            parts.append(f"{v}: FID below NS-GAN's in {k} of {n} seeds (mean paired difference {mean:+.1f})")
        out.append(f"Reading, {size} data (NS-GAN FID {', '.join(f'{b:.1f}' for b in base)} by seed): "
                   + "; ".join(parts) + ".")
    if "+ EMA" in p["variants"]:
        out.append("The averaged generator is scored with standing batch-norm statistics (train.ema_bn: 32 batches "
                   "of 256 of its own samples; unigen.ema). Measured once, seed 0, full data: FID 87.8 with the "
                   "trained weights' statistics (how this page scored EMA before), 75.3 with standing statistics, "
                   "60.9 for the trained weights. The rest of the gap is the average's window at this length (decay "
                   "0.999 spans about 1,000 of the 3,000 steps): measured the same way, decay 0.99 from step 500 "
                   "scored 62.3 and decay 0.999 from step 2,000 70.0, so a shorter window comes closer to the "
                   "trained weights but none beats them at 3,000 steps (Yazıcı et al. average over runs of 10⁵ "
                   "steps and more).")
    for v, d in DIRECTIONS.items():
        if v in p["variants"]:
            small = paired(by, v, FRACTIONS["10 %"], seeds)
            full = paired(by, v, FRACTIONS["full"], seeds)
            agrees = small[2] < 0 and ("little data" not in d or small[2] <= full[2])
            out.append(f"{v} — published: {d}; measured: {small[2]:+.1f} FID with 10 % of the data and {full[2]:+.1f} "
                       f"with all of it (mean paired differences): "
                       f"{'the published direction' if agrees else 'not the published direction (a negative result here)'}.")
    return out


def figure(by: dict, p: dict, ctx: Context) -> None:
    """FID per variant, one panel per data size, every seed a dot; and the first seed's samples per variant."""
    variants = list(p["variants"])
    fig, axes = plt.subplots(1, len(FRACTIONS), figsize=(4.2 * len(FRACTIONS), 0.42 * len(variants) + 1.6),
                             sharex=False)
    for ax, (size, f) in zip(axes, FRACTIONS.items()):
        for i, v in enumerate(variants):
            vals = [by[(v, f, s)]["fid"] for s in ctx.seeds]
            finite = [x for x in vals if math.isfinite(x)]
            if finite:
                ax.barh(i, sum(finite) / len(finite), color=f"C{i % 10}", alpha=0.35)
                ax.scatter(finite, [i] * len(finite), color=f"C{i % 10}", s=14, zorder=3)
        ax.set_yticks(range(len(variants)), variants if ax is axes[0] else [""] * len(variants), fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("FID (Fashion-MNIST-classifier features; lower is better)", fontsize=8)
        ax.set_title(f"{size} training data", fontsize=9)
    fig.tight_layout()
    fig.savefig(ctx.figure(), dpi=110)
    plt.close(fig)
    first = [by[(v, FRACTIONS["10 %"], ctx.seeds[0])]["samples"] for v in variants]
    fig, axes = plt.subplots(1, len(variants), figsize=(1.55 * len(variants), 1.9))
    for ax, v, x in zip(axes, variants, first):
        ax.axis("off")
        ax.set_title(v, fontsize=6)
        if x is not None:
            grid = x[:16].reshape(4, 4, 28, 28).permute(0, 2, 1, 3).reshape(4 * 28, 4 * 28)
            ax.imshow(((grid + 1) / 2).numpy(), cmap="gray", vmin=0, vmax=1)
    fig.suptitle("samples, 10 % data, seed 0", fontsize=8)
    fig.tight_layout()
    fig.savefig(ctx.figure("-samples"), dpi=110)
    plt.close(fig)
