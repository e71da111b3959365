r"""An exponential moving average of one player's weights (Yazıcı et al., "The Unusual Effectiveness of Averaging
in GAN Training", ICLR 2019): the "generator EMA" of modern GAN practice.

After every strategy step :math:`t` the average :math:`\bar\theta` of the player's parameters :math:`\theta_t`
moves as

.. math::

    \bar\theta_t = \theta_t \quad (t \le t_0), \qquad
    \bar\theta_t = \beta\,\bar\theta_{t-1} + (1 - \beta)\,\theta_t \quad (t > t_0),

with the decay :math:`\beta` (``train.ema``, e.g. 0.999) and the start step :math:`t_0` (``train.ema_start``), so
:math:`\bar\theta_T = \beta^{T - t_0}\theta_{t_0} + (1 - \beta)\sum_{t = t_0 + 1}^{T} \beta^{T - t}\theta_t`. The
averaging is :func:`torch.optim.swa_utils.get_ema_multi_avg_fn`'s (one fused ``lerp`` over the tensors).
Buffers are not averaged. Batch-norm statistics are recomputed for the averaged weights before they are used
(``train.ema_bn`` batches; BigGAN's *standing statistics*, Brock et al. 2019, StudioGAN's batch-statistics pass for
its EMA generator): the running means and variances of the averaged player's batch norms are reset and
accumulated as plain averages (``momentum=None``) over that many batches of 256 samples of the model drawn with
the averaged weights, the norms in training mode and everything else in evaluation mode; a batch norm the draw
does not run (an encoder's) keeps its statistics. The trained weights' statistics belong to other weights: on
the gan-practice DCGAN (3,000 steps, Fashion-MNIST, seed 0) the averaged generator scored FID 87.8 with them and
75.3 with standing statistics of 50 batches of 64. The draws run on a forked random generator (the run's random
numbers do not move) and the statistics are put back afterwards (training continues on its own).

The averaged player is the one that owns the model (a GAN's generator, a VAE) unless ``train.ema_player`` names
another. Sampling, evaluation and export use the averaged weights (the run says so); the checkpoint holds the
average and its step, so a resumed run continues it bit for bit, and ``programs_ema``, the programs' state with
the averaged tensors in place of the player's, which ``unigen sample``/``eval``/``export`` load.
"""
from __future__ import annotations

from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import torch
from torch import nn
from torch.optim.swa_utils import get_ema_multi_avg_fn

from unigen.errors import UserError


@dataclass(frozen=True)
class EMASettings:
    """``train.ema``, ``train.ema_start``, ``train.ema_player`` and ``train.ema_bn`` (``decay = 0``: no average)."""

    decay: float = 0.0
    start: int = 0
    player: str = ""
    bn_batches: int = 32

    def for_players(self, players: dict[str, tuple[str, ...]], num_classes: int | None = None
                    ) -> tuple[str, EMASettings, int | None] | None:
        """``(averaged player, self, num_classes)`` for a strategy with these players, or ``None`` when off;
        ``num_classes``: the labels the standing-statistics draws give a conditional model (``None``: none)."""
        return (self.pick(players), self, num_classes) if self.decay else None

    def pick(self, players: dict[str, tuple[str, ...]]) -> str:
        """The averaged player: the one named, or the one whose roles include the model."""
        if self.player:
            if self.player not in players:
                raise UserError(f"train.ema_player={self.player!r} is not a player of this strategy; choose one of "
                                f"{', '.join(players)} (or leave it empty: the player that owns the model)")
            return self.player
        owner = next((p for p, roles in players.items() if "model" in roles), None)
        if owner is None:
            raise UserError(f"train.ema: no player of this strategy owns the model (players {', '.join(players)}); "
                            f"name the averaged one with train.ema_player")
        return owner


#: samples a batch of the standing-statistics pass
STANDING_BATCH = 256
#: the seed of its draws (on a forked generator)
STANDING_SEED = 0


