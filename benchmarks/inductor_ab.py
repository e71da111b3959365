r"""A/B of inductor options for unigen's traced step, against the hand-written eager step, in one process.

    python benchmarks/inductor_ab.py dcgan_ns --min-time 20 \
        --variant on '{}' --variant off '{"layout_optimization": false}'

Each variant is a name and a JSON dict of inductor options (``compile_fx``'s ``config_patches``), which replace
unigen's own (:func:`unigen.inductor.compile_graph`: on a CPU, layout optimisation off and the C++ wrapper on: ``inductor.CPU_OPTIONS``). Every variant is compiled
first, then the hand-written step and the variants are timed as the benchmark times them
(:func:`benchmarks.bench.rates`: ``--rounds`` interleaved slices of ``--min-time / --rounds`` seconds, each
round starting one variant later). It prints each variant's median time a step and its ratio to the
hand-written step's median, with the per-round ratios (a round's variant against the hand-written slice of
the same round). How the layout optimisation was measured for ``benchmarks/RESULTS.md``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pyro
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import unigen.inductor as inductor  # noqa: E402
from benchmarks.bench import CASES, rates  # noqa: E402


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("case", choices=list(CASES))
    p.add_argument("--variant", nargs=2, action="append", metavar=("NAME", "OPTIONS_JSON"), required=True)
    p.add_argument("--min-time", type=float, default=20.0, help="seconds timed per variant, over the rounds")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    for name, options in args.variant:
        try:
            if not isinstance(json.loads(options), dict):
                raise ValueError
        except ValueError:
            p.error(f"variant {name!r}: options must be a JSON object of inductor settings, e.g. "
                    f"'{{\"layout_optimization\": false}}', got {options!r}")
    pyro.enable_validation(False)
    case, device = CASES[args.case], torch.device(args.device)
    torch.manual_seed(0)
    data = case.data(device)
    hand = case.reference(data.x, case.batch_size, False)
    steps = {"hand eager": hand.step}
    original = inductor.compile_graph
    try:
        for name, options in args.variant:
            opts = json.loads(options)
            inductor.compile_graph = lambda gm, inputs, o=opts: original(gm, inputs, o)
            trainer = case.trainer(data, "trace")
            trainer.step(), trainer.step()  # trace and compile
            steps[name] = trainer.step
    finally:
        inductor.compile_graph = original
    measured = rates(steps, device, args.min_time, rounds=args.rounds)
    slices = measured.pop("rounds")
    for k, rate in measured.items():
        by_round = " ".join(f"{v / h:.2f}" for v, h in zip(slices[k], slices["hand eager"]))
        print(f"{k}: {1e3 / rate:.1f} ms a step, {rate / measured['hand eager']:.3f}× hand eager; "
              f"by round: {by_round}")


if __name__ == "__main__":
    main()
