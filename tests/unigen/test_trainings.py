"""Seeded short trainings that must reach a stated quality (the demo configs, shortened)."""
import json

from unigen.run import train


def test_ring_ns_gan_covers_the_modes(tmp_path):
    # the demo config shortened to half its updates at half its batch (the full one takes ≈100 s of one core)
    run = train("experiments/configs/ring_gan.yaml", ["train.progress=false", "train.steps=3000",
                "train.batch_size=256"], out=str(tmp_path / "ring"))
    result = json.loads((run / "eval.json").read_text())
    assert result["modes"] >= 7
    assert result["high_quality"] >= 0.5


def test_mnist_vae_reaches_a_test_bound(tmp_path):
    run = train("experiments/configs/mnist_vae.yaml", ["train.progress=false", "train.steps=800",
                "eval.iw_samples=10"], out=str(tmp_path / "vae"))
    result = json.loads((run / "eval.json").read_text())
    assert result["test_elbo"] > -140.0  # a VAE that learned nothing scores about -200 (pixel marginals)
    assert result["test_log_px_iw10"] > result["test_elbo"]
