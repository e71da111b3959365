"""The players: each one's parameters, found by tracing its roles (never by name lists), the checks that every
weight a program uses is trained by some player, and each one's training state (:class:`PlayerState`: parameters,
optimiser, schedule; :class:`Players`: all of them, and their part of a checkpoint)."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from unigen.config import OptimConfig
from unigen.ema import EMASettings, WeightAverage
from unigen.errors import UserError
from unigen.optim import DamagedState, advance_schedules, build_optimizers, restore_optimizers
from unigen.programs import Batch, Programs
from unigen.scoring import trace_program


def role_parameters(programs: Programs, role: str, batch: Batch) -> list[nn.Parameter]:
    """The trainable parameters of one role, found by tracing rather than by name lists.

    The program runs once under ``poutine.trace(param_only=True)`` (which also creates the lazy
    parameters of an autoguide), then its module parameters and its ``pyro.param`` sites are collected.
    """
    program = programs.roles[role]
    params: dict[int, nn.Parameter] = {}
    tr = None
    if role in ("model", "guide"):  # both take the data, as in Pyro
        with torch.no_grad():
            tr = trace_program(program, batch.x, batch.c, param_only=True)
    if isinstance(program, nn.Module):
        params.update({id(p): p for p in program.parameters() if p.requires_grad})
    if tr is not None:
        for site in tr.nodes.values():
            p = site["value"].unconstrained()
            if p.requires_grad:
                params.setdefault(id(p), p)
    return list(params.values())


def player_parameters(programs: Programs, player: str, roles: tuple[str, ...], batch: Batch) -> list[nn.Parameter]:
    """A player's parameters: those of every role it owns (:func:`role_parameters`), without duplicates."""
    found: dict[int, nn.Parameter] = {}
    for role in roles:
        if programs.has(role):
            found.update({id(p): p for p in role_parameters(programs, role, batch)})
    if not found:
        raise UserError(f"player {player!r} owns no parameters (roles {', '.join(roles)}); give those programs "
                        f"trainable parameters (modules, pyro.param or pyro.module)")
    return list(found.values())


def _home(program) -> nn.Module | None:
    """The module a program's parameters live in: the program itself, or the module of a bound method."""
    if isinstance(program, nn.Module):
        return program
    owner = getattr(program, "__self__", None)
    return owner if isinstance(owner, nn.Module) else None


def check_method_roles(programs: Programs, players: dict[str, tuple[str, ...]]) -> None:
    """Refuse a player's role other than the model and the guide given as a method of a module: such a role's
    parameters are its module's (it is not a Pyro program to trace), so a method's cannot be told from the rest."""
    for role in sorted({r for roles in players.values() for r in roles if programs.has(r)} - {"model", "guide"}):
        program = programs.roles[role]
        if not isinstance(program, nn.Module) and isinstance(_home(program), nn.Module):
            raise UserError(f"role {role!r} is a method of a module, so its weights cannot be told from the rest of "
                            f"the module's; pass a module whose forward does what the method does ({role}=MODULE)")


