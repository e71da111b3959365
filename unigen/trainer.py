r"""The trainer: optimisers per player, the phase schedule, and loss read-out. It never names a strategy.

One training step runs every phase of the strategy in order; a phase with ``repeats = k`` draws
``k`` fresh batches and updates its players after each. For each player the trainer back-propagates
that player's loss into that player's parameters only (``backward(inputs=...)``), so a generator
loss never leaves gradients on the discriminator; all players of a phase are differentiated from
the same forward pass before any of them steps. Schedules advance once per step, by each player's updates in it.

:meth:`Trainer.step` is capture-safe: no ``.item()``, no host-device copies, no data-dependent
Python branches; it returns the losses as device tensors and records, on the device, whether any
player's loss, gradient or weights became non-finite (:mod:`unigen.watch`). :meth:`Trainer.fit`
reads those outside the step.
"""
from __future__ import annotations

from typing import Callable

import pyro
import torch
from torch import Tensor
from tqdm.auto import tqdm

from unigen.arguments import as_optim_settings, check_arguments, check_counts, integer
from unigen.config import OptimConfig
from unigen.data.base import TensorData
from unigen.data.stream import HostBatches
from unigen.distributed import RoleWrappers, World, rank_slice, shard_size
from unigen.ema import EMASettings
from unigen.errors import UserError, first_line
from unigen.execution import check_compile, choose, execution_class
from unigen.optim import DamagedState
from unigen.players import GradNorms, Players, discover
from unigen.precision import Precision
from unigen.programs import Batch, Programs
from unigen.strategy import Phase, Strategy, chain_hooks
from unigen.watch import FiniteWatch, NonFiniteError, SkippedTooOften  # noqa: F401  (importable from here)
from unigen.window import Window


