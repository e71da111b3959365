r"""Optimisers and learning-rate schedules, one per player, built from :class:`~unigen.config.OptimConfig`.

A schedule is a multiplier :math:`m(t)` of the configured rate at optimiser update :math:`t`: linear
warm-up :math:`(t+1)/W` over the first :math:`W` updates, then over the remaining :math:`T` updates

* ``constant``: :math:`1`;
* ``linear``: :math:`1 - t/T` (to 0);
* ``cosine``: :math:`\tfrac12 (1 + \cos \pi t/T)`;
* ``geometric``: :math:`f^{t/T}`, from 1 down to ``final`` :math:`= f` at the last update. With ``hold``
  :math:`= h` the rate first stays for :math:`H = \lfloor hT \rfloor` updates, then falls as
  :math:`f^{(t-H)/(T-H)}`. With ``stair`` :math:`= N` it moves only every :math:`N` strategy steps, each stair
  taking the value the decay reaches at its last step: at step :math:`s` (1-based) of :math:`S`, with
  :math:`k = \min(N \lceil s/N \rceil, S)` and :math:`s_0 = \lfloor hS \rfloor`, the multiplier is
  :math:`f^{(k - s_0)/(S - s_0)}` once :math:`k > s_0` (the hold-then-decay of the mode-collapse and ALI
  reproductions, which set it between chunks of training).
* ``ganin``: :math:`(1 + 10\,t/T)^{-3/4}`, Ganin & Lempitsky's (2015) annealing
  :math:`\mu_p = \mu_0 / (1 + \alpha p)^\beta` with :math:`\alpha = 10`, :math:`\beta = 0.75` and :math:`p = t/T` the
  training progress: the rate ends at :math:`11^{-3/4} \approx 0.166` of its start.

:func:`apply_settings` puts a (possibly changed) configuration onto a restored optimiser, so that a
resumed run uses the rate, betas, weight decay and schedule it is told, not the ones in its checkpoint.
"""
from __future__ import annotations

import math
import re
import warnings
from typing import Callable, Iterable

import torch
from torch import nn
from torch.optim.optimizer import _global_optimizer_post_hooks, _global_optimizer_pre_hooks

from unigen.config import OPTIMISERS, SCHEDULES, OptimConfig  # noqa: F401  (importable from here)
from unigen.errors import UserError



def multiplier(cfg: OptimConfig, updates: int, steps: int = 0) -> Callable[[int], float]:
    """:math:`m(t)` of the module docstring, for a schedule of ``updates`` optimiser updates in all, over
    ``steps`` strategy steps (needed by ``stair``; the player then updates ``updates // steps`` times a step)."""
    check_schedule(cfg)
    warm, total = cfg.warmup, max(1, updates - cfg.warmup)
    shape = {"constant": lambda t: 1.0,
             "linear": lambda t: max(0.0, 1.0 - t / total),
             "cosine": lambda t: 0.5 * (1.0 + math.cos(math.pi * min(t, total) / total)),
             "geometric": _geometric(cfg, total, updates, steps),
             "ganin": lambda t: (1.0 + 10.0 * min(t, total) / total) ** -0.75}[cfg.schedule]
    return lambda t: (t + 1) / warm if t < warm else shape(t - warm)


def check_schedule(cfg: OptimConfig) -> None:
    """Refuse, in one line, a schedule name or a setting that the schedule does not read."""
    if cfg.schedule not in SCHEDULES:
        raise UserError(f"unknown schedule {cfg.schedule!r}; choose {', '.join(SCHEDULES)}")
    if (cfg.hold or cfg.stair) and cfg.schedule != "geometric":
        raise UserError(f"hold and stair shape the geometric schedule, but schedule={cfg.schedule}; "
                        f"set schedule=geometric, or hold=0 and stair=0")


