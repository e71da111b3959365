"""Assembling a run from its resolved config: the device, the seeds, the training data on the device and the
programs the strategy needs (:func:`build` returns them as :class:`Built`)."""
from __future__ import annotations

import functools

import random
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pyro
import torch

from unigen.augment import augment_critics
from unigen.config import PLACEMENTS, Resolved, check_device_name, optim_config
from unigen.data import TensorData
from unigen.data.stream import fits_on_device
from unigen.distributed import World, from_env, local_device
from unigen.augment import ada_controller
from unigen.ema import EMASettings
from unigen.errors import UserError
from unigen.programs import DataInfo, Programs
from unigen.roles import needed_roles
from unigen.trainer import Trainer


def pick_device(name: str, key: str = "train.device") -> torch.device:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (an existing GPU); anything else is refused in one line."""
    device = check_device_name(name, key)
    if device is None:  # auto
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda" and not torch.cuda.is_available():
        fix = "--device cpu" if key == "--device" else "train.device=cpu"
        raise UserError(f"{key}={name} but no CUDA device is available; use {fix}")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UserError(f"{key}={name} but this machine has {torch.cuda.device_count()} CUDA device(s) "
                        f"(cuda:0..cuda:{torch.cuda.device_count() - 1})")
    return device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    pyro.set_rng_seed(seed)


@contextmanager
def seeded(built: "Built"):
    """Run a block on random streams seeded with ``train.seed`` and the programs in eval mode, then give every
    stream (torch's on the CPU and the run's GPU, Python's, NumPy's) its state and every module its mode back:
    what the block draws is fixed, and a training around it draws as if it had not run."""
    devices = [built.device] if built.device.type == "cuda" else []
    modes = {m: m.training for m in built.programs.modules()}
    py, npy = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=devices):
        seed_everything(built.config.train.seed)
        built.programs.eval()
        try:
            yield
        finally:
            random.setstate(py)
            np.random.set_state(npy)
            for m, mode in modes.items():
                m.train(mode)


@dataclass
class Built:
    """The components of a resolved configuration, on their device."""

    resolved: Resolved
    programs: Programs
    train_data: TensorData
    device: torch.device
    world: World = World()
    weights: str = "trained"  # "ema": the programs hold a player's weight average (unigen.ema)
    step: int | None = None  # the training step of a loaded run's weights (its checkpoint), for the figures' titles

    @property
    def config(self):
        """The run's resolved config (``DictConfig``; ``OmegaConf.to_yaml(built.config)`` prints it)."""
        return self.resolved.config

    @property
    def info(self) -> DataInfo:
        """Shape, classes and support of the data the programs were built for."""
        return self.train_data.info

    @property
    def conditional(self) -> bool:
        """Whether samples are drawn with class labels (labelled data with classes)."""
        return self.train_data.c is not None and bool(self.info.num_classes)

    def trainer(self) -> Trainer:
        cfg = self.resolved.config
        settings = functools.cache(lambda player: optim_config(cfg, player))  # one config copy per player, not per call
        return Trainer(self.programs, self.resolved.strategy, self.train_data, cfg.train.batch_size,
                       optim=settings, skip_nonfinite=cfg.train.on_nan == "skip",
                       seed=cfg.train.seed, world=self.world, total_steps=cfg.train.steps,
                       compile=cfg.train.compile, device=self.device,
                       stream=cfg.train.data_placement == "host" or None, max_skipped=cfg.train.max_skipped,
                       skip_window=cfg.train.skip_window,
                       ema=EMASettings(cfg.train.ema, cfg.train.ema_start, cfg.train.ema_player, cfg.train.ema_bn),
                       precision=cfg.train.precision, log_hook=ada_controller(self.programs, self.resolved.strategy,
                                                                              cfg.train))


def place(data: TensorData, device: torch.device, placement: str) -> TensorData:
    """Move the training data to ``device``, or keep them on the host to be streamed (``train.data_placement``)."""
    if placement not in PLACEMENTS:
        raise UserError(f"unknown train.data_placement={placement!r}; choose {', '.join(PLACEMENTS)}")
    if placement == "host" or (placement == "auto" and not fits_on_device(data, device)):
        return data
    return data.to(device)


def build(resolved: Resolved, distributed: bool = False) -> Built:
    """Seed, load the training data onto the device and build the programs.

    With ``distributed``, join the ``torchrun`` process group; every rank builds identical programs
    (same seed), then seeds its own noise with ``seed + rank``.
    """
    cfg = resolved.config
    device = pick_device(cfg.train.device)
    world = World()
    if distributed:
        device = local_device(device)
        world = from_env(device)
    seed_everything(cfg.train.seed)
    # argument validation syncs with the host; data are validated once at load instead
    pyro.enable_validation(False)
    data = place(resolved.data.load("train"), device, cfg.train.data_placement)
    roles = needed_roles(resolved.strategy)  # the strategy asks, the spec builds only those roles
    programs = resolved.model.build(data.info, roles=roles).to(device)  # the spec binds the event shape
    augment_critics(programs, resolved.strategy, cfg.train, data.info)  # DiffAugment's wrappers (unigen.augment)
    resolved.strategy.attach(programs)  # its running statistics, so a checkpoint loads into these programs
    resolved.strategy.check(programs)
    if world.size > 1:
        seed_everything(cfg.train.seed + world.rank)
    return Built(resolved, programs, data, device, world)
