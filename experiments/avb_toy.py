r"""AVB's toys: the 4-point toy (Mescheder, Nowozin & Geiger 2017), and a conjugate Gaussian with a closed-form posterior.

**The 4-point toy.** The data are the four one-hot vectors of :math:`\{0, 1\}^4`, each with probability 1/4; the
model is :math:`z \sim \mathcal N(0, I_2)`, :math:`x \mid z \sim \mathrm{Bernoulli}(\sigma(\mathrm{dec}_\theta(z)))`.
The best possible average log-likelihood is :math:`-\log 4`: a decoder that splits the prior into four regions of
mass 1/4, one per point. AVB (strategy ``avb``) trains the decoder with an implicit guide
:math:`z = f_\phi(x, \epsilon)`, which can learn those non-Gaussian posteriors; the VAE (strategy ``elbo``)
trains the same decoder with a Gaussian guide. For each run we report

* :math:`\tfrac14 \sum_x \log p_\theta(x)` over the four points, each by importance sampling with the
  prior as proposal (``EVAL_SAMPLES`` draws; both methods scored alike, and AVB's guide has no density);
* the training objective at the end, over the four points: the VAE's ELBO (a bound, ``EVAL_SAMPLES`` draws
  of q), AVB's estimate :math:`\mathbb{E}_q[\log p(x \mid z) - T(x, z)]` (a bound only where T is optimal).

**The conjugate Gaussian** (issue 32: a learned implicit posterior with about half the exact variance while the
logged bound looks converged). The model is fixed, :math:`z \sim \mathcal N(0, I_2)`,
:math:`x \mid z \sim \mathcal N(W z + b, \sigma^2 I_4)`, so the exact posterior is
:math:`\mathcal N(\Sigma W^\top (x - b) / \sigma^2, \Sigma)`, :math:`\Sigma = (I + W^\top W / \sigma^2)^{-1}`, and only
the guide is trained: an implicit guide by AVB with the prior contrast (``strategy.contrast=prior``, the default)
and with the adaptive contrast (``adaptive``, the paper's §3.3), and, as the reference, a full-covariance Gaussian
guide by the ELBO. Each learned posterior is compared with the exact one on 64 held-out x: the variance ratio, the
error of its mean, the KL from a Gaussian fitted to its draws to the exact posterior, the objective at the end
against :math:`\log p(x)` (closed form), and the critic's accuracy, the diagnostic that :class:`unigen.inference.avb.
CriticWatch` warns on.
"""
from __future__ import annotations

import math
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pyro  # noqa: E402
import pyro.distributions as dist  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from unigen import Programs, Trainer  # noqa: E402
from unigen.config import OptimConfig  # noqa: E402
from unigen.data.base import TensorData  # noqa: E402
from unigen.experiments.common import Context, Row  # noqa: E402
from unigen.experiments.verdict import paired, verdict  # noqa: E402
from unigen.inference.avb import SATURATED, UnreliableCritic  # noqa: E402
from unigen.programs import Batch, DataInfo  # noqa: E402
from unigen.scoring import trace_guide  # noqa: E402
from unigen.registry import STRATEGIES  # noqa: E402

NAME = "avb-toy"
TITLE = ("AVB's toys: implicit vs Gaussian guide on the 4-point toy, and prior vs adaptive contrast against a "
         "closed-form posterior (Mescheder et al. 2017)")
LOGP = "mean log p(x) over the 4 points (IS, prior proposal)"
BOUND = "objective at the end (VAE: ELBO; AVB: critic estimate)"
AVB_NAME, VAE_NAME = "AVB (implicit guide)", "VAE (Gaussian guide)"
OPTIMUM = "−1.386 = −log 4 (the optimum)"
EVAL_SAMPLES = 2 ** 16
POINTS = torch.eye(4)  # the data: four one-hot vectors
SEEDS = 5

