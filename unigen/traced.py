r"""``train.compile=trace``: each update traced once through the Pyro programs into one graph, compiled.

An update is a phase's forward pass through the Pyro programs (poutine handlers, plates, distribution
objects, ``log_prob`` sums), every player's backward pass, the optimiser steps, the strategy's
``after_update`` hook and the non-finite watch's norms. :class:`TracedStep` runs it through
:func:`torch.fx.experimental.proxy_tensor.make_fx`, which executes the Python once and records only the
tensor operations, forward and backward (the autograd engine's kernels are recorded as plain operations),
into one FX graph. Inductor compiles that graph (C++/OpenMP on a CPU, Triton on CUDA); every later update
of the phase replays it. The Python of Pyro never runs again, and inductor fuses the element-wise work of
the forward, the backward, the optimiser and the norms.

What makes the graph valid (and what :class:`TracedStep` arranges):

- **State as explicit inputs.** Every tensor the update reads or writes — parameters, buffers, optimiser
  states, learning rates, the non-finite watch's sum, the step counter behind ``Batch.step`` — is a graph input,
  passed on every replay; in-place updates of them are in the graph. (``make_fx`` in its ``real`` mode
  tracks the very tensor objects it is given, so the programs, optimisers and the watch, which hold those
  objects, read graph inputs; a tensor the update reads but that is not an input would be baked into the
  graph as a constant.)
- **Batches drawn outside the graph**, fresh for every update, and passed in.
- **Lazy one-time work done before tracing.** A warm-up run of the update creates the optimisers' states
  and runs one-time probes (the IWAE guide probe ``unigen.importance._shareable_site``); then its effects
  are undone: every state tensor gets its values back, the states it created are zeroed (as torch creates
  them) and the random-number generators are restored. None of that work lands in the graph or shifts the
  random numbers. The tracing run (``make_fx`` executes the update on the real tensors) is undone the same
  way, so every real update, the first included, is a replay of the graph.
- **Host values stay on the host.** The optimisers (:func:`unigen.optim.make_optimizer` with
  ``tensor_lr=True``) are torch's fused Adam (a float64 learning-rate tensor that a schedule fills between
  updates, a graph input) or a constant-rate RMSprop/SGD. For inductor, each fused Adam node is rewritten as
  element-wise operations (:func:`~unigen.graph_passes.decompose_adam`), which inductor fuses into its loops, with the
  step-dependent scalars :math:`\mathrm{lr}/(1-\beta_1^t)` and :math:`\sqrt{1-\beta_2^t}` computed on the
  host before each replay (:class:`~unigen.graph_passes.HostAdam`) rather than as ``pow`` calls in every inner loop.
- **Retracing only on new shapes.** A graph is keyed by the phase and the shapes, dtypes and devices of the
  batch; every batch has the same size (the trainer draws fixed-size batches), so each phase traces once.
  :attr:`TracedStep.traces` counts the traces, :attr:`TracedStep.replays` the graph calls.
- **One graph for a step whose phases run once.** When a step has several phases and none repeats (a GAN's
  discriminator and generator updates, not WGAN's n critic updates), the trainer draws the step's batches
  first and traces all its updates as one function (``Execution.one_graph``): one graph, one call a step, the
  updates in their order on the same random numbers. A repeated phase keeps a graph of its own, replayed n
  times, so no graph holds an update n times (n times the compile work).
- **Little host work a replay.** A replay collects the argument tensors without flattening the whole
  argument tree, fills the Adam scalars through a view of their memory, and passes only the inputs the graph
  reads or writes (:func:`~unigen.graph_passes.drop_unused_inputs`: a phase's graph does not take the other
  players' optimiser states, nor a batch it does not use). A replay's overhead over the bare graph call went
  from 23–26 µs to 2–6 µs, the host-cost ring step from 227 to 179 µs, and to 167–174 µs with the step's two
  phases in one graph (the hand-written step through this same tracer, ``benchmarks/bench.py``'s *hand
  traced*: 93 µs; the rest is the trainer's loop: drawing two batches, the schedules, the loss window, the
  non-finite check). On the full-size ring GAN (4.8 ms a step) unigen's graph does the hand-written step's
  matrix products (the same FLOPs, counted) and runs at 0.95–0.97 of it (benchmarks/RESULTS.md, issue 35).

Without inductor (``train.compile=trace-eager``, ``backend="eager"``) the graph replays the same kernels in
the same order as the eager update, on the same random-number generators, so training is bitwise equal to
eager training (tested for elbo, iwae, ns_gan, wgan with ``penalty=gp``, aae; every registered strategy in
a slow test).

Random numbers with inductor. **On a CPU they are eager's**: every draw in the graph (``normal_``, which
Pyro's ``Normal`` uses, and ``rand``, ``randn``, ``randint``, ``bernoulli``) runs as torch's own kernel on
torch's generator, in the order the update makes them (:data:`unigen.inductor.CPU_OPTIONS`,
``fallback_random``), so a compiled update draws the same numbers for the same tensors and leaves the
generator where eager leaves it; it differs from eager only by the rounding of fused arithmetic (tested: every
kind of draw bit for bit; the contract toys' ns_gan to rounding; 300 ELBO updates' losses and gradients to
1e-4). Over a long run those rounding differences grow, so a traced run is not eager's run (a GAN can end
elsewhere). Before ``fallback_random``, inductor generated ``rand``/``randn``/``randint`` itself from seeds it
took from torch's generator and could reorder the independent ``normal_`` draws it left to torch (the ns_gan
toy's likelihood noise came before its latents); the benchmark's MLP models draw one ``normal_`` an update,
which is why their draws matched eager's anyway (WGAN-GP's penalty draws its mixing weights with ``rand``).
**On CUDA** inductor's defaults stand: it draws its own numbers (Philox, seeded from torch's generator, as
``torch.compile`` does), and losses and gradients agree with eager in distribution (a Kolmogorov–Smirnov test,
not yet run on a GPU). Either way a seeded traced run is reproducible run to run, and resumes identically (the
run's checkpoint holds the generators' states; both tested with inductor).

Compile time: tracing takes about a second; inductor's compilation, on a 2-core CPU with a cold cache,
21–56 s for the benchmark's models (most of it generating and compiling C++), 0.3–4 s from its cache. Both
are printed once per graph (on stderr), with whether inductor's on-disk FX graph cache
(``torch._inductor.config.fx_graph_cache``, on by default; it lives in ``/tmp/torchinductor_$USER`` unless
``TORCHINDUCTOR_CACHE_DIR`` says otherwise) served the compiled code: a second run of the same
model, strategy and batch size loads it in a few seconds. Inductor is called directly on the traced graph, without
dynamo (:func:`~unigen.inductor.compile_graph`), so a replay has no guards to check and no frame to evaluate (AOTAutograd's thin
runtime wrapper remains): a graph is only ever called with its own state tensors and batches of its shapes.

Refused (one line each, :func:`check_traceable`): ``train.on_nan=skip`` (a host decision inside the
update), multi-process runs, and strategies listed in :data:`UNTRACEABLE` — those whose update reads tensor
values on the host or branches on them. An update that reads a tensor on the host anyway fails at tracing
with a one-line :class:`~unigen.errors.UserError` naming ``train.compile=none``.

Untraceable registered strategies (:data:`UNTRACEABLE`): none at this commit — every registered strategy
traces (the slow test replays each one's updates bit for bit), wgan clipped and with ``penalty=gp`` alike.

CUDA: the rate tensors live on the device, the Adam scalars are computed in the graph
(:func:`~unigen.graph_passes.graph_adam_scalars`: a host read would be a sync), scalar constants that tracing baked in move to the
device (:func:`~unigen.graph_passes.scalar_constants_to`: inductor would copy them from the host at each call, which a capture
refuses), inductor generates Triton kernels and compiles during the warm-up steps, before any capture, and the trainer
captures the whole step of compiled updates in one CUDA graph (:class:`unigen.cudagraph.GraphedStep`, for
strategies that can be captured), so a step is one graph replay of fused kernels where
``train.compile=cudagraph`` replays the uncompiled kernels. Written and tested on CPU where the parts allow
(the in-graph Adam scalars follow eager Adam, ``adam_scalars="graph"``); the CUDA tests (bit for bit, resume,
in distribution, Adam) are skipped here and have not yet run on a GPU (``benchmarks/device_visit.sh``).
"""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Callable, Hashable, Iterable, Sequence

