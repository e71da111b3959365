r"""``train.compile=trace``: each phase's update traced once through the Pyro programs into one graph, compiled.

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
  element-wise operations (:func:`_decompose_adam`), which inductor fuses into its loops, with the
  step-dependent scalars :math:`\mathrm{lr}/(1-\beta_1^t)` and :math:`\sqrt{1-\beta_2^t}` computed on the
  host before each replay (:class:`_HostAdam`) rather than as ``pow`` calls in every inner loop.
- **Retracing only on new shapes.** A graph is keyed by the phase and the shapes, dtypes and devices of the
  batch; every batch has the same size (the trainer draws fixed-size batches), so each phase traces once.
  :attr:`TracedStep.traces` counts the traces, :attr:`TracedStep.replays` the updates.

Without inductor (``train.compile=trace-eager``, ``backend="eager"``) the graph replays the same kernels in
the same order as the eager update, on the same random-number generators, so training is bitwise equal to
eager training (tested for elbo, iwae, ns_gan, wgan with ``penalty=gp``, aae; every registered strategy in
a slow test). With inductor the random numbers differ (inductor draws its own from seeds it takes from
torch's generator, as ``torch.compile`` does) and fused arithmetic rounds differently; losses and gradients
agree with eager in distribution (a Kolmogorov–Smirnov test). A seeded traced run is reproducible run to
run, and resumes identically (the run's checkpoint holds the generators' states; both tested with inductor).

Compile time: tracing takes about a second; inductor's compilation, on a 2-core CPU with a cold cache,
21–56 s for the benchmark's models (most of it generating and compiling C++), 0.3–4 s from its cache. Both
are printed once per graph (on stderr), with whether inductor's on-disk FX graph cache
(``torch._inductor.config.fx_graph_cache``, on by default; it lives in ``/tmp/torchinductor_$USER`` unless
``TORCHINDUCTOR_CACHE_DIR`` says otherwise) served the compiled code: a second run of the same
model, strategy and batch size loads it in a few seconds. Inductor is called directly on the traced graph, without
dynamo (:func:`_compile`), so a replay has no guards to check and no frame to evaluate (AOTAutograd's thin
runtime wrapper remains): a graph is only ever called with its own state tensors and batches of its shapes.

Refused (one line each, :func:`check_traceable`): ``train.on_nan=skip`` (a host decision inside the
update), multi-process runs, and strategies listed in :data:`UNTRACEABLE` — those whose update reads tensor
values on the host or branches on them. An update that reads a tensor on the host anyway fails at tracing
with a one-line :class:`~unigen.errors.UserError` naming ``train.compile=none``.

Untraceable registered strategies (:data:`UNTRACEABLE`): none at this commit — every registered strategy
traces (the slow test replays each one's updates bit for bit), wgan clipped and with ``penalty=gp`` alike.

CUDA: the rate tensors live on the device, the Adam scalars are computed in the graph
(:func:`_graph_adam_scalars`: a host read would be a sync), scalar constants that tracing baked in move to the
device (:func:`_scalar_constants_to`: inductor would copy them from the host at each call, which a capture
refuses), inductor generates Triton kernels and compiles during the warm-up steps, before any capture, and the trainer
captures the whole step of compiled updates in one CUDA graph (:class:`unigen.compiled.GraphedStep`, for
strategies that can be captured), so a step is one graph replay of fused kernels where
``train.compile=cudagraph`` replays the uncompiled kernels. Written and tested on CPU where the parts allow
(the in-graph Adam scalars follow eager Adam, ``adam_scalars="graph"``); the CUDA tests (bit for bit, resume,
in distribution, Adam) are skipped here and have not yet run on a GPU (``benchmarks/device_visit.sh``).
"""
from __future__ import annotations

import copy
import operator
import os
import sys
import time
from contextlib import contextmanager
from typing import Callable, Hashable, Iterable, Sequence

import torch
import torch.utils._pytree as pytree
from torch import Tensor

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


