r"""AVB's 4-point toy (Mescheder, Nowozin & Geiger 2017): AVB with an implicit guide against a VAE.

The data are the four one-hot vectors of :math:`\{0, 1\}^4`, each with probability 1/4; the model is
:math:`z \sim \mathcal N(0, I_2)`, :math:`x \mid z \sim \mathrm{Bernoulli}(\sigma(\mathrm{dec}_\theta(z)))`. The best
possible average log-likelihood is :math:`-\log 4`: a decoder that splits the prior into four regions of mass
1/4, one per point. AVB (strategy ``avb``) trains the decoder with an implicit guide
:math:`z = f_\phi(x, \epsilon)`, which can learn those non-Gaussian posteriors; the VAE (strategy ``elbo``)
trains the same decoder with a Gaussian guide. For each run we report

* :math:`\tfrac14 \sum_x \log p_\theta(x)` over the four points, each by importance sampling with the
  prior as proposal (``EVAL_SAMPLES`` draws; both methods scored alike, and AVB's guide has no density);
* the training objective at the end, over the four points: the VAE's ELBO (a bound, ``EVAL_SAMPLES`` draws
  of q), AVB's estimate :math:`\mathbb{E}_q[\log p(x \mid z) - T(x, z)]` (a bound only where T is optimal).
"""
from __future__ import annotations

import math

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
from unigen.programs import Batch, DataInfo
from unigen.scoring import trace_guide  # noqa: E402
from unigen.registry import STRATEGIES  # noqa: E402

NAME = "avb-toy"
TITLE = "AVB's 4-point toy: implicit vs Gaussian guide on one Bernoulli decoder (Mescheder et al. 2017)"
LOGP = "mean log p(x) over the 4 points (IS, prior proposal)"
BOUND = "objective at the end (VAE: ELBO; AVB: critic estimate)"
AVB_NAME, VAE_NAME = "AVB (implicit guide)", "VAE (Gaussian guide)"
OPTIMUM = "−1.386 = −log 4 (the optimum)"
PUBLISHED = [{"method": m, "metric": LOGP, "value": OPTIMUM, "kind": "analytic", "source": "Mescheder et al. 2017"}
             for m in (AVB_NAME, VAE_NAME)]
EVAL_SAMPLES = 2 ** 16
POINTS = torch.eye(4)  # the data: four one-hot vectors
PROTOCOL = """
Data: the four one-hot vectors of {0,1}⁴, uniformly (4,096 copies, batches drawn i.i.d.). Model: z ~ N(0, I₂),
x | z ~ Bernoulli(logits = decoder(z)), decoder 2 → 3 × H ELU → 4. AVB (`avb`): implicit guide z = f(x, ε), input
concat(x, ε ∈ R^E), ε ~ N(0, I), 3 × H ELU → 2, returned as a Delta site (no density); critic T(x, z) = MLP(concat(x,
z)) with 2 hidden layers of 2H ELU, plus ‖z‖²/2 (−log p(z) up to a constant, so the net learns log q(z|x) only;
the paper adds ‖z‖² to its critic too). VAE (`elbo`, one particle): Gaussian guide x → 3 × H ELU → (μ, log σ)
on the same decoder. Adam (β 0.5, 0.999); AVB: critic rate 3 × the VAE player's, `critic_steps` 2 (as the paper's
notebook).

Measured per run: the mean over the four points of log p(x), each estimated with prior draws (65,536 per point
in full mode; every posterior region of a good decoder has prior mass about 1/4, so the prior is an efficient
proposal here); the objective at the end (ELBO for the VAE, as many guide draws per point; for AVB its critic's estimate
E_q[log p(x|z) − T(x, z)], which is the ELBO only at the optimal T). Mean ± std over seeds.

Reduced for CPU (stated): the paper's notebook trains 100,000 steps of batch 512 with rates 2e-5 (primal) and
1e-4 (critic), ε ∈ R⁶⁴, H = 64 and a 256-wide residual critic; here fewer steps at higher rates, smaller
networks (values in the notes). The paper's table of ELBO and AIS values for this toy is not quoted: not
confirmed (the paper's text was not available to read here; only −log 4 is stated, as the analytic optimum).
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

    def __init__(self, hidden: int, noise: int):
        super().__init__()
        self.noise, self.net = noise, _mlp(4 + noise, hidden, 2)

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
    """T(x, z) = MLP(concat(x, z)) + ‖z‖²/2."""

    def __init__(self, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(6, hidden), nn.ELU(), nn.Linear(hidden, hidden), nn.ELU(),
                                 nn.Linear(hidden, 1))

    def forward(self, x, z, c=None):
        return self.net(torch.cat([x, z], -1)).squeeze(-1) + 0.5 * (z * z).sum(-1)  # (batch,)


def _mlp(d_in: int, hidden: int, d_out: int) -> nn.Module:
    layers, width = [], d_in
    for _ in range(3):
        layers += [nn.Linear(width, hidden), nn.ELU()]
        width = hidden
    return nn.Sequential(*layers, nn.Linear(width, d_out))


def log_px(model: Decoder, k: int) -> torch.Tensor:
    """log p(x) of the four points, each from ``k`` prior draws: log mean_k p(x | z_k), shape (4,)."""
    z = torch.randn(k, 2)
    logits = model.net(z)  # (k, 4)
    log_lik = dist.Bernoulli(logits=logits.unsqueeze(1)).log_prob(POINTS).sum(-1)  # (k, 4 points)
    return torch.logsumexp(log_lik, 0) - math.log(k)


def train(method: str, seed: int, s: dict):
    """One training; returns (programs, final objective over the four points)."""
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
    return programs, float(bound)


def _plot(runs: dict, path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(9.6, 5.2), layout="constrained")
    for ax, (label, programs) in zip(axes, runs.items()):
        with torch.no_grad():
            x = POINTS.repeat_interleave(1500, 0)
            z = trace_guide(programs.guide, x).nodes["z"]["value"]
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
    ctx.notes.append(f"settings: {s['steps']} steps of batch {s['batch']}, VAE-player rate {s['lr']:g} (critic "
                     f"{3 * s['lr']:g}), H = {s['hidden']}, ε ∈ R^{s['noise']}, critic width {2 * s['hidden']}, "
                     f"{s['eval']:,} draws per point for each estimate; seeds {ctx.seeds}")
    ctx.notes += ["AVB's objective is an estimate, not a bound: where T underestimates KL(q(z|x) ‖ p(z)) it can "
                  "lie above log p(x)",
                  "CPU: one torch thread on a 2-core machine shared with other jobs; the wall time is an upper bound"]
    rows, shown = [], {}
    for seed in ctx.seeds:
        for method, label in (("avb", AVB_NAME), ("elbo", VAE_NAME)):
            programs, bound = train(method, seed, s)
            torch.manual_seed(10_000 + seed)
            with torch.no_grad():
                logp = log_px(programs.model, s["eval"])
            rows += [Row(label, LOGP, float(logp.mean()), seed), Row(label, BOUND, bound, seed)]
            if seed == ctx.seeds[0]:
                shown[label] = programs
    _plot(shown, ctx.figure())
    return rows