def check_all_trained(programs: Programs, params: dict[str, list[nn.Parameter]],
                      players: dict[str, tuple[str, ...]]) -> None:
    """Warn of weights that would never train.

    A player's parameters are found by tracing its Pyro programs (the model and the guide: :func:`role_parameters`)
    and, for every other role (a discriminator, a code posterior), as the parameters of the role's module (a method
    there is refused: :func:`check_method_roles`). Weights inside the module of a model or guide method that no
    player's trace reaches (``self.enc`` used without ``pyro.module``) are named in one line on stderr: they keep
    their initial values. It is a warning, not a refusal, because a strategy may leave part of a module unused on purpose (a GAN never calls the
    VAE's encoder); it is left out where a role no player uses is a plain function or a method of that same
    module, whose weights cannot be attributed.
    """
    used = {r for roles in players.values() for r in roles if programs.has(r)}
    homes = {id(h): h for r in used & {"model", "guide"} if (h := _home(programs.roles[r])) is not None}
    unused = [programs.roles[r] for r in programs.roles if r not in used]
    if any(not isinstance(p, nn.Module) and (_home(p) is None or id(_home(p)) in homes) for p in unused):
        return
    owned = {id(p) for ps in params.values() for p in ps}
    elsewhere = {id(p) for prog in unused if id(_home(prog)) not in homes for p in _home(prog).parameters()}
    names = {id(p): n for n, p in programs.named_parameters()}
    stray = list(dict.fromkeys(names.get(id(p), n) for h in homes.values() for n, p in h.named_parameters()
                               if p.requires_grad and id(p) not in owned and id(p) not in elsewhere))
    if stray:
        shown = ", ".join(stray[:3]) + (f" and {len(stray) - 3} more" if len(stray) > 3 else "")
        import pyro

        # pyro.module(name, m) hands back the weights an earlier module stored under the same name, not m's
        stored = [k.replace("$$$", ".") for k in pyro.get_param_store().keys() if "$$$" in k]
        stale = any(n.endswith("." + k) for n in stray for k in stored)
        fix = ("; if a program uses them, register the module there with pyro.module(name, module)" + (
            "; if it does already, Pyro's param store holds an earlier model's weights under the same names, and "
            "pyro.module returns those: call pyro.clear_param_store() before building this one" if stale else ""))
        print(f"unigen: warning: {len(stray)} trainable parameter tensor(s) in the modules of the players' programs "
              f"are reached by no player's trace and will keep their initial values ({shown}){fix}", file=sys.stderr)


def discover(programs: Programs, strategy, data, device: torch.device, seed: int,
             batch_size: int) -> dict[str, list[nn.Parameter]]:
    """Check a strategy against its programs and data, bind the programs (the event shape, the observed site) on a
    2-example probe, and find each player's parameters by tracing its roles (warning of weights none reaches)."""
    import pyro

    probe = data.sample(min(batch_size, 2), generator=torch.Generator(device=data.x.device).manual_seed(seed))
    probe = Batch(*(None if t is None else t.to(device) for t in probe))
    with pyro.validation_enabled(False):  # the probes score real data, validated at load
        strategy.check(programs, data)  # roles and labels, before any program runs
        programs.bind(data.info.shape, probe)  # the event shape and the observed site
        strategy.check(programs, data, probe)  # then the checks that run the programs on the probe
        check_method_roles(programs, strategy.players)
        params = {p: player_parameters(programs, p, roles, probe) for p, roles in strategy.players.items()}
        check_all_trained(programs, params, strategy.players)
    return params


def gradient_norm(grads: list[torch.Tensor]) -> torch.Tensor:
    r"""The L2 norm of all of ``grads`` together, in float32: :math:`\sqrt{\sum_i \lVert g_i \rVert^2}`."""
    return torch.stack([g.detach().float().norm() for g in grads]).norm()


class GradNorms:
    """Each player's gradient norm at its last update (logged as ``grad_norm/PLAYER``). Eager and captured steps
    leave the gradients in ``.grad``, read when asked; a traced update's replayed graph writes no ``.grad``, so
    the update records the norm into :attr:`values` itself (:meth:`record`, a node of its graph)."""

    def __init__(self, params: dict[str, list[nn.Parameter]], device: torch.device):
        self.params = params
        self.values = torch.zeros(len(params), device=device)  # a traced graph's state
        self.slot = {p: i for i, p in enumerate(params)}
        self.recorded: set[str] = set()  # players whose traced updates had gradients

    def record(self, player: str) -> None:
        grads = [q.grad for q in self.params[player] if q.grad is not None]
        if grads:
            self.values[self.slot[player]].copy_(gradient_norm(grads))
            self.recorded.add(player)

    def read(self, recorded: bool) -> dict[str, torch.Tensor]:
        """The norms as device scalars (players without gradients left out): ``recorded`` ones, or from ``.grad``."""
        if recorded:
            return {p: self.values[i] for p, i in self.slot.items() if p in self.recorded}
        return {p: gradient_norm(grads) for p, ps in self.params.items()
                if (grads := [q.grad for q in ps if q.grad is not None])}


# ------------------------------------------------------------------------------------- training state
@dataclass
class PlayerState:
    """One player's training state, explicit like NumPyro's ``SVIState``."""

    params: list[nn.Parameter]  # found by tracing its roles (player_parameters)
    optimizer: torch.optim.Optimizer  # built from its OptimConfig (unigen.optim.make_optimizer)
    scheduler: torch.optim.lr_scheduler.LambdaLR | None  # None: a constant rate
    updates: int  # optimiser updates per strategy step (a phase's repeats, over the phases it plays in)