import torch
import torch.utils._pytree as pytree
from torch import Tensor

from unigen import graph_passes, inductor
from unigen.errors import UserError, first_line

#: registered strategies whose update cannot be traced, with the reason
UNTRACEABLE: dict[str, str] = {}

#: back-ends of a traced graph: ``inductor`` compiles it; ``eager`` replays the recorded operations as they are
BACKENDS = ("inductor", "eager")


def check_traceable(strategy_name: str, skip_nonfinite: bool, world_size: int) -> None:
    """Refuse ``train.compile=trace`` for a run that cannot be traced, with a one-line fix."""
    if strategy_name in UNTRACEABLE:
        raise UserError(f"strategy {strategy_name!r} cannot be traced ({UNTRACEABLE[strategy_name]}); "
                        f"use train.compile=none")
    if skip_nonfinite:
        raise UserError("train.on_nan=skip decides on the host whether to apply each update, which a traced graph "
                        "cannot do; use train.on_nan=error with train.compile=trace, or train.compile=none")
    if world_size > 1:
        raise UserError("train.compile=trace runs in a single process; use train.compile=none under torchrun")


def optimizer_tensors(optimizers: Iterable[torch.optim.Optimizer]) -> list[Tensor]:
    """Every tensor an optimiser's step reads or writes besides parameters and gradients: its states and
    tensor hyper-parameters (a learning rate in a tensor)."""
    out = []
    for opt in optimizers:
        for group in opt.param_groups:
            out += [v for v in group.values() if isinstance(v, Tensor)]
            for p in group["params"]:
                out += [v for v in opt.state.get(p, {}).values() if isinstance(v, Tensor)]
    return out