# the conjugate Gaussian toy
PRIOR_NAME = "Gaussian toy: AVB, prior contrast"
ADAPTIVE_NAME = "Gaussian toy: AVB, adaptive contrast"
ELBO_NAME = "Gaussian toy: ELBO, full-covariance Gaussian guide"
GAUSSIAN = {PRIOR_NAME: "prior", ADAPTIVE_NAME: "adaptive", ELBO_NAME: "elbo"}
VARS = ("variance ratio z₁ (learned / exact)", "variance ratio z₂ (learned / exact)")
MEAN_ERR = "mean error (RMS, exact stds)"
KL_FIT = "KL(Gaussian fit of q ‖ exact) (nats)"
LOGGED_GAP = "logged objective, last window − log p(x) (nats)"
GAP = "objective read at the end − log p(x) (nats)"
ACC = "critic accuracy (last window)"
VAR_ERR = "|variance ratio − 1| (mean of z₁, z₂)"  # the claims' reading of VARS (derived from their rows)
W = torch.tensor([[1.0, 0.5], [-0.7, 1.2], [0.3, -0.8], [1.1, 0.4]])  # x | z ~ N(W z + b, σ² I)
B = torch.tensor([0.5, -0.3, 0.2, 0.0])
SIGMA = 0.15
TEST_X = 64  # held-out x on which each posterior is compared with the exact one
SHOWN = 6  # of them, the ones drawn in the figure

PUBLISHED = ([{"method": m, "metric": LOGP, "value": OPTIMUM, "kind": "analytic", "source": "Mescheder et al. 2017"}
              for m in (AVB_NAME, VAE_NAME)]
             + [{"method": m, "metric": v, "value": "1", "kind": "analytic", "source": "the exact posterior"}
                for m in GAUSSIAN for v in VARS])
