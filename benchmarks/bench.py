r"""Steps per second of hand-written PyTorch vs unigen (eager, compiled) and the step's compute floor, one process.

    OMP_NUM_THREADS=1 python benchmarks/bench.py [--device cuda] [--cases mlp_vae iwae_k5 ...] [--min-time 6]

For each case the same networks train on the same synthetic data (shapes and value ranges of the real
data; timing does not depend on the values) with:

- **hand eager, torch's default Adam**: :mod:`benchmarks.reference`, a hand-written PyTorch step, with
  ``torch.optim.Adam``'s default implementation (for-loop on a CPU, ``foreach`` on CUDA);
- **hand eager, fused Adam**: the same step with ``Adam(fused=True)``, the optimiser unigen uses: **the
  baseline** of every ratio (a hand-written step that a careful user would write today);
- **hand traced**: that fused step through the same tracer as ``train.compile=trace``
  (:meth:`benchmarks.reference.Reference.traced`: :class:`unigen.traced.TracedStep`, ``make_fx`` into one graph,
  inductor, batches drawn outside the graph): what the tracer gives a hand-written step, so that
  *unigen traced / hand traced* is the cost of unigen's programs and bookkeeping in and around the graphs;
- **hand torch.compile** (CUDA, or ``--hand-compile``): the fused step under ``torch.compile`` (default mode);
- **hand graph** (CUDA): the fused step captured in one CUDA graph;
- **unigen eager**: the Pyro programs and strategy through :class:`unigen.Trainer`;
- **unigen traced**: the same with ``compile="trace"`` (:mod:`unigen.traced`: each phase update traced into one
  graph and compiled by inductor);
- **unigen graph** (CUDA): the same with ``compile="cudagraph"``;
- **unigen eager fit()** (CUDA, or ``--fit``): unigen eager through :meth:`unigen.Trainer.fit`, 50 steps a call
  with one logged window: the step plus the loop's per-step non-finite check (on CUDA a lagged read, which
  must not make the host wait);
- **compute floor**: the matrix products and convolutions of one hand-written step (recorded while it runs)
  replayed alone, back to back, on inputs of their shapes (:class:`MatrixProducts`), timed among the variants:
  the rate of a step that did nothing but its products, at the GEMM rate this machine reaches at those shapes
  in this run (reported in GFLOP/s). *unigen traced / floor* is how close the traced step comes to it;
- **kernel floor** (CUDA): :math:`10^6 / t` for the summed GPU kernel time :math:`t` (µs) of one unigen step,
  from ``torch.profiler``: the rate at which the GPU could run the step's kernels back to back.

Timing (:func:`timed_rounds`): every variant in each of 10 rounds, each round starting one variant later, a slice of
``--min-time / 10`` seconds each; a rate is the median over the rounds, and a ratio's range is over the rounds
(a slice against its baseline's slice of the same round). On a CPU the slices are timed in the process's **CPU
time** (run it with one torch thread, ``OMP_NUM_THREADS=1``): on a loaded machine the time the process waits
for a core is not counted, which wall time would add unevenly to the slices. The wall times of the same slices
are kept (``rounds_wall``), with the slices' CPU share (``cpu_share``) and the machine's load average before and
after each case (``load``) and each invocation (``runs``), and shown beside. On CUDA the slices are timed in wall time.

The ``host_*`` cases shrink the networks until a step's time is the host's work alone (Python, Pyro,
dispatch): their eager ratio on a CPU stands in for the eager ratio on a GPU, where the real cases are bound
by that same host work.

The compile times (``*_traced_s``, ``hand_compile_s``) are the seconds of the first call(s), which trace and
compile; whether inductor's on-disk FX graph cache served them is recorded (``inductor_cache``).
``--no-compile`` skips the compiled columns. It prints a Markdown table and writes
``benchmarks/results/<device>.json``, then rebuilds ``benchmarks/RESULTS.md`` from every JSON there (``--report``
does only that; ``--out DIR`` writes ``DIR/<device>.json`` and ``DIR/../RESULTS.md`` instead).
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
    reference: Callable[..., ref.Reference]  # (x, batch_size, capturable, fused=False) -> Reference

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
                    lambda x, b, cap, **kw: ref.VAEReference(x, b, capturable=cap, **kw)),
    "iwae_k5": Case("MLP VAE 784-400-20, IWAE K=5, batch 128", IMAGE28, ("mlp_vae", {}),
                    ("iwae", {"num_particles": 5}), VAE_OPT, 128,
                    lambda x, b, cap, **kw: ref.VAEReference(x, b, k=5, capturable=cap, **kw)),
    "dcgan_ns": Case("DCGAN 32×32 non-saturating GAN, batch 64", IMAGE32, ("dcgan", {}), ("ns_gan", {}),
                     DCGAN_OPT, 64,
                     lambda x, b, cap, **kw: ref.GANReference(x, b, *ref.dcgan_pair(), 100, 2e-4, (0.5, 0.999),
                                                        capturable=cap, **kw)),
    "wgan_gp_dcgan": Case("DCGAN 32×32 WGAN-GP (layer-norm critic), 5 critic steps, batch 64", IMAGE32,
                          ("dcgan", {"disc_norm": "layer"}),
                          ("wgan", {"clip": 0.0, "penalty": "gp", "penalty_weight": 10.0, "n_critic": 5}),
                          OptimConfig(name="adam", lr=1e-4, betas=[0.5, 0.9]), 64,
                          lambda x, b, cap, **kw: ref.GANReference(x, b, *ref.dcgan_pair(norm="layer"), 100, 1e-4,
                                                             (0.5, 0.9), n_critic=5, gp=10.0, capturable=cap, **kw)),
    "ring_gan": Case("2-D ring MLP GAN (3×128), non-saturating, batch 512", DataInfo(shape=(2,), support="real"),
                     ("mlp", {"z_dim": 2, "hidden": 128, "depth": 3, "disc_hidden": 128}), ("ns_gan", {}),
                     OptimConfig(name="adam", lr=2e-3, betas=[0.5, 0.999]), 512,
                     lambda x, b, cap, **kw: ref.GANReference(x, b, *ref.mlp_pair(), 2, 2e-3, (0.5, 0.999),
                                                        capturable=cap, **kw)),
}

# Host-cost cases: the same programs and losses with networks so small (16 pixels, hidden 8, batch 8) that a
# step's time is the host's work (Python, Pyro, dispatch). On a CPU their eager ratio is a proxy for eager
# on a GPU, where a step of the real cases is bound by the same host work (the H100 ratios of the real
# cases, 0.62 / 0.56 / 0.74, were close to these cases' CPU ratios when they were added).
TINY = DataInfo(shape=(1, 4, 4), support="unit")
CASES |= {
    "host_vae": Case("host cost: MLP VAE 16-8-2, ELBO, batch 8", TINY, ("mlp_vae", {"z_dim": 2, "hidden": 8}),
                     ("elbo", {}), VAE_OPT, 8,
                     lambda x, b, cap, **kw: ref.VAEReference(x, b, 2, 8, capturable=cap, **kw)),
    "host_iwae": Case("host cost: MLP VAE 16-8-2, IWAE K=5, batch 8", TINY, ("mlp_vae", {"z_dim": 2, "hidden": 8}),
                      ("iwae", {"num_particles": 5}), VAE_OPT, 8,
                      lambda x, b, cap, **kw: ref.VAEReference(x, b, 2, 8, k=5, capturable=cap, **kw)),
    "host_ring": Case("host cost: 2-D ring MLP GAN (3×8), non-saturating, batch 8", DataInfo(shape=(2,), support="real"),
                      ("mlp", {"z_dim": 2, "hidden": 8, "depth": 3, "disc_hidden": 8}), ("ns_gan", {}),
                      OptimConfig(name="adam", lr=2e-3, betas=[0.5, 0.999]), 8,
                      lambda x, b, cap, **kw: ref.GANReference(x, b, *ref.mlp_pair(hidden=8), 2, 2e-3, (0.5, 0.999),
                                                         capturable=cap, **kw)),
}


# --------------------------------------------------------------------------------------- timing
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(step: Callable[[], object], device: torch.device, seconds: float) -> tuple[int, float, float]:
    """Run ``step`` for at least ``seconds`` of the slice's clock (this process's CPU time on a CPU, wall time on
    CUDA, where the work is the GPU's); return (steps, wall seconds, process CPU seconds)."""
    sync(device)
    process = device.type == "cpu"
    chunk, done, wall0, cpu0 = 1, 0, time.perf_counter(), time.process_time()
    while True:
        for _ in range(chunk):
            step()
        done += chunk
        sync(device)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        if (cpu if process else wall) >= seconds:
            return done, wall, cpu
        chunk = min(2 * chunk, 200)