@contextmanager
def _undone(state: Callable[[], Iterable[Tensor]], given: list[Tensor]):
    """Run a block (an update done only for what it creates or records) and undo its effects on the tensors:
    every tensor of ``state()`` and ``given`` gets its values back, tensors the block created in ``state()``
    (an optimiser's first moments and step counts) are zeroed, as they were created, and the random-number
    generators are restored, so the next (replayed) update is the first one."""
    before = _unique([*state(), *given])
    saved = [t.detach().clone() for t in before]
    with torch.random.fork_rng(devices=_cuda_indices(before)):
        try:
            yield
        finally:
            with torch.no_grad():
                for t, v in zip(before, saved):
                    t.copy_(v)
                known = {id(t) for t in before}
                for t in _unique(state()):
                    if id(t) not in known:
                        t.zero_()


def _cuda_indices(tensors: Iterable[Tensor]) -> list[int]:
    """The CUDA devices that ``tensors`` live on (whose generators ``fork_rng`` must save and restore)."""
    return sorted({t.device.index or 0 for t in tensors if t.device.type == "cuda"})


def _unique(tensors: Iterable[Tensor]) -> list[Tensor]:
    seen, out = set(), []
    for t in tensors:
        if id(t) not in seen:
            seen.add(id(t))
            out.append(t)
    return out


def _signature(tensors: Sequence[Tensor]) -> tuple:
    return tuple((t.shape, t.dtype, t.device) for t in tensors)


def _tensor_leaves(tree, out: list[Tensor]) -> list[Tensor]:
    """The tensors among ``pytree.tree_leaves(tree)``, in its order, appended to ``out``: the common containers
    (tuples, lists, dicts, named tuples) walked directly, anything else that pytree opens left to it. A replay
    needs only these (a few µs a call less than flattening the whole tree)."""
    cls = type(tree)
    if isinstance(tree, Tensor):
        out.append(tree)
    elif cls is tuple or cls is list or (issubclass(cls, tuple) and hasattr(cls, "_fields")):
        for x in tree:
            _tensor_leaves(x, out)
    elif cls is dict:
        for x in tree.values():
            _tensor_leaves(x, out)
    elif cls in pytree.SUPPORTED_NODES:
        out += [t for t in pytree.tree_leaves(tree) if isinstance(t, Tensor)]
    return out


def _rebuilder(spec: pytree.TreeSpec) -> Callable[[Sequence[Tensor]], object]:
    """How a replay's flat outputs become the update's tree: a dict of tensors (what the trainer's updates
    return), or a list of them (a step's phases in one graph) directly, any other tree through pytree."""

    def flat_dict(s: pytree.TreeSpec) -> bool:
        return s.type is dict and all(c.is_leaf() for c in s.children())

    if flat_dict(spec):
        keys = list(spec.context)
        return lambda flat: dict(zip(keys, flat))
    if spec.type is list and all(flat_dict(c) for c in spec.children()):  # one graph for a step: a dict a phase
        spans, start = [], 0
        for c in spec.children():
            spans.append((list(c.context), start, start + len(c.context)))
            start += len(c.context)
        return lambda flat: [dict(zip(keys, flat[a:b])) for keys, a, b in spans]
    return lambda flat: pytree.tree_unflatten(list(flat), spec)


