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

from collections import deque
from contextlib import nullcontext
from typing import Callable

import pyro
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from unigen.compiled import GraphedStep, check_compile
from unigen.config import OptimConfig
from unigen.optim import apply_settings, make_optimizer, make_schedule, needs_schedule
from unigen.data.base import TensorData
from unigen.data.stream import HostBatches
from unigen.errors import UserError
from unigen.distributed import RoleWrappers, World, shard_size
from unigen.programs import Batch, Programs, check_guide, has_density, role_parameters
from unigen.settings import check_settings
from unigen.strategy import Phase, Strategy


def same_device(a: torch.device, b: torch.device) -> bool:
    """``cuda`` and ``cuda:0`` (the current device) are the same device here."""
    return a.type == b.type and (a.index is None or b.index is None or a.index == b.index)


class NonFiniteError(RuntimeError):
    """A player's loss or gradient, or its weights after an update, became NaN or infinite; or, with
    ``skip_nonfinite``, too many recent updates were skipped."""

    def __init__(self, player: str, step: int, exact: bool = True, what: str = "a non-finite loss or gradient"):
        when = f"at step {step}" if exact else f"by step {step}"
        super().__init__(f"player {player!r} had {what} {when}")
        self.player, self.step, self.what = player, step, what


class SkippedTooOften(NonFiniteError):
    """With ``skip_nonfinite``, more than the allowed share of recent updates was skipped."""

    def __init__(self, skipped: int, seen: int, limit: float, step: int):
        RuntimeError.__init__(self, f"{skipped} of the last {seen} updates were skipped for non-finite losses or "
                              f"gradients (over the train.max_skipped={limit:g} share) by step {step}, so the run "
                              f"is not training")
        self.player, self.step, self.what = "", step, "skipped updates"


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
    :param max_skipped: with ``skip_nonfinite``, stop (:class:`NonFiniteError`) once more than this share
        of the last ``skip_window`` updates was skipped (checked from 20 updates on): a run whose updates
        are nearly all dropped is dead, not training.
    """

    def __init__(self, programs: Programs, strategy: Strategy, data: TensorData, batch_size: int,
                 optim: OptimConfig | Callable[[str], OptimConfig] = OptimConfig(), skip_nonfinite: bool = False,
                 seed: int = 0, world: World = World(), total_steps: int = 0, compile: str = "none",
                 device: torch.device | None = None, stream: bool | None = None, max_skipped: float = 0.5,
                 skip_window: int = 100):
        check_settings(strategy, type(strategy).__name__)  # from Python, errors name the class's field
        programs.bind(data.info.shape)
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
        with pyro.validation_enabled(False):  # the probes score real data, validated at load
            probe = data.sample(min(batch_size, 2), generator=torch.Generator(device=data.x.device).manual_seed(seed))
            probe = Batch(probe.x.to(self.device), None if probe.c is None else probe.c.to(self.device))
            programs.bind(data.info.shape, probe)
            if "guide" in strategy.requires:
                check_guide(programs, probe)
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
        self.settings = settings = optim if callable(optim) else (lambda _player: optim)
        for player in strategy.players:
            check_settings(settings(player), f"OptimConfig (player {player!r})")
        graphed = compile == "cudagraph"
        self.optimizers = {p: make_optimizer(ps, settings(p), capturable=graphed) for p, ps in self.params.items()}
        # one scheduler step per optimiser update: a player updated k times per step gets k × steps updates
        self.updates = updates = {p: sum(ph.repeats for ph in strategy.phases() if p in ph.players)
                                  for p in self.params}
        # a constant rate needs no scheduler (and leaves the optimiser's rate to whoever else sets it)
        self.schedulers = {p: make_schedule(o, settings(p), updates[p] * max(1, total_steps))
                           for p, o in self.optimizers.items() if needs_schedule(settings(p))}
        self.skip_nonfinite, self.max_skipped = skip_nonfinite, max_skipped
        self.recent_skips: deque[bool] = deque(maxlen=skip_window)
        # device flags, read every check_every steps: a non-finite loss/gradient, non-finite weights
        self.nonfinite = {p: torch.zeros((), dtype=torch.bool, device=self.device) for p in self.params}
        self.bad_weights = {p: torch.zeros((), dtype=torch.bool, device=self.device) for p in self.params}
        # the running sums of the current logging window (kept in checkpoints: a resumed log equals an
        # uninterrupted one)
        self.window: dict[str, Tensor] = {}
        self.window_count = 0
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
        # argument validation syncs with the host (and refuses a Bernoulli decoder's continuous fakes):
        # the data were validated once, at load
        with pyro.validation_enabled(False):
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
            if self.skip_nonfinite and self._skip(bool(torch.stack(bad).any())):  # host read: eager only
                continue
            if not self.skip_nonfinite:
                for player, flag in zip(phase.players, bad):
                    self.nonfinite[player] |= flag
            for player in phase.players:
                self.optimizers[player].step()
                if player in self.schedulers and not self.defer_schedules:
                    self.schedulers[player].step()
                self.strategy.after_update(self.programs, player)
                # weights that an update made non-finite (an infinite rate) are caught here, on the device
                self.bad_weights[player] |= self._nonfinite(None, self.params[player], attr=None)
            if self.skip_nonfinite:
                self.raise_if_nonfinite(offset=1)
        return {k: v.detach() for k, v in values.items()}

    def _skip(self, bad: bool) -> bool:
        """Record whether this update is skipped; stop once too many recent ones were."""
        self.recent_skips.append(bad)
        self.skipped += bad
        n, k = len(self.recent_skips), sum(self.recent_skips)
        if n >= min(20, self.recent_skips.maxlen) and k > self.max_skipped * n:
            raise SkippedTooOften(k, n, self.max_skipped, self.step_count + 1)
        return bad

    @staticmethod
    def _nonfinite(loss: Tensor | None, params: list[nn.Parameter], attr: str | None = "grad") -> Tensor:
        """``True`` (on the device) if ``loss`` or any of ``params``' gradients (``attr=None``: values) is not
        finite. One fused 2-norm per player (20× cheaper on a CPU than the max-norm); it also reads values
        beyond ~1e19, whose squares overflow, as non-finite: a run there has diverged anyway."""
        tensors = [p if attr is None else getattr(p, attr) for p in params]
        tensors = [t for t in tensors if t is not None]
        total = torch.zeros((), device=params[0].device) if loss is None else loss.detach().float()
        if tensors:
            total = total + torch.stack(torch._foreach_norm(tensors)).float().sum()
        return ~torch.isfinite(total)

    def check_weights(self) -> None:
        """Raise :class:`NonFiniteError` naming the first player whose parameters are not finite now."""
        bad = torch.stack([self._nonfinite(None, ps, attr=None) for ps in self.params.values()]).tolist()
        for player, flag in zip(self.params, bad):
            if flag:
                raise NonFiniteError(player, self.step_count, exact=False, what="non-finite weights")

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
        sums, last = self.window, {}
        bar = tqdm(total=steps, initial=self.step_count, disable=not progress, dynamic_ncols=True,
                   mininterval=0.5, desc=self.strategy.registry_name)
        while self.step_count < steps:
            out = self.step()
            if check_every and self.step_count % check_every == 0:
                self.raise_if_nonfinite(exact=check_every == 1)
            for k, v in out.items():
                sums[k] = sums[k] + v if k in sums else v.clone()
            self.window_count += 1
            if self.step_count % log_every == 0:
                last = {k: v.item() / self.window_count for k, v in sums.items()}
                if self.skipped:
                    last["skipped_steps"] = self.skipped
                sums.clear()
                self.window_count = 0
                if on_log is not None:
                    on_log(self.step_count, last)
                bar.set_postfix({k: f"{v:.3g}" for k, v in last.items()}, refresh=False)
            if checkpoint_every and on_checkpoint is not None and self.step_count % checkpoint_every == 0:
                self.raise_if_nonfinite(exact=check_every == 1)  # never checkpoint non-finite weights
                on_checkpoint(self.step_count)
            bar.update(1)
            if should_stop is not None and should_stop():
                bar.close()
                self.raise_if_nonfinite(exact=check_every == 1)
                return last  # the open window stays in self.window (and in the checkpoint)
        bar.close()
        self.raise_if_nonfinite(exact=check_every == 1)
        if self.window_count:
            last = {k: v.item() / self.window_count for k, v in sums.items()}
            sums.clear()
            self.window_count = 0
            if on_log is not None:
                on_log(self.step_count, last)
        return last

    def raise_if_nonfinite(self, exact: bool = True, offset: int = 0) -> None:
        """Read the device flags (one host sync) and raise :class:`NonFiniteError` naming the first bad player."""
        players = list(self.params)
        flags = torch.stack([self.nonfinite[p] for p in players] + [self.bad_weights[p] for p in players]).tolist()
        for i, player in enumerate(players):
            if flags[i]:
                raise NonFiniteError(player, self.step_count + offset, exact)
            if flags[len(players) + i]:
                raise NonFiniteError(player, self.step_count + offset, exact, what="non-finite weights after "
                                     "an update (a learning rate too high?)")

    # ------------------------------------------------------------------------------------- state
    def state_dict(self) -> dict:
        return {"programs": self.programs.state_dict(),
                "optimizers": {p: o.state_dict() for p, o in self.optimizers.items()},
                "schedulers": {p: sch.state_dict() for p, sch in self.schedulers.items()},
                "step": self.step_count, "skipped": self.skipped,
                "index_generator": self.index_generator.get_state(),
                "window": {"sums": {k: v.detach().cpu() for k, v in self.window.items()},
                           "count": self.window_count}}

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict`, then apply this trainer's optimiser settings (which may differ
        from the checkpoint's: a resumed run uses the rate it is given, :func:`unigen.optim.apply_settings`).

        :raises UserError: if the state does not fit these programs and players (one line).
        """
        try:
            self._load(state)
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as e:
            detail = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
            raise UserError(f"the checkpoint does not fit these programs and players ({type(e).__name__}: "
                            f"{detail}); resume with the run's own config, or start a new run") from None

    def _load(self, state: dict) -> None:
        self.programs.load_state_dict(state["programs"])
        for p, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][p])
            if self.graphed is not None:  # the rate must stay a device tensor that schedules fill in place
                for group in o.param_groups:
                    if group.get("capturable"):
                        group["lr"] = torch.tensor(float(group["lr"]), device=self.device)
        self.step_count = int(state["step"])
        self.skipped = int(state.get("skipped", 0))
        for p, o in self.optimizers.items():
            sch = self.schedulers.get(p)
            done = self.step_count * self.updates[p]
            if sch is not None and p in state["schedulers"]:
                sch.load_state_dict(state["schedulers"][p])
                done = sch.last_epoch
            apply_settings(o, sch, self.settings(p), done)
        self.index_generator.set_state(state["index_generator"].cpu())
        window = state.get("window", {"sums": {}, "count": 0})
        self.window = {k: v.to(self.device) for k, v in window["sums"].items()}
        self.window_count = int(window["count"])
        if self.graphed is not None:  # optimiser states are new tensors: capture again
            self.graphed.invalidate()
