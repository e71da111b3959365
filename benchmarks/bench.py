r"""Steps per second of hand-written PyTorch vs unigen (eager and captured), in one process.

    python benchmarks/bench.py [--device cuda] [--cases mlp_vae iwae_k5 ...] [--min-time 3]

For each case the same networks train on the same synthetic data (shapes and value ranges of the real
data; timing does not depend on the values) with:

- **hand eager**: :mod:`benchmarks.reference`, a hand-written PyTorch step;
- **hand compile**: that step under ``torch.compile`` (default mode; its optimiser steps compiled too);
- **hand graph** (CUDA): that step captured in one CUDA graph;
- **unigen eager**: the Pyro programs and strategy through :class:`unigen.Trainer`;
- **unigen traced**: the same with ``compile="trace"`` (:mod:`unigen.traced`: each phase update traced into one
  graph and compiled by inductor);
- **unigen graph** (CUDA): the same with ``compile="cudagraph"``;
- **unigen eager fit()** (CUDA, or ``--fit``): unigen eager through :meth:`unigen.Trainer.fit`, 50 steps a call
  with one logged window: the step plus the loop's per-step non-finite check (on CUDA a lagged read, which
  must not make the host wait);
- **kernel floor** (CUDA): :math:`10^6 / t` for the summed GPU kernel time :math:`t` (µs) of one unigen step,
  from ``torch.profiler``: the rate at which the GPU could run the step's kernels back to back.

The ``host_*`` cases shrink the networks until a step's time is the host's work alone (Python, Pyro,
dispatch): their eager ratio on a CPU stands in for the eager ratio on a GPU, where the real cases are bound
by that same host work.

The compile times (``*_compile_s``) are the seconds of the first call(s), which trace and compile; whether
inductor's on-disk FX graph cache served them is recorded (``inductor_cache``). ``--no-compile`` skips both
compiled columns. It prints a Markdown table and writes ``benchmarks/results/<device>.json``, then rebuilds
``benchmarks/RESULTS.md`` from every JSON there (``--report`` does only that; ``--out DIR`` writes
``DIR/<device>.json`` and ``DIR/../RESULTS.md`` instead).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pyro
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import reference as ref  # noqa: E402
from unigen import Trainer  # noqa: E402
from unigen.config import OptimConfig  # noqa: E402
from unigen.data.base import TensorData  # noqa: E402
from unigen.programs import DataInfo  # noqa: E402
from unigen.registry import MODELS, STRATEGIES  # noqa: E402

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Case:
    """One benchmark: unigen's model/strategy/optimiser and the matching hand-written reference."""

    title: str
    info: DataInfo
    model: tuple[str, dict]
    strategy: tuple[str, dict]
    optim: OptimConfig
    batch_size: int
    reference: Callable[..., ref.Reference]  # (x, batch_size, capturable) -> Reference

    def data(self, device, n=10_000) -> TensorData:
        g = torch.Generator().manual_seed(0)
        x = torch.rand((n,) + tuple(self.info.shape), generator=g)
        x = {"unit": x.round(), "symmetric": 2 * x - 1, "real": torch.randn(x.shape, generator=g)}[self.info.support]
        return TensorData(x, None, self.info, name="synthetic").to(device)

    def trainer(self, data: TensorData, compile: str) -> Trainer:
        programs = MODELS.get(self.model[0])(**self.model[1]).build(self.info).to(data.x.device)
        strategy = STRATEGIES.get(self.strategy[0])(**self.strategy[1])
        return Trainer(programs, strategy, data, self.batch_size, optim=self.optim, compile=compile)


IMAGE28 = DataInfo(shape=(1, 28, 28), support="unit")
IMAGE32 = DataInfo(shape=(1, 32, 32), support="symmetric")
VAE_OPT = OptimConfig(name="adam", lr=1e-3, betas=[0.9, 0.999])
DCGAN_OPT = OptimConfig(name="adam", lr=2e-4, betas=[0.5, 0.999])