PROTOCOL = """
**The 4-point toy.** Data: the four one-hot vectors of {0,1}⁴, uniformly (4,096 copies, batches drawn i.i.d.).
Model: z ~ N(0, I₂), x | z ~ Bernoulli(logits = decoder(z)), decoder 2 → 3 × H ELU → 4. AVB (`avb`): implicit
guide z = f(x, ε), input concat(x, ε ∈ R^E), ε ~ N(0, I), 3 × H ELU → 2, returned as a Delta site (no density);
critic T(x, z) = MLP(concat(x, z)) with 2 hidden layers of 2H ELU, plus ‖z‖²/2 (−log p(z) up to a constant, so the
net learns log q(z|x) only; the paper adds ‖z‖² to its critic too). VAE (`elbo`, one particle): Gaussian guide
x → 3 × H ELU → (μ, log σ) on the same decoder. Adam (β 0.5, 0.999); AVB: critic rate 3 × the VAE player's,
`critic_steps` 2 (as the paper's notebook).

Measured per run: the mean over the four points of log p(x), each estimated with prior draws (65,536 per point
in full mode; every posterior region of a good decoder has prior mass about 1/4, so the prior is an efficient
proposal here); the objective at the end (ELBO for the VAE, as many guide draws per point; for AVB its critic's estimate
E_q[log p(x|z) − T(x, z)], which is the ELBO only at the optimal T); AVB's critic accuracy on its own pairs in the
last logging window of 50 steps (the diagnostic `critic_acc`, below). Mean ± std over seeds.

Reduced for CPU (stated): the paper's notebook trains 100,000 steps of batch 512 with rates 2e-5 (primal) and
1e-4 (critic), ε ∈ R⁶⁴, H = 64 and a 256-wide residual critic; here fewer steps at higher rates, smaller
networks (values in the notes). The paper's table of ELBO and AIS values for this toy is not quoted: not
confirmed (the paper's text was not available to read here; only −log 4 is stated, as the analytic optimum).

**The conjugate Gaussian toy** (rows "Gaussian toy: …"; issue 32). A fixed model with a closed-form posterior:
z ~ N(0, I₂), x | z ~ N(W z + b, σ² I₄) with W = [[1, 0.5], [−0.7, 1.2], [0.3, −0.8], [1.1, 0.4]],
b = (0.5, −0.3, 0.2, 0), σ = 0.15; the exact posterior is N(Σ Wᵀ(x − b)/σ², Σ) with Σ = (I + WᵀW/σ²)⁻¹
(posterior stds 0.090 and 0.095, against the prior's 1: q and p are far apart). 8,192 training x drawn from
the model per seed; only the guide is trained. AVB: the implicit guide z = f(x, ε), concat(x, ε ∈ R⁸) → 2 × H
ELU → 2 (a Delta site), critic T(x, z) a plain MLP on concat(x, z), 2 × 2H ELU → 1 (what a new user writes: no
‖z‖² term), `critic_steps` 2, critic rate 3 × the guide's; `strategy.contrast=prior` (T tells q(z|x) from p(z))
against `strategy.contrast=adaptive` (T tells the normalised (z − μ(x))/σ(x) from N(0, I), μ and σ estimated
from `contrast_samples` = 16 guide draws per x; the paper's §3.3). Reference: `elbo` with a full-covariance
Gaussian guide (x → 2 × H ELU → μ and a Cholesky factor), which contains the exact posterior. Adam (β 0.5,
0.999) for all.

Measured per run on 64 held-out x (the same for every run), with S guide draws per x: the posterior variance
ratio of each coordinate (the draws' variance over Σ's diagonal entry, mean over x; 1 is exact); the RMS error of
the draws' mean against the exact mean, in units of the exact std; the KL from the Gaussian with the draws' mean and
covariance to the exact posterior (the KL of q itself for a Gaussian q, a moment-matched stand-in for an implicit
one), mean over x; each strategy's own estimate of the ELBO (AVB's from its critic) minus the exact log p(x)
(x ~ N(b, WWᵀ + σ²I)), twice: as logged, the mean over the last logging window of 100 training steps against
the training x's mean log p(x), and read once at the end on the held-out x with 256 draws each (a true bound is
≤ 0 either way, below log p(x) by the KL of q from the exact posterior); the critic's accuracy on its own pairs
in the last logging window of 100 steps, the diagnostic `critic_acc` (`CriticWatch` warns once when a window's
mean reaches 0.95). The verdict: the paper's claim that the adaptive contrast gives a better posterior when
q(z|x) is far from p(z) (its §3.3: T struggles when the two densities are very different), read seed by seed as a
lower KL of the fit and a lower |variance ratio − 1| (mean of the two coordinates) than the prior contrast's.
"""


class Decoder(nn.Module):
    """p(z) p(x | z): z ~ N(0, I₂), x ~ Bernoulli(σ(dec(z))) over 4 bits."""

    def __init__(self, hidden: int):
        super().__init__()
        self.net = _mlp(2, hidden, 4)

    def forward(self, x, c=None):
        zeros = x.new_zeros(x.shape[0], 2)
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(zeros, 1.0).to_event(1))
            pyro.sample("x", dist.Bernoulli(logits=self.net(z)).to_event(1), obs=x)


class ImplicitGuide(nn.Module):
    """z = f(x, ε), ε ~ N(0, I_E): a Delta site, no density."""

    def __init__(self, hidden: int, noise: int, x_dim: int = 4, layers: int = 3):
        super().__init__()
        self.noise, self.net = noise, _mlp(x_dim + noise, hidden, 2, layers)

    def forward(self, x, c=None):
        eps = torch.randn(x.shape[0], self.noise, device=x.device, dtype=x.dtype)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Delta(self.net(torch.cat([x, eps], -1)), event_dim=1))


