r"""Non-finite losses, gradients and weights, watched on the device and read on the host at chosen times.

One accumulator per run, on the device: after every step (:meth:`FiniteWatch.after_step`) the 2-norms of
every parameter and of every loss the step's updates produced are summed into it, in float64. A non-finite
loss, or a non-finite gradient (Adam, RMSprop and SGD carry it into the weights: :math:`\infty/\infty` and
NaN both give NaN), or weights an update made non-finite (an infinite rate) make the sum non-finite, and a
non-finite float64 sum stays so; float32 inputs cannot overflow it. That is one fused ``_foreach_norm``, a
``stack``, a ``sum`` and an ``add_`` a step (capture-safe), instead of two norms per player and update. A
traced update (``train.compile=trace``) adds its own players' norms inside its graph, where inductor fuses
them into the optimiser's loops (:meth:`FiniteWatch.after_update`).
:meth:`FiniteWatch.raise_if_bad` reads it in one host sync and, only when it is bad, finds the cause on the
host (the first player whose loss or gradients, else whose weights, are not finite) for
:class:`NonFiniteError`. On CUDA that sync would stall an eager run every step, so a per-step check is
*lagged* instead (:meth:`FiniteWatch.post`, :meth:`FiniteWatch.poll`): each step's value is copied into
pinned host memory without blocking, behind an event, and read once the device has reached the event, at
most :attr:`FiniteWatch.depth` steps later; the step it names is still the step that went bad. With ``skip``
(eager only) each update's losses and gradients are checked before its optimiser steps, on the host, and a
bad update is dropped; :class:`SkippedTooOften` stops a run whose recent updates are mostly dropped.
"""
from __future__ import annotations

from collections import deque

import torch
from torch import Tensor, nn


class NonFiniteError(RuntimeError):
    """A player's loss or gradient, or its weights after an update, became NaN or infinite."""

    def __init__(self, player: str, step: int, exact: bool = True, what: str = "a non-finite loss or gradient"):
        when = f"at step {step}" if exact else f"by step {step}"
        super().__init__(f"player {player!r} had {what} {when}")
        self.player, self.step, self.what = player, step, what


class SkippedTooOften(NonFiniteError):
    """With skipping on, more than the allowed share of recent updates was skipped."""

    def __init__(self, skipped: int, seen: int, limit: float, step: int):
        RuntimeError.__init__(self, f"{skipped} of the last {seen} updates were skipped for non-finite losses or "
                              f"gradients (over the train.max_skipped={limit:g} share) by step {step}, so the run "
                              f"is not training")
        self.player, self.step, self.what = "", step, "skipped updates"


def nonfinite(loss: Tensor | None, tensors: list[Tensor]) -> Tensor:
    """``True`` (on the device) if ``loss`` or any of ``tensors`` is not finite.

    One fused 2-norm (20× cheaper on a CPU than the max-norm); it also reads values beyond ~1e19,
    whose squares overflow, as non-finite: a run there has diverged anyway.
    """
    tensors = [t for t in tensors if t is not None]
    device = tensors[0].device if tensors else loss.device
    total = torch.zeros((), device=device) if loss is None else loss.detach().float()
    if tensors:
        total = total + torch.stack(torch._foreach_norm(tensors)).float().sum()
    return ~torch.isfinite(total)


