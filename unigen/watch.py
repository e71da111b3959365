"""Non-finite losses, gradients and weights, watched on the device and read on the host at chosen times.

Each update ORs two per-player device flags: "loss or gradient not finite" (after the backward pass)
and "weights not finite" (after the optimiser step, e.g. an infinite rate). Both are one fused 2-norm
per player, capture-safe. :meth:`FiniteWatch.raise_if_bad` reads all flags in one host sync and
raises :class:`NonFiniteError` naming the first bad player. With ``skip`` (eager only) a bad update
is dropped instead, and :class:`SkippedTooOften` stops a run whose recent updates are mostly dropped.
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
    """The per-player flags, the skip record, and their reads."""

    def __init__(self, params: dict[str, list[nn.Parameter]], device: torch.device, skip: bool = False,
                 max_skipped: float = 0.5, window: int = 100):
        self.params, self.skip, self.max_skipped = params, skip, max_skipped
        self.grads = {p: torch.zeros((), dtype=torch.bool, device=device) for p in params}
        self.weights = {p: torch.zeros((), dtype=torch.bool, device=device) for p in params}
        self.recent: deque[bool] = deque(maxlen=window)
        self.skipped = 0

    def bad_update(self, player: str, loss: Tensor) -> Tensor:
        """The flag of ``player``'s loss and fresh gradients (device)."""
        return nonfinite(loss, [p.grad for p in self.params[player]])

    def record(self, player: str, flag: Tensor) -> None:
        self.grads[player] |= flag

    def after_update(self, player: str) -> None:
        self.weights[player] |= nonfinite(None, list(self.params[player]))

    def drop(self, bad: bool, step: int) -> bool:
        """Skip mode: record whether this update is dropped; stop once too many recent ones were."""
        self.recent.append(bad)
        self.skipped += bad
        n, k = len(self.recent), sum(self.recent)
        if n >= min(20, self.recent.maxlen) and k > self.max_skipped * n:
            raise SkippedTooOften(k, n, self.max_skipped, step)
        return bad

    def raise_if_bad(self, step: int, exact: bool = True) -> None:
        """Read every flag (one host sync); raise for the first bad player."""
        players = list(self.params)
        flags = torch.stack([self.grads[p] for p in players] + [self.weights[p] for p in players]).tolist()
        for i, player in enumerate(players):
            if flags[i]:
                raise NonFiniteError(player, step, exact)
            if flags[len(players) + i]:
                raise NonFiniteError(player, step, exact, what="non-finite weights after an update (a learning "
                                     "rate too high?)")

    def check_weights(self, step: int) -> None:
        """Raise if any player's parameters are not finite now (before a checkpoint is written)."""
        bad = torch.stack([nonfinite(None, list(ps)) for ps in self.params.values()]).tolist()
        for player, flag in zip(self.params, bad):
            if flag:
                raise NonFiniteError(player, step, exact=False, what="non-finite weights")
