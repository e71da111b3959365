r"""The strategy interface: programs plus a batch in, one loss per player out.

A *player* is a set of parameters stepped by one optimiser (``"generator"``, ``"discriminator"``,
``"vae"``, ``"model"``/``"guide"`` for wake-sleep). A strategy declares

* ``players`` — which roles' parameters each player owns;
* ``phases()`` — the order of updates in one training step. A :class:`Phase` names the players it
  updates, how many times it repeats (``n_critic``), and a loss function
  ``loss(programs, batch) -> {player: scalar loss, other: diagnostic}``. Every repeat draws a fresh
  batch. Players of one phase are differentiated from the same forward pass and stepped together
  (e.g. reweighted wake-sleep); GANs use two phases so the generator sees the updated critic.
* ``after_update(programs, player)`` — an in-place, capture-safe hook (weight clipping).

A loss dict holds one scalar per player plus diagnostics, whose names are one vocabulary across
strategies (listed with their meanings in :data:`unigen.plots.COMMON_MEANINGS`): ``bound`` is the lower
bound on log p(x) per example that a VAE-family strategy maximises (ELBO, IWAE, M2's bound, ...),
``d_real``/``d_fake`` the mean critic logit on real and generated samples, ``adversarial`` and
``reconstruction`` the two terms of a hybrid loss, ``ess`` an effective sample size. A strategy's own names
are declared with their meanings in its ``meanings`` (the titles of ``losses.png``; the contract test checks
that every logged name is a player, shared, or declared there).

Strategies are frozen dataclasses whose fields are their settings; they hold no state, no
optimisers and no data. Loss functions must be capture-safe (see :mod:`unigen.programs`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar

from torch import Tensor

from unigen.needs import Needs
from unigen.programs import Batch, Programs

LossFn = Callable[[Programs, Batch], dict[str, Tensor]]


@dataclass(frozen=True)
class Phase:
    """One update of some players: ``repeats`` times, each on a fresh batch."""

    players: tuple[str, ...]
    loss: LossFn
    repeats: int = 1


@dataclass(frozen=True)
class Strategy:
    """Base class of every inference strategy (subclasses are registered dataclasses)."""

    needs: ClassVar[Needs] = Needs()  # roles, labels, a density at x, capturability (unigen.needs)
    players: ClassVar[dict[str, tuple[str, ...]]] = {}
    registry_name: ClassVar[str] = ""
    #: the strategy's own logged names and what each means (beyond :data:`unigen.plots.COMMON_MEANINGS`)
    meanings: ClassVar[dict[str, str]] = {}
    #: the logged losses that are a BCE critic's (``losses.png`` draws 2 ln 2, their value at D = 1/2, beside them)
    bce_losses: ClassVar[tuple[str, ...]] = ()

    def phases(self) -> tuple[Phase, ...]:
        raise NotImplementedError

    def attach(self, programs: Programs) -> None:
        """Add the strategy's running statistics (buffers, e.g. LeCam's anchors) to ``programs.strategy_state``:
        called by the trainer, by ``assemble.build`` and when an export is loaded, so that checkpoints and exports
        hold them and a resumed run continues them; idempotent. Most strategies have none."""

    def after_update(self, programs: Programs, player: str) -> None:
        """Called after each optimiser step of ``player``; in-place and capture-safe."""

    def log_hook(self):
        """A hook ``(step, window means) -> more values`` the trainer runs at each log step (a diagnostic that warns,
        e.g. AVB's :class:`~unigen.inference.avb.CriticWatch`), or ``None``."""
        return None

    def check(self, programs: Programs, data=None, probe: Batch | None = None) -> None:
        """Refuse programs or data that cannot serve this strategy (:meth:`unigen.needs.Needs.check`)."""
        self.needs.check(programs, data, probe)


def chain_hooks(*hooks):
    """One log hook running ``hooks`` (``None`` skipped) in order, each seeing the values the earlier ones added."""
    hooks = [h for h in hooks if h is not None]
    if len(hooks) < 2:
        return hooks[0] if hooks else None

    def chained(step: int, values: dict) -> dict:
        added = {}
        for hook in hooks:
            added.update(hook(step, {**values, **added}) or {})
        return added

    return chained
