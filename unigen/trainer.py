r"""The trainer: optimisers per player, the phase schedule, and loss read-out. It never names a strategy.

One training step runs every phase of the strategy in order; a phase with ``repeats = k`` draws
``k`` fresh batches and updates its players after each. For each player the trainer back-propagates
that player's loss into that player's parameters only (``backward(inputs=...)``), so a generator
loss never leaves gradients on the discriminator; all players of a phase are differentiated from
the same forward pass before any of them steps.

:meth:`Trainer.step` is capture-safe: no ``.item()``, no host-device copies, no data-dependent
Python branches; it returns the losses as device tensors and records, on the device, whether any
player's loss or gradient was non-finite. :meth:`Trainer.fit` reads those outside the step.
"""
from __future__ import annotations

import math
from contextlib import nullcontext
from typing import Callable, Iterable

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from unigen.compiled import GraphedStep, check_compile
from unigen.config import OptimConfig
from unigen.data.base import TensorData
from unigen.data.stream import HostBatches
from unigen.errors import UserError
from unigen.distributed import RoleWrappers, World, shard_size
from unigen.programs import Batch, Programs, has_density, role_parameters
from unigen.strategy import Phase, Strategy


def same_device(a: torch.device, b: torch.device) -> bool:
    """``cuda`` and ``cuda:0`` (the current device) are the same device here."""
    return a.type == b.type and (a.index is None or b.index is None or a.index == b.index)


class NonFiniteError(RuntimeError):
    """A player's loss or gradient became NaN or infinite."""

    def __init__(self, player: str, step: int, exact: bool = True):
        when = f"at step {step}" if exact else f"by step {step}"
        super().__init__(f"player {player!r} had a non-finite loss or gradient {when}")
        self.player, self.step = player, step


def make_schedule(optimizer: torch.optim.Optimizer, cfg: OptimConfig, updates: int) -> torch.optim.lr_scheduler.LambdaLR:
    r"""Learning-rate multiplier per optimiser update: linear warm-up over ``cfg.warmup`` updates, then
    ``constant`` (1), ``linear`` (:math:`1 - t/T`) or ``cosine`` (:math:`\tfrac12(1 + \cos \pi t/T)`)
    over the remaining ``T`` updates."""
    warm, total = cfg.warmup, max(1, updates - cfg.warmup)
    shapes = {"constant": lambda t: 1.0, "linear": lambda t: max(0.0, 1.0 - t / total),
              "cosine": lambda t: 0.5 * (1.0 + math.cos(math.pi * min(t, total) / total))}
    if cfg.schedule not in shapes:
        raise UserError(f"unknown schedule {cfg.schedule!r}; choose constant, linear or cosine")
    shape = shapes[cfg.schedule]
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda t: (t + 1) / warm if t < warm else shape(t - warm))


def make_optimizer(params: Iterable[nn.Parameter], cfg: OptimConfig, capturable: bool = False) -> torch.optim.Optimizer:
    """Build one player's optimiser from its settings.

    ``capturable`` (for CUDA-graph capture, :mod:`unigen.compiled`) keeps Adam's and RMSprop's step
    counts and learning rates in device tensors; SGD then needs a constant rate.
    """
    params = list(params)
    if capturable and cfg.name in ("adam", "rmsprop"):
        lr, extra = torch.tensor(cfg.lr, device=params[0].device), {"capturable": True, "foreach": True}
    elif capturable and (cfg.schedule != "constant" or cfg.warmup > 0):
        raise UserError(f"optimiser {cfg.name} keeps its learning rate on the host, so train.compile=cudagraph "
                        f"needs schedule=constant and warmup=0 for it; use adam or rmsprop, or train.compile=none")
    else:
        lr, extra = cfg.lr, {}
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay, **extra)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=cfg.alpha, momentum=cfg.momentum,
                                   weight_decay=cfg.weight_decay, **extra)
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    raise UserError(f"unknown optimiser {cfg.name!r}; choose adam, rmsprop or sgd")