class FiniteWatch:
    """The run's accumulator of norms, the losses of the step being taken, the skip record, and their reads."""

    #: most steps a lagged read may trail the step it reads (then :meth:`post` waits for the oldest)
    depth = 8

    def __init__(self, params: dict[str, list[nn.Parameter]], device: torch.device, skip: bool = False,
                 max_skipped: float = 0.5, window: int = 100, lagged: bool | None = None):
        self.params, self.skip, self.max_skipped = params, skip, max_skipped
        self.every = [p for ps in params.values() for p in ps]
        self.total = torch.zeros((), dtype=torch.float64 if device.type != "mps" else torch.float32, device=device)
        #: whether per-step reads are lagged (default: on CUDA, whose host would otherwise wait every step)
        self.lagged = device.type == "cuda" if lagged is None else lagged
        self.reads = torch.zeros(self.depth, dtype=self.total.dtype, pin_memory=device.type == "cuda")
        self.pending: deque[tuple[int, int, object, dict]] = deque()  # (step, slot, event, that step's losses)
        self.posted = 0
        self.losses: dict[str, list[Tensor]] = {p: [] for p in params}  # this step's applied updates
        self.last: dict[str, list[Tensor]] = {}  # the last finished step's (for a diagnosis)
        self.recent: deque[bool] = deque(maxlen=window)
        self.skipped = 0

    def loss(self, player: str, value: Tensor) -> None:
        """Note an applied update's loss (a device tensor) for this step's check."""
        self.losses[player].append(value)

    def after_step(self, add: bool = True) -> None:
        """Add this step's norms (every parameter, every noted loss) into the accumulator (unless ``add`` is
        false: a traced update added its own, :meth:`after_update`); keep the losses for a diagnosis."""
        if add:
            self._add(self.every + [v for vs in self.losses.values() for v in vs])
        self.last = self.losses
        self.losses = {p: [] for p in self.params}

    def after_update(self, players, values: dict[str, Tensor]) -> None:
        """The same for one update of ``players`` (inside a traced update, where inductor fuses the norms into
        the optimiser's loops; an eager step adds once, after all its updates)."""
        self._add([p for player in players for p in self.params[player]] + [values[p] for p in players])

    def _add(self, tensors: list[Tensor]) -> None:
        with torch.no_grad():  # the norms of parameters would otherwise grow an autograd graph step by step
            norms = torch._foreach_norm(tensors)
            if len({n.dtype for n in norms}) > 1:
                norms = [n.float() for n in norms]
            self.total.add_(torch.stack(norms).sum())

    def bad_update(self, players, values: dict[str, Tensor]) -> bool:
        """Skip mode: whether an update's losses or fresh gradients are not finite (a host read)."""
        grads = [p.grad for player in players for p in self.params[player]]
        return bool(nonfinite(torch.stack([values[p].detach().float() for p in players]).sum(), grads))

    def drop(self, bad: bool, step: int) -> bool:
        """Skip mode: record whether this update is dropped; stop once too many recent ones were."""
        self.recent.append(bad)
        self.skipped += bad
        n, k = len(self.recent), sum(self.recent)
        if n >= min(20, self.recent.maxlen) and k > self.max_skipped * n:
            raise SkippedTooOften(k, n, self.max_skipped, step)
        return bad

    def post(self, step: int) -> None:
        """Queue a read of the accumulator as it stands after ``step``, without waiting for the device: a
        non-blocking copy into a pinned slot, behind a CUDA event (elsewhere the copy is done at once). With
        :attr:`depth` reads queued, the oldest is waited for and read first."""
        if len(self.pending) == self.depth:
            self._read(*self.pending.popleft())
        slot = self.posted % self.depth  # the oldest queued read used this slot, and it was read just above
        self.reads[slot].copy_(self.total, non_blocking=self.total.device.type == "cuda")
        self.pending.append((step, slot, self._event(), self.last))
        self.posted += 1

    def _event(self):
        """A marker of how far the device has run (CUDA); ``None`` where a copy is done when issued."""
        if self.total.device.type != "cuda":
            return None
        event = torch.cuda.Event()
        event.record(torch.cuda.current_stream(self.total.device))  # the copy's stream, on the watch's GPU
        return event

    def poll(self) -> None:
        """Read, in order, every queued read whose copy has finished; raise at the first bad one."""
        while self.pending and (self.pending[0][2] is None or self.pending[0][2].query()):
            self._read(*self.pending.popleft())

    def _read(self, step: int, slot: int, event, losses: dict) -> None:
        if event is not None and not event.query():
            event.synchronize()
        if not bool(torch.isfinite(self.reads[slot])):
            self.pending.clear()
            self._diagnose(step, True, losses, lagged=True)

    def raise_if_bad(self, step: int, exact: bool = True) -> None:
        """Read the accumulator (one host sync; queued lagged reads first, in order, so that a lagged run still
        names the step that went bad); if it is not finite, raise for the first bad player."""
        while self.pending:
            self._read(*self.pending.popleft())
        if bool(torch.isfinite(self.total)):
            return
        self._diagnose(step, exact, self.last)

    def _diagnose(self, step: int, exact: bool, losses: dict, lagged: bool = False) -> None:
        """Raise for the first player whose losses (of the bad step) or gradients, else weights, are not
        finite. ``lagged``: the gradients and weights are some steps later than ``losses``, and a NaN may have
        spread to every player by then, so the bad step's own losses are checked first, for every player."""
        if lagged:
            for player in self.params:
                if any(bool(nonfinite(v, [])) for v in losses.get(player, ())):
                    raise NonFiniteError(player, step, exact)
        for player, params in self.params.items():
            if any(bool(nonfinite(v, [])) for v in losses.get(player, ())) or bool(
                    nonfinite(None, [p.grad for p in params])):
                raise NonFiniteError(player, step, exact)
            if bool(nonfinite(None, list(params))):
                raise NonFiniteError(player, step, exact, what="non-finite weights after an update (a learning "
                                     "rate too high?)")
        # a captured run reads every log_every steps: a bad loss of an earlier step that left gradients and weights
        # finite has no trace left, so the first player is named
        raise NonFiniteError(next(iter(self.params)), step, exact)

    def check_weights(self, step: int) -> None:
        """Raise if any player's parameters are not finite now (before a checkpoint is written)."""
        bad = torch.stack([nonfinite(None, list(ps)) for ps in self.params.values()]).tolist()
        for player, flag in zip(self.params, bad):
            if flag:
                raise NonFiniteError(player, step, exact=False, what="non-finite weights")
