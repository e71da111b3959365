r"""Part 2 of ``gp-stabilises``: penalties on the NS-GAN over a hyper-parameter sweep, on the full Fashion-MNIST.

After Fedus et al. (ICLR 2018, §4): each method is trained under many hyper-parameter settings, and the claim is
read from the *distribution* of sample-quality scores over the sweep (their box plots), not from the best run.
Methods: ``ns_gan`` (NS-GAN), ``ns_gan penalty=gp`` (GAN-GP: WGAN-GP's penalty on real/fake interpolates, λ = 10)
and ``ns_gan penalty=dragan`` (DRAGAN-NS: the penalty around perturbed data, λ = 10), and
``wgan clip=0 penalty=gp`` (WGAN-GP, λ = 10; the quick smoke test leaves it out). Every method is trained under the same sampled settings (a paired
design: setting ``i`` with training seed ``i``), so that the methods differ only in their loss.

:func:`sample_settings` draws the settings from :data:`SPACE` with a seeded generator: the Adam learning rate
(log-uniform, both players), Adam β₁ (uniform) and β₂ (one of two), the discriminator updates per generator
update, and the critic's normalisation (batch norm or none; the ``dcgan`` generator always has batch norm).
:func:`scores` reads FID and KID with the project's Fashion-MNIST classifier features
(:func:`unigen.metrics.feature_classifier`, not Inception v3) against the test images.
"""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from unigen.metrics.fid import fid  # noqa: E402
from unigen.metrics.kid import kid  # noqa: E402

#: the sweep's space: ranges of the continuous settings, choices of the discrete ones
SPACE = {"lr": (1e-4, 3e-3),  # log-uniform
         "beta1": (0.0, 0.9),  # uniform
         "beta2": (0.9, 0.999),  # one of
         "n_critic": (1, 2, 3),  # one of
         "disc_norm": ("batch", "none")}  # one of
METHODS = {
    "NS-GAN": {"name": "ns_gan"},
    "GAN-GP (λ=10)": {"name": "ns_gan", "penalty": "gp", "penalty_weight": 10.0},
    "DRAGAN-NS (λ=10)": {"name": "ns_gan", "penalty": "dragan", "penalty_weight": 10.0},
    "WGAN-GP (λ=10)": {"name": "wgan", "clip": 0.0, "penalty": "gp", "penalty_weight": 10.0},
}


def sample_settings(n: int, seed: int = 0) -> list[dict]:
    """``n`` settings drawn independently from :data:`SPACE` by a generator seeded with ``seed``."""
    rng = np.random.default_rng(seed)
    lo, hi = SPACE["lr"]
    out = []
    for _ in range(n):
        out.append({"lr": float(math.exp(rng.uniform(math.log(lo), math.log(hi)))),
                    "beta1": float(rng.uniform(*SPACE["beta1"])),
                    "beta2": float(rng.choice(SPACE["beta2"])),
                    "n_critic": int(rng.choice(SPACE["n_critic"])),
                    "disc_norm": str(rng.choice(SPACE["disc_norm"]))})
    return out


def setting_label(s: dict) -> str:
    return (f"lr {s['lr']:.1e}, β ({s['beta1']:.2f}, {s['beta2']}), {s['n_critic']} D/G, "
            f"critic norm {s['disc_norm']}")


def config(method: dict, setting: dict, seed: int, sched: dict, device: str) -> dict:
    """The run mapping of one (method, setting): DCGAN programs on Fashion-MNIST in [-1, 1]."""
    strategy = {**method, "n_critic": setting["n_critic"]}
    return {"data": {"name": "fashion_mnist", "support": "symmetric", "fraction": sched.get("fraction", 1.0)},
            "model": {"name": "dcgan", "z_dim": sched["z_dim"], "ngf": sched["width"], "ndf": sched["width"],
                      "disc_norm": setting["disc_norm"]},
            "strategy": strategy,
            "train": {"steps": sched["steps"], "batch_size": sched["batch"], "seed": seed, "device": device,
                      "compile": sched["compile"], "log_every": 10 ** 9, "checkpoint_every": 0,
                      "optim": {"name": "adam", "lr": setting["lr"], "betas": [setting["beta1"], setting["beta2"]]}},
            "out": "unused"}