def _signature(tensors: Sequence[Tensor | None]) -> tuple:
    return tuple(None if t is None else (tuple(t.shape), t.dtype, t.device) for t in tensors)


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
        ``"auto"`` (host on a CPU, graph on CUDA; :func:`_decompose_adam`).
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
        leaves, spec = pytree.tree_flatten(args)
        where = [i for i, t in enumerate(leaves) if isinstance(t, Tensor)]
        given = [leaves[i] for i in where]
        sig = (key, _signature(given))
        if sig not in self.graphs:
            self._trace(sig, fn, leaves, spec, where)
        run, state, out_spec, hosts = self.graphs[sig]
        for h in hosts:
            h.fill()
        with torch.no_grad():
            flat = run(*state, *given, *[h.scalars for h in hosts])
        self.replays += 1
        return pytree.tree_unflatten(list(flat), out_spec)

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
        _drop_profiler_marks(gm)
        run, hosts, cache = gm, [], ""
        if self.backend == "inductor":
            hosts = _decompose_adam(gm, state + given, self.adam_scalars)
            _norms_as_sums(gm)
            _scalar_constants_to(gm, next((t.device for t in state + given if t.device.type != "cpu"), CPU))
            run, cache = self._compiled(gm, state + given + [h.scalars for h in hosts])
        self.graphs[sig] = (run, state, holder["spec"], hosts)
        self.traces += 1
        compiled = self.backend == "inductor"
        self._report(sig, time.perf_counter() - start, "traced and compiled" if compiled else "traced", cache)

    def _compiled(self, gm: torch.fx.GraphModule, inputs: list[Tensor]):
        """``gm`` compiled by inductor (:func:`_compile`), and whether inductor's on-disk FX graph cache served it
        (``hit``, ``miss`` or ``not used``); a compiler's failure is a one-line :class:`UserError`."""
        from torch._dynamo.utils import counters

        before = (counters["inductor"]["fxgraph_cache_hit"], counters["inductor"]["fxgraph_cache_miss"])
        try:
            # inductor may draw random inputs to time its choices (pad_mm on CUDA), only when its cache misses:
            # the generators are put back, so the run's random numbers do not depend on the cache
            with torch.random.fork_rng(devices=_cuda_indices(inputs)):
                run = _compile(gm, inputs)
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


class _HostAdam:
    r"""One fused Adam update in a graph, rewritten for inductor as plain operations (which it fuses into the
    generated loops) with its step-dependent scalars computed here, on the host, before each replay:
    :math:`\alpha_t = \mathrm{lr} / (1 - \beta_1^t)` and :math:`\sqrt{1 - \beta_2^t}` (in the graph they
    would be ``pow`` calls in every inner loop). ``t`` is read from the optimiser's own step tensor before each
    replay (the graph increments it), so it stays right when several graphs step the same optimiser (a player
    in two phases, a retrace for new shapes); on CUDA that read is a host sync per update."""

    def __init__(self, lr: Tensor, beta1: float, beta2: float, steps: list[Tensor], device: torch.device):
        self.lr, self.beta1, self.beta2, self.step = lr, beta1, beta2, steps[0]
        self.scalars = torch.zeros(2, dtype=torch.float32, device=device)  # filled before each replay

    def fill(self) -> None:
        t = float(self.step) + 1  # this update's count: the step tensor holds the updates done so far
        self.scalars.copy_(torch.tensor([float(self.lr) / (1 - self.beta1 ** t), (1 - self.beta2 ** t) ** 0.5]),
                           non_blocking=True)


