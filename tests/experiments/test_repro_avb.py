"""avb-toy in quick mode, and its log p(x) estimator against facts that bound it."""
import json
import math

import torch
from torch.testing import assert_close

from unigen.experiments import avb_toy
from unigen.experiments.common import run


def test_the_estimator_is_exact_for_a_decoder_that_ignores_z():
    """A decoder with constant logits ℓ has p(x) = σ(ℓ)·(1 − σ(ℓ))³ at every one-hot point, whatever z."""
    model = avb_toy.Decoder(hidden=4)
    for layer in model.net:
        if isinstance(layer, torch.nn.Linear):
            torch.nn.init.zeros_(layer.weight)
            torch.nn.init.zeros_(layer.bias)
    torch.nn.init.constant_(model.net[-1].bias, -1.0986)  # σ(ℓ) = 1/4, the best z-free decoder
    with torch.no_grad():
        got = avb_toy.log_px(model, 64)
    p = torch.sigmoid(torch.tensor(-1.0986))
    assert_close(got, (torch.log(p) + 3 * torch.log1p(-p)).expand(4), rtol=0, atol=1e-5)


def test_avb_toy_quick(tmp_path):
    md = run("avb-toy", quick=True, seeds=1, results=tmp_path)
    rows = {(r["method"], r["metric"]): r["mean"] for r in json.loads(md.with_suffix(".json").read_text())}
    # Gibbs: the mean log-probability of the 4 points is at most −log 4; a decoder that ignores z is at best
    # log(1/4) + 3 log(3/4) = −2.249. In 200 quick steps AVB's decoder uses z (seen: −1.75); the VAE's has
    # reached that z-free optimum (seen: −2.250) and not yet left it
    logp = {m: rows[(m, avb_toy.LOGP)] for m in (avb_toy.AVB_NAME, avb_toy.VAE_NAME)}
    assert -2.1 < logp[avb_toy.AVB_NAME] < -math.log(4), logp
    assert -2.35 < logp[avb_toy.VAE_NAME] < -math.log(4), logp
    assert math.isfinite(rows[(avb_toy.AVB_NAME, avb_toy.BOUND)])
    assert rows[(avb_toy.VAE_NAME, avb_toy.BOUND)] <= rows[(avb_toy.VAE_NAME, avb_toy.LOGP)] + 0.02  # ELBO ≤ log p
    assert (tmp_path / "avb-toy.quick.png").is_file() and "## Protocol" in md.read_text()