def _geometric(cfg: OptimConfig, total: int, updates: int, steps: int) -> Callable[[int], float]:
    """The geometric decay over the ``total`` updates after the warm-up (of ``updates`` over ``steps`` strategy
    steps), held first and moved in stairs as ``cfg`` says. ``t`` counts from the end of the warm-up."""
    if cfg.stair:
        steps = max(1, steps)
        per_step = max(1, updates // steps)  # this player's updates in one strategy step
        start = int(cfg.hold * steps)

        def stairs(t: int) -> float:
            step = (t + cfg.warmup) // per_step + 1  # the strategy step (1-based) of this update
            k = min(-(-step // cfg.stair) * cfg.stair, steps)  # the last step of its stair
            return cfg.final ** ((k - start) / max(steps - start, 1)) if k > start else 1.0
        return stairs
    held = int(cfg.hold * total)
    return lambda t: cfg.final ** (min(max(t - held, 0), total - held) / max(total - held, 1))


def needs_schedule(cfg: OptimConfig) -> bool:
    """A constant rate without warm-up needs no scheduler."""
    return cfg.schedule != "constant" or cfg.warmup > 0


def make_schedule(optimizer: torch.optim.Optimizer, cfg: OptimConfig, updates: int,
                  steps: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    """A :class:`~torch.optim.lr_scheduler.LambdaLR` with the multiplier :func:`multiplier`."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier(cfg, updates, steps))


def make_optimizer(params: Iterable[nn.Parameter], cfg: OptimConfig, capturable: bool = False,
                   tensor_lr: bool = False) -> torch.optim.Optimizer:
    """Build one player's optimiser from its settings.

    Adam and SGD use torch's fused kernels where torch has them (float32 on a CPU or CUDA: one pass over
    the parameters instead of one per operation); RMSprop uses the multi-tensor (``foreach``) form.
    ``capturable`` (for CUDA-graph capture, :mod:`unigen.cudagraph`) keeps Adam's and RMSprop's step
    counts and learning rates in device tensors; SGD then needs a constant rate. ``tensor_lr`` (for
    :mod:`unigen.traced`) keeps a fused optimiser's rate in a tensor, a graph input that schedules fill in
    place: on a CPU a float64 tensor on the host, where the traced graph's host arithmetic reads it; on CUDA
    a float32 tensor on the device, where the graph's own arithmetic reads it. RMSprop and SGD then need a
    constant rate, which the traced graph holds as a constant.
    """
    params = list(params)
    if cfg.name not in OPTIMISERS:
        raise UserError(f"unknown optimiser {cfg.name!r}; choose {', '.join(OPTIMISERS)}")
    fused = cfg.name in ("adam", "sgd") and _fusable(params) and not (tensor_lr and cfg.name == "sgd")
    if capturable and cfg.name in ("adam", "rmsprop"):
        lr, extra = torch.tensor(cfg.lr, device=params[0].device), {"capturable": True, "foreach": True}
    elif capturable and needs_schedule(cfg):
        raise UserError(f"optimiser {cfg.name} keeps its learning rate on the host, so train.compile=cudagraph "
                        f"needs schedule=constant and warmup=0 for it; use adam or rmsprop, or train.compile=none")
    elif tensor_lr and not fused and needs_schedule(cfg):
        raise UserError(f"optimiser {cfg.name} keeps its learning rate on the host here, so train.compile=trace "
                        f"needs schedule=constant and warmup=0 for it; use adam, or train.compile=none")
    elif tensor_lr and fused and params[0].device.type == "cuda":
        # beside the parameters, where the traced graph reads it (captured or not); float32, as CUDA's fused
        # Adam reads a device rate (a float64 one it refuses)
        lr, extra = torch.tensor(cfg.lr, dtype=torch.float32, device=params[0].device), {"fused": True}
    elif tensor_lr and fused:
        lr, extra = torch.tensor(cfg.lr, dtype=torch.float64), {"fused": True}
    else:
        lr, extra = cfg.lr, ({"fused": True} if fused else {"foreach": True} if cfg.name == "rmsprop" else {})
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay, **extra)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=cfg.alpha, momentum=cfg.momentum,
                                   weight_decay=cfg.weight_decay, **extra)
    return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, **extra)


def _fusable(params: list[nn.Parameter]) -> bool:
    """torch's fused optimisers take floating-point parameters on a CPU or CUDA (all on one device type)."""
    kinds = {p.device.type for p in params}
    return len(kinds) == 1 and kinds <= {"cpu", "cuda"} and all(p.dtype in (torch.float32, torch.float64,
                                                                          torch.float16, torch.bfloat16)
                                                             for p in params)


def set_rate(group: dict, lr: float) -> None:
    """Set a param group's rate: in place where it is a device tensor (a captured graph reads it there)."""
    if isinstance(group["lr"], torch.Tensor):
        group["lr"].fill_(lr)
    else:
        group["lr"] = lr


def apply_settings(optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LambdaLR | None,
                   cfg: OptimConfig, done: int) -> None:
    """Put ``cfg``'s hyper-parameters on a restored ``optimizer`` that has made ``done`` updates.

    The checkpoint's param groups carry the old rate, betas and weight decay; these are replaced by
    ``cfg``'s, and the rate is set to ``cfg.lr × m(done)`` (the scheduler, if any, continues from
    update ``done`` with the new base rate). With unchanged settings this is exactly the rate the
    uninterrupted run would use, so resume stays bit-for-bit.
    """
    for group in optimizer.param_groups:
        group["initial_lr"] = cfg.lr
        group["weight_decay"] = cfg.weight_decay
        if "betas" in group:
            group["betas"] = tuple(cfg.betas)
        if "alpha" in group:
            group["alpha"] = cfg.alpha
        if "momentum" in group:
            group["momentum"] = cfg.momentum
    if scheduler is None:
        for group in optimizer.param_groups:
            set_rate(group, cfg.lr)
        return
    scheduler.base_lrs = [cfg.lr for _ in optimizer.param_groups]
    scheduler.last_epoch = done
    rate = cfg.lr * scheduler.lr_lambdas[0](done)
    for group in optimizer.param_groups:
        set_rate(group, rate)
    scheduler._last_lr = [rate for _ in optimizer.param_groups]


def build_optimizers(params: dict[str, list[nn.Parameter]], settings: Callable[[str], OptimConfig],
                     updates: dict[str, int], total_steps: int, capturable: bool = False, tensor_lr: bool = False):
    """One optimiser per player, and a scheduler for each player whose rate is not constant (over its
    ``updates[player] × total_steps`` updates). Returns ``(optimizers, schedulers)``."""
    for p in params:
        check_schedule(settings(p))  # also where the rate is constant (no scheduler reads the settings)
    optimizers = {p: make_optimizer(ps, settings(p), capturable, tensor_lr) for p, ps in params.items()}
    schedulers = {p: make_schedule(o, settings(p), updates[p] * max(1, total_steps), max(1, total_steps))
                  for p, o in optimizers.items() if needs_schedule(settings(p))}
    return optimizers, schedulers


def step(optimizer: torch.optim.Optimizer) -> None:
    r"""``optimizer.step()``, with one shortcut: a fused Adam whose states exist and that no hook, gradient
    scaler or option outside the plain update watches is stepped by calling its two kernels directly
    (``_foreach_add_`` of the step counts, then ``_fused_adam_``), the calls ``Adam.step`` ends in, with the
    same arguments: the same update bit for bit (tested), without ``Optimizer.step``'s wrappers (profiler
    range, hooks, grad-mode switch, the per-call grouping): about 60 µs of a 90 µs step on a CPU host, which a
    GAN pays twice a step. Anything else, the first update included (it creates the states), goes through
    ``optimizer.step()``."""
    calls = _direct_adam(optimizer)
    if calls is None:
        optimizer.step()
        return
    optimizer._opt_called = True  # what a learning-rate scheduler's wrapper of optimizer.step records
    with torch.no_grad():
        for params, grads, exp_avgs, exp_avg_sqs, steps, group in calls:
            beta1, beta2 = group["betas"]
            torch._foreach_add_(steps, 1)
            torch._fused_adam_(params, grads, exp_avgs, exp_avg_sqs, [], steps, amsgrad=False, lr=group["lr"],
                               beta1=beta1, beta2=beta2, weight_decay=group["weight_decay"], eps=group["eps"],
                               maximize=False, grad_scale=None, found_inf=None)


def _direct_adam(opt: torch.optim.Optimizer) -> list[tuple] | None:
    """The argument lists of :func:`step`'s direct calls, one per param group, or ``None`` where it must not
    take the shortcut. Nothing is changed before every group has passed."""
    override = vars(opt).get("step")  # a learning-rate scheduler's counting wrapper is the only one allowed
    if override is not None and not getattr(override, "_wrapped_by_lr_sched", False):
        return None
    if (type(opt) is not torch.optim.Adam or opt._optimizer_step_pre_hooks or opt._optimizer_step_post_hooks
            or _global_optimizer_pre_hooks or _global_optimizer_post_hooks
            or getattr(opt, "grad_scale", None) is not None or getattr(opt, "found_inf", None) is not None):
        return None
    calls = []
    for group in opt.param_groups:
        if (not group["fused"] or group["amsgrad"] or group["maximize"] or group["capturable"]
                or group["differentiable"] or group["decoupled_weight_decay"] or isinstance(group["lr"], torch.Tensor)
                or any(isinstance(b, torch.Tensor) for b in group["betas"])):
            return None
        params = [p for p in group["params"] if p.grad is not None]
        states = [opt.state.get(p) for p in params]
        if not params or not all(states) or any(p.grad.is_sparse or p.is_complex() for p in params):
            return None
        first = params[0]
        if any(p.device != first.device or p.dtype != first.dtype for p in params):
            return None  # torch groups these by device and dtype: left to it
        calls.append((params, [p.grad for p in params], [s["exp_avg"] for s in states],
                      [s["exp_avg_sq"] for s in states], [s["step"] for s in states], group))
    return calls


#: param-group keys that choose an optimiser's kernels, kept from construction when a checkpoint is loaded
_FORM = ("fused", "foreach", "capturable")


def advance_schedules(schedulers: dict, updates: dict[str, int]) -> None:
    """Move each player's learning-rate schedule by its updates per step (between steps, eager or compiled).

    The schedule counts steps, not applied updates: a step whose update was skipped (``train.on_nan=skip``) or
    replayed from a graph moves it too, so torch's warning that the scheduler stepped before its optimiser
    does not apply and is silenced here. Nothing to move (constant rates): no work a step."""
    if not schedulers:
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=re.escape("Detected call of `lr_scheduler.step()` before"))
        for player, scheduler in schedulers.items():
            for _ in range(updates[player]):
                scheduler.step()


class DamagedState(ValueError):
    """A checkpoint's optimiser or scheduler state that cannot belong to these parameters (a damaged file)."""


def check_optimizer_state(optimizer: torch.optim.Optimizer, saved, player: str) -> None:
    """Refuse an optimiser state that does not fit ``optimizer``'s parameters before torch loads it.

    ``Optimizer.load_state_dict`` checks only the number of parameters per group; a fused Adam then writes
    through a moment of the wrong shape past its buffer (a crash, or non-finite weights). Every per-parameter
    tensor must have its parameter's shape and dtype, ``step`` must be a finite scalar >= 0.

    :raises DamagedState: naming the player, the parameter's position and what is wrong.
    """
    if not isinstance(saved, dict) or not isinstance(saved.get("state"), dict) \
            or not isinstance(saved.get("param_groups"), list):
        raise DamagedState(f"the optimiser state of player {player!r} is not an optimiser's state dict")
    groups = optimizer.param_groups
    if len(saved["param_groups"]) != len(groups) or any(
            not isinstance(g, dict) or not isinstance(g.get("params"), list) or len(g["params"]) != len(h["params"])
            for g, h in zip(saved["param_groups"], groups)):
        raise DamagedState(f"the optimiser state of player {player!r} has other parameter groups than its player")
    params = {i: p for g, h in zip(saved["param_groups"], groups) for i, p in zip(g["params"], h["params"])}
    for i, entry in saved["state"].items():
        if i not in params or not isinstance(entry, dict):
            raise DamagedState(f"the optimiser state of player {player!r} names a parameter {i!r} it does not have")
        p = params[i]
        for name, value in entry.items():
            if name == "step":
                if isinstance(value, torch.Tensor):
                    number = float(value) if value.dim() == 0 and not value.is_complex() else None
                else:
                    number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
                if number is None or not math.isfinite(number) or number < 0:
                    raise DamagedState(f"the optimiser state of player {player!r}, parameter {i}: step is not a "
                                       f"count (a scalar >= 0)")
            elif isinstance(value, torch.Tensor) and (value.shape != p.shape or value.dtype != p.dtype):
                raise DamagedState(f"the optimiser state of player {player!r}, parameter {i}: {name} is "
                                   f"{value.dtype} {tuple(value.shape)}, its parameter {p.dtype} {tuple(p.shape)}")
            elif not isinstance(value, torch.Tensor) and value is not None:
                raise DamagedState(f"the optimiser state of player {player!r}, parameter {i}: {name} is a "
                                   f"{type(value).__name__}, not a tensor")


def restore_optimizers(optimizers: dict, schedulers: dict, state: dict, settings: Callable[[str], OptimConfig],
                       updates: dict[str, int], step: int) -> None:
    """Load each player's optimiser and scheduler state from a checkpoint, then :func:`apply_settings`.

    A rate kept in a tensor (captured or traced runs, which read it there) stays a tensor of its dtype and
    device, whatever the checkpoint holds.
    """
    for p, o in optimizers.items():
        built = [{k: g[k] for k in _FORM if k in g} | {"lr": g["lr"]} for g in o.param_groups]
        check_optimizer_state(o, state["optimizers"][p], p)
        o.load_state_dict(state["optimizers"][p])
        for group, form in zip(o.param_groups, built):  # this run's kernels, whatever the checkpoint's were
            rate = form.pop("lr")
            group.update(form)
            if isinstance(rate, torch.Tensor):
                group["lr"] = torch.tensor(float(group["lr"]), dtype=rate.dtype, device=rate.device)
            if group.get("fused") or group.get("capturable"):  # their step counts live with the parameters
                for q in group["params"]:
                    if isinstance(o.state.get(q, {}).get("step"), torch.Tensor):
                        o.state[q]["step"] = o.state[q]["step"].to(q.device, torch.float32)
    for p, o in optimizers.items():
        sch = schedulers.get(p)
        done = step * updates[p]
        if sch is not None and p in state["schedulers"]:
            sch.load_state_dict(state["schedulers"][p])
            done = sch.last_epoch
        apply_settings(o, sch, settings(p), done)