def _norms_as_sums(gm: torch.fx.GraphModule) -> None:
    """Rewrite ``_foreach_norm`` (a kernel per tensor that inductor calls as is) as square roots of sums of
    squares, which inductor generates and fuses. Only the watch reads them (finite or not), and the two forms
    overflow alike."""
    aten = torch.ops.aten
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or node.target is not aten._foreach_norm.Scalar:
            continue
        if len(node.args) > 1 and node.args[1] != 2 or any(u.target is not operator.getitem for u in node.users):
            continue
        with gm.graph.inserting_before(node):
            norms = [gm.graph.call_function(aten.sqrt.default, (gm.graph.call_function(
                aten.sum.default, (gm.graph.call_function(aten.mul.Tensor, (t, t)),)),)) for t in node.args[0]]
        for user in list(node.users):
            user.replace_all_uses_with(norms[user.args[1]])
            gm.graph.erase_node(user)
        gm.graph.erase_node(node)
    gm.graph.lint()
    gm.recompile()


CPU = torch.device("cpu")


def _scalar_constants_to(gm: torch.fx.GraphModule, device: torch.device) -> None:
    """Move the 0-dimensional CPU tensors that tracing baked into ``gm`` as constants (``get_attr``: a literal
    that Pyro or a distribution wrapped in ``torch.tensor``) to ``device``, where the graph's state lives. Eager
    kernels read such a tensor as a number; inductor would copy it to the GPU at every call, and a copy from
    pageable host memory cannot be captured in a CUDA graph. Nothing to do for a CPU graph."""
    if device.type == "cpu":
        return
    for node in gm.graph.nodes:
        if node.op != "get_attr" or "." in node.target:
            continue
        value = getattr(gm, node.target)
        if isinstance(value, Tensor) and value.device.type == "cpu" and value.dim() == 0:
            setattr(gm, node.target, value.to(device))


def _drop_profiler_marks(gm: torch.fx.GraphModule) -> None:
    """Remove the ``record_function`` ranges that ``Optimizer.step`` opens (host objects, not tensor work)."""
    prof = torch.ops.profiler
    for node in reversed(list(gm.graph.nodes)):
        if node.op == "call_function" and node.target in (prof._record_function_exit._RecordFunction,
                                                          prof._record_function_exit.default):
            gm.graph.erase_node(node)
    for node in reversed(list(gm.graph.nodes)):
        if node.op == "call_function" and node.target is prof._record_function_enter_new.default and not node.users:
            gm.graph.erase_node(node)
    gm.recompile()


def _graph_adam_scalars(g_: torch.fx.Graph, kw: dict, step: torch.fx.Node, device: torch.device):
    r"""Nodes computing :math:`\mathrm{lr}/(1-\beta_1^t)` and :math:`\sqrt{1-\beta_2^t}` inside the graph from
    the (already incremented) step tensor and the rate, in float64: no host read, so the graph can be captured
    in a CUDA graph and replayed with the rate that a schedule wrote into its tensor."""
    aten = torch.ops.aten
    t = g_.call_function(aten._to_copy.default, (step,), {"dtype": torch.float64})
    lr = kw["lr"] if isinstance(kw["lr"], torch.fx.Node) else float(kw["lr"])
    bias1 = g_.call_function(aten.rsub.Scalar, (g_.call_function(aten.pow.Scalar, (kw["beta1"], t)), 1.0))
    step_size = g_.call_function(aten.mul.Tensor, (g_.call_function(aten.reciprocal.default, (bias1,)), lr))
    bc2 = g_.call_function(aten.sqrt.default, (g_.call_function(aten.rsub.Scalar, (g_.call_function(
        aten.pow.Scalar, (kw["beta2"], t)), 1.0)),))
    as_float = {"dtype": torch.float32, "device": device}
    return (g_.call_function(aten._to_copy.default, (step_size,), as_float),
            g_.call_function(aten._to_copy.default, (bc2,), as_float))


