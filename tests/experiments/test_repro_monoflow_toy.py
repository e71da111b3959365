"""The monoflow-toy reproduction (Yi et al. 2023, §4.3) in quick mode, plus its closed forms."""
import json
import math

import torch

from unigen.experiments import common
from unigen.experiments import monoflow_toy as mt


def test_closed_forms_and_losses():
    mu_p, scale_p = mt._target()
    assert torch.allclose(scale_p @ scale_p.T, torch.tensor([[1.0, 0.8], [0.8, 0.89]], dtype=mt.DTYPE))
    assert abs(mt.kl_gaussians(mu_p, scale_p, mu_p, scale_p)) < 1e-12
    # the written-out log density against torch's, at an arbitrary full (non-triangular) scale
    scale = torch.tensor([[1.2, -0.3], [0.4, 0.7]], dtype=mt.DTYPE)
    mu = torch.tensor([0.5, -1.0], dtype=mt.DTYPE)
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(0), dtype=mt.DTYPE)
    ref = torch.distributions.MultivariateNormal(mu, covariance_matrix=scale @ scale.T).log_prob(x)
    assert torch.allclose(mt._log_normal(x, mu, scale), ref)
    # KL(q || p) against a Monte-Carlo estimate
    q = torch.distributions.MultivariateNormal(mu, covariance_matrix=scale @ scale.T)
    p = torch.distributions.MultivariateNormal(mu_p, scale_tril=scale_p)
    xs = q.sample((200_000,))
    assert abs(mt.kl_gaussians(mu, scale, mu_p, scale_p) - float((q.log_prob(xs) - p.log_prob(xs)).mean())) < 0.03
    # the generator losses: E f(r) for the f-losses, -E r^1.5 for exp, -E h(s) with h = r f' - f for the control
    s = torch.linspace(-2, 2, 9, dtype=mt.DTYPE)
    r = s.exp()
    assert torch.allclose(mt.strategy_for(mt.DET, "FKL").generator_loss(s), (r * s).mean())
    assert torch.allclose(mt.strategy_for(mt.GAN, "RKL").generator_loss(s), (-s).mean())
    assert torch.allclose(mt.strategy_for(mt.VI, "Pearson χ²").generator_loss(s), ((r - 1) ** 2).mean())
    assert torch.allclose(mt.strategy_for(mt.VI, "exp (h = r^1.5)").generator_loss(s), -(r ** 1.5).mean())
    assert torch.allclose(mt.strategy_for(mt.DET_MF, "FKL").generator_loss(s), -r.mean())


def test_quick_reproduction(tmp_path):
    md = common.run("monoflow-toy", quick=True, seeds=1, results=tmp_path)
    assert md.exists() and md.name == "monoflow-toy.quick.md"
    rows = json.loads((tmp_path / "monoflow-toy.quick.json").read_text())
    value = {(r["method"], r["metric"]): r["mean"] for r in rows}
    conv = f"converged (KL<{mt.KL_TOL})"
    for regime in (mt.VI, mt.DET, mt.GAN):
        for loss in mt.LOSSES:
            for metric in ("μ1", "μ2", "KL(q‖p)", conv):
                assert (f"{regime}: {loss}", metric) in value
    for loss in mt.F_LOSSES:
        assert (f"{mt.DET_MF}: {loss}", "KL(q‖p)") in value
    assert all("|" not in r["metric"] and "|" not in r["method"] for r in rows)
    for slug in ("not-detached", "detached", "mlp-discriminator", "detached-monoflow-h"):
        assert (tmp_path / f"monoflow-toy.quick-{slug}.png").exists()
    text = md.read_text()
    assert "published: 1.418" in text and "Quick mode" in text
    verdict = text.split("## Verdict")[1]  # 18 claims on the one seed, then the added control's 5, described
    assert "**Verdict: " in verdict and verdict.count(" of 1 seeds") == 3 * len(mt.LOSSES) + len(mt.F_LOSSES)

    def kl(regime, loss):
        return value[(f"{regime}: {loss}", "KL(q‖p)")]

    def dist(regime, loss):  # distance of the final mean from the target mean 0
        return math.hypot(value[(f"{regime}: {loss}", "μ1")], value[(f"{regime}: {loss}", "μ2")])

    # the GAN regime with the exact ratio: reverse KL reaches the target, forward KL ends far from it
    assert kl(mt.DET, "RKL") < mt.KL_TOL and value[(f"{mt.DET}: RKL", conv)] == 1.0
    assert kl(mt.DET, "FKL") > 1.0 and value[(f"{mt.DET}: FKL", conv)] == 0.0
    assert dist(mt.DET, "RKL") < 0.1 and dist(mt.DET, "FKL") > 1.0
    # true variational inference: the forward-KL divergence does converge
    assert kl(mt.VI, "FKL") < mt.KL_TOL and value[(f"{mt.VI}: FKL", conv)] == 1.0