CASES = {
    "mlp_vae": Case("MLP VAE 784-400-20, ELBO, batch 128", IMAGE28, ("mlp_vae", {}), ("elbo", {}), VAE_OPT, 128,
                    lambda x, b, cap: ref.VAEReference(x, b, capturable=cap)),
    "iwae_k5": Case("MLP VAE 784-400-20, IWAE K=5, batch 128", IMAGE28, ("mlp_vae", {}),
                    ("iwae", {"num_particles": 5}), VAE_OPT, 128,
                    lambda x, b, cap: ref.VAEReference(x, b, k=5, capturable=cap)),
    "dcgan_ns": Case("DCGAN 32×32 non-saturating GAN, batch 64", IMAGE32, ("dcgan", {}), ("ns_gan", {}),
                     DCGAN_OPT, 64,
                     lambda x, b, cap: ref.GANReference(x, b, *ref.dcgan_pair(), 100, 2e-4, (0.5, 0.999),
                                                        capturable=cap)),
    "wgan_gp_dcgan": Case("DCGAN 32×32 WGAN-GP (layer-norm critic), 5 critic steps, batch 64", IMAGE32,
                          ("dcgan", {"disc_norm": "layer"}),
                          ("wgan", {"clip": 0.0, "penalty": "gp", "penalty_weight": 10.0, "n_critic": 5}),
                          OptimConfig(name="adam", lr=1e-4, betas=[0.5, 0.9]), 64,
                          lambda x, b, cap: ref.GANReference(x, b, *ref.dcgan_pair(norm="layer"), 100, 1e-4,
                                                             (0.5, 0.9), n_critic=5, gp=10.0, capturable=cap)),
    "ring_gan": Case("2-D ring MLP GAN (3×128), non-saturating, batch 512", DataInfo(shape=(2,), support="real"),
                     ("mlp", {"z_dim": 2, "hidden": 128, "depth": 3, "disc_hidden": 128}), ("ns_gan", {}),
                     OptimConfig(name="adam", lr=2e-3, betas=[0.5, 0.999]), 512,
                     lambda x, b, cap: ref.GANReference(x, b, *ref.mlp_pair(), 2, 2e-3, (0.5, 0.999),
                                                        capturable=cap)),
}

# Host-cost cases: the same programs and losses with networks so small (16 pixels, hidden 8, batch 8) that a
# step's time is the host's work (Python, Pyro, dispatch). On a CPU their eager ratio is a proxy for eager
# on a GPU, where a step of the real cases is bound by the same host work (the H100 ratios of the real
# cases, 0.62 / 0.56 / 0.74, were close to these cases' CPU ratios when they were added).
TINY = DataInfo(shape=(1, 4, 4), support="unit")
CASES |= {
    "host_vae": Case("host cost: MLP VAE 16-8-2, ELBO, batch 8", TINY, ("mlp_vae", {"z_dim": 2, "hidden": 8}),
                     ("elbo", {}), VAE_OPT, 8, lambda x, b, cap: ref.VAEReference(x, b, 2, 8, capturable=cap)),
    "host_iwae": Case("host cost: MLP VAE 16-8-2, IWAE K=5, batch 8", TINY, ("mlp_vae", {"z_dim": 2, "hidden": 8}),
                      ("iwae", {"num_particles": 5}), VAE_OPT, 8,
                      lambda x, b, cap: ref.VAEReference(x, b, 2, 8, k=5, capturable=cap)),
    "host_ring": Case("host cost: 2-D ring MLP GAN (3×8), non-saturating, batch 8", DataInfo(shape=(2,), support="real"),
                      ("mlp", {"z_dim": 2, "hidden": 8, "depth": 3, "disc_hidden": 8}), ("ns_gan", {}),
                      OptimConfig(name="adam", lr=2e-3, betas=[0.5, 0.999]), 8,
                      lambda x, b, cap: ref.GANReference(x, b, *ref.mlp_pair(hidden=8), 2, 2e-3, (0.5, 0.999),
                                                         capturable=cap)),
}