def _decompose_adam(gm: torch.fx.GraphModule, inputs: list[Tensor], scalars: str = "auto") -> list[_HostAdam]:
    """Replace every ``_fused_adam_`` node of ``gm`` by element-wise operations. Their step-dependent scalars
    are computed on the host (``scalars="host"``: new trailing inputs, one ``(2,)`` tensor per node, whose
    keepers are returned in input order) or in the graph (``"graph"``: :func:`_graph_adam_scalars`);
    ``"auto"``: on the host for a CPU, in the graph on CUDA (where a host read would be a sync, and would
    stop the graph's capture)."""
    aten = torch.ops.aten
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    value = {n: t for n, t in zip(placeholders, inputs)}
    keepers, last = [], placeholders[-1]
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or node.target not in (aten._fused_adam_.tensor_lr, aten._fused_adam_.default):
            continue
        params, grads, ms, vs, maxes, steps = node.args[:6]
        kw = node.kwargs
        if maxes or kw["amsgrad"] or kw["maximize"] or kw.get("grad_scale") is not None:
            raise UserError("train.compile=trace supports Adam without amsgrad, maximize or gradient scaling; "
                            "use train.compile=none")
        device = value[params[0]].device
        on_host = scalars == "host" or scalars == "auto" and device.type == "cpu"
        g_ = gm.graph
        if on_host:
            lr = value[kw["lr"]] if isinstance(kw["lr"], torch.fx.Node) else torch.tensor(float(kw["lr"]))
            keeper = _HostAdam(lr, kw["beta1"], kw["beta2"], [value[s] for s in steps], device)
            with gm.graph.inserting_after(last):
                last = gm.graph.placeholder(f"host_adam_{len(keepers)}")
            keepers.append(keeper)
        with g_.inserting_before(node):
            if on_host:
                step_size = g_.call_function(aten.select.int, (last, 0, 0))
                bc2 = g_.call_function(aten.select.int, (last, 0, 1))
            else:
                step_size, bc2 = _graph_adam_scalars(g_, kw, steps[0], device)
            for p, g, m, v in zip(params, grads, ms, vs):
                if kw["weight_decay"]:
                    g = g_.call_function(aten.add.Tensor, (g, p), {"alpha": kw["weight_decay"]})
                g_.call_function(aten.lerp_.Scalar, (m, g, 1 - kw["beta1"]))
                g_.call_function(aten.mul_.Tensor, (v, kw["beta2"]))
                g_.call_function(aten.addcmul_.default, (v, g, g), {"value": 1 - kw["beta2"]})
                denom = g_.call_function(aten.add.Tensor, (g_.call_function(
                    aten.div.Tensor, (g_.call_function(aten.sqrt.default, (v,)), bc2)), kw["eps"]))
                step = g_.call_function(aten.div.Tensor, (g_.call_function(aten.mul.Tensor, (m, step_size)), denom))
                g_.call_function(aten.sub_.Tensor, (p, step))
        g_.erase_node(node)
    gm.graph.lint()
    gm.recompile()
    return keepers


CPU_OPTIONS = {"layout_optimization": False, "cpp_wrapper": True}  # inductor's settings for a CPU graph (_compile)


def _own_options(example_inputs: list[Tensor]) -> dict:
    """unigen's inductor settings for a graph on these inputs: :data:`CPU_OPTIONS` on a CPU, inductor's defaults on
    CUDA. ``TORCHINDUCTOR_CPP_WRAPPER=0`` in the environment (inductor's own switch) turns the C++ wrapper off."""
    if not all(t.device.type == "cpu" for t in example_inputs):
        return {}
    return CPU_OPTIONS | ({"cpp_wrapper": False} if os.environ.get("TORCHINDUCTOR_CPP_WRAPPER") == "0" else {})


