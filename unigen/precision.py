"""Mixed precision (``train.precision``): each update's forward pass under :func:`torch.autocast`.

* ``float32``: no autocast (the default; runs are bit for bit as without this module).
* ``bf16``: autocast to bfloat16 on a CPU or a GPU. bfloat16 keeps float32's exponent range, so no loss scaling
  is needed.
* ``fp16``: autocast to float16 with a :class:`torch.amp.GradScaler` per player, on CUDA only. A scaled step
  whose gradients overflow is skipped by the scaler and its scale halved; those skips are counted
  (``scaler_skips`` in the log), and the scalers' states go into the checkpoint. The non-finite watch sums weights and losses, not gradients, so a skipped step
  is not a divergence to it; weights or losses that do go non-finite still stop the run.

What stays in float32 whatever the setting: the gradient penalties (``unigen.inference.penalties.grad_norm``
runs the critic with autocast off on float32 inputs: the double backward of a half-precision critic is where
WGAN-GP goes NaN, StudioGAN's issue #175) and the log-densities of traces (``unigen.scoring.log_prob`` scores
float32 values, so Normal and Bernoulli likelihoods are summed in float32), LeCam's anchors, the watch's sums.

Refused in one line: ``fp16`` without CUDA (use ``bf16``), ``fp16`` with ``train.compile`` other than ``none``
(the scaler decides on the host whether to apply a step, which a graph cannot), and ``fp16`` with
``train.on_nan=skip`` (the watch would drop the scaler's overflows before the scaler could lower its scale).
"""
from __future__ import annotations

from contextlib import nullcontext

import torch

from unigen.errors import UserError

DTYPES = {"float32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    """The autocast context of a run's updates and, for ``fp16``, the players' gradient scalers."""

    def __init__(self, mode: str, device: torch.device, compile: str, players=(), skip_nonfinite: bool = False):
        if mode not in DTYPES:
            raise UserError(f"train.precision={mode!r} is not one of {', '.join(DTYPES)}; choose one of them")
        if mode == "fp16" and device.type != "cuda":
            raise UserError(f"train.precision=fp16 needs a CUDA device (its gradient scaler), but the run is on "
                            f"{device.type}; use train.precision=bf16 there")
        if mode == "fp16" and compile != "none":
            raise UserError(f"train.precision=fp16 decides on the host whether to apply each step (its gradient "
                            f"scaler), which train.compile={compile} cannot; use train.precision=bf16 with it")
        if mode == "fp16" and skip_nonfinite:  # the watch would drop the scaler's overflows before it sees them
            raise UserError("train.precision=fp16 skips overflowing steps itself (its gradient scaler); use "
                            "train.on_nan=error with it")
        self.mode, self.device, self.dtype = mode, device, DTYPES[mode]
        self.scalers = {p: torch.amp.GradScaler(device.type) for p in players} if mode == "fp16" else {}
        self.skips = 0  # fp16: steps the scalers skipped for overflowing gradients

    def state_dict(self) -> dict:
        """The scalers' states and the skip count (fp16; empty otherwise), for checkpoints."""
        return {"scalers": {p: s.state_dict() for p, s in self.scalers.items()}, "skips": self.skips} \
            if self.scalers else {}

    def load_state_dict(self, state: dict | None) -> None:
        """Restore :meth:`state_dict`; a checkpoint without one (written in another precision) starts afresh."""
        for p, s in ((state or {}).get("scalers") or {}).items():
            if p in self.scalers:
                self.scalers[p].load_state_dict(s)
        self.skips = int((state or {}).get("skips", 0))

    def autocast(self):
        """The forward pass's context: autocast to the run's dtype, or nothing for float32."""
        return nullcontext() if self.dtype is None else torch.autocast(self.device.type, dtype=self.dtype)

    def scaled(self, player: str, loss: torch.Tensor) -> torch.Tensor:
        """The loss to differentiate: scaled by the player's scaler under fp16."""
        return self.scalers[player].scale(loss) if player in self.scalers else loss

    def step(self, player: str, optimizer: torch.optim.Optimizer, plain_step) -> None:
        """Step one optimiser: ``plain_step(optimizer)``, or through the player's scaler under fp16 (counting a skip
        when it lowers its scale: an overflow)."""
        scaler = self.scalers.get(player)
        if scaler is None:
            plain_step(optimizer)
            return
        before = scaler.get_scale()
        scaler.step(optimizer)
        scaler.update()
        self.skips += int(scaler.get_scale() < before)
