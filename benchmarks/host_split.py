r"""Where unigen's eager step loses to the hand-written one: the forward pass, or the rest of the step.

    OMP_NUM_THREADS=1 python benchmarks/host_split.py host_vae host_iwae mlp_vae [--min-time 12] [--rounds 10]

For a one-player VAE-family case it times four things, as the benchmark times its columns
(:func:`benchmarks.bench.rates`: interleaved slices, each round starting one variant later):

- the hand-written step, and its forward half alone (:meth:`benchmarks.reference.VAEReference.loss`: a batch,
  the networks and the bound, with the autograd graph);
- unigen's eager step (:meth:`unigen.Trainer.step`), and its forward half alone: the phase's loss on a batch
  drawn as the trainer draws it (Pyro's tracing of the guide and the model, the log-densities, the bound).

It prints the milliseconds of each and splits the gap between the steps into the forward's share and the
rest's (backward, optimiser, the non-finite watch, the trainer's loop). On the ``host_*`` cases, whose time is
host work, the forward's share is the cost of interpreting the Pyro programs.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pyro
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import reference as ref  # noqa: E402
from benchmarks.bench import CASES, device_name, rates  # noqa: E402

#: the cases with one player and a hand-written forward to time alone
VAE_CASES = [n for n, c in CASES.items() if c.strategy[0] in ("elbo", "iwae")]


def split(name: str, min_time: float, rounds: int, device: torch.device) -> dict[str, float]:
    """Milliseconds a call of the four variants of case ``name`` (medians over the rounds)."""
    case = CASES[name]
    torch.manual_seed(0)
    data = case.data(device)
    hand: ref.VAEReference = case.reference(data.x, case.batch_size, False)
    trainer = case.trainer(data, "none")
    (phase,) = trainer.strategy.phases()

    def unigen_forward():
        with pyro.validation_enabled(False):  # as the trainer's step runs it
            return phase.loss(trainer.programs, trainer.sample_batch())

    r = rates({"hand step": hand.step, "hand forward": hand.loss, "unigen step": trainer.step,
               "unigen forward": unigen_forward}, device, min_time, rounds)
    return {k: 1e3 / v for k, v in r.items() if k != "rounds"}


def report(name: str, ms: dict[str, float]) -> str:
    gap = ms["unigen step"] - ms["hand step"]
    fwd = ms["unigen forward"] - ms["hand forward"]
    rows = " · ".join(f"{k} {v:.3f} ms" for k, v in ms.items())
    return (f"{name}: {rows}\n  step gap {gap:+.3f} ms = forward {fwd:+.3f} ms + rest {gap - fwd:+.3f} ms; "
            f"eager ratio {ms['hand step'] / ms['unigen step']:.2f}×")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cases", nargs="+", choices=VAE_CASES)
    p.add_argument("--min-time", type=float, default=12.0, help="seconds timed per variant, over the rounds")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    print(device_name(torch.device(args.device)))
    for name in args.cases:
        print(report(name, split(name, args.min_time, args.rounds, torch.device(args.device))), flush=True)


if __name__ == "__main__":
    main()