def _compile(gm: torch.fx.GraphModule, example_inputs: list[Tensor],
             options: dict | None = None) -> Callable[..., Sequence[Tensor]]:
    """Inductor over the graph, called directly (``compile_fx``, what ``torch.compile``'s inductor back-end calls),
    without dynamo. One graph, static shapes, compiled now; the result is called with the inputs in order.
    ``options`` (inductor settings) replace unigen's own, below (``benchmarks/inductor_ab.py`` compares sets).

    Without dynamo a replay skips dynamo's cache look-up and compiled-region wrapper, 0.2–0.25 ms a call under
    ``torch.profiler`` (full-size VAE, two profiles: 92–100 µs and 123–134 µs; guards were already skipped). In one
    process, 10 interleaved rounds, against ``torch.compile`` with its guards skipped after the first call: traced
    host-cost VAE 0.41 → 0.28 ms a step, host-cost ring GAN 0.84 → 0.49 ms; full-size VAE 8.0 → 7.4 and 9.0 → 8.6
    ms, ring GAN 8.8 → 8.1 and 7.9 → 7.4 ms (both orders); IWAE K=5 within the noise (20.4 / 20.6, 19.6 / 20.7).
    The inputs inductor sees are fake tensors of static shapes, as ``torch.compile(dynamic=False)`` gives it: from
    the real tensors it would make every size a symbol (dynamic-shape kernels, and the DCGAN's graph failed to
    compile). Their fake mode carries a shape environment, which inductor's on-disk FX graph cache needs (without
    one the cache is bypassed), so a second run of the same graph loads it from there.

    On a CPU the kernels are called from inductor's C++ wrapper (``cpp_wrapper``) rather than from generated
    Python: the same kernels on the same inputs (updates bit for bit equal, tested), with less host work a call.
    Same process, 10 interleaved rounds against the Python wrapper: host-cost VAE 0.26 → 0.18 ms a step, host-cost
    IWAE 0.27 → 0.20 ms, host-cost ring GAN (two graphs) 0.75 → 0.46 ms, faster in 10, 9 and 10 of 10 rounds;
    full-size VAE 7.5 → 7.1 ms; ring GAN and IWAE within the noise (5.5 / 5.4, 18.1 / 18.2 ms). It compiles
    the placeholders' recorded values, so those are set to the static fake inputs first (``make_fx`` leaves values
    of fake modes of its own, which the C++ wrapper's compile refuses to mix). Should the C++ wrapper fail to compile
    a graph (all 25 registered strategies' compiled with it, checked once on the contract toys), the kernels are
    called from Python, with one line on stderr; ``TORCHINDUCTOR_CPP_WRAPPER=0`` turns it off.

    On a CPU, inductor's layout optimisation (the convolutions' tensors made channels-last) is off: without it
    the traced DCGAN and WGAN-GP steps ran 9% and 13% faster (medians of 10 interleaved rounds each, faster in
    19 of the 20, one a tie). Its generated element-wise code (the norms, leaky ReLUs, the penalty and Adam)
    took 314–343 ms of a WGAN-GP step with it (two profiles) and 101–127 ms without (four).
    """
    from torch._inductor.compile_fx import compile_fx
    from torch._subclasses import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import ShapeEnv

    own = options is None
    options = _own_options(example_inputs) if own else options
    fake = FakeTensorMode(shape_env=ShapeEnv())
    static = [fake.from_tensor(t, static_shapes=True) for t in example_inputs]  # as dynamo's dynamic=False
    with torch.no_grad():
        if not options.get("cpp_wrapper"):
            return compile_fx(gm, static, config_patches=options)
        placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
        for node, value in zip(placeholders, static, strict=True):
            node.meta["val"] = value  # what the C++ wrapper compiles from: one fake mode, static shapes
        # compile_fx may mutate the module it is given (its docstring): a fallback compiles a spare copy
        spare = torch.fx.GraphModule(gm, copy.deepcopy(gm.graph)) if own else None
        try:
            return compile_fx(gm, static, config_patches=options)
        except Exception as e:  # noqa: BLE001  (an operator the C++ wrapper cannot call, say: Python calls it)
            if spare is None:
                raise
            try:
                run = compile_fx(spare, static, config_patches=options | {"cpp_wrapper": False})
            except Exception:  # noqa: BLE001  (not the wrapper's fault: the first error is the one to see)
                raise e from None
            print(f"unigen: inductor's C++ wrapper could not compile the traced update ({type(e).__name__}: "
                  f"{first_line(e, '')[:160]}); its kernels are called from Python instead "
                  f"(TORCHINDUCTOR_CPP_WRAPPER=0 skips the attempt)", file=sys.stderr, flush=True)
            return run