class Trainer:
    """Steps a strategy's players on programs and data.

    :param programs: the model's roles (:class:`~unigen.programs.Programs`).
    :param strategy: any registered :class:`~unigen.strategy.Strategy`.
    :param data: the training set: TensorData, a tensor x, a pair (x, c), an array or a map-style Dataset.
    :param batch_size: examples per batch (every phase repeat draws its own).
    :param optim: an OptimConfig, a pyro.optim or torch.optim optimiser, a dict of them by player, or player -> one.
    :param skip_nonfinite: skip an update whose loss or gradient is not finite (eager only: a host read per update).
    :param seed: seed of the batch-index generator (shared by all data-parallel ranks).
    :param world: this process's data-parallel rank (:mod:`unigen.distributed`); ``batch_size`` is global.
    :param total_steps: the planned number of steps, over which learning-rate schedules run.
    :param compile: the execution mode, ``none``, ``trace``, ``trace-eager`` or ``cudagraph`` (:mod:`unigen.execution`).
    :param device: the training device (default: the data's); data elsewhere are streamed (:mod:`unigen.data.stream`).
    :param stream: force (or forbid) streaming; by default, stream when the data are not on ``device``.
    :param max_skipped: with ``skip_nonfinite``, stop when more than this share of the last ``skip_window`` was skipped.
    :param ema: an exponential moving average of a player's weights (:mod:`unigen.ema`; decay 0: none).
    :param precision: ``float32``, ``bf16`` or ``fp16``: the updates' autocast (:mod:`unigen.precision`).
    :param log_hook: ``(step, values) -> more values``, called at each log step before ``on_log`` (ADA's controller).
    """

    def __init__(self, programs: Programs, strategy: Strategy, data: TensorData, batch_size: int,
                 optim: OptimConfig | Callable[[str], OptimConfig] = OptimConfig(), skip_nonfinite: bool = False,
                 seed: int = 0, world: World = World(), total_steps: int = 0, compile: str = "none",
                 device: torch.device | None = None, stream: bool | None = None, max_skipped: float = 0.5,
                 skip_window: int = 100, ema: EMASettings = EMASettings(), precision: str = "float32",
                 log_hook: Callable[[int, dict], dict] | None = None):
        self.settings = settings = as_optim_settings(optim)  # OptimConfig, pyro.optim, torch.optim, per player
        data = check_arguments(programs, strategy, data, batch_size, settings)  # and data as Pyro users pass them
        strategy.attach(programs)  # its running statistics, if any (LeCam's anchors)
        self.programs, self.strategy, self.data, self.batch_size = programs, strategy, data, batch_size
        self.device = data.x.device if device is None else torch.device(device)
        check_compile(compile, self.device, strategy.registry_name or type(strategy).__name__,
                      strategy.needs.capturable, skip_nonfinite, world.size)
        self.world, self.shard = world, shard_size(batch_size, world, even=data.domain is not None)
        self.index_generator = torch.Generator(device=data.x.device).manual_seed(seed)
        params = discover(programs, strategy, data, self.device, seed, batch_size)  # each player's parameters
        mode = execution_class(compile)  # the execution mode says how optimisers keep their rates
        self.precision = Precision(precision, self.device, compile, strategy.players, skip_nonfinite)
        labels = data.info.num_classes if data.c is not None else None  # standing statistics draw labels as the data's
        self.players = players = Players(params, settings, strategy.phases(), total_steps, mode.capturable,
                                         mode.tensor_lr, ema.for_players(strategy.players, labels))
        self.params, self.updates, self.optimizers, self.schedulers = (players.params, players.updates,
                                                                       players.optimizers, players.schedulers)
        self.watch = FiniteWatch(params, self.device, skip_nonfinite, max_skipped, skip_window)
        self.window = Window()  # the open logging window (kept in checkpoints)
        slots = sum(ph.repeats for ph in strategy.phases())  # host-resident data: batches staged before each step
        self.host = HostBatches.when_needed(data, self.device, batch_size, slots, self.index_generator, stream)
        self.step_count, self.history = 0, []  # history: the logged rows, as fit logs them
        self.log_hook = chain_hooks(log_hook, strategy.log_hook())  # the caller's (ADA's), then the strategy's own
        self.progress = torch.zeros((), device=self.device)  # = step_count on the device: Batch.step (in place)
        self.grad_norms = GradNorms(params, self.device)  # each player's last update's gradient norm
        self.parallel = RoleWrappers.when_needed(programs, strategy.players, self.device, world)
        self.execution = choose(compile, self.eager_step, self.device, [self.index_generator],
                                f"strategy {strategy.registry_name!r}", programs, self.optimizers.values(),
                                [self.progress, self.watch.total, self.grad_norms.values], strategy.needs.capturable)

    traced = property(lambda self: self.execution.traced)  # the traced updates (train.compile=trace*), or None
    graphed = property(lambda self: self.execution.graphed)  # the captured step (CUDA), or None
    skipped = property(lambda self: self.watch.skipped)  # updates dropped by skip_nonfinite

    def sample_batch(self) -> Batch:
        """This rank's slice of a global batch drawn with the shared index generator."""
        batch = self.host.next() if self.host is not None else \
            self.data.sample(self.batch_size, generator=self.index_generator)
        return rank_slice(batch, self.world, self.shard)._replace(step=self.progress)

    def step(self) -> dict[str, Tensor]:
        """One strategy step (every phase, with repeats): detached losses and diagnostics (captured: tensors
        that the next step overwrites)."""
        if self.host is not None:
            self.host.stage()
        out = self.execution.step(self.eager_step)
        self.players.after_step(self.step_count + 1)  # schedules, and the weight average if kept
        self.step_count += 1
        return out

    def eager_step(self) -> dict[str, Tensor]:
        """The step's operations, run (or captured) once. It advances the device counter behind ``Batch.step``;
        the host's step count is :meth:`step`'s."""
        if not self.programs.training:  # Module.train() walks every submodule: only when needed
            self.programs.train()
        out: dict[str, Tensor] = {}
        phases = self.strategy.phases()
        if self.parallel is None and self.execution.one_graph(phases):
            out = self.run_phases_once(phases)
        else:
            for i, phase in enumerate(phases):
                out.update(self.run_phase(phase, i))
        self.watch.after_step(add=not self.execution.in_graph)  # one fused norm of every weight and loss
        self.progress.add_(1.0)  # in place: a captured step replays it
        return out

    def run_phase(self, phase: Phase, key=None) -> dict[str, Tensor]:
        """Run one phase ``phase.repeats`` times, each on a fresh batch (traced: graph ``key``); the last values."""
        if self.parallel:  # DDP: only the phase's roles synchronise their gradients
            with self.parallel.active({r for p in phase.players for r in self.strategy.players[p]}):
                return self._repeat(phase, key)
        return self._repeat(phase, key)

    def _repeat(self, phase: Phase, key) -> dict[str, Tensor]:
        update, watch = self.execution.update, self.watch
        for _ in range(phase.repeats):
            values = update(key, self.update, phase, self.sample_batch())
            if not watch.skip:  # (skip mode checks each update's losses before it applies it)
                for player in phase.players:
                    watch.loss(player, values[player])
        return values

    def run_phases_once(self, phases: list[Phase]) -> dict[str, Tensor]:
        """Every phase once (none repeats), their batches drawn first: one call of the execution (traced: one
        graph for the whole step, :meth:`~unigen.execution.Execution.one_graph`). The batches come from the
        index generator in the order the phase loop draws them, and the updates draw from torch's generator in
        their order, so the step draws the numbers :meth:`run_phase` would."""
        batches = [self.sample_batch() for _ in phases]
        each = self.execution.update("step", self._each_once, phases, batches)
        out: dict[str, Tensor] = {}
        for phase, values in zip(phases, each):
            for player in phase.players:
                self.watch.loss(player, values[player])
            out.update(values)
        return out

    def _each_once(self, phases: list[Phase], batches: list[Batch]) -> list[dict[str, Tensor]]:
        return [self.update(phase, batch) for phase, batch in zip(phases, batches)]

    def update(self, phase: Phase, batch: Batch) -> dict[str, Tensor]:
        """One update of the phase's players on ``batch``: losses, backward passes, optimiser steps (the
        non-finite check is the step's: :meth:`eager_step`)."""
        watch, in_graph, params = self.watch, self.execution.in_graph, self.params
        # Pyro's validation off: a host sync, and it refuses a Bernoulli decoder's fakes (here, not around the step:
        # a traced update runs this Python only when it is traced)
        with self.precision.autocast(), pyro.validation_enabled(False):
            values = phase.loss(self.programs, batch)
        for i, player in enumerate(phase.players):
            for q in params[player]:  # Optimizer.zero_grad(set_to_none=True), without its dynamo-disabling
                q.grad = None  # wrapper and profiler range (about 40 µs a call on a CPU host)
            loss = self.precision.scaled(player, values[player])
            loss.backward(inputs=params[player], retain_graph=i < len(phase.players) - 1)
            if in_graph:  # a replayed graph writes no .grad: it records the norm itself
                self.grad_norms.record(player)
        if not (watch.skip and watch.drop(watch.bad_update(phase.players, values), self.step_count + 1)):  # eager
            for player in phase.players:
                self.precision.step(player, self.players[player].optimizer, self.execution.optimizer_step)
                self.strategy.after_update(self.programs, player)
            if in_graph:  # in the graph, fused; eager: once a step (eager_step)
                watch.after_update(phase.players, values)
        return {k: v.detach() for k, v in values.items()}

    def last_grad_norms(self) -> dict[str, Tensor]:  # each player's, at its last update (players.GradNorms)
        return self.grad_norms.read(self.execution.in_graph)

    def fit(self, steps: int, log_every: int = 50, on_log: Callable[[int, dict[str, float]], None] | None = None,
            on_checkpoint: Callable[[int], None] | None = None, checkpoint_every: int = 0,
            progress: bool = True, should_stop: Callable[[], bool] | None = None, check_every: int | None = None,
            on_first_step: Callable[[set[str]], None] | None = None) -> dict[str, float]:
        """Run until ``steps`` steps in all have been taken (a resumed trainer continues from its count).

        Every ``log_every`` steps the mean losses are read (one host sync) and passed to ``on_log``; every
        ``check_every`` steps (default: the execution's, :meth:`~unigen.execution.Execution.check_every`) and
        before every checkpoint the non-finite watch is read and a :class:`NonFiniteError` names the first bad
        player (on CUDA, per step, lagged: :meth:`~unigen.watch.FiniteWatch.after_step_read`). ``should_stop``
        (a signal flag) ends the loop early. ``on_first_step`` is called once, after this call's first step, with
        the names of the losses a log row will hold (to check a name against them before a long wait).
        """
        check_counts("fit", steps=(steps, 0), log_every=(log_every, 1), checkpoint_every=(checkpoint_every, 0))
        check_every = self.execution.check_every(log_every, self.device) if check_every is None else check_every
        last, stopped = {}, False
        bar = tqdm(total=steps, initial=self.step_count, disable=not progress, dynamic_ncols=True,
                   mininterval=0.5, desc=self.strategy.registry_name)
        while self.step_count < steps:
            self.window.add(self.step())
            if on_first_step is not None:
                on_first_step(set(self.window.sums) | ({"skipped_steps"} if self.skipped else set()))
                on_first_step = None
            self.watch.after_step_read(self.step_count, check_every)
            if self.step_count % log_every == 0:
                last = {**self.window.close(), **({"skipped_steps": self.skipped} if self.skipped else {})}
                last.update(self.log_hook(self.step_count, last) if self.log_hook else {})
                self.history.append({"step": self.step_count, **last})
                if on_log is not None:
                    on_log(self.step_count, last)
                bar.set_postfix({k: f"{v:.3g}" for k, v in last.items()}, refresh=False)
            if checkpoint_every and on_checkpoint is not None and self.step_count % checkpoint_every == 0:
                self.raise_if_nonfinite(exact=check_every == 1)  # never checkpoint non-finite weights
                on_checkpoint(self.step_count)
            bar.update(1)
            if should_stop is not None and should_stop():
                stopped = True  # the open window stays open (and goes into the checkpoint)
                break
        bar.close()
        self.raise_if_nonfinite(exact=check_every == 1)
        if self.window.count and not stopped:
            last = self.window.close()
            self.history.append({"step": self.step_count, **last})
            if on_log is not None:
                on_log(self.step_count, last)
        return last

    def compile_stats(self) -> dict[str, float]:  # compile work for the timing row (empty when eager)
        return self.execution.stats()

    def raise_if_nonfinite(self, exact: bool = True) -> None:  # read the watch (one sync); raise NonFiniteError
        self.watch.raise_if_bad(self.step_count, exact)

    def check_weights(self) -> None:  # raise NonFiniteError if any player's parameters are not finite now
        self.watch.check_weights(self.step_count)

    def state_dict(self) -> dict:
        return {"programs": self.programs.state_dict(), **self.players.state_dict(self.programs),
                "step": self.step_count, "skipped": self.watch.skipped, "precision": self.precision.state_dict(),
                "index_generator": self.index_generator.get_state(), "window": self.window.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict`, then apply this trainer's optimiser settings (which may differ
        from the checkpoint's: a resumed run uses the rate it is given, :func:`unigen.optim.apply_settings`).

        :raises UserError: if the state does not fit these programs and players, or is damaged (one line)."""
        try:
            self.programs.load_state_dict(state["programs"])
            for key in ("step", "skipped"):
                if key in state and not (integer(state[key]) and 0 <= state[key] <= 10 ** 12):
                    raise DamagedState(f"its {key} is {state[key]!r}, not a count of steps")
            self.step_count = int(state["step"])
            self.progress.fill_(float(self.step_count))
            self.watch.skipped = int(state.get("skipped", 0))
            self.players.load_state_dict(self.programs, state, self.step_count)
            self.precision.load_state_dict(state.get("precision"))
            self.index_generator.set_state(state["index_generator"].cpu())
            self.window.load_state_dict(state.get("window", {"sums": {}, "count": 0}), self.device)
        except DamagedState as e:
            raise UserError(f"the checkpoint is damaged: {e}; restore it from a copy or start a new run") from None
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as e:
            raise UserError(f"the checkpoint does not fit these programs and players ({type(e).__name__}: "
                            f"{first_line(e)[:160]}); resume with the run's own config, or start a new run") from None
        self.execution.invalidate()  # new optimiser states: capture or trace again