class Players:
    """Every player's :class:`PlayerState`, their views by kind (:attr:`params`, :attr:`optimizers`,
    :attr:`schedulers`, :attr:`updates`), and their part of a checkpoint: the optimisers, the schedules and the
    parameters that ``programs.state_dict()`` does not hold (``outside_programs``: a ``pyro.param`` of a functional
    program, a module-level network registered only with ``pyro.module``, by player and position).

    :param params: each player's parameters.
    :param settings: ``player -> OptimConfig``.
    :param phases: the strategy's phases: a player updated ``k`` times a step moves its schedule ``k`` × steps times.
    :param total_steps: the planned steps, over which schedules run.
    :param capturable: optimiser counts and rates on the device (a CUDA graph replays the updates).
    :param tensor_lr: rates in tensors that a traced graph reads.
    :param average: ``(player, EMASettings, num_classes)``: keep an exponential moving average of that player's weights
        (:mod:`unigen.ema`), moved after every step, or ``None``.
    """

    def __init__(self, params: dict[str, list[nn.Parameter]], settings: Callable[[str], OptimConfig], phases,
                 total_steps: int, capturable: bool = False, tensor_lr: bool = False,
                 average: tuple[str, EMASettings, int | None] | None = None):
        self.settings = settings
        updates = {p: sum(ph.repeats for ph in phases if p in ph.players) for p in params}  # per step
        optimizers, schedulers = build_optimizers(params, settings, updates, total_steps, capturable, tensor_lr)
        self.states = {p: PlayerState(params[p], optimizers[p], schedulers.get(p), updates[p]) for p in params}
        self.params, self.optimizers, self.schedulers, self.updates = params, optimizers, schedulers, updates
        self.average = None if average is None else WeightAverage(average[0], params[average[0]], *average[1:])

    def __getitem__(self, player: str) -> PlayerState:
        return self.states[player]

    def after_step(self, step: int) -> None:
        """After strategy step ``step``: move every schedule by its player's updates in the step, and the weight
        average (if kept) to the step."""
        advance_schedules(self.schedulers, self.updates)
        if self.average is not None:
            self.average.update(step)

    def outside(self, programs: Programs) -> dict[str, dict[str, torch.Tensor]]:
        """The players' parameters that ``programs.state_dict()`` does not hold, by player and position."""
        inside = {id(p) for p in programs.parameters()}
        return {player: {str(i): p for i, p in enumerate(s.params) if id(p) not in inside}
                for player, s in self.states.items()}

    def state_dict(self, programs: Programs) -> dict:
        outside = {pl: {i: p.detach().clone() for i, p in ps.items()} for pl, ps in self.outside(programs).items()}
        state = {"outside_programs": {pl: ps for pl, ps in outside.items() if ps},
                 "optimizers": {p: s.optimizer.state_dict() for p, s in self.states.items()},
                 "schedulers": {p: s.scheduler.state_dict() for p, s in self.states.items() if s.scheduler}}
        if self.average is not None:  # the average, and the programs as sampling loads them (unigen.ema)
            state |= {"ema": self.average.state_dict(), "programs_ema": self.average.programs_state(programs)}
        return state

    def load_state_dict(self, programs: Programs, state: dict, step: int) -> None:
        """Restore :meth:`state_dict` at strategy step ``step``, then put this run's optimiser settings on
        (:func:`unigen.optim.restore_optimizers`). Raises ``ValueError`` (:class:`~unigen.optim.DamagedState` for
        a state that cannot be these players') when it does not fit."""
        here = {pl: ps for pl, ps in self.outside(programs).items() if ps}
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
        restore_optimizers(self.optimizers, self.schedulers, state, self.settings, self.updates, step)
        if self.average is not None:
            self.average.load_state_dict(state.get("ema"))
        bad = next((p for p, s in self.states.items() for q in s.params if not bool(q.isfinite().all())), None)
        if bad is not None:
            raise DamagedState(f"the weights of player {bad!r} are not finite (NaN or infinite): it was saved from a "
                               f"diverged run or damaged")
