"""How a trainer's updates and steps run, chosen once from ``train.compile`` (as Pyro picks ``JitTrace_ELBO`` over
``Trace_ELBO``): one object with one interface, so the trainer never re-reads the mode.

=============== ==================================================================================================
``none``        :class:`Eager`: every update runs the Python of the programs; fused Adam called directly
``trace``       :class:`Traced`: each update (or a step's once-run phases together) traced once into a graph
                that inductor compiles (:mod:`unigen.traced`), then replayed; on CUDA the step of compiled updates is also captured
``trace-eager`` :class:`Traced` with the graph replayed uncompiled (bit for bit equal to eager)
``cudagraph``   :class:`Captured`: the whole eager step captured in one CUDA graph (:mod:`unigen.cudagraph`)
=============== ==================================================================================================

The interface: :meth:`Execution.update` runs one update of a phase (``fn(phase, batch)``, the trainer's),
:meth:`Execution.step` one whole step (``eager_step()``), :meth:`Execution.optimizer_step` steps one optimiser
inside an update; :attr:`Execution.in_graph` says whether an update's watch norms and gradient norms must be
recorded inside it (a replayed graph writes no ``.grad`` and runs no Python); :meth:`Execution.invalidate` drops
graphs after a checkpoint replaced the states they read; :meth:`Execution.stats` reports compile work.
"""
from __future__ import annotations

from typing import Callable

import torch

from unigen.config import COMPILE_MODES
from unigen.cudagraph import GraphedStep
from unigen.errors import UserError
from unigen.optim import step as fused_step
from unigen.traced import TracedStep, check_traceable

def check_compile_name(mode: str) -> None:
    """Refuse, in one line, a ``train.compile`` that is no mode at all (from Python; a config declares the choices
    on its field)."""
    if mode not in COMPILE_MODES:
        raise UserError(f"unknown train.compile={mode!r}; choose {', '.join(COMPILE_MODES[:-1])} or "
                        f"{COMPILE_MODES[-1]}")


def check_compile(mode: str, device: torch.device, strategy_name: str, capturable: bool | str,
                  skip_nonfinite: bool, world_size: int) -> None:
    """Refuse a compile mode this run cannot use, with a one-line fix."""
    check_compile_name(mode)
    if mode == "none":
        return
    if mode.startswith("trace"):  # its own refusals (unigen.traced)
        return check_traceable(strategy_name, skip_nonfinite, world_size)
    if device.type != "cuda":
        raise UserError(f"train.compile={mode} needs a CUDA device but the run is on {device.type}; "
                        f"set train.device=cuda, or train.compile=none")
    if capturable is not True:
        why = f" ({capturable})" if isinstance(capturable, str) else ""
        raise UserError(f"strategy {strategy_name!r} cannot be captured in a CUDA graph{why}; "
                        f"use train.compile=none")
    if skip_nonfinite:
        raise UserError("train.on_nan=skip decides on the host whether to apply each update, which a CUDA graph "
                        "cannot do; use train.on_nan=error with train.compile=cudagraph, or train.compile=none")
    if world_size > 1:
        raise UserError("train.compile=cudagraph runs in a single process; use train.compile=none under torchrun")


class Execution:
    """Eager execution, and the interface of the others."""

    mode = "none"
    #: whether optimisers keep their step counts and rates on the device (a CUDA graph replays them)
    capturable = False
    #: whether optimisers take a rate tensor that a graph reads (``optim.make_optimizer(tensor_lr=...)``)
    tensor_lr = False
    #: whether an update records its watch norms and gradient norms itself (its graph replays them)
    in_graph = False
    traced: TracedStep | None = None
    graphed: GraphedStep | None = None

    def update(self, key, fn: Callable, phase, batch):
        """One update of ``phase`` on ``batch``: ``fn(phase, batch)`` (traced: graph ``key``)."""
        return fn(phase, batch)

    def step(self, eager_step: Callable[[], dict]) -> dict:
        """One whole step: ``eager_step()`` (captured: a replay of its graph)."""
        return eager_step() if self.graphed is None else self.graphed()

    def optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Step one optimiser inside an update: fused Adam's kernels without ``Optimizer.step``'s wrappers."""
        fused_step(optimizer)

    def one_graph(self, phases) -> bool:
        """Whether a step's phases run as one :meth:`update` (traced: one graph for the whole step) rather than
        one per phase update."""
        return False

    def check_every(self, log_every: int, device: torch.device) -> int:
        """How often :meth:`~unigen.trainer.Trainer.fit` reads the non-finite watch by default: every step
        unless a read would stall replays on the device."""
        return 1

    def invalidate(self) -> None:
        """Drop graphs (a checkpoint replaced the states they read): the next calls trace or capture again."""
        for compiled in filter(None, (self.traced, self.graphed)):
            compiled.invalidate()

    def stats(self) -> dict[str, float]:
        """Compile work for the run's timing row (empty when nothing is compiled)."""
        return {}


