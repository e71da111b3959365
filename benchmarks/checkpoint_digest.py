"""Digests of seeded tiny runs' checkpoints, to show that a refactor leaves training bit for bit as it was.

    python benchmarks/checkpoint_digest.py OUT_DIR > before.txt   # on the old commit
    python benchmarks/checkpoint_digest.py OUT_DIR > after.txt    # on the new one
    diff before.txt after.txt                                     # empty: identical checkpoints

Four runs: ns_gan, wgan with the gradient penalty, elbo, and ns_gan traced by ``trace-eager``. Each line is a
run's name, a SHA-256 prefix over every tensor and value of its checkpoint (the saved config left out) and the
number of lines of its ``metrics.jsonl``. Compare digests made on one machine: another CPU may round otherwise.
"""
from __future__ import annotations

import hashlib
import sys

import torch

from unigen import checkpoint
from unigen.run import train

SMALL_RING = ["data.n=2000", "model.hidden=32", "model.disc_hidden=32", "train.batch_size=64", "train.log_every=10",
              "train.progress=false", "eval.num_samples=100"]
RUNS = {
    "ns_gan": ("experiments/configs/ring_gan.yaml", SMALL_RING + ["train.steps=30"]),
    "wgan_gp": ("experiments/configs/ring_wgan_gp.yaml", SMALL_RING + ["train.steps=20"]),
    "elbo": ("experiments/configs/mnist_vae.yaml",
             ["data.fraction=0.2", "model.hidden=64", "train.batch_size=32", "train.steps=20", "train.log_every=10",
              "train.progress=false", "eval.image_metrics=false", "eval.iw_samples=2", "eval.num_samples=50"]),
    "ns_gan_traced": ("experiments/configs/ring_gan.yaml", SMALL_RING + ["train.steps=30", "train.compile=trace-eager"]),
}


def digest(obj, h) -> None:
    """Feed ``obj`` (tensors, containers, plain values; a ``config`` key skipped) into the hash ``h``."""
    if isinstance(obj, torch.Tensor):
        h.update(str((obj.dtype, tuple(obj.shape))).encode())
        if obj.numel():
            h.update(obj.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, dict):
        for k in sorted(obj, key=str):
            if k != "config":
                h.update(str(k).encode())
                digest(obj[k], h)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            digest(v, h)
    else:
        h.update(repr(obj).encode())


if __name__ == "__main__":
    out = sys.argv[1]
    for name, (config, overrides) in RUNS.items():
        run = train(config, overrides, out=f"{out}/{name}", overwrite=True)
        h = hashlib.sha256()
        digest(checkpoint.load(run / "checkpoint.pt"), h)
        print(name, h.hexdigest()[:16], (run / "metrics.jsonl").read_text().count("\n"))
