r"""Non-finite losses, gradients and weights, watched on the device and read on the host at chosen times.

One accumulator per run, on the device, with a float64 sum per player: after every step
(:meth:`FiniteWatch.after_step`) the 2-norms of each player's parameters and of the losses of its updates
are added into its sum. A non-finite loss, or a non-finite gradient (Adam, RMSprop and SGD carry it into
the weights: :math:`\infty/\infty` and NaN both give NaN), or weights an update made non-finite (an
infinite rate) make that player's sum non-finite, and a non-finite float64 sum stays so; float32 inputs
cannot overflow it. That is one fused ``_foreach_norm``, a ``stack`` and an ``index_add_`` a step
(capture-safe), instead of two norms per player and update. A traced update (``train.compile=trace``) adds
its own players' norms inside its graph, where inductor fuses them into the optimiser's loops
(:meth:`FiniteWatch.after_update`). :meth:`FiniteWatch.raise_if_bad` reads it in one host sync and, only
when it is bad, names the first player whose sum went bad and finds the cause on the host (its loss or
gradients, else its weights, not finite) for
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
        #: one float64 sum per player, in the order of ``params``
        self.total = torch.zeros(len(params), dtype=torch.float64 if device.type != "mps" else torch.float32,
                                 device=device)
        self.owners: dict[tuple, Tensor] = {}  # tensors per player -> the player index of each norm, on the device
        #: whether per-step reads are lagged (default: on CUDA, whose host would otherwise wait every step)
        self.lagged = device.type == "cuda" if lagged is None else lagged
        self.reads = torch.zeros((self.depth, len(params)), dtype=self.total.dtype, pin_memory=device.type == "cuda")
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
            self._add([ps + self.losses[p] for p, ps in self.params.items()])
        self.last = self.losses
        self.losses = {p: [] for p in self.params}

    def after_update(self, players, values: dict[str, Tensor]) -> None:
        """The same for one update of ``players`` (inside a traced update, where inductor fuses the norms into
        the optimiser's loops; an eager step adds once, after all its updates)."""
        self._add([self.params[p] + [values[p]] if p in players else [] for p in self.params])

    def _add(self, groups: list[list[Tensor]]) -> None:
        """Add the 2-norms of each player's tensors (``groups``, in the players' order) into its sum: one fused
        norm, a ``stack`` and an ``index_add_`` by a cached index of owners (made on the first step, before any
        capture or trace)."""
        counts = tuple(len(g) for g in groups)
        owners = self.owners.get(counts)
        if owners is None:
            owners = torch.repeat_interleave(torch.arange(len(groups)), torch.tensor(counts)).to(self.total.device)
            self.owners[counts] = owners
        with torch.no_grad():  # the norms of parameters would otherwise grow an autograd graph step by step
            norms = torch._foreach_norm([t for g in groups for t in g])
            if len({n.dtype for n in norms}) > 1:
                norms = [n.float() for n in norms]
            self.total.index_add_(0, owners, torch.stack(norms).to(self.total.dtype))

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
        if not bool(torch.isfinite(self.reads[slot]).all()):
            self.pending.clear()
            self._diagnose(self.reads[slot], step, True, losses)

    def after_step_read(self, step: int, check_every: int) -> None:
        """After step ``step`` of a run that reads the watch every ``check_every`` steps (0: never): on CUDA, every
        step, a lagged read (:meth:`post`, :meth:`poll`: never waiting for the device); else a read when due."""
        if check_every == 1 and self.lagged:
            self.post(step)
            self.poll()
        elif check_every and step % check_every == 0:
            self.raise_if_bad(step, exact=check_every == 1)

    def raise_if_bad(self, step: int, exact: bool = True) -> None:
        """Read the accumulator (one host sync; queued lagged reads first, in order, so that a lagged run still
        names the step that went bad); if it is not finite, raise for the first player whose sum is not."""
        while self.pending:
            self._read(*self.pending.popleft())
        sums = self.total.cpu()
        if bool(torch.isfinite(sums).all()):
            return
        self._diagnose(sums, step, exact, self.last)

    def _diagnose(self, sums: Tensor, step: int, exact: bool, losses: dict) -> None:
        """Raise for the first player whose sum went bad, saying whether its loss or gradients (checked on its
        losses of the bad step, then its gradients now) or else its weights are not finite."""
        player = list(self.params)[int((~torch.isfinite(sums)).nonzero()[0])]
        params = self.params[player]
        if any(bool(nonfinite(v, [])) for v in losses.get(player, ())) or bool(
                nonfinite(None, [p.grad for p in params])):
            raise NonFiniteError(player, step, exact)
        if bool(nonfinite(None, list(params))):
            raise NonFiniteError(player, step, exact, what="non-finite weights after an update (a learning "
                                 "rate too high?)")
        # read late (a captured run reads every log_every steps, a lagged one some steps later): a bad loss that
        # left gradients and weights finite has no trace left but the player's sum
        raise NonFiniteError(player, step, exact)

    def check_weights(self, step: int) -> None:
        """Raise if any player's parameters are not finite now (before a checkpoint is written)."""
        bad = torch.stack([nonfinite(None, list(ps)) for ps in self.params.values()]).tolist()
        for player, flag in zip(self.params, bad):
            if flag:
                raise NonFiniteError(player, step, exact=False, what="non-finite weights")