def rates(steps: dict[str, Callable[[], object]], device: torch.device, min_time: float, rounds: int = 10,
          warmup: int = 5) -> dict[str, float]:
    """Steps per second of each variant, the median of its slices, and ``rounds``: every slice's rate
    (:func:`timed_rounds`, whose wall times and CPU shares this leaves out)."""
    timing = timed_rounds(steps, device, min_time, rounds, warmup)
    return {k: statistics.median(v) for k, v in timing["rounds"].items()} | {"rounds": timing["rounds"]}


def timed_rounds(steps: dict[str, Callable[[], object]], device: torch.device, min_time: float, rounds: int = 10,
                 warmup: int = 5) -> dict[str, dict | list]:
    """Every variant timed in ``rounds`` interleaved slices of ``min_time / rounds`` seconds each, so that drift
    in the machine's load falls on every variant alike and a slice disturbed by other work does not move the
    median. Each round starts one variant later than the last, so that no variant always follows the same one.

    On a CPU a slice is timed in this process's CPU time (``time.process_time``; run with one torch thread), so
    that time the process spends descheduled by other work on a loaded machine is not counted; its wall time is
    kept too. On CUDA, wall time. Returns ``rounds`` (each variant's slice rates by that clock), ``rounds_wall``
    (the same slices by wall time) and ``cpu_share`` (the lowest and the median slice's CPU time over its wall
    time; 1: the process had a core to itself)."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    names = list(steps)
    per_round = {k: [] for k in names}
    per_wall = {k: [] for k in names}
    share = []
    process = device.type == "cpu"
    for r in range(rounds):
        for k in names[r % len(names):] + names[:r % len(names)]:
            n, wall, cpu = timed(steps[k], device, min_time / rounds)
            per_round[k].append(n / (cpu if process else wall))
            per_wall[k].append(n / wall)
            share.append(cpu / wall)
    return {"rounds": per_round, "rounds_wall": per_wall, "cpu_share": [min(share), statistics.median(share)]}


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


class MatrixProducts:
    """The matrix products and convolutions of one step (every operator that ``torch.utils.flop_counter`` counts:
    ``mm``, ``addmm``, ``bmm``, the convolutions and their backward passes), recorded while the step runs and then
    replayable alone, back to back, on inputs of the recorded shapes and strides (one tensor for all inputs of
    the same shape, so that they stay in cache as a step's fresh activations do): the step's compute at the rate
    this machine runs those very products. Timed as a variant beside the steps (interleaved), it gives the
    **compute floor**, the rate a step would reach if it did nothing but its matrix products at the speed they
    run alone; :attr:`flops` / its time is the measured GEMM rate at the step's shapes.

    With ``optimizer=True`` the step's fused Adam updates are replayed after the products (``_fused_adam_``, on
    tensors of their own, one per parameter, as a step's are: a parameter, its gradient and its two moments
    are read and written through memory, the update's real cost). Issue 35 defines the floor so: the matrix
    products plus Adam. The rest of the element-wise work (activations, losses, norms) is left out, so no step
    can reach either floor."""

    #: the optimiser updates replayed with ``optimizer=True``
    OPTIMIZERS = (torch.ops.aten._fused_adam_, torch.ops.aten._fused_adamw_)

    def __init__(self, step: Callable[[], object], device: torch.device, optimizer: bool = False):
        from torch.utils._python_dispatch import TorchDispatchMode
        from torch.utils.flop_counter import FlopCounterMode, flop_registry

        calls = self.calls = []
        updates = []  # (func, args, kwargs) of the optimiser updates, described with their list positions

        def described(x):
            if isinstance(x, torch.Tensor):
                return ("tensor", tuple(x.shape), tuple(x.stride()), x.dtype, x.device)
            return [described(v) for v in x] if isinstance(x, (list, tuple)) else x

        class Record(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                kwargs = kwargs or {}
                if func.overloadpacket in flop_registry:
                    calls.append((func, [described(a) for a in args], {k: described(v) for k, v in kwargs.items()}))
                elif optimizer and func.overloadpacket in MatrixProducts.OPTIMIZERS:
                    updates.append((func, [[t.detach().clone() for t in a] if isinstance(a, (list, tuple)) else a
                                           for a in args], dict(kwargs)))
                return func(*args, **kwargs)

        step()  # lazy one-time work first (optimiser states)
        sync(device)
        with Record():
            step()
        g = torch.Generator(device=device).manual_seed(0)
        inputs: dict[tuple, torch.Tensor] = {}  # one tensor per shape and strides: kept in cache, as a step's are

        def made(x):
            if isinstance(x, tuple) and x and x[0] == "tensor":
                if x not in inputs:  # filled through its storage: an expanded input (stride 0) overlaps itself
                    _, shape, stride, dtype, dev = x
                    n = 1 + sum((k - 1) * st for k, st in zip(shape, stride)) if all(shape) else 0
                    flat = torch.empty(n, dtype=dtype, device=dev)
                    flat = flat.normal_(generator=g) if dtype.is_floating_point else flat.zero_()
                    inputs[x] = flat.as_strided(shape, stride)
                return inputs[x]
            return [made(v) for v in x] if isinstance(x, list) else x

        self.replays = [(f, [made(a) for a in args], {k: made(v) for k, v in kw.items()}) for f, args, kw in calls]
        counter = FlopCounterMode(display=False)
        with counter:
            self.products()
        self.flops = counter.get_total_flops()
        #: the optimiser updates (copies of the step's tensors, updated in place at each replay)
        self.updates = updates
        #: the numbers of parameter tensors the replayed optimiser updates hold
        self.updated = sum(len(args[0]) for _, args, _ in updates)

    def products(self) -> None:
        with torch.no_grad():
            for f, args, kwargs in self.replays:
                f(*args, **kwargs)

    def __call__(self) -> None:
        self.products()
        with torch.no_grad():
            for f, args, kwargs in self.updates:
                f(*args, **kwargs)


#: steps per call of the ``unigen_fit`` variant (``Trainer.fit``, logging once per call)
FIT_STEPS = 50


def load() -> float:
    """The machine's 1-minute load average (runnable processes, all users), or -1 where the OS has none."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else -1.0


def run_case(name: str, case: Case, device: torch.device, min_time: float, compiled: bool = True,
             fit: bool = False, hand_compile: bool = False) -> dict:
    torch.manual_seed(0)
    data = case.data(device)
    out = {"case": name, "title": case.title, "load": [load()]}
    hand = case.reference(data.x, case.batch_size, False)  # torch's default Adam (for-loop on a CPU)
    fused = case.reference(data.x, case.batch_size, False, fused=True)  # the fair baseline: unigen's Adam is fused
    trainer = case.trainer(data, "none")
    counts = {p: sum(q.numel() for q in ps) for p, ps in trainer.params.items()}
    if counts != hand.parameter_counts():
        raise RuntimeError(f"{name}: unigen's players {counts} differ from the reference's {hand.parameter_counts()}")
    out["parameters"] = counts
    floor = MatrixProducts(fused.step, device, optimizer=True)  # the floor: products plus Adam
    out["gflop"] = floor.flops / 1e9
    out["matrix_products"] = len(floor.replays)
    out["adam_tensors"] = floor.updated
    steps = {"hand_eager": hand.step, "hand_fused": fused.step, "unigen_eager": trainer.step}
    if compiled:
        from torch._dynamo.utils import counters

        before = (counters["inductor"]["fxgraph_cache_hit"], counters["inductor"]["fxgraph_cache_miss"])
        if hand_compile:
            fn = torch.compile(case.reference(data.x, case.batch_size, False, fused=True).step)
            try:
                out["hand_compile_s"] = first_calls(fn, device)
                steps["hand_compile"] = fn
            except RuntimeError as e:  # e.g. WGAN-GP: aot_autograd has no double backward
                out["hand_compile_error"] = str(e).strip().splitlines()[0][:160]  # reported as "fails"
        hand_traced = case.reference(data.x, case.batch_size, False, fused=True).traced()
        first_calls(hand_traced, device)
        out["hand_traced_s"] = hand_traced.tracer.compile_seconds
        steps["hand_traced"] = hand_traced
        traced = case.trainer(data, "trace")
        first_calls(traced.step, device)
        out["unigen_traced_s"] = traced.traced.compile_seconds
        steps["unigen_traced"] = traced.step
        out["inductor_cache"] = {"hits": counters["inductor"]["fxgraph_cache_hit"] - before[0],
                                 "misses": counters["inductor"]["fxgraph_cache_miss"] - before[1]}
    if device.type == "cuda":
        steps["hand_graph"] = graphed(case.reference(data.x, case.batch_size, True, fused=True).step, device)
        steps["unigen_graph"] = case.trainer(data, "cudagraph").step
    if fit:  # the whole loop: the non-finite check every step (lagged on CUDA) and a logged window per call
        looped = case.trainer(data, "none")
        steps["unigen_fit"] = lambda: looped.fit(looped.step_count + FIT_STEPS, log_every=FIT_STEPS, progress=False)
    steps["compute_floor"] = floor
    steps["product_floor"] = floor.products  # the products alone
    timing = timed_rounds(steps, device, min_time)
    out.update({k: statistics.median(v) for k, v in timing["rounds"].items()} | timing)
    out["floor_gflops"] = out["gflop"] * out["product_floor"]
    if fit:
        out["unigen_fit"] *= FIT_STEPS
        for key in ("rounds", "rounds_wall"):
            out[key]["unigen_fit"] = [r * FIT_STEPS for r in out[key]["unigen_fit"]]
    if device.type == "cuda":
        out["kernel_us_unigen"] = kernel_us(trainer.step, device)
        out["kernel_us_hand"] = kernel_us(fused.step, device)
        out["kernel_floor"] = 1e6 / out["kernel_us_unigen"]
    out["load"].append(load())
    return out


# --------------------------------------------------------------------------------------- report
COLUMNS = [("hand_eager", "hand eager, torch's default Adam"), ("hand_fused", "hand eager, fused Adam"),
           ("hand_compile", "hand torch.compile"), ("hand_traced", "hand traced"), ("unigen_eager", "unigen eager"),
           ("unigen_traced", "unigen traced"), ("hand_graph", "hand graph"), ("unigen_graph", "unigen graph"),
           ("unigen_fit", "unigen eager fit()"), ("compute_floor", "compute floor"), ("kernel_floor", "kernel floor")]
#: the ratios a table shows (numerator, denominator), where some row has both; the fused hand-written step is the
#: baseline (unigen's optimisers are fused); results from before it existed compare against ``hand_eager``
RATIOS = [("unigen_eager", "hand_fused"), ("unigen_traced", "hand_fused"), ("unigen_traced", "hand_traced"),
          ("unigen_traced", "compute_floor"), ("hand_traced", "hand_fused"), ("hand_fused", "hand_eager"),
          ("hand_compile", "hand_fused"), ("unigen_graph", "hand_fused"), ("unigen_graph", "hand_graph"),
          ("unigen_graph", "kernel_floor"), ("unigen_fit", "hand_fused"), ("unigen_fit", "hand_eager")]
LEGACY = [("unigen_eager", "hand_eager"), ("hand_compile", "hand_eager"), ("unigen_traced", "hand_eager"),
          ("unigen_traced", "hand_compile"), ("unigen_graph", "hand_eager"), ("unigen_graph", "kernel_floor"),
          ("unigen_fit", "hand_eager")]
SHORT = dict(COLUMNS) | {"hand_eager": "hand eager", "hand_fused": "hand fused", "compute_floor": "floor"}


def rate_text(x: float) -> str:
    return f"{x:.0f}" if x >= 10 else f"{x:.3g}"


def table(result: dict) -> str:
    rows = result["rows"]
    cols = [(k, t) for k, t in COLUMNS if any(k in r for r in rows)]
    pairs = RATIOS if any("hand_fused" in r for r in rows) else LEGACY
    pairs = [(a, b) for a, b in pairs if any(a in r and b in r for r in rows)]
    head = "| case | " + " | ".join(t for _, t in cols) + " | " + " | ".join(
        f"{SHORT[a]} / {SHORT[b]}" for a, b in pairs) + " |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        cells = [rate_text(r[k]) if k in r else "—" for k, _ in cols]
        lines.append(f"| {r['title']} | " + " | ".join(cells) + " | " + " | ".join(ratio(r, a, b) for a, b in pairs)
                     + " |")
    if any("rounds_wall" in r for r in rows):
        wall = [(a, b) for a, b in pairs if a in ("unigen_eager", "unigen_traced") and b != "compute_floor"]
        lines += ["", "The same slices by wall time (what a loaded machine does to the ranges), the share of a core "
                  "the process got (CPU time / wall time: lowest slice, median) and the machine's 1-minute load "
                  "average before and after the case:", "",
                  "| case | " + " | ".join(f"{SHORT[a]} / {SHORT[b]}, wall" for a, b in wall)
                  + " | CPU share | load |", "|" + "---|" * (len(wall) + 3)]
        for r in rows:
            if "rounds_wall" not in r:
                continue
            share = r.get("cpu_share", [])
            share = f"{share[0]:.2f}, {share[1]:.2f}" if share else "—"
            loads = "–".join(f"{x:.1f}" for x in r.get("load", []))
            lines.append(f"| {r['title']} | " + " | ".join(ratio(r, a, b, "rounds_wall") for a, b in wall)
                         + f" | {share} | {loads or '—'} |")
    if any("compute_floor" in r for r in rows):
        lines += ["", "The compute floor: the matrix products (and convolutions) of one hand-written step, replayed "
                  "alone back to back, then its fused Adam updates on tensors of their own (`bench.MatrixProducts`): "
                  "the floor issue 35 defines, its matrix products plus Adam, each timed as a variant among the "
                  "others (the products alone as well; rows measured before Adam was added have products only):", "",
                  "| case | products a step | GFLOP a step | their rate alone (GFLOP/s) | products alone (ms a step) | "
                  "Adam (parameter tensors) | floor (ms a step) | unigen traced (ms a step) | unigen traced / products "
                  "alone |", "|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            if "compute_floor" in r:
                traced = f"{1e3 / r['unigen_traced']:.2f}" if "unigen_traced" in r else "—"
                products = r.get("product_floor", r["compute_floor"])  # (older rows: the floor was products only)
                vs = ratio(r, "unigen_traced", "product_floor") if "product_floor" in r and "unigen_traced" in r \
                    else "—"
                adam = r.get("adam_tensors", "—")
                lines.append(f"| {r['title']} | {r['matrix_products']} | {r['gflop']:.3g} | {r['floor_gflops']:.3g} | "
                             f"{1e3 / products:.2f} | {adam} | {1e3 / r['compute_floor']:.2f} | {traced} | {vs} |")
    if any("unigen_traced" in r for r in rows):
        lines += ["", "Compile times (first calls, seconds) and the steps after which unigen traced has saved its "
                  "compile time over unigen eager:", "",
                  "| case | hand torch.compile | hand traced | unigen traced | inductor FX cache (hits/misses) | "
                  "unigen traced pays off after |", "|---|---|---|---|---|---|"]
        for r in rows:
            if "unigen_traced" not in r:
                continue
            gain = 1 / r["unigen_eager"] - 1 / r["unigen_traced"]
            even = f"{r['unigen_traced_s'] / gain:,.0f} steps" if gain > 0 else "never (slower)"
            cache = r.get("inductor_cache", {})
            hand = (f"{r['hand_compile_s']:.1f}" if "hand_compile_s" in r else
                    "fails" if "hand_compile_error" in r else "—")
            hand_traced = f"{r['hand_traced_s']:.1f}" if "hand_traced_s" in r else "—"
            lines.append(f"| {r['title']} | {hand} | {hand_traced} | {r['unigen_traced_s']:.1f} | "
                         f"{cache.get('hits', '?')}/{cache.get('misses', '?')} | {even} |")
    return "\n".join(lines)


def ratio(row: dict, a: str, b: str, slices: str = "rounds") -> str:
    """``a / b`` of the medians; where both were timed in slices, the range of the ratio of each slice to the
    slice of ``b`` in the same round follows in brackets (the noise of the machine, seen by that ratio).
    ``slices="rounds_wall"``: the same by the slices' wall times."""
    if a not in row or b not in row:
        return "—"
    per = row.get(slices, {})
    if slices != "rounds" and a in per and b in per:
        text = f"{statistics.median(per[a]) / statistics.median(per[b]):.2f}×"
    else:
        text = f"{row[a] / row[b]:.2f}×"
    if a in per and b in per:
        paired = [x / y for x, y in zip(per[a], per[b])]
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
    p.add_argument("--min-time", type=float, default=6.0,
                   help="seconds timed per variant (in 10 slices; on a CPU, seconds of the process's CPU time)")
    p.add_argument("--out", default=str(HERE / "results"), help="folder of the JSON results")
    p.add_argument("--report", action="store_true", help="only rebuild RESULTS.md from the JSON results")
    p.add_argument("--no-compile", action="store_true", help="skip the compiled columns (traced, torch.compile)")
    p.add_argument("--hand-compile", action=argparse.BooleanOptionalAction, default=None,
                   help="add the hand-written step under torch.compile (default: on CUDA)")
    p.add_argument("--fit", action=argparse.BooleanOptionalAction, default=None,
                   help=f"add unigen eager through Trainer.fit ({FIT_STEPS} steps a call; default: on CUDA)")
    p.add_argument("--merge", action="store_true",
                   help="keep the rows of the cases not run now from the existing JSON (several invocations, one page)")
    args = p.parse_args(argv)
    out_dir = Path(args.out)
    if not args.report:
        device, host = torch.device(args.device), host_name()  # named first: a failure here loses no run
        pyro.enable_validation(False)
        command = "python benchmarks/bench.py " + " ".join(sys.argv[1:] if argv is None else argv)
        rows, loads = [], [load()]
        for name in args.cases:
            fit = device.type == "cuda" if args.fit is None else args.fit
            hand_compile = device.type == "cuda" if args.hand_compile is None else args.hand_compile
            rows.append(run_case(name, CASES[name], device, args.min_time, not args.no_compile, fit, hand_compile))
            rows[-1]["run"] = command
            print(json.dumps(rows[-1]), flush=True)
        loads.append(load())
        runs = [{"command": command, "date": time.strftime("%Y-%m-%d"), "load": loads, "cases": args.cases}]
        slug = "cuda" if device.type == "cuda" else "cpu"
        path = out_dir / f"{slug}.json"
        if args.merge and path.is_file():  # the rows of other invocations, for the cases not run now
            old = json.loads(path.read_text())
            kept = [r for r in old["rows"] if r["case"] not in args.cases and "run" in r]
            runs = [r for r in old.get("runs", []) if any(k["run"] == r["command"] for k in kept)] + runs
            order = list(CASES)
            rows = sorted(kept + rows, key=lambda r: order.index(r["case"]) if r["case"] in order else len(order))
        result = {"device": device_name(device), "host": host, "torch": torch.__version__, "pyro": pyro.__version__,
                  "min_time_s": args.min_time, "clock": "process CPU time" if device.type == "cpu" else "wall time",
                  "runs": runs, "date": time.strftime("%Y-%m-%d"), "rows": rows}
        print(table(result))
        out_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1))
    write_report(out_dir, out_dir.parent / "RESULTS.md")