def scores(fake: torch.Tensor, real: torch.Tensor, classifier, kid_subsets: int) -> dict[str, float]:
    """FID and KID of ``fake`` against ``real`` (both in [-1, 1]) under ``classifier``'s features; ``inf``
    for samples that are not finite (a diverged run)."""
    if not bool(torch.isfinite(fake).all()):
        return {"fid": math.inf, "kid": math.inf}
    f = fid(real, fake, classifier, support="symmetric")
    k = kid(real, fake, classifier, support="symmetric", subsets=kid_subsets)
    return {"fid": next(v for n, v in f.items() if n.startswith("FID")),
            "kid": next(v for n, v in k.items() if n.startswith("KID") and not n.endswith("std"))}


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """Q1, median, Q3 (linear interpolation between order statistics; ``inf`` values sort last)."""
    v = np.sort(np.asarray(values, dtype=float))
    with np.errstate(invalid="ignore"):
        q = [float(np.quantile(v, p, method="linear")) if np.isfinite(v).all() else _q_inf(v, p)
             for p in (0.25, 0.5, 0.75)]
    return q[0], q[1], q[2]


def _q_inf(v: np.ndarray, p: float) -> float:
    """A quantile of sorted ``v`` holding ``inf``: linear between neighbours, ``inf`` when either one is."""
    pos = p * (len(v) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    if not (math.isfinite(v[lo]) and math.isfinite(v[hi])):
        return math.inf
    return float(v[lo] + (pos - lo) * (v[hi] - v[lo]))


def summary(values: list[float], threshold: float) -> dict[str, float]:
    """Median, quartiles and the percentage of values below ``threshold`` (``inf``: a failed run)."""
    q1, med, q3 = quartiles(values)
    return {"median": med, "q1": q1, "q3": q3, "below": 100.0 * sum(v < threshold for v in values) / len(values),
            "failed": sum(not math.isfinite(v) for v in values)}


def box_plot(results: dict[str, list[dict]], threshold: float, title: str, path) -> None:
    """FID and KID per method over the sweep: one box per method, every run as a dot (a failed run on top)."""
    labels = list(results)
    fig, axes = plt.subplots(1, 2, figsize=(5.2 + 1.1 * len(labels), 4.4))
    for ax, key, name in ((axes[0], "fid", "FID"), (axes[1], "kid", "KID")):
        vals = [[r[key] for r in results[m]] for m in labels]
        finite = [x for v in vals for x in v if math.isfinite(x)] or [1.0]
        cap = max(finite) * 1.3
        shown = [[min(x, cap) for x in v] for v in vals]
        ax.boxplot(shown, whis=(0, 100), widths=0.5)
        for i, v in enumerate(shown):
            jitter = np.linspace(-0.12, 0.12, len(v)) if len(v) > 1 else [0.0]
            ax.scatter(i + 1 + np.asarray(jitter), v, s=12, alpha=0.7, color=f"C{i}", zorder=3)
            failed = sum(x >= cap for x in v)
            if failed:
                ax.text(i + 1, cap, f"{failed} diverged", ha="center", va="bottom", fontsize=7)
        if key == "fid":
            ax.axhline(threshold, color="k", ls=":", lw=0.8, label=f"FID threshold {threshold:g}")
            ax.legend(fontsize=7, loc="upper left")
        ax.set_xticks(range(1, len(labels) + 1), [m.replace(" (", "\n(") for m in labels], fontsize=8)
        ax.set_ylabel(f"{name} (Fashion-MNIST-classifier features)", fontsize=8)
        ax.set_yscale("log" if min(finite) > 0 else "symlog", **({} if min(finite) > 0 else {"linthresh": 1e-3}))
        ax.set_ylim(top=cap * 1.4)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def median_run(runs: list[dict]) -> int:
    """Index of the run whose FID is the (lower) median of ``runs``."""
    order = sorted(range(len(runs)), key=lambda i: runs[i]["fid"])
    return order[(len(order) - 1) // 2]

