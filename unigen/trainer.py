r"""The trainer: optimisers per player, the phase schedule, and loss read-out. It never names a strategy.

One training step runs every phase of the strategy in order; a phase with ``repeats = k`` draws
``k`` fresh batches and updates its players after each. For each player the trainer back-propagates
that player's loss into that player's parameters only (``backward(inputs=...)``), so a generator
loss never leaves gradients on the discriminator; all players of a phase are differentiated from
the same forward pass before any of them steps. Learning-rate schedules advance once per step, by each
player's updates in it, the same way eager or captured.

:meth:`Trainer.step` is capture-safe: no ``.item()``, no host-device copies, no data-dependent
Python branches; it returns the losses as device tensors and records, on the device, whether any
player's loss, gradient or weights became non-finite (:mod:`unigen.watch`). :meth:`Trainer.fit`
reads those outside the step.
"""
from __future__ import annotations

import numbers
import sys
from contextlib import nullcontext
from functools import partial
from typing import Callable

import pyro
import torch
from torch import Tensor
from tqdm.auto import tqdm

from unigen.compiled import GraphedStep, check_compile
from unigen.traced import TracedStep
from unigen.config import OptimConfig
from unigen.data.base import TensorData
from unigen.data.stream import HostBatches, same_device
from unigen.distributed import RoleWrappers, World, rank_slice, shard_size
from unigen.errors import UserError, first_line
from unigen.optim import DamagedState, advance_schedules, build_optimizers, restore_optimizers
from unigen.optim import step as optim_step
from unigen.programs import Batch, Programs, check_all_trained, check_method_roles, player_parameters
from unigen.settings import check_settings
from unigen.strategy import Phase, Strategy
from unigen.watch import FiniteWatch, NonFiniteError, SkippedTooOften  # noqa: F401  (importable from here)
from unigen.window import Window