class TracedStep:
    """Updates traced once per key and shapes, then replayed, compiled by inductor (or not).

    It knows nothing of who calls it: ``step(key, fn, *args)`` runs ``fn(*args)``, any function that reads
    and writes only the tensors in ``state()`` and the tensors in ``args`` (a tree of tuples, lists, dicts
    and named tuples; its other leaves are held fixed per key), and returns a tree of tensors (the trainer
    passes one phase update on one batch).

    :param state: the tensors the functions read or write besides their arguments (called at each trace).
    :param name: how errors name the update (e.g. the strategy).
    :param backend: ``"inductor"`` or ``"eager"`` (:data:`BACKENDS`).
    :param warmup: eager runs per graph before tracing, each undone (they only create what is created lazily).
    :param adam_scalars: where a compiled Adam computes its step-dependent scalars: ``"host"``, ``"graph"``, or
        ``"auto"`` (host on a CPU, graph on CUDA; :func:`~unigen.graph_passes.decompose_adam`).
    """

    def __init__(self, state: Callable[[], Iterable[Tensor]], name: str = "the step", backend: str = "inductor",
                 warmup: int = 1, adam_scalars: str = "auto"):
        if backend not in BACKENDS:
            raise ValueError(f"backend={backend!r}; choose one of {BACKENDS}")
        if adam_scalars not in ("auto", "host", "graph"):
            raise ValueError(f"adam_scalars={adam_scalars!r}; choose auto, host or graph")
        self.state, self.name, self.backend, self.warmup = state, name, backend, warmup
        self.adam_scalars = adam_scalars
        self.graphs: dict[Hashable, tuple] = {}
        self.traces = 0  # traces made (one per key and shapes, again after invalidate())
        self.replays = 0  # updates run by a graph
        self.compile_seconds = 0.0  # tracing and compiling, in all (logged once per graph)

    @classmethod
    def over(cls, module: torch.nn.Module, optimizers: Iterable[torch.optim.Optimizer], extra, name: str,
             mode: str = "trace", adam_scalars: str = "auto") -> "TracedStep":
        """Updates of ``module`` by ``optimizers`` that also read or write the tensors in ``extra`` (a tree of
        lists and dicts, read at each trace); ``mode`` is ``train.compile``: ``trace`` (inductor) or
        ``trace-eager`` (the graph replayed uncompiled)."""
        optimizers = list(optimizers)
        return cls(lambda: [*module.parameters(), *module.buffers(), *pytree.tree_leaves(extra),
                            *optimizer_tensors(optimizers)],
                   name, "eager" if mode == "trace-eager" else "inductor", adam_scalars=adam_scalars)

    def invalidate(self) -> None:
        """Drop the graphs (e.g. after a checkpoint replaced the optimiser states); the next calls retrace."""
        self.graphs.clear()

    def __call__(self, key: Hashable, fn: Callable, *args):
        given = _tensor_leaves(args, [])
        sig = (key, _signature(given))
        entry = self.graphs.get(sig)
        if entry is None:
            leaves, spec = pytree.tree_flatten(args)
            where = [i for i, t in enumerate(leaves) if isinstance(t, Tensor)]
            if [leaves[i] for i in where] != given:  # (identity: _tensor_leaves must agree with pytree)
                raise AssertionError("unigen.traced: the tensors of the arguments were collected out of order")
            self._trace(sig, fn, leaves, spec, where)
            entry = self.graphs[sig]
        run, state, rebuild, hosts = entry
        for h in hosts:
            h.fill()
        with torch.no_grad():
            flat = run(*state, *given, *[h.scalars for h in hosts])
        self.replays += 1
        return rebuild(flat)

    def _trace(self, sig, fn, leaves, spec, where):
        from torch.fx.experimental.proxy_tensor import make_fx

        start = time.perf_counter()
        given = [leaves[i] for i in where]
        args = pytree.tree_unflatten(leaves, spec)
        for _ in range(self.warmup):  # lazy one-time work (optimiser states, probes), then undone
            with _undone(self.state, given):
                fn(*args)
        state = [t for t in _unique(self.state()) if all(t is not g for g in given)]
        holder = {}

        def flat_update(*tensors):  # (*state, *given): state is read through the objects, given passed on
            full = list(leaves)
            for i, t in zip(where, tensors[len(state):]):
                full[i] = t
            flat, holder["spec"] = pytree.tree_flatten(fn(*pytree.tree_unflatten(full, spec)))
            return flat

        try:
            with _undone(self.state, given):  # make_fx runs the update on the real tensors
                gm = make_fx(flat_update, tracing_mode="real")(*state, *given)
        except RuntimeError as e:
            first = first_line(e)
            raise UserError(f"{self.name} could not be traced into one graph ({first[:200]}); it reads tensor "
                            f"values on the host; use train.compile=none") from e
        graph_passes.drop_profiler_marks(gm)
        compiled = self.backend == "inductor"
        hosts, cache = [], ""
        if compiled:
            hosts = graph_passes.decompose_adam(gm, state + given, self.adam_scalars)
            graph_passes.norms_as_sums(gm)
            device = next((t.device for t in state + given if t.device.type != "cpu"), CPU)
            graph_passes.scalar_constants_to(gm, device)
        # inputs the graph neither reads nor writes (another player's optimiser states, a batch the phase does not
        # use) are not passed: each input costs host time a call, in the wrappers around the compiled code
        kept = graph_passes.drop_unused_inputs(gm)
        state = [t for t, k in zip(state, kept) if k]
        used = kept[-len(given) - len(hosts):] if given or hosts else []
        run = gm
        if compiled:
            run, cache = self._compiled(gm, state + [t for t, k in zip(given + [h.scalars for h in hosts], used)
                                                     if k])
        self.graphs[sig] = (_skipping(run, used), state, _rebuilder(holder["spec"]), hosts)
        self.traces += 1
        self._report(sig, time.perf_counter() - start, "traced and compiled" if compiled else "traced", cache)

    def _compiled(self, gm: torch.fx.GraphModule, inputs: list[Tensor]):
        """``gm`` compiled by inductor (:func:`~unigen.inductor.compile_graph`), and whether inductor's on-disk FX graph cache served it
        (``hit``, ``miss`` or ``not used``); a compiler's failure is a one-line :class:`UserError`."""
        from torch._dynamo.utils import counters

        before = (counters["inductor"]["fxgraph_cache_hit"], counters["inductor"]["fxgraph_cache_miss"])
        try:
            # inductor may draw random inputs to time its choices (pad_mm on CUDA), only when its cache misses:
            # the generators are put back, so the run's random numbers do not depend on the cache
            with torch.random.fork_rng(devices=_cuda_indices(inputs)):
                run = inductor.compile_graph(gm, inputs)
        except Exception as e:  # noqa: BLE001  (inductor's own errors have no common type)
            first = first_line(e, "")
            raise UserError(f"{self.name}: inductor could not compile the traced update ({type(e).__name__}: "
                            f"{first[:200]}); use train.compile=trace-eager or train.compile=none") from e
        hits, misses = counters["inductor"]["fxgraph_cache_hit"], counters["inductor"]["fxgraph_cache_miss"]
        return run, "hit" if hits > before[0] else "miss" if misses > before[1] else "not used"

    def _report(self, sig, seconds: float, what: str, cache: str = "") -> None:
        """Say once per graph, on stderr, how long tracing (and compiling) took, and whether inductor's on-disk
        FX graph cache served the compiled code."""
        self.compile_seconds += seconds
        cache = f"; inductor's FX graph cache: {cache}" if cache else ""
        shapes = ", ".join("×".join(map(str, s[0])) or "()" for s in sig[1] if s is not None)
        print(f"unigen: {self.name}: {what} update {sig[0]!r} (inputs {shapes}) in {seconds:.1f} s{cache}",
              file=sys.stderr, flush=True)




CPU = torch.device("cpu")


def _skipping(run: Callable, used: list[bool]) -> Callable:
    """``run`` called with the trailing arguments (batches, Adam scalars) it uses, given all of them."""
    if all(used):
        return run
    n, keep = len(used), [i for i, k in enumerate(used) if k]

    def call(*args):
        head, tail = args[:len(args) - n], args[len(args) - n:]
        return run(*head, *[tail[i] for i in keep])

    return call