class GaussianGuide(nn.Module):
    """q(z | x) = N(μ(x), diag σ(x)²)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.net = _mlp(4, hidden, 4)

    def forward(self, x, c=None):
        mu, log_sigma = self.net(x).chunk(2, -1)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(mu, log_sigma.exp()).to_event(1))


class Critic(nn.Module):
    """T(x, z) = MLP(concat(x, z)) + ‖z‖²/2 (``quadratic=False``: the MLP alone)."""

    def __init__(self, hidden: int, x_dim: int = 4, quadratic: bool = True):
        super().__init__()
        self.quadratic = quadratic
        self.net = nn.Sequential(nn.Linear(x_dim + 2, hidden), nn.ELU(), nn.Linear(hidden, hidden), nn.ELU(),
                                 nn.Linear(hidden, 1))

    def forward(self, x, z, c=None):
        t = self.net(torch.cat([x, z], -1)).squeeze(-1)  # (batch,)
        return t + 0.5 * (z * z).sum(-1) if self.quadratic else t


def _mlp(d_in: int, hidden: int, d_out: int, layers: int = 3) -> nn.Module:
    out, width = [], d_in
    for _ in range(layers):
        out += [nn.Linear(width, hidden), nn.ELU()]
        width = hidden
    return nn.Sequential(*out, nn.Linear(width, d_out))


def log_px(model: Decoder, k: int) -> torch.Tensor:
    """log p(x) of the four points, each from ``k`` prior draws: log mean_k p(x | z_k), shape (4,)."""
    z = torch.randn(k, 2)
    logits = model.net(z)  # (k, 4)
    log_lik = dist.Bernoulli(logits=logits.unsqueeze(1)).log_prob(POINTS).sum(-1)  # (k, 4 points)
    return torch.logsumexp(log_lik, 0) - math.log(k)


def train(method: str, seed: int, s: dict):
    """One training on the 4-point toy; returns (programs, final objective over the four points, logged rows)."""
    torch.manual_seed(seed)
    pyro.set_rng_seed(seed)
    h = s["hidden"]
    if method == "avb":
        programs = Programs(model=Decoder(h), guide=ImplicitGuide(h, s["noise"]), avb_critic=Critic(2 * h))
        strategy = STRATEGIES.get("avb")(critic_steps=2)
    else:
        programs = Programs(model=Decoder(h), guide=GaussianGuide(h))
        strategy = STRATEGIES.get("elbo")()
    data = TensorData(POINTS.repeat(1024, 1), None, DataInfo(shape=(4,), support="unit"))
    rates = {"critic": 3 * s["lr"], "vae": s["lr"]}
    trainer = Trainer(programs, strategy, data, batch_size=s["batch"], seed=seed,
                      optim=lambda p: OptimConfig(lr=rates[p], betas=[0.5, 0.999]))
    trainer.fit(s["steps"], progress=False)
    big = Batch(POINTS.repeat(s["eval"], 1))
    with torch.no_grad():
        bound = strategy.objective(programs, big).mean()
    return programs, float(bound), trainer.history


def four_point(method: str, seed: int, s: dict) -> dict:
    """One 4-point run's numbers (AVB's with its critic's accuracy in the last window of 50 steps), and its guide's
    draws at the four points (1,500 each, for the figure)."""
    programs, bound, history = train(method, seed, s)
    torch.manual_seed(10_000 + seed)
    with torch.no_grad():
        logp = log_px(programs.model, s["eval"])
        z = trace_guide(programs.guide, POINTS.repeat_interleave(1500, 0)).nodes["z"]["value"]
    return {"logp": float(logp.mean()), "bound": bound, "acc": history[-1].get("critic_acc", math.nan), "z": z}


# --- the conjugate Gaussian toy ------------------------------------------------------------------------------


class LinearGaussian(nn.Module):
    """z ~ N(0, I₂), x | z ~ N(W z + b, σ² I₄): fixed (no parameters), so its posterior is a fixed target."""

    def forward(self, x, c=None):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(x.new_zeros(x.shape[0], 2), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(z @ W.T + B, SIGMA).to_event(1), obs=x)


class FullGaussianGuide(nn.Module):
    """q(z | x) = N(μ(x), L(x) L(x)ᵀ), L lower-triangular with a positive diagonal: contains the exact posterior."""

    def __init__(self, hidden: int):
        super().__init__()
        self.net = _mlp(4, hidden, 5, layers=2)

    def forward(self, x, c=None):
        out = self.net(x)
        diag = torch.diag_embed(out[:, 2:4].exp())
        low = torch.zeros_like(diag)
        low[:, 1, 0] = out[:, 4]
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.MultivariateNormal(out[:, :2], scale_tril=diag + low))


def posterior() -> tuple[torch.Tensor, torch.Tensor]:
    """The exact posterior's precision Λ = I + WᵀW/σ² and covariance Σ = Λ⁻¹ (the same at every x)."""
    precision = torch.eye(2) + W.T @ W / SIGMA ** 2
    return precision, torch.linalg.inv(precision)


