r"""``train.compile=cudagraph``: the whole training step captured once in one CUDA graph, then replayed.

A strategy step is every phase's forward pass through the Pyro programs (tracing, ``log_prob`` sums),
every player's backward pass and every optimiser update. In eager mode the Python of Pyro's tracing
runs on each step and the GPU waits on it. Captured, the step is one graph launch: the Python runs
once, at capture, and each later step replays the recorded kernels on the same memory.

What makes that valid (and what :class:`GraphedStep` arranges):

- **Static memory.** Parameters, optimiser states, gradients, batches and losses live at fixed
  addresses. Batches are drawn *inside* the graph from data already on the device (one ``randint``
  and one gather into graph-owned buffers); the returned losses are graph-owned tensors overwritten
  by each replay.
- **Random numbers inside the graph.** The default CUDA generator and the trainer's batch-index
  generator are registered with the graph; each replay advances their Philox offsets exactly as an
  eager step would, so a captured run draws the same noise and batches as an eager run.
- **Capturable optimisers.** Adam and RMSprop keep their step counts on the device
  (``capturable=True``) and their learning rates in device tensors, which an LR schedule fills between
  replays. SGD keeps a Python learning rate, so it must be constant.
- **No host synchronisation in the step.** No ``.item()``, no data-dependent Python branches, no
  host-to-device copies, no ``torch.distributions`` argument validation (off in unigen runs). unigen's
  strategies and programs are written this way; a user's program that is not fails at capture with
  a one-line :class:`~unigen.errors.UserError` naming the strategy and ``train.compile=none``.

Differences from eager, by design: the first ``warmup`` steps run eagerly on a side stream (they
initialise optimiser states and lazy CUDA handles; they are real training steps, counted); a
learning-rate schedule advances between steps, as in eager mode (the ``k`` repeats of a phase inside one
step share one rate either way); ``train.on_nan=skip`` and multi-process
runs are refused (a skipped update is a host decision; DDP hooks are not captured here): the checks are
:func:`unigen.execution.check_compile`'s.
"""
from __future__ import annotations

import gc

import torch
from torch import Tensor

from unigen.errors import UserError, first_line



class GraphedStep:
    """A step function run eagerly ``warmup`` times, then captured in one CUDA graph and replayed.

    It knows nothing of who calls it: ``step()`` is any capture-safe function returning device tensors
    (the trainer passes its eager step; learning-rate schedules move between calls, outside the graph).

    :param step: the function to capture.
    :param device: its CUDA device.
    :param generators: random generators besides the default CUDA one that the step draws from (e.g. a
        batch-index generator on the device); registered with the graph so replays advance them.
    :param name: how errors name the step (e.g. the strategy).
    :param warmup: eager steps, on a side stream, before capture.
    """

    def __init__(self, step, device: torch.device, generators=(), name: str = "the step", warmup: int = 2):
        self.step, self.device, self.name, self.warmup = step, device, name, warmup
        self.generators = [g for g in generators if g.device.type == "cuda"]
        self.graph: torch.cuda.CUDAGraph | None = None
        self.outputs: dict[str, Tensor] = {}
        self.eager_steps = 0
        self.replays = 0  # steps run by replaying the graph

    def invalidate(self) -> None:
        """Drop the graph (e.g. after optimiser states were replaced by a checkpoint); the next call recaptures."""
        self.graph, self.outputs, self.eager_steps = None, {}, 0

    def __call__(self) -> dict[str, Tensor]:
        """One step. The returned tensors are overwritten by the next replay."""
        if self.graph is None and self.eager_steps < self.warmup:
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                out = self.step()
            torch.cuda.current_stream(self.device).wait_stream(side)
            self.eager_steps += 1
            return out
        if self.graph is None:
            self.capture()
        self.graph.replay()
        self.replays += 1
        return self.outputs

    def capture(self) -> None:
        graph = torch.cuda.CUDAGraph()
        for g in self.generators:  # host-streamed data draw their indices outside the graph
            graph.register_generator_state(g)
        # a garbage collection during capture could free an older graph (say, of a trainer dropped in a
        # reference cycle), and destroying a graph is not permitted while a stream captures
        gc.collect()
        collecting = gc.isenabled()
        gc.disable()
        try:
            with torch.cuda.graph(graph):
                outputs = self.step()
        except RuntimeError as e:
            first = first_line(e)
            raise UserError(f"{self.name} could not be captured in a CUDA graph ({first}); it syncs with the "
                            f"host; use train.compile=none") from e
        finally:
            if collecting:
                gc.enable()
        self.graph, self.outputs = graph, outputs