# --------------------------------------------------------------------------------------- timing
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(step: Callable[[], object], device: torch.device, seconds: float) -> tuple[int, float]:
    """Run ``step`` for at least ``seconds``; return (steps, elapsed seconds)."""
    sync(device)
    chunk, done, start = 1, 0, time.perf_counter()
    while True:
        for _ in range(chunk):
            step()
        done += chunk
        sync(device)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done, elapsed
        chunk = min(2 * chunk, 200)


def rates(steps: dict[str, Callable[[], object]], device: torch.device, min_time: float, rounds: int = 10,
          warmup: int = 5) -> dict[str, float]:
    """Steps per second of each variant: the median over ``rounds`` interleaved slices of ``min_time / rounds``
    seconds each, so that drift in the machine's load falls on every variant alike and a slice disturbed by
    other work does not move the result. Each round starts one variant later than the last, so that no variant
    always follows the same one. ``rounds`` holds every slice's rate, for the spread of the ratios."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    names = list(steps)
    per_round = {k: [] for k in names}
    for r in range(rounds):
        for k in names[r % len(names):] + names[:r % len(names)]:
            n, t = timed(steps[k], device, min_time / rounds)
            per_round[k].append(n / t)
    return {k: statistics.median(v) for k, v in per_round.items()} | {"rounds": per_round}


def graphed(step: Callable[[], object], device: torch.device, warmup: int = 3) -> Callable[[], None]:
    """Capture a hand-written step (after eager warm-up on a side stream) and return its replay."""
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(warmup):
            step()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()

    def replay() -> None:  # holds `step` (and so the networks and optimisers the graph reads) alive
        graph.replay()

    replay.step = step
    return replay


def kernel_us(step: Callable[[], object], device: torch.device, steps: int = 20) -> float:
    """Summed GPU kernel (and memcpy/memset) time of one step, µs, from ``torch.profiler``."""
    from torch.profiler import ProfilerActivity, profile

    for _ in range(3):
        step()
    sync(device)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            step()
        sync(device)
    # device-side events are kernels, copies and sets, plus "GPU user annotations" that span the kernels of
    # each record_function range (e.g. Optimizer.step): those would count kernels twice
    total = sum(e.time_range.elapsed_us() for e in prof.events()
                if e.device_type == torch.autograd.DeviceType.CUDA and not getattr(e, "is_user_annotation", False))
    return total / steps


def first_calls(step: Callable[[], object], device: torch.device, calls: int = 2) -> float:
    """Seconds of a compiled step's first ``calls`` calls (tracing and compiling), minus ``calls - 1`` steady
    steps: the compile time."""
    sync(device)
    start = time.perf_counter()
    for _ in range(calls):
        step()
    sync(device)
    first = time.perf_counter() - start
    start = time.perf_counter()
    step()
    sync(device)
    return first - (calls - 1) * (time.perf_counter() - start)


#: steps per call of the ``unigen_fit`` variant (``Trainer.fit``, logging once per call)
FIT_STEPS = 50


def run_case(name: str, case: Case, device: torch.device, min_time: float, compiled: bool = True,
             fit: bool = False) -> dict:
    torch.manual_seed(0)
    data = case.data(device)
    out = {"case": name, "title": case.title}
    hand = case.reference(data.x, case.batch_size, False)
    trainer = case.trainer(data, "none")
    counts = {p: sum(q.numel() for q in ps) for p, ps in trainer.params.items()}
    if counts != hand.parameter_counts():
        raise RuntimeError(f"{name}: unigen's players {counts} differ from the reference's {hand.parameter_counts()}")
    out["parameters"] = counts
    steps = {"hand_eager": hand.step, "unigen_eager": trainer.step}
    if compiled:
        from torch._dynamo.utils import counters

        before = (counters["inductor"]["fxgraph_cache_hit"], counters["inductor"]["fxgraph_cache_miss"])
        hand_c = case.reference(data.x, case.batch_size, False)
        fn = torch.compile(hand_c.step)
        try:
            out["hand_compile_s"] = first_calls(fn, device)
            steps["hand_compile"] = fn
        except RuntimeError as e:  # e.g. WGAN-GP: aot_autograd has no double backward
            out["hand_compile_error"] = str(e).strip().splitlines()[0][:160]  # reported as "fails"
        traced = case.trainer(data, "trace")
        first_calls(traced.step, device)
        out["unigen_traced_s"] = traced.traced.compile_seconds
        steps["unigen_traced"] = traced.step
        out["inductor_cache"] = {"hits": counters["inductor"]["fxgraph_cache_hit"] - before[0],
                                 "misses": counters["inductor"]["fxgraph_cache_miss"] - before[1]}
    if device.type == "cuda":
        steps["hand_graph"] = graphed(case.reference(data.x, case.batch_size, True).step, device)
        steps["unigen_graph"] = case.trainer(data, "cudagraph").step
    if fit:  # the whole loop: the non-finite check every step (lagged on CUDA) and a logged window per call
        looped = case.trainer(data, "none")
        steps["unigen_fit"] = lambda: looped.fit(looped.step_count + FIT_STEPS, log_every=FIT_STEPS, progress=False)
    out.update(rates(steps, device, min_time))
    if fit:
        out["unigen_fit"] *= FIT_STEPS
        out["rounds"]["unigen_fit"] = [r * FIT_STEPS for r in out["rounds"]["unigen_fit"]]
    if device.type == "cuda":
        out["kernel_us_unigen"] = kernel_us(trainer.step, device)
        out["kernel_us_hand"] = kernel_us(hand.step, device)
        out["kernel_floor"] = 1e6 / out["kernel_us_unigen"]
    return out


# --------------------------------------------------------------------------------------- report
COLUMNS = [("hand_eager", "hand-written eager"), ("hand_compile", "hand-written torch.compile"),
           ("unigen_eager", "unigen eager"), ("unigen_traced", "unigen traced"), ("hand_graph", "hand-written graph"),
           ("unigen_graph", "unigen graph"), ("kernel_floor", "kernel floor"), ("unigen_fit", "unigen eager fit()")]


def table(result: dict) -> str:
    rows = result["rows"]
    cols = [(k, t) for k, t in COLUMNS if any(k in r for r in rows)]
    traced = any("unigen_traced" in r for r in rows)
    graphed = any("unigen_graph" in r for r in rows)
    fitted = any("unigen_fit" in r for r in rows)
    head = "| case | " + " | ".join(t for _, t in cols) + " | unigen eager / hand eager |"
    if traced:
        head += " hand compile / hand eager | unigen traced / hand eager | unigen traced / hand compile |"
    if graphed:
        head += " unigen graph / hand eager | unigen graph / floor |"
    if fitted:
        head += " unigen eager fit() / hand eager |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        cells = [(f"{r[k]:.0f}" if r[k] >= 10 else f"{r[k]:.3g}") if k in r else "—" for k, _ in cols]
        ratios = [ratio(r, "unigen_eager", "hand_eager")]
        if traced:
            ratios += [ratio(r, a, b) for a, b in [("hand_compile", "hand_eager"), ("unigen_traced", "hand_eager"),
                                                   ("unigen_traced", "hand_compile")]]
        if graphed:
            ratios += [ratio(r, "unigen_graph", b) for b in ("hand_eager", "kernel_floor")]
        if fitted:
            ratios.append(ratio(r, "unigen_fit", "hand_eager"))
        lines.append(f"| {r['title']} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    if traced:
        lines += ["", "Compile times (first calls, seconds) and the steps after which unigen traced has saved its "
                  "compile time over unigen eager:", "",
                  "| case | hand-written torch.compile | unigen traced | inductor FX cache (hits/misses) | "
                  "unigen traced pays off after |", "|---|---|---|---|---|"]
        for r in rows:
            if "unigen_traced" not in r:
                continue
            gain = 1 / r["unigen_eager"] - 1 / r["unigen_traced"]
            even = f"{r['unigen_traced_s'] / gain:,.0f} steps" if gain > 0 else "never (slower)"
            cache = r.get("inductor_cache", {})
            hand = f"{r['hand_compile_s']:.1f}" if "hand_compile_s" in r else "fails (see below)"
            lines.append(f"| {r['title']} | {hand} | {r['unigen_traced_s']:.1f} | "
                         f"{cache.get('hits', '?')}/{cache.get('misses', '?')} | {even} |")
    return "\n".join(lines)


def ratio(row: dict, a: str, b: str) -> str:
    """``a / b`` of the medians; where both were timed in slices, the range of the ratio of each slice to the
    slice of ``b`` in the same round follows in brackets (the noise of the machine, seen by that ratio)."""
    if a not in row or b not in row:
        return "—"
    text = f"{row[a] / row[b]:.2f}×"
    slices = row.get("rounds", {})
    if a in slices and b in slices:
        paired = [x / y for x, y in zip(slices[a], slices[b])]
        text += f" ({min(paired):.2f}–{max(paired):.2f})"
    return text


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    n = torch.get_num_threads()
    return f"CPU {platform.machine()}, {n} thread{'s' if n != 1 else ''}"


def host_name() -> str:
    """The machine the run timed: the CPU's model (with its family and model numbers, as a virtual machine
    often names the CPU only generically) and the number of cores the process may use."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine()
    numbers = ", ".join(f"{label} {fields[key]}" for key, label in (("cpu family", "family"), ("model", "model"))
                        if key in fields)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return f"{name}{f' ({numbers})' if numbers else ''}, {cores} core{'s' if cores != 1 else ''}"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    p.add_argument("--min-time", type=float, default=6.0, help="seconds timed per variant (in 10 slices)")
    p.add_argument("--out", default=str(HERE / "results"), help="folder of the JSON results")
    p.add_argument("--report", action="store_true", help="only rebuild RESULTS.md from the JSON results")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile and traced columns")
    p.add_argument("--fit", action=argparse.BooleanOptionalAction, default=None,
                   help=f"add unigen eager through Trainer.fit ({FIT_STEPS} steps a call; default: on CUDA)")
    args = p.parse_args(argv)
    out_dir = Path(args.out)
    if not args.report:
        device, host = torch.device(args.device), host_name()  # named first: a failure here loses no run
        pyro.enable_validation(False)
        rows = []
        for name in args.cases:
            fit = device.type == "cuda" if args.fit is None else args.fit
            rows.append(run_case(name, CASES[name], device, args.min_time, not args.no_compile, fit))
            print(json.dumps(rows[-1]), flush=True)
        result = {"device": device_name(device), "host": host, "torch": torch.__version__, "pyro": pyro.__version__,
                  "min_time_s": args.min_time, "date": time.strftime("%Y-%m-%d"), "rows": rows}
        print(table(result))
        out_dir.mkdir(parents=True, exist_ok=True)
        slug = "cuda" if device.type == "cuda" else "cpu"
        (out_dir / f"{slug}.json").write_text(json.dumps(result, indent=1))
    write_report(out_dir, out_dir.parent / "RESULTS.md")


def write_report(results: Path, path: Path) -> None:
    parts = [(HERE / "RESULTS.head.md").read_text().rstrip() + "\n"]
    for f in sorted(results.glob("*.json")):
        r = json.loads(f.read_text())
        sliced = [len(row["rounds"]["hand_eager"]) for row in r["rows"] if "rounds" in row]
        timing = (f"the median of {sliced[0]} interleaved slices of ≥ {r['min_time_s'] / sliced[0]:g} s, in rotating "
                  f"order (in brackets after a ratio: its range over the rounds)" if sliced
                  else f"each measured over ≥ {r['min_time_s']:g} s")
        host = f"{r['host']}; " if "host" in r else ""
        parts.append(f"\n## {r['device']}\n\n{host}torch {r['torch']}, pyro {r['pyro']}, {r['date']}; steps/s, "
                     f"{timing}, in one process.\n\n{table(r)}\n")
    notes = HERE / "RESULTS.notes.md"
    if notes.is_file():
        parts.append("\n" + notes.read_text())
    path.write_text("".join(parts))


if __name__ == "__main__":
    main()