class Trainer:
    """Steps a strategy's players on programs and data.

    :param programs: the model's roles (:class:`~unigen.programs.Programs`).
    :param strategy: any registered :class:`~unigen.strategy.Strategy`.
    :param data: the training set, already on the training device.
    :param batch_size: examples per batch (every phase repeat draws its own).
    :param optim: default optimiser settings, or a callable ``player -> OptimConfig``.
    :param skip_nonfinite: skip (rather than apply) an update whose loss or gradient is not finite.
        This reads a flag on the host inside the step, so it is an eager-mode option.
    :param seed: seed of the batch-index generator (shared by all data-parallel ranks).
    :param world: this process's data-parallel rank (:mod:`unigen.distributed`); ``batch_size`` is global.
    :param total_steps: the planned number of steps, over which learning-rate schedules run.
    :param compile: ``"none"`` (eager) or ``"cudagraph"``: capture the whole step in one CUDA graph
        (:mod:`unigen.compiled`).
    :param device: the training device; by default the data's. Data on another device (the host) are
        streamed: each step's batches are gathered there and copied over (:mod:`unigen.data.stream`).
    :param stream: force (or forbid) streaming; by default, stream when the data are not on ``device``.
    """

    def __init__(self, programs: Programs, strategy: Strategy, data: TensorData, batch_size: int,
                 optim: OptimConfig | Callable[[str], OptimConfig] = OptimConfig(), skip_nonfinite: bool = False,
                 seed: int = 0, world: World = World(), total_steps: int = 0, compile: str = "none",
                 device: torch.device | None = None, stream: bool | None = None):
        strategy.check(programs)
        data.check_batch_size(batch_size)
        if strategy.needs_labels and data.c is None:
            raise UserError(f"strategy {strategy.registry_name!r} needs labelled data but the data set has no "
                            f"labels; use a labelled data set such as mnist")
        self.programs, self.strategy, self.data, self.batch_size = programs, strategy, data, batch_size
        self.strategy_name = name = strategy.registry_name or type(strategy).__name__
        self.device = data.x.device if device is None else torch.device(device)
        check_compile(compile, self.device, name, strategy.capturable, skip_nonfinite, world.size)
        if data.c is not None and not strategy.accepts_unlabelled and bool((data.c < 0).any()):
            raise UserError(f"the data set has unlabelled examples (label -1) but strategy {name!r} would read "
                            f"them as labels; use svae (or aavae with base=svae), or label_fraction=1")
        self.world, self.shard = world, shard_size(batch_size, world)
        self.index_generator = torch.Generator(device=data.x.device).manual_seed(seed)
        probe = data.sample(min(batch_size, 2), generator=torch.Generator(device=data.x.device).manual_seed(seed))
        probe = Batch(probe.x.to(self.device), None if probe.c is None else probe.c.to(self.device))
        if strategy.scores_x and not has_density(programs, None if probe.c is None else probe.c.clamp(min=0)):
            raise UserError(f"strategy {name!r} scores log p(x|z) but the model's x is a Delta (an implicit "
                            f"generator); give the model a likelihood (e.g. model.likelihood=normal)")
        self.params: dict[str, list[nn.Parameter]] = {}
        for player, roles in strategy.players.items():
            found: dict[int, nn.Parameter] = {}
            for role in roles:
                if programs.has(role):
                    found.update({id(p): p for p in role_parameters(programs, role, probe)})
            if not found:
                raise UserError(f"player {player!r} of strategy {strategy.registry_name!r} owns no parameters "
                                f"(roles {', '.join(roles)}); give those programs trainable parameters")
            self.params[player] = list(found.values())
        settings = optim if callable(optim) else (lambda _player: optim)
        graphed = compile == "cudagraph"
        self.optimizers = {p: make_optimizer(ps, settings(p), capturable=graphed) for p, ps in self.params.items()}
        # one scheduler step per optimiser update: a player updated k times per step gets k × steps updates
        self.updates = updates = {p: sum(ph.repeats for ph in strategy.phases() if p in ph.players)
                                  for p in self.params}
        # a constant rate needs no scheduler (and leaves the optimiser's rate to whoever else sets it)
        self.schedulers = {p: make_schedule(o, settings(p), updates[p] * max(1, total_steps))
                           for p, o in self.optimizers.items()
                           if settings(p).schedule != "constant" or settings(p).warmup > 0}
        self.skip_nonfinite = skip_nonfinite
        self.nonfinite = {p: torch.zeros((), dtype=torch.bool, device=self.device) for p in self.params}
        self.host = None  # host-resident data: batches staged before each step
        if not same_device(data.x.device, self.device) if stream is None else stream:
            slots = sum(ph.repeats for ph in strategy.phases())
            self.host = HostBatches(data, self.device, batch_size, slots, self.index_generator)
        self.skipped = 0
        self.step_count = 0
        self.parallel = None
        if world.size > 1:
            owned = {role for roles in strategy.players.values() for role in roles}
            self.parallel = RoleWrappers(programs, owned, self.device)
        self.defer_schedules = False  # set while a CUDA graph captures the step (schedules move between replays)
        self.graphed = GraphedStep(self) if graphed else None

    def sample_batch(self) -> Batch:
        """This rank's slice of a global batch drawn with the shared index generator."""
        if self.host is not None:
            batch = self.host.next()
        else:
            batch = self.data.sample(self.batch_size, generator=self.index_generator)
        if self.world.size == 1:
            return batch
        lo, hi = self.world.rank * self.shard, (self.world.rank + 1) * self.shard
        return Batch(batch.x[lo:hi], None if batch.c is None else batch.c[lo:hi])

    # ------------------------------------------------------------------------------------ one step
    def step(self) -> dict[str, Tensor]:
        """One strategy step (every phase, with repeats). Returns detached losses and diagnostics
        (with ``compile=cudagraph``, tensors that the next step overwrites)."""
        if self.host is not None:
            self.host.stage()
        out = self.graphed() if self.graphed is not None else self.eager_step()
        self.step_count += 1
        return out

    def eager_step(self) -> dict[str, Tensor]:
        """The step's operations, run (or captured) once; does not count the step."""
        if not self.programs.training:  # Module.train() walks every submodule: only when needed
            self.programs.train()
        out: dict[str, Tensor] = {}
        for phase in self.strategy.phases():
            out.update(self.run_phase(phase))
        return out

    def advance_schedules(self) -> None:
        """Move each player's learning-rate schedule by its updates per step (between graph replays)."""
        for player, scheduler in self.schedulers.items():
            for _ in range(self.updates[player]):
                scheduler.step()

    def run_phase(self, phase: Phase) -> dict[str, Tensor]:
        """Run one phase ``phase.repeats`` times, each on a fresh batch; return the last values."""
        roles = {r for p in phase.players for r in self.strategy.players[p]}
        with self.parallel.active(roles) if self.parallel else nullcontext():
            return self._repeat(phase)

    def _repeat(self, phase: Phase) -> dict[str, Tensor]:
        for _ in range(phase.repeats):
            values = phase.loss(self.programs, self.sample_batch())
            bad = []
            for i, player in enumerate(phase.players):
                self.optimizers[player].zero_grad(set_to_none=True)
                values[player].backward(inputs=self.params[player], retain_graph=i < len(phase.players) - 1)
                bad.append(self._nonfinite(values[player], self.params[player]))
            if self.skip_nonfinite:
                if bool(torch.stack(bad).any()):  # host read: an eager-only option
                    self.skipped += 1
                    continue
            else:
                for player, flag in zip(phase.players, bad):
                    self.nonfinite[player] |= flag
            for player in phase.players:
                self.optimizers[player].step()
                if player in self.schedulers and not self.defer_schedules:
                    self.schedulers[player].step()
                self.strategy.after_update(self.programs, player)
        return {k: v.detach() for k, v in values.items()}

    @staticmethod
    def _nonfinite(loss: Tensor, params: list[nn.Parameter]) -> Tensor:
        grads = [p.grad for p in params if p.grad is not None]
        total = loss.detach().float()
        if grads:
            total = total + torch.stack(torch._foreach_norm(grads)).float().sum()
        return ~torch.isfinite(total)

    # ------------------------------------------------------------------------------------ the loop
    def fit(self, steps: int, log_every: int = 50, on_log: Callable[[int, dict[str, float]], None] | None = None,
            on_checkpoint: Callable[[int], None] | None = None, checkpoint_every: int = 0,
            progress: bool = True, should_stop: Callable[[], bool] | None = None,
            check_every: int = 1) -> dict[str, float]:
        """Run until ``steps`` steps in all have been taken (a resumed trainer continues from its count).

        Every ``log_every`` steps the mean losses are read (one host sync) and passed to ``on_log``;
        every ``check_every`` steps the non-finite flags are read and a :class:`NonFiniteError`
        names the first bad player. ``should_stop`` (e.g. a signal flag) ends the loop early.
        """
        sums: dict[str, Tensor] = {}
        count, last = 0, {}
        bar = tqdm(total=steps, initial=self.step_count, disable=not progress, dynamic_ncols=True,
                   mininterval=0.5, desc=self.strategy.registry_name)
        while self.step_count < steps:
            out = self.step()
            if check_every and self.step_count % check_every == 0:
                self.raise_if_nonfinite(exact=check_every == 1)
            for k, v in out.items():
                sums[k] = sums[k] + v if k in sums else v.clone()
            count += 1
            if self.step_count % log_every == 0:
                last = {k: v.item() / count for k, v in sums.items()}
                if self.skipped:
                    last["skipped_steps"] = self.skipped
                sums, count = {}, 0
                if on_log is not None:
                    on_log(self.step_count, last)
                bar.set_postfix({k: f"{v:.3g}" for k, v in last.items()}, refresh=False)
            if checkpoint_every and on_checkpoint is not None and self.step_count % checkpoint_every == 0:
                on_checkpoint(self.step_count)
            bar.update(1)
            if should_stop is not None and should_stop():
                break
        bar.close()
        self.raise_if_nonfinite(exact=check_every == 1)
        if count:
            last = {k: v.item() / count for k, v in sums.items()}
            if on_log is not None:
                on_log(self.step_count, last)
        return last

    def raise_if_nonfinite(self, exact: bool = True) -> None:
        for player, flag in self.nonfinite.items():
            if bool(flag):
                raise NonFiniteError(player, self.step_count, exact)

    # ------------------------------------------------------------------------------------- state
    def state_dict(self) -> dict:
        return {"programs": self.programs.state_dict(),
                "optimizers": {p: o.state_dict() for p, o in self.optimizers.items()},
                "schedulers": {p: sch.state_dict() for p, sch in self.schedulers.items()},
                "step": self.step_count, "skipped": self.skipped,
                "index_generator": self.index_generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.programs.load_state_dict(state["programs"])
        for p, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][p])
            if self.graphed is not None:  # the rate must stay a device tensor that schedules fill in place
                for group in o.param_groups:
                    if group.get("capturable"):
                        group["lr"] = torch.tensor(float(group["lr"]), device=self.device)
        for p, sch in self.schedulers.items():
            sch.load_state_dict(state["schedulers"][p])
        self.step_count = int(state["step"])
        self.skipped = int(state.get("skipped", 0))
        self.index_generator.set_state(state["index_generator"].cpu())
        if self.graphed is not None:  # optimiser states are new tensors: capture again
            self.graphed.invalidate()