def write_report(results: Path, path: Path) -> None:
    parts = [(HERE / "RESULTS.head.md").read_text().rstrip() + "\n"]
    for f in sorted(results.glob("*.json")):
        r = json.loads(f.read_text())
        sliced = [len(row["rounds"]["hand_eager"]) for row in r["rows"] if "rounds" in row]
        clock = f" of {r['clock']}" if "clock" in r else ""
        timing = (f"the median of {sliced[0]} interleaved slices of ≥ {r['min_time_s'] / sliced[0]:g} s{clock}, in "
                  f"rotating order (in brackets after a ratio: its range over the rounds)" if sliced
                  else f"each measured over ≥ {r['min_time_s']:g} s")
        host = f"{r['host']}; " if "host" in r else ""
        runs = "".join(f"\n- `{run['command']}` ({run['date']}; the machine's 1-minute load average "
                       f"{run['load'][0]:.1f} at the start, {run['load'][1]:.1f} at the end)"
                       for run in r.get("runs", []))
        runs = (f" The command{'s' if len(r.get('runs', [])) > 1 else ''} that made the rows (one torch thread; the "
                f"load is other jobs' work on the machine):\n{runs}" if runs else "")
        parts.append(f"\n## {r['device']}\n\n{host}torch {r['torch']}, pyro {r['pyro']}, {r['date']}; steps/s, "
                     f"{timing}, a case's variants in one process.{runs}\n\n{table(r)}\n")
    notes = HERE / "RESULTS.notes.md"
    if notes.is_file():
        parts.append("\n" + notes.read_text())
    path.write_text("".join(parts))


if __name__ == "__main__":
    main()