def posterior_mean(x: torch.Tensor) -> torch.Tensor:
    """E[z | x] = Σ Wᵀ (x − b) / σ², ``(n, 2)``."""
    return (x - B) @ W @ posterior()[1].T / SIGMA ** 2


def log_evidence(x: torch.Tensor) -> torch.Tensor:
    """log p(x) in closed form: x ~ N(b, W Wᵀ + σ² I), ``(n,)``."""
    return dist.MultivariateNormal(B, W @ W.T + SIGMA ** 2 * torch.eye(4)).log_prob(x)


def draw_x(n: int, seed: int) -> torch.Tensor:
    """``n`` draws of x from the model's marginal, seeded."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, generator=g) @ W.T + B + SIGMA * torch.randn(n, 4, generator=g)


def compare(z: torch.Tensor, x: torch.Tensor) -> dict[str, float]:
    """Draws ``z`` ``(S, n, 2)`` of a learned posterior at ``x`` ``(n, 4)`` against the exact one: the variance ratio
    of each coordinate (``var``, a pair), the mean error (RMS in exact stds) and KL(N(draws' mean, covariance) ‖
    exact), each averaged over x."""
    precision, cov = posterior()
    s = z.shape[0]
    m = z.mean(0)  # (n, 2)
    c = torch.einsum("sni,snj->nij", z - m, z - m) / (s - 1)  # (n, 2, 2)
    var = torch.diagonal(cov)
    ratio = (torch.diagonal(c, dim1=-2, dim2=-1) / var).mean(0)  # (2,)
    d = posterior_mean(x) - m
    err = (d.pow(2) / var).mean().sqrt()
    kl = 0.5 * (torch.einsum("ij,nji->n", precision, c) + (d @ precision * d).sum(-1) - 2
                + torch.logdet(cov) - torch.logdet(c))
    return {"var": [float(v) for v in ratio], "mean_err": float(err), "kl": float(kl.mean())}


def gaussian(method: str, seed: int, s: dict) -> dict:
    """One training of the conjugate toy's guide (``prior``, ``adaptive``: AVB; ``elbo``); its comparison with the
    exact posterior, its logged curve, the step its critic watch warned at (-1: never) and, for the figure, draws
    at the first :data:`SHOWN` held-out x."""
    torch.manual_seed(seed)
    pyro.set_rng_seed(seed)
    h = s["hidden"]
    if method == "elbo":
        programs = Programs(model=LinearGaussian(), guide=FullGaussianGuide(h))
        strategy, watch = STRATEGIES.get("elbo")(), None
    else:
        programs = Programs(model=LinearGaussian(), guide=ImplicitGuide(h, s["noise"], layers=2),
                            avb_critic=Critic(2 * h, quadratic=False))
        strategy = STRATEGIES.get("avb")(critic_steps=2, contrast=method, contrast_samples=s["contrast_samples"])
        watch = strategy.log_hook()
    data = TensorData(draw_x(8192, 1000 + seed), None, DataInfo(shape=(4,), support="real"))
    rates = {"critic": 3 * s["lr"], "vae": s["lr"]}
    trainer = Trainer(programs, strategy, data, batch_size=s["batch"], seed=seed, log_hook=watch,
                      optim=lambda p: OptimConfig(lr=rates[p], betas=[0.5, 0.999]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnreliableCritic)  # recorded by the watch: the notes say when
        trainer.fit(s["steps"], log_every=100, progress=False)
    x = draw_x(TEST_X, 99)  # the same held-out x for every run
    torch.manual_seed(20_000 + seed)
    with torch.no_grad():
        z = trace_guide(programs.guide, x.repeat(s["draws"], 1)).nodes["z"]["value"].reshape(s["draws"], TEST_X, 2)
        bound = strategy.objective(programs, Batch(x.repeat(256, 1))).mean()
    evidence = float(log_evidence(data.x).mean())
    return {**compare(z, x), "gap": float(bound - log_evidence(x).mean()),
            "acc": trainer.history[-1].get("critic_acc", math.nan),
            "warned": -1 if watch is None or watch.fired is None else watch.fired,
            "curve": [[r["step"], r["bound"] - evidence, r.get("critic_acc", math.nan)] for r in trainer.history],
            "z": z[:600, :SHOWN]}


def _symptom(results: dict, seeds: list[int]) -> str:
    """One line on issue 32's symptom, computed: each method's range of variance ratios beside how settled and how
    high its logged objective is."""
    def span(label: str) -> str:
        ratios = [v for seed in seeds for v in results[label, seed]["var"]]
        return f"{min(ratios):.2f} to {max(ratios):.2f}"

    prior = [results[PRIOR_NAME, seed] for seed in seeds]
    adaptive = [results[ADAPTIVE_NAME, seed]["curve"][-1][1] for seed in seeds]
    logged = [r["curve"][-1][1] for r in prior]
    return (f"Issue 32's symptom, measured on the Gaussian toy: with the prior contrast the variance ratios span "
            f"{span(PRIOR_NAME)} over coordinates and seeds while the logged objective settles {min(logged):+.2f} to "
            f"{max(logged):+.2f} nats from log p(x), its last 10 windows within a std of "
            f"{max(_spread(r) for r in prior):.2f} (it looks converged); with the adaptive contrast they span "
            f"{span(ADAPTIVE_NAME)}, with the ELBO's full-covariance guide {span(ELBO_NAME)}. The adaptive contrast's "
            f"logged objective lies above log p(x) in {sum(v > 0 for v in adaptive)} of {len(adaptive)} seeds: an "
            f"estimate, not a bound")


def _spread(r: dict) -> float:
    """The std of the last 10 logged windows' objective of a Gaussian-toy run (how settled its curve looks)."""
    tail = [c[1] for c in r["curve"][-10:]]
    mean = sum(tail) / len(tail)
    return math.sqrt(sum((v - mean) ** 2 for v in tail) / max(len(tail) - 1, 1))


def _plot_gaussian(shown: dict, path) -> None:
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.6), layout="constrained")
    x = draw_x(TEST_X, 99)[:SHOWN]
    chol = torch.linalg.cholesky(posterior()[1])
    t = torch.linspace(0, 2 * math.pi, 200)
    for ax, (label, r) in zip(axes, shown.items()):
        w = torch.linalg.solve_triangular(chol, (r["z"] - posterior_mean(x)).unsqueeze(-1), upper=False).squeeze(-1)
        for i in range(SHOWN):
            ax.scatter(w[:, i, 0], w[:, i, 1], s=2, alpha=0.25, color=f"C{i}", rasterized=True)
        for k in (1, 2):
            ax.plot(k * t.cos(), k * t.sin(), color="k", lw=0.9, ls="-" if k == 1 else "--")
        ax.set(xlim=(-4.5, 4.5), ylim=(-4.5, 4.5), aspect="equal", xlabel="whitened z₁", ylabel="whitened z₂",
               title=f"{label.removeprefix('Gaussian toy: ')}\nvariance ratios {r['var'][0]:.2f}, "
                     f"{r['var'][1]:.2f}; KL {r['kl']:.2f}")
        ax.title.set_fontsize(8.5)
    ax = axes[3]
    for i, (label, r) in enumerate(shown.items()):
        ax.plot([c[0] for c in r["curve"]], [c[1] for c in r["curve"]], color=f"C{i + 3}",
                label=label.removeprefix("Gaussian toy: "))
    ax.axhline(0, color="k", lw=0.6)
    ax.set(xlabel="step", ylabel="logged objective − mean log p(x) (nats)", ylim=(-2, 1),
           title="logged objective (solid) against the exact log p(x);\ncritic accuracy (dotted, right axis)")
    ax.title.set_fontsize(8.5)
    ax.legend(fontsize=7, loc="lower right")
    twin = ax.twinx()
    for i, (label, r) in enumerate(shown.items()):
        if not math.isnan(r["curve"][-1][2]):
            twin.plot([c[0] for c in r["curve"]], [c[2] for c in r["curve"]], color=f"C{i + 3}", ls=":")
    twin.axhline(SATURATED, color="k", lw=0.6, ls=":")
    twin.set(ylim=(0.45, 1.02), ylabel=f"critic accuracy (the watch warns at {SATURATED})")
    fig.suptitle(f"conjugate Gaussian toy, seed 0: draws of q(z | x) at {SHOWN} held-out x (colours), whitened by "
                 "the exact posterior (exact: N(0, I); circles at 1 and 2 std)", fontsize=10)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot(shown: dict, path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(9.6, 5.2), layout="constrained")
    for ax, (label, z) in zip(axes, shown.items()):
        for i in range(4):
            zi = z[i * 1500:(i + 1) * 1500]
            ax.scatter(zi[:, 0], zi[:, 1], s=2, alpha=0.35, color=f"C{i}", label=f"x = e{i + 1}", rasterized=True)
        ax.add_patch(plt.Circle((0, 0), 2.0, fill=False, ls="--", lw=0.8, color="k"))
        ax.set(xlim=(-3.5, 3.5), ylim=(-3.5, 3.5), aspect="equal", xlabel="z₁", ylabel="z₂",
               title=f"{label}: samples of q(z | x)")
        ax.legend(markerscale=5, fontsize=8, loc="upper right")
    fig.suptitle("learned posteriors, seed 0 (dashed: radius 2 of the prior N(0, I))", fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(ctx: Context) -> list[Row]:
    s = ctx.pick({"steps": 200, "batch": 128, "lr": 5e-3, "hidden": 32, "noise": 8, "eval": 4096},
                 {"steps": 3000, "batch": 256, "lr": 1e-3, "hidden": 64, "noise": 16, "eval": EVAL_SAMPLES})
    g = ctx.pick({"steps": 300, "batch": 128, "lr": 3e-3, "hidden": 32, "noise": 8, "contrast_samples": 16,
                  "draws": 1000},
                 {"steps": 2000, "batch": 256, "lr": 1e-3, "hidden": 64, "noise": 8, "contrast_samples": 16,
                  "draws": 4000})
    ctx.notes.append(f"4-point toy: {s['steps']} steps of batch {s['batch']}, VAE-player rate {s['lr']:g} (critic "
                     f"{3 * s['lr']:g}), H = {s['hidden']}, ε ∈ R^{s['noise']}, critic width {2 * s['hidden']}, "
                     f"{s['eval']:,} draws per point for each estimate; seeds {ctx.seeds}")
    ctx.notes.append(f"Gaussian toy: {g['steps']} steps of batch {g['batch']}, guide rate {g['lr']:g} (critic "
                     f"{3 * g['lr']:g}), H = {g['hidden']}, ε ∈ R^{g['noise']}, critic width {2 * g['hidden']}, "
                     f"contrast_samples {g['contrast_samples']}, {g['draws']:,} draws per held-out x; seeds {ctx.seeds}")
    ctx.notes += ["AVB's objective is an estimate, not a bound: where T underestimates KL(q(z|x) ‖ p(z)) it can "
                  "lie above log p(x)",
                  "CPU: one torch thread on a 2-core machine shared with other jobs; the wall time is an upper bound"]
    rows, shown = [], {}
    for seed in ctx.seeds:
        for method, label in (("avb", AVB_NAME), ("elbo", VAE_NAME)):
            r = ctx.cached({"toy": "4-point", "method": method, "seed": seed, "settings": s},
                           lambda: four_point(method, seed, s))
            rows += [Row(label, LOGP, r["logp"], seed), Row(label, BOUND, r["bound"], seed)]
            if method == "avb":
                rows.append(Row(label, ACC, r["acc"], seed))
            if seed == ctx.seeds[0]:
                shown[label] = r["z"]
    _plot(shown, ctx.figure())

    results = {(label, seed): ctx.cached({"toy": "gaussian", "method": method, "seed": seed, "settings": g},
                                         lambda: gaussian(method, seed, g))
               for seed in ctx.seeds for label, method in GAUSSIAN.items()}
    derived = []
    for (label, seed), r in results.items():
        rows += [*(Row(label, v, r["var"][i], seed) for i, v in enumerate(VARS)),
                 Row(label, MEAN_ERR, r["mean_err"], seed), Row(label, KL_FIT, r["kl"], seed),
                 Row(label, LOGGED_GAP, r["curve"][-1][1], seed), Row(label, GAP, r["gap"], seed)]
        if GAUSSIAN[label] != "elbo":
            rows.append(Row(label, ACC, r["acc"], seed))
        derived.append(Row(label, VAR_ERR, sum(abs(v - 1) for v in r["var"]) / 2, seed))
    for label, method in GAUSSIAN.items():
        runs = [results[label, seed] for seed in ctx.seeds]
        ctx.notes.append(f"{label}, per seed: variance ratios (z₁, z₂) "
                         + ", ".join("({:.2f}, {:.2f})".format(*r["var"]) for r in runs)
                         + "; logged objective − log p(x) " + ", ".join(f"{r['curve'][-1][1]:+.2f}" for r in runs)
                         + " (std of the last 10 windows' " + ", ".join(f"{_spread(r):.2f}" for r in runs)
                         + "); read at the end " + ", ".join(f"{r['gap']:+.2f}" for r in runs))
        if method != "elbo":
            warned = [r["warned"] for r in runs]
            ctx.notes.append(f"{label}: the critic watch (`critic_acc` ≥ {SATURATED}) warned in "
                             f"{sum(w >= 0 for w in warned)} of {len(warned)} seeds"
                             + (f", first at step {', '.join(str(w) for w in warned if w >= 0)}"
                                if any(w >= 0 for w in warned) else ""))
    ctx.notes.append(_symptom(results, ctx.seeds))
    ctx.notes += [
        "Reading the Gaussian toy: the objective read once at the end is AVB's own estimate at that instant (what an "
        "evaluation of the run reports); the logged one is a window's mean over 100 training steps (what the curves "
        "show). A true ELBO lies below log p(x) by KL(q ‖ exact posterior); an AVB estimate above log p(x) shows "
        "that its critic underestimates the KL term",
        "With the adaptive contrast T cannot see the moments it was handed (16 guide draws per x): at its optimum it "
        "estimates KL(q ‖ r) low by the information its normalised input carries about that estimate, of order "
        "(latent dimensions) / `contrast_samples` nats (2/16 here), which fits the adaptive rows' logged objective "
        "above log p(x); more draws shrink it, at their cost (not measured on this page)"]
    _plot_gaussian({label: results[label, ctx.seeds[0]] for label in GAUSSIAN}, ctx.figure("-gaussian"))

    claims = [paired(rows, ADAPTIVE_NAME, PRIOR_NAME, KL_FIT, higher=False),
              paired(derived, ADAPTIVE_NAME, PRIOR_NAME, VAR_ERR, higher=False)]
    finding = ""
    if not all(c.holds for c in claims):
        finding = "Measured: " + "; ".join(
            f"{label.removeprefix('Gaussian toy: ')} variance ratios (z₁, z₂) per seed "
            + ", ".join("({:.2f}, {:.2f})".format(*results[label, seed]["var"]) for seed in ctx.seeds)
            for label in GAUSSIAN) + "."
    ctx.verdict = verdict(claims, finding)
    return rows