class Eager(Execution):
    """``train.compile=none``."""


class Captured(Execution):
    """``train.compile=cudagraph``: the eager step, captured in one CUDA graph after its warm-up."""

    mode, capturable = "cudagraph", True

    def __init__(self, eager_step: Callable[[], dict], device: torch.device, generators, name: str):
        self.graphed = GraphedStep(eager_step, device, generators, name=name)

    def check_every(self, log_every: int, device: torch.device) -> int:
        return log_every


class Traced(Execution):
    """``train.compile=trace`` / ``trace-eager``: every update a replay of its phase's traced graph; on CUDA, for
    a capturable strategy, the step of compiled updates captured as well (one CUDA graph per step)."""

    tensor_lr = in_graph = True

    def __init__(self, mode: str, programs, optimizers, state: list, name: str, eager_step: Callable[[], dict],
                 device: torch.device, generators, capture: bool):
        self.mode = mode
        self.traced = TracedStep.over(programs, optimizers, state, name, mode)
        self.graphed = GraphedStep(eager_step, device, generators, name=name) if capture else None

    def update(self, key, fn: Callable, phase, batch):
        return self.traced(key, fn, phase, batch)

    def optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        optimizer.step()  # the graph records Optimizer.step's own operations

    def one_graph(self, phases) -> bool:
        """Several phases, none repeated: one graph for the step (each update once in it, so it costs no more to
        compile than a graph per phase, and a replay saves the host work of the other calls; a repeated phase,
        such as WGAN's critic, keeps its own graph, replayed, so the step's graph does not hold it n times)."""
        return len(phases) > 1 and all(phase.repeats == 1 for phase in phases)

    def check_every(self, log_every: int, device: torch.device) -> int:
        return 1 if device.type == "cpu" else log_every

    def stats(self) -> dict[str, float]:
        stats = {"compile_s": round(self.traced.compile_seconds, 3), "traces": self.traced.traces,
                 "replays": self.traced.replays}
        if self.graphed is not None:  # captured on CUDA: the Python calls above, then replays of the step's graph
            stats["graph_replays"] = self.graphed.replays
        return stats


def captures_traced_step(mode: str, device: torch.device, capturable: bool | str) -> bool:
    """Whether ``train.compile=trace`` also captures its step of compiled updates: on CUDA, for a strategy that
    can be captured (inductor's Adam scalars are computed in the graph there: :mod:`unigen.traced`)."""
    return mode == "trace" and device.type == "cuda" and capturable is True


def execution_class(mode: str) -> type[Execution]:
    """The class that runs ``train.compile=mode``."""
    return Captured if mode == "cudagraph" else Traced if mode.startswith("trace") else Eager


def choose(mode: str, eager_step: Callable[[], dict], device: torch.device, generators, name: str, programs,
           optimizers, state: list, capturable: bool | str) -> Execution:
    """The execution of ``train.compile=mode`` for a trainer: its ``eager_step``, the random generators a captured
    step advances, the ``programs`` and ``optimizers`` a traced update reads and writes, and the other ``state``
    tensors it does (the step counter, the watch's sums, the gradient norms)."""
    cls = execution_class(mode)
    if cls is Captured:
        return Captured(eager_step, device, generators, name)
    if cls is Traced:
        return Traced(mode, programs, optimizers, state, name, eager_step, device, generators,
                      captures_traced_step(mode, device, capturable))
    return Eager()