class WeightAverage:
    """The average :math:`\\bar\\theta` of one player's parameters (module docstring)."""

    def __init__(self, player: str, params: list[nn.Parameter], settings: EMASettings, num_classes: int | None = None):
        self.player, self.params, self.settings = player, params, settings
        self.num_classes = num_classes  # labels for the standing-statistics draws of a conditional model
        self.values = [p.detach().clone() for p in params]
        self.step = 0  # the strategy step the average has reached
        # the last standing statistics: (programs, step) they were drawn for, and each norm's buffers; a checkpoint,
        # the samples and the evaluation at one step reuse them (they depend only on the average and the seed)
        self._standing: tuple[tuple[int, int], list[list[torch.Tensor]]] | None = None
        self._lerp = get_ema_multi_avg_fn(settings.decay)

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Move the average to strategy step ``step`` (called after each step)."""
        current = [p.detach() for p in self.params]
        if step <= self.settings.start:
            torch._foreach_copy_(self.values, current)
        else:
            self._lerp(self.values, current, None)
        self.step, self._standing = step, None

    @contextmanager
    def swapped_in(self, programs: nn.Module | None = None):
        """The player's parameters hold the average inside the block, their own values again after it; given the
        ``programs``, its batch norms hold standing statistics for the average (module docstring)."""
        own = [p.detach().clone() for p in self.params]
        with torch.no_grad():
            torch._foreach_copy_([p.detach() for p in self.params], self.values)
        try:
            with self.standing_statistics(programs) if programs is not None else nullcontext():
                yield
        finally:
            with torch.no_grad():
                torch._foreach_copy_([p.detach() for p in self.params], own)

    def batch_norms(self, programs: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
        """The averaged player's batch norms that keep running statistics (found by their affine weights)."""
        mine = {id(p) for p in self.params}
        return [m for m in programs.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
                and m.track_running_stats and m.weight is not None and id(m.weight) in mine]

    @contextmanager
    def standing_statistics(self, programs: nn.Module):
        """Inside the block the player's batch norms hold the statistics of the current weights over
        ``settings.bn_batches`` batches of :data:`STANDING_BATCH` model samples (drawn once per step of the
        average: a later block at the same step reuses them); their own statistics again after it. Momenta and
        every module's mode are the caller's inside the block and after it."""
        from unigen.scoring import generate  # (scoring imports the programs; ema stays light)

        norms = self.batch_norms(programs) if self.settings.bn_batches else []
        if not norms:
            yield
            return
        modes = [(m, m.training) for m in programs.modules()]
        saved = [(m, m.momentum, [b.clone() for b in m.buffers(recurse=False)]) for m in norms]
        device = norms[0].running_mean.device
        key = (id(programs), self.step)
        try:
            if self._standing is not None and self._standing[0] == key:  # drawn already for this average
                with torch.no_grad():
                    for m, buffers in zip(norms, self._standing[1]):
                        torch._foreach_copy_(list(m.buffers(recurse=False)), buffers)
                yield
                return
            with torch.no_grad(), torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
                torch.manual_seed(STANDING_SEED)
                programs.eval()
                for m in norms:
                    m.reset_running_stats()
                    m.momentum = None  # a plain average over the batches
                    m.train()
                for _ in range(self.settings.bn_batches):
                    c = None if not self.num_classes else torch.randint(self.num_classes, (STANDING_BATCH,),
                                                                        device=device)
                    generate(programs, STANDING_BATCH, c)
                for m, momentum, buffers in saved:
                    m.momentum = momentum
                    if int(m.num_batches_tracked) == 0:  # not run by the draw (an encoder's): its own statistics
                        torch._foreach_copy_(list(m.buffers(recurse=False)), buffers)
            for m, training in modes:
                m.training = training
            self._standing = (key, [[b.clone() for b in m.buffers(recurse=False)] for m in norms])
            yield
        finally:
            with torch.no_grad():
                for m, momentum, buffers in saved:
                    torch._foreach_copy_(list(m.buffers(recurse=False)), buffers)
                    m.momentum = momentum
            for m, training in modes:
                m.training = training

    def programs_state(self, programs: nn.Module) -> dict:
        """``programs.state_dict()`` with the average in place of the player's tensors held inside the programs
        (and its batch norms' standing statistics)."""
        with self.swapped_in(programs):
            return {k: v.clone() for k, v in programs.state_dict().items()}

    def state_dict(self) -> dict:
        return {"player": self.player, "step": self.step, "values": [v.clone() for v in self.values]}

    def load_state_dict(self, state: dict | None) -> None:
        """Restore :meth:`state_dict`; without one (a checkpoint of a run without EMA) start from the current
        weights."""
        self._standing = None
        if state is None:
            self.values = [p.detach().clone() for p in self.params]
            return
        values = state["values"]
        if state.get("player") != self.player or len(values) != len(self.params) or any(
                v.shape != p.shape for v, p in zip(values, self.params)):
            raise ValueError(f"the checkpoint's weight average is of another player or shape "
                             f"({state.get('player')!r}, {len(values)} tensors)")
        self.values = [v.to(p.device, p.dtype).clone() for v, p in zip(values, self.params)]
        self.step = int(state["step"])


@contextmanager
def scoring_weights(built, average: WeightAverage | None):
    """Sample and evaluate with the weight average of ``train.ema`` when one is kept (``average``) (``built.weights``
    says so, and ``eval.json`` with it), with the trained weights otherwise; the trained ones are put back."""
    if average is None:
        yield
        return
    with average.swapped_in(built.programs):
        built.weights = "ema"
        try:
            yield
        finally:
            built.weights = "trained"