def _integer(value) -> bool:
    """An integer (NumPy's too), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_arguments(programs, strategy, data, batch_size) -> None:
    """Refuse, in one line each, what the Python API is most often handed by mistake: a strategy class rather
    than an instance, a bare tensor rather than :class:`TensorData`, programs not wrapped in :class:`Programs`."""
    if isinstance(strategy, type) and issubclass(strategy, Strategy):
        raise UserError(f"strategy is the class {strategy.__name__}; pass an instance, {strategy.__name__}()")
    if not isinstance(strategy, Strategy):
        raise UserError(f"strategy is a {type(strategy).__name__}; pass a strategy instance, e.g. ELBO() "
                        f"(`unigen list` names them)")
    if not isinstance(programs, Programs):
        raise UserError(f"programs is a {type(programs).__name__}; wrap the roles: Programs(model=..., guide=..., "
                        f"discriminator=...)")
    if not isinstance(data, TensorData):
        raise UserError(f"data is a {type(data).__name__}; wrap it: TensorData(x, c, DataInfo(shape=x.shape[1:])) "
                        f"(unigen.data.base, unigen.programs), or load a data set, e.g. Ring().load()")
    if not _integer(batch_size):
        raise UserError(f"batch_size={batch_size!r} must be an integer")


def gradient_norm(grads: list[Tensor]) -> Tensor:
    r"""The L2 norm of all of ``grads`` together, in float32: :math:`\sqrt{\sum_i \lVert g_i \rVert^2}`."""
    return torch.stack([g.detach().float().norm() for g in grads]).norm()


class Trainer:
    """Steps a strategy's players on programs and data.

    :param programs: the model's roles (:class:`~unigen.programs.Programs`).
    :param strategy: any registered :class:`~unigen.strategy.Strategy`.
    :param data: the training set, already on the training device.
    :param batch_size: examples per batch (every phase repeat draws its own).
    :param optim: default optimiser settings, or a callable ``player -> OptimConfig``.
    :param skip_nonfinite: skip (rather than apply) an update whose loss or gradient is not finite (an
        eager-mode option: it reads a flag on the host inside the step).
    :param seed: seed of the batch-index generator (shared by all data-parallel ranks).
    :param world: this process's data-parallel rank (:mod:`unigen.distributed`); ``batch_size`` is global.
    :param total_steps: the planned number of steps, over which learning-rate schedules run.
    :param compile: ``"none"`` (eager); ``"cudagraph"``: the whole step in one CUDA graph (:mod:`unigen.compiled`);
        ``"trace"``: each phase's update traced into one compiled graph (:mod:`unigen.traced`).
    :param device: the training device; by default the data's. Data on another device (the host) are
        streamed: each step's batches are gathered there and copied over (:mod:`unigen.data.stream`).
    :param stream: force (or forbid) streaming; by default, stream when the data are not on ``device``.
    :param max_skipped: with ``skip_nonfinite``, stop once more than this share of the last ``skip_window``
        updates was skipped (:class:`~unigen.watch.SkippedTooOften`, checked from 20 updates on).
    """

    def __init__(self, programs: Programs, strategy: Strategy, data: TensorData, batch_size: int,
                 optim: OptimConfig | Callable[[str], OptimConfig] = OptimConfig(), skip_nonfinite: bool = False,
                 seed: int = 0, world: World = World(), total_steps: int = 0, compile: str = "none",
                 device: torch.device | None = None, stream: bool | None = None, max_skipped: float = 0.5,
                 skip_window: int = 100):
        check_arguments(programs, strategy, data, batch_size)
        check_settings(strategy, type(strategy).__name__)  # from Python, errors name the class's field
        data.check_batch_size(batch_size)
        self.programs, self.strategy, self.data, self.batch_size = programs, strategy, data, batch_size
        self.device = data.x.device if device is None else torch.device(device)
        check_compile(compile, self.device, strategy.registry_name or type(strategy).__name__,
                      strategy.needs.capturable, skip_nonfinite, world.size)
        self.world, self.shard = world, shard_size(batch_size, world, even=data.domain is not None)
        self.index_generator = torch.Generator(device=data.x.device).manual_seed(seed)
        probe = data.sample(min(batch_size, 2), generator=torch.Generator(device=data.x.device).manual_seed(seed))
        probe = Batch(*(None if t is None else t.to(self.device) for t in probe))
        with pyro.validation_enabled(False):  # the probes score real data, validated at load
            strategy.check(programs, data)  # roles and labels, before any program runs
            programs.bind(data.info.shape, probe)  # the event shape and the observed site
            strategy.check(programs, data, probe)  # then the checks that run the programs on the probe
            check_method_roles(programs, strategy.players)
            self.params = {p: player_parameters(programs, p, roles, probe) for p, roles in strategy.players.items()}
            check_all_trained(programs, self.params, strategy.players)
        self.settings = settings = optim if callable(optim) else (lambda _player: optim)
        for player in strategy.players:
            check_settings(settings(player), f"OptimConfig (player {player!r})")
        graphed, traced = compile == "cudagraph", compile.startswith("trace")
        # updates per step: a player updated k times per step moves its schedule k × steps times
        self.updates = {p: sum(ph.repeats for ph in strategy.phases() if p in ph.players) for p in self.params}
        self.optimizers, self.schedulers = build_optimizers(self.params, settings, self.updates, total_steps, graphed,
                                                            traced)
        self.watch = FiniteWatch(self.params, self.device, skip_nonfinite, max_skipped, skip_window)
        self.window = Window()  # the open logging window (kept in checkpoints)
        self.host = None  # host-resident data: batches staged before each step
        if not same_device(data.x.device, self.device) if stream is None else stream:
            slots = sum(ph.repeats for ph in strategy.phases())
            self.host = HostBatches(data, self.device, batch_size, slots, self.index_generator)
        self.step_count = 0
        self.progress = torch.zeros((), device=self.device)  # = step_count on the device: Batch.step (in place)
        owned = {role for roles in strategy.players.values() for role in roles}
        self.parallel = RoleWrappers(programs, owned, self.device) if world.size > 1 else None
        name = f"strategy {strategy.registry_name!r}"
        # on CUDA the compiled updates of train.compile=trace are captured too: one CUDA graph per step, of
        # inductor's fused kernels (their Adam scalars are computed in the graph there: unigen.traced)
        capture = graphed or (compile == "trace" and self.device.type == "cuda" and strategy.needs.capturable is True)
        self.graphed = GraphedStep(self.eager_step, self.device, [self.index_generator], name=name) if capture else None
        # traced: each update's graph writes its players' gradient norms here (it never writes .grad)
        self.grad_norms = torch.zeros(len(self.params), device=self.device)
        self._norm_slot = {p: i for i, p in enumerate(self.params)}
        self._traced_norms: set[str] = set()  # players whose traced updates have gradients
        self.traced = TracedStep.over(programs, self.optimizers.values(),
                                      [self.progress, self.watch.total, self.grad_norms], name,
                                      compile) if traced else None

    @property
    def skipped(self) -> int:
        """Updates dropped by ``skip_nonfinite``."""
        return self.watch.skipped

    def sample_batch(self) -> Batch:
        """This rank's slice of a global batch drawn with the shared index generator."""
        if self.host is not None:
            batch = self.host.next()
        else:
            batch = self.data.sample(self.batch_size, generator=self.index_generator)
        return rank_slice(batch, self.world, self.shard)._replace(step=self.progress)

    # ------------------------------------------------------------------------------------ one step
    def step(self) -> dict[str, Tensor]:
        """One strategy step (every phase, with repeats): detached losses and diagnostics (captured: tensors
        that the next step overwrites)."""
        if self.host is not None:
            self.host.stage()
        out = self.graphed() if self.graphed is not None else self.eager_step()
        advance_schedules(self.schedulers, self.updates)
        self.step_count += 1
        return out

    def eager_step(self) -> dict[str, Tensor]:
        """The step's operations, run (or captured) once. It advances the device counter behind ``Batch.step``;
        the host's step count is :meth:`step`'s."""
        if not self.programs.training:  # Module.train() walks every submodule: only when needed
            self.programs.train()
        out: dict[str, Tensor] = {}
        with pyro.validation_enabled(False):  # a host sync, and it refuses a Bernoulli decoder's fakes
            for i, phase in enumerate(self.strategy.phases()):
                out.update(self.run_phase(phase, i))
        self.watch.after_step(add=self.traced is None)  # one fused norm of every weight and loss, on the device
        self.progress.add_(1.0)  # in place: a captured step replays it
        return out

    def run_phase(self, phase: Phase, key=None) -> dict[str, Tensor]:
        """Run one phase ``phase.repeats`` times, each on a fresh batch (traced: graph ``key``); the last values."""
        roles = {r for p in phase.players for r in self.strategy.players[p]}
        run = self.update if self.traced is None else partial(self.traced, key, self.update)
        with self.parallel.active(roles) if self.parallel else nullcontext():
            for _ in range(phase.repeats):
                values = run(phase, self.sample_batch())
                if not self.watch.skip:  # (skip mode checks each update's losses before it applies it)
                    for player in phase.players:
                        self.watch.loss(player, values[player])
            return values

    def update(self, phase: Phase, batch: Batch) -> dict[str, Tensor]:
        """One update of the phase's players on ``batch``: losses, backward passes, optimiser steps (the
        non-finite check is the step's: :meth:`eager_step`)."""
        watch = self.watch
        values = phase.loss(self.programs, batch)
        for i, player in enumerate(phase.players):
            for q in self.params[player]:  # Optimizer.zero_grad(set_to_none=True), without its dynamo-disabling
                q.grad = None  # wrapper and profiler range (about 40 µs a call on a CPU host)
            values[player].backward(inputs=self.params[player], retain_graph=i < len(phase.players) - 1)
            if self.traced is not None and (grads := [q.grad for q in self.params[player] if q.grad is not None]):
                self.grad_norms[self._norm_slot[player]].copy_(gradient_norm(grads))  # a node of the graph
                self._traced_norms.add(player)
        if not (watch.skip and watch.drop(watch.bad_update(phase.players, values), self.step_count + 1)):  # eager
            for player in phase.players:
                if self.traced is None:
                    optim_step(self.optimizers[player])  # fused Adam: its kernels, without Optimizer.step's wrappers
                else:  # traced: the graph records Optimizer.step's own operations
                    self.optimizers[player].step()
                self.strategy.after_update(self.programs, player)
            if self.traced is not None:  # in the graph, fused; eager: once a step (eager_step)
                watch.after_update(phase.players, values)
        return {k: v.detach() for k, v in values.items()}

    def last_grad_norms(self) -> dict[str, Tensor]:
        """Each player's gradient norm at its last update (device scalars; players without gradients left out):
        read from the parameters' ``.grad``, or under tracing from what the graphs wrote (a replay leaves
        ``.grad`` as the trace left it)."""
        if self.traced is not None:
            return {p: self.grad_norms[i] for p, i in self._norm_slot.items() if p in self._traced_norms}
        return {p: gradient_norm(grads) for p, ps in self.params.items()
                if (grads := [q.grad for q in ps if q.grad is not None])}

    # ------------------------------------------------------------------------------------ the loop
    def fit(self, steps: int, log_every: int = 50, on_log: Callable[[int, dict[str, float]], None] | None = None,
            on_checkpoint: Callable[[int], None] | None = None, checkpoint_every: int = 0,
            progress: bool = True, should_stop: Callable[[], bool] | None = None,
            check_every: int | None = None,
            on_first_step: Callable[[set[str]], None] | None = None) -> dict[str, float]:
        """Run until ``steps`` steps in all have been taken (a resumed trainer continues from its count).

        Every ``log_every`` steps the mean losses are read (one host sync) and passed to ``on_log``;
        every ``check_every`` steps (default: every step eager, every ``log_every`` captured, where a
        per-step read would stall the replays) and before every checkpoint the non-finite watch is
        read and a :class:`NonFiniteError` names the first bad player. On CUDA a per-step check does not
        wait for the device: it is lagged (:meth:`~unigen.watch.FiniteWatch.post`), read a few steps later,
        and still names the step that went bad. ``should_stop`` (e.g. a signal
        flag) ends the loop early. ``on_first_step`` is called once, after this call's first step, with the
        names of the losses a log row will hold (to check a name against them before a long wait).
        """
        for name, value, least in (("steps", steps, 0), ("log_every", log_every, 1),
                                   ("checkpoint_every", checkpoint_every, 0)):
            if not _integer(value) or value < least:
                raise UserError(f"fit({name}={value!r}): {name} must be an integer >= {least}")
        if check_every is None:
            check_every = log_every if self.graphed or (self.traced and self.device.type != "cpu") else 1
        lagged = check_every == 1 and self.watch.lagged
        last, stopped = {}, False
        bar = tqdm(total=steps, initial=self.step_count, disable=not progress, dynamic_ncols=True,
                   mininterval=0.5, desc=self.strategy.registry_name)
        while self.step_count < steps:
            self.window.add(self.step())
            if on_first_step is not None:
                on_first_step(set(self.window.sums) | ({"skipped_steps"} if self.skipped else set()))
                on_first_step = None
            if lagged:  # CUDA, every step: read the watch once the device gets there, never wait for it
                self.watch.post(self.step_count)
                self.watch.poll()
            elif check_every and self.step_count % check_every == 0:
                self.raise_if_nonfinite(exact=check_every == 1)
            if self.step_count % log_every == 0:
                last = {**self.window.close(), **({"skipped_steps": self.skipped} if self.skipped else {})}
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
            if on_log is not None:
                on_log(self.step_count, last)
        return last

    def compile_stats(self) -> dict[str, float]:
        """Under ``train.compile=trace``: seconds spent tracing and compiling (``compile_s``), graphs traced
        (``traces``: once per phase unless shapes change or a checkpoint replaced the optimiser states) and
        traced updates replayed (``replays``; on CUDA, where the step is then captured, the updates run from Python:
        the warm-up steps and the capture) and replays of the captured step (``graph_replays``); empty otherwise.
        The run writes them into its timing row."""
        if self.traced is None:
            return {}
        stats = {"compile_s": round(self.traced.compile_seconds, 3), "traces": self.traced.traces,
                 "replays": self.traced.replays}
        if self.graphed is not None:  # captured on CUDA: the Python calls above, then replays of the step's graph
            stats["graph_replays"] = self.graphed.replays
        return stats

    def raise_if_nonfinite(self, exact: bool = True) -> None:
        """Read the non-finite watch (one host sync) and raise :class:`NonFiniteError` naming the first bad player."""
        self.watch.raise_if_bad(self.step_count, exact)

    def check_weights(self) -> None:
        """Raise :class:`NonFiniteError` if any player's parameters are not finite now."""
        self.watch.check_weights(self.step_count)

    # ------------------------------------------------------------------------------------- state
    def _outside_programs(self) -> dict[str, dict[str, Tensor]]:
        """The players' parameters that ``programs.state_dict()`` does not hold, by player and position: a
        ``pyro.param`` of a functional program, or a module-level network registered only with ``pyro.module``."""
        inside = {id(p) for p in self.programs.parameters()}
        return {player: {str(i): p for i, p in enumerate(ps) if id(p) not in inside}
                for player, ps in self.params.items()}

    def state_dict(self) -> dict:
        outside = {pl: {i: p.detach().clone() for i, p in ps.items()} for pl, ps in self._outside_programs().items()}
        return {"programs": self.programs.state_dict(),
                "outside_programs": {pl: ps for pl, ps in outside.items() if ps},
                "optimizers": {p: o.state_dict() for p, o in self.optimizers.items()},
                "schedulers": {p: sch.state_dict() for p, sch in self.schedulers.items()},
                "step": self.step_count, "skipped": self.watch.skipped,
                "index_generator": self.index_generator.get_state(),
                "window": self.window.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict`, then apply this trainer's optimiser settings (which may differ
        from the checkpoint's: a resumed run uses the rate it is given, :func:`unigen.optim.apply_settings`).

        :raises UserError: if the state does not fit these programs and players (one line).
        """
        try:
            self.programs.load_state_dict(state["programs"])
            here = {pl: ps for pl, ps in self._outside_programs().items() if ps}
            saved = state.get("outside_programs")
            if saved is None:  # written before checkpoints held them
                if here:
                    print(f"unigen: warning: the checkpoint predates the weights held outside the programs "
                          f"(pyro.param, pyro.module) of player(s) {', '.join(sorted(here))}; they keep their "
                          f"current values", file=sys.stderr)
            else:
                shapes = {pl: {i: tuple(v.shape) for i, v in ps.items()} for pl, ps in saved.items()}
                if shapes != {pl: {i: tuple(p.shape) for i, p in ps.items()} for pl, ps in here.items()}:
                    raise ValueError("the parameters held outside the programs (pyro.param, pyro.module) differ in "
                                     f"number or shape: saved {shapes}")
                with torch.no_grad():
                    for player, ps in saved.items():
                        for i, value in ps.items():
                            here[player][i].copy_(value)
            for key in ("step", "skipped"):
                if key in state and not (_integer(state[key]) and 0 <= state[key] <= 10 ** 12):
                    raise DamagedState(f"its {key} is {state[key]!r}, not a count of steps")
            bad = next((p for p, ps in self.params.items() for q in ps
                        if q.is_floating_point() and not bool(q.isfinite().all())), None)
            if bad is not None:
                raise UserError(f"the weights of player {bad!r} in the checkpoint are not finite (NaN or "
                                f"infinite): it was saved from a diverged run or damaged; restore it from a copy "
                                f"or start a new run")
            self.step_count = int(state["step"])
            self.progress.fill_(float(self.step_count))
            self.watch.skipped = int(state.get("skipped", 0))
            restore_optimizers(self.optimizers, self.schedulers, state, self.settings, self.updates, self.step_count)
            self.index_generator.set_state(state["index_generator"].cpu())
            self.window.load_state_dict(state.get("window", {"sums": {}, "count": 0}), self.device)
        except DamagedState as e:
            raise UserError(f"the checkpoint is damaged: {e}; restore it from a copy or start a new run") from None
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as e:
            detail = first_line(e)[:160]
            raise UserError(f"the checkpoint does not fit these programs and players ({type(e).__name__}: "
                            f"{detail}); resume with the run's own config, or start a new run") from None
        for compiled in filter(None, (self.graphed, self.traced)):  # new optimiser states: capture or trace again
            compiled.invalidate()
