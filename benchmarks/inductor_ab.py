r"""A/B of inductor options for unigen's traced step, against the hand-written eager step, in one process.

    python benchmarks/inductor_ab.py dcgan_ns --steps 5 --rounds 10 \
        --variant default '{}' --variant layout_on '{"layout_optimization": true}'

Each variant is a name and a JSON dict of inductor options (``torch.compile(options=...)``), which replace
unigen's own (:func:`unigen.traced._compile`: layout optimisation off on a CPU). Every variant is compiled
first, then the hand-written step and the variants run ``--steps`` steps each, interleaved, for ``--rounds``
rounds, each round starting one variant later (the order of the variants weighs on this machine). It prints
each variant's median time a step and its ratio to the hand-written step's median, with the per-round ratios
(a round's variant against the hand-written steps of the same round). How the layout
optimisation was measured for ``benchmarks/RESULTS.md``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import pyro
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import unigen.traced as traced  # noqa: E402
from benchmarks.bench import CASES  # noqa: E402


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("case", choices=list(CASES))
    p.add_argument("--variant", nargs=2, action="append", metavar=("NAME", "OPTIONS_JSON"), required=True)
    p.add_argument("--steps", type=int, default=5, help="steps of each variant per round")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    pyro.enable_validation(False)
    case, device = CASES[args.case], torch.device(args.device)
    torch.manual_seed(0)
    data = case.data(device)
    hand = case.reference(data.x, case.batch_size, False)
    steps = {"hand eager": hand.step}
    original = traced._compile
    try:
        for name, options in args.variant:
            opts = json.loads(options)
            traced._compile = lambda gm, inputs, o=opts: torch.compile(gm, backend="inductor", fullgraph=True,
                                                                         dynamic=False, options=o)
            trainer = case.trainer(data, "trace")
            trainer.step(), trainer.step()  # trace and compile
            steps[name] = trainer.step
    finally:
        traced._compile = original
    names = list(steps)
    times = {k: [] for k in names}
    for r in range(args.rounds):
        for k in names[r % len(names):] + names[:r % len(names)]:  # each round starts one variant later
            start = time.perf_counter()
            for _ in range(args.steps):
                steps[k]()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times[k].append((time.perf_counter() - start) / args.steps)
    hand_median = statistics.median(times["hand eager"])
    for k, ts in times.items():
        rounds = " ".join(f"{h / t:.2f}" for h, t in zip(times["hand eager"], ts))
        print(f"{k}: {statistics.median(ts) * 1e3:.1f} ms a step, {hand_median / statistics.median(ts):.3f}× "
              f"hand eager; by round: {rounds}")


if __name__ == "__main__":
    main()
