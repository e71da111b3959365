"""Runs on disk: build a configuration's components, train, and sample or evaluate a run directory.

A run directory holds ``config.yaml`` (resolved), ``metrics.jsonl`` (one JSON object per log line),
``metrics.csv`` (its training rows as a table), ``checkpoint.pt`` (last), ``best.pt`` (best value of
``train.monitor``, if set), ``samples.png``, ``losses.png`` and ``eval.json``; with
``train.logger=tensorboard`` also ``tensorboard/``, and with ``train.sample_every`` ``samples/step_NNNNNN.png``.
"""
from __future__ import annotations

import json
import math
import os
import random
import re
import signal
import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyro
import torch
from omegaconf import OmegaConf

from unigen import checkpoint, loggers, plots
from unigen.config import (PLACEMENTS, SCHEMA, Resolved, check_device_name, eval_overrides, load_yaml,
                           optim_config, parse_overrides, resolve)
from unigen.config import save as save_config
from unigen.data import TensorData
from unigen.data.stream import fits_on_device
from unigen.distributed import World, from_env, local_device
from unigen.errors import UserError
from unigen.metrics.evaluation import Evaluation
from unigen.metrics.evaluation import evaluate as evaluate_metrics
from unigen.programs import DataInfo, Programs
from unigen.scoring import generate
from unigen.roles import needed_roles
from unigen.rundir import (DAMAGED, RunLock, atomic_path, check_names, claim_new, discard_unused, disk_errors,
                           first_missing, remove_stale_temps, usable_dir, write_text)
from unigen.trainer import NonFiniteError, Trainer


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
        return Trainer(self.programs, self.resolved.strategy, self.train_data, cfg.train.batch_size,
                       optim=lambda player: optim_config(cfg, player), skip_nonfinite=cfg.train.on_nan == "skip",
                       seed=cfg.train.seed, world=self.world, total_steps=cfg.train.steps,
                       compile=cfg.train.compile, device=self.device,
                       stream=cfg.train.data_placement == "host" or None, max_skipped=cfg.train.max_skipped,
                       skip_window=cfg.train.skip_window)


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
    resolved.strategy.check(programs)
    if world.size > 1:
        seed_everything(cfg.train.seed + world.rank)
    return Built(resolved, programs, data, device, world)


def strict_json(values: dict) -> dict:
    """``values`` with every NaN or infinity replaced by ``null`` and named under ``"nonfinite"``
    (so that the file is strict JSON that any reader parses)."""
    bad = sorted(k for k, v in values.items() if isinstance(v, float) and not math.isfinite(v))
    if not bad:
        return values
    return {**{k: (None if k in bad else v) for k, v in values.items()},
            "nonfinite": {k: str(values[k]) for k in bad}}


def write_json(path: Path, values: dict) -> None:
    """Write ``values`` as strict JSON, through a temporary file and a rename (never a 0-byte or partial file)."""
    write_text(path, json.dumps(strict_json(values), indent=2, allow_nan=False) + "\n")


def _row(line: str) -> dict | None:
    """A line of ``metrics.jsonl`` as its row, or ``None`` for a line that is not one (torn, garbage)."""
    try:
        row = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return row if isinstance(row, dict) and isinstance(row.get("step"), int) else None


class MetricsLog:
    """Appends one strict-JSON object per line to ``metrics.jsonl``."""

    def __init__(self, path: Path, enabled: bool = True):
        self.path, self.enabled = path, enabled

    def _lines(self) -> list[str]:
        return self.path.read_text(errors="replace").splitlines() if self.path.is_file() else []

    def rows(self) -> list[dict]:
        """The logged rows; a line that is not one (a torn last line after a full disk or a kill mid-write, garbage)
        is skipped."""
        return [row for row in map(_row, self._lines()) if row is not None]

    def truncate_after(self, step: int) -> None:
        """Keep the training rows (and resume notes) up to ``step``: a resumed run re-logs the rest.

        Lines that are not rows (torn by a kill or a full disk, garbage) are not dropped silently: they are appended
        to ``metrics.damaged.jsonl`` beside it, and one line on stderr says how many, where, and what was kept.
        """
        if not self.enabled:
            return
        lines = self._lines()
        rows = [_row(line) for line in lines]
        damaged = [(i + 1, line) for i, (line, row) in enumerate(zip(lines, rows)) if row is None and line.strip()]
        keep = [r for r in rows if r is not None and r["step"] <= step and r.get("kind") in ("train", "resume")]
        if damaged:
            aside = self.path.with_name(DAMAGED)
            before = aside.read_text(errors="replace") if aside.is_file() else ""
            write_text(aside, before + "".join(line + "\n" for _, line in damaged))
            where = ", ".join(str(n) for n, _ in damaged[:5]) + (" ..." if len(damaged) > 5 else "")
            print(f"unigen: warning: {self.path} had {len(damaged)} damaged line(s) that are not rows (line "
                  f"{where}); they are kept in {aside}, and the {len(keep)} rows up to step {step} in {self.path.name}",
                  file=sys.stderr)
        write_text(self.path, "".join(json.dumps(r, allow_nan=False) + "\n" for r in keep))

    def write(self, step: int, values: dict, kind: str = "train") -> dict:
        """Append one row and return it as written."""
        row = strict_json({"step": step, "kind": kind, "time": round(time.time(), 3), **values})
        if self.enabled:
            with self.path.open("a") as f:
                f.write(json.dumps(row, allow_nan=False) + "\n")
        return row


class Interrupted(Exception):
    """SIGINT or SIGTERM stopped the run after its checkpoint was saved; the CLI exits with ``128 + signum``."""

    def __init__(self, signame: str, run_dir: Path, step: int | None, during: str = "training"):
        self.signame, self.run_dir, self.step = signame, run_dir, step
        self.exit_code = 128 + int(getattr(signal, signame))
        at = f" at step {step}" if step is not None else ""
        if during == "training":
            hint = f"resume with: unigen train --resume {run_dir}"
        else:
            hint = f"the trained run is saved; evaluate it with: unigen eval {run_dir}"
        super().__init__(f"stopped by {signame} during {during}{at}; {hint}")


#: settings that a resumed run cannot change: its parameters, data and random streams come from the checkpoint
FIXED_ON_RESUME = ("model", "strategy", "data", "train.seed", "out")


def _flat(cfg: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(_flat(v, key + "."))
        else:
            out[key] = v
    return out


def resume_changes(old: dict, new: dict) -> dict:
    """``{key: [old, new]}`` for every setting an override changes; refuses what cannot change on resume."""
    a, b = _flat(old), _flat(new)
    changed = {k: [a.get(k), b.get(k)] for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}
    for key in sorted(changed, key=lambda k: not k.endswith(".name")):  # a new name first, not its new keys
        if key.startswith(FIXED_ON_RESUME) or key.endswith(".name") and key.startswith("train."):
            why = ("the optimiser's state in the checkpoint belongs to " + repr(changed[key][0])
                   if key.endswith(".name") else "the run's parameters, data and random streams come from its checkpoint")
            raise UserError(f"{key} cannot change on resume ({changed[key][0]!r} -> {changed[key][1]!r}): {why}; "
                            f"start a new run with --out for that")
    return changed


def train(config=None, overrides: list[str] = (), out: str | None = None, resume: str | Path | None = None,
          overwrite: bool = False) -> Path:
    """Train a run from a YAML path or mapping plus ``key=value`` overrides; return its directory.

    A new run refuses a directory that already holds one, unless ``overwrite`` (then only unigen's own
    run files there are removed). ``resume`` continues the run in that directory from its last
    checkpoint (parameters, optimiser states, step, the open logging window and every RNG state), so a
    run killed at step k and resumed takes the same steps as one that was never interrupted.
    Overrides given with ``resume`` are honoured and recorded in ``config.yaml`` (a new rate, schedule,
    batch size, step count…); those that cannot change (:data:`FIXED_ON_RESUME`, optimiser names) are
    refused. A process holds ``RUN_DIR/.lock`` while it trains (:class:`unigen.rundir.RunLock`).
    SIGINT/SIGTERM save a checkpoint and raise :class:`Interrupted`.
    """
    changes: dict = {}
    if resume is not None:
        run_dir = Path(resume)
        if config is not None:
            raise UserError(f"give either a CONFIG or --resume {run_dir}, not both: a resumed run keeps its own "
                            f"config.yaml; put changes after it as key=value")
        if out is not None and Path(out) != run_dir:
            raise UserError(f"--out {out} with --resume {run_dir}: a run resumes in its own directory; copy it "
                            f"first (cp -r {run_dir} {out}) and resume the copy")
        if not (run_dir / "config.yaml").is_file():
            raise UserError(f"{run_dir} is not a run directory (no config.yaml); pass the directory to resume")
        if "${" in str(run_dir):
            raise UserError(f"--resume {run_dir}: interpolations (${{...}}) are not supported; name the folder itself")
        written = saved_config(run_dir)
        saved = resolve(written)
        resolved = resolve(written, list(overrides))
        if resolved.config.out in (saved.config.out, str(run_dir)):  # the run is where it is now (a copy,
            saved.config.out = resolved.config.out = str(run_dir)  # cp -r, records its new place); set as a
            # string, not parsed from a dotlist, so a folder named null or 007 stays that name
        changes = resume_changes(OmegaConf.to_container(saved.config), OmegaConf.to_container(resolved.config))
    else:
        resolved = resolve(config, list(overrides))
        if out is not None:  # set as a string: --out null or --out 007 names that folder
            if not str(out).strip():
                raise UserError("--out '' names no directory; give a run directory, e.g. --out runs/mine")
            if "${" in str(out):
                raise UserError(f"--out {out}: interpolations (${{...}}) are not supported; name the folder itself")
            resolved.config.out = str(out)
        run_dir = Path(resolved.config.out)
    loggers.check_logging(resolved.config.train)
    main = int(os.environ.get("RANK", "0")) == 0  # only rank 0 writes run files
    created = first_missing(run_dir) if main and resume is None else None
    try:
        if main:
            usable_dir(run_dir)
        with RunLock(run_dir) if main else nullcontext(), disk_errors(run_dir, "free space, then resume with "
                                                                      f"`unigen train --resume {run_dir}`"):
            if main and resume is None:
                claim_new(run_dir, overwrite)
            if main:
                remove_stale_temps(run_dir)
            return _train(resolved, run_dir, resume is not None, changes, main)
    except UserError:  # refused before the run wrote anything (a setting checked when the trainer is built):
        discard_unused(run_dir, created)  # leave no directory behind that the user did not have
        raise


def _train(resolved: Resolved, run_dir: Path, resuming: bool, changes: dict, main: bool) -> Path:
    built = build(resolved, distributed=True)
    cfg = resolved.config
    if cfg.train.sample_every and no_samples(built):
        raise UserError(f"train.sample_every={cfg.train.sample_every}: {no_samples(built)}; leave train.sample_every=0")
    log = MetricsLog(run_dir / "metrics.jsonl", enabled=main)
    trainer = built.trainer()
    container = OmegaConf.to_container(cfg)
    if resuming:
        state = checkpoint.load(run_dir / "checkpoint.pt", map_location=built.device)
        checkpoint.check_matches(state, container, run_dir / "checkpoint.pt", normalise=_normalise)
        try:
            trainer.load_state_dict(state)
            checkpoint.set_rng_state(state["rng"])
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise UserError(f"checkpoint {run_dir / 'checkpoint.pt'} is damaged ({type(e).__name__}: "
                            f"{str(e).splitlines()[0][:120] if str(e) else ''}); restore it from a copy") from None
        except UserError as e:
            raise UserError(f"checkpoint {run_dir / 'checkpoint.pt'}: {e}") from None
        if cfg.train.steps < trainer.step_count:  # before anything is written: the run stays as it was
            raise UserError(f"train.steps={cfg.train.steps} is below the {trainer.step_count} steps this run has "
                            f"taken; resume with train.steps >= {trainer.step_count} (its checkpoint cannot "
                            f"go back)")
        log.truncate_after(trainer.step_count)
        if main:
            save_config(cfg, run_dir / "config.yaml")  # config.yaml stays true: it holds what this run uses
            if changes:
                log.write(trainer.step_count, {"changed": changes}, kind="resume")
    elif main:
        save_config(cfg, run_dir / "config.yaml")
        log.path.write_text("")
        remove_own_outputs(run_dir)
    csv_log = loggers.CSVMirror(run_dir / "metrics.csv", log.rows(), enabled=main)
    tb = loggers.TensorBoardLogger(run_dir, purge_step=trainer.step_count + 1 if resuming else None) \
        if main and cfg.train.logger == "tensorboard" else None
    # a terminal gets tqdm's bar; a log file (stdout not a terminal) gets a plain line at each log step
    plain = loggers.PlainProgress(cfg.train.steps, trainer.step_count, resolved.config.strategy.name) \
        if cfg.train.progress and main and not sys.stdout.isatty() else None
    last_good = {"step": trainer.step_count if resuming else None}

    def save_checkpoint(step: int, name: str = "checkpoint.pt") -> None:
        if not main:
            return
        trainer.check_weights()  # never write non-finite weights over a good checkpoint
        state = trainer.state_dict()
        state["config"] = container
        state["schema"] = SCHEMA
        state["rng"] = checkpoint.rng_state()
        checkpoint.save(state, run_dir / name)
        remove_stale_temps(run_dir)
        if name == "checkpoint.pt":
            last_good["step"] = step

    best = {"value": None}
    sign = 1.0 if cfg.train.monitor_mode == "min" else -1.0

    def check_monitor(names: set[str]) -> None:
        if cfg.train.monitor and cfg.train.monitor not in names:
            raise UserError(f"train.monitor={cfg.train.monitor!r} names no logged series; choose one of "
                            f"{', '.join(sorted(names))}")

    def on_log(step: int, values: dict) -> None:
        values = {**values, **loggers.player_stats(trainer)}
        row = log.write(step, values)
        csv_log.append(row)
        if tb is not None:
            tb.write(step, values)
        if plain is not None:
            plain.write(step, values)
        if main and cfg.train.sample_every and step % cfg.train.sample_every == 0:
            snapshot(built, run_dir / SNAPSHOTS / f"step_{step:06d}.png")
        check_monitor(set(values))
        value = values.get(cfg.train.monitor) if cfg.train.monitor else None
        if value is not None and (best["value"] is None or sign * value < sign * best["value"]):
            best["value"] = value
            save_checkpoint(step, "best.pt")

    start = time.perf_counter()
    with StopOnSignal() as stop:
        try:
            trainer.fit(cfg.train.steps, log_every=cfg.train.log_every, on_log=on_log,
                        on_checkpoint=save_checkpoint, checkpoint_every=cfg.train.checkpoint_every,
                        progress=cfg.train.progress and plain is None, should_stop=stop.requested,
                        on_first_step=lambda losses: check_monitor(losses | set(loggers.player_stats(trainer))))
        except NonFiniteError as e:
            kept = run_dir / "checkpoint.pt"
            last = (f"the last good checkpoint {kept} (step {last_good['step']}) is kept"
                    if kept.is_file() and last_good["step"] is not None else "no checkpoint was written yet")
            # skipping drops an update whose loss or gradient is bad; it cannot catch weights an update overflows
            skippable = cfg.train.on_nan == "error" and "weights" not in e.what
            fix = "lower the learning rate, or set train.on_nan=skip" if skippable else "lower the learning rate"
            raise UserError(f"{e}; {last}; {fix}") from None
        finally:
            if tb is not None:
                tb.close()
        log.write(trainer.step_count, {"wall_s": round(time.perf_counter() - start, 2), **trainer.compile_stats()},
                  kind="timing")
        save_checkpoint(trainer.step_count)
    if stop.signal is not None:
        raise Interrupted(stop.signal, run_dir, trainer.step_count)
    if not main:
        return run_dir
    try:
        plots.save_curves(log.path, run_dir / "losses.png", players=list(resolved.strategy.players))
        if no_samples(built):
            print(f"no samples.png: {no_samples(built)}")
        else:
            write_samples(built, run_dir / "samples.png", step=trainer.step_count)
        results = evaluate_built(built)
    except KeyboardInterrupt:
        raise Interrupted("SIGINT", run_dir, None, during="the final evaluation") from None
    log.write(trainer.step_count, results, kind="eval")
    write_json(run_dir / "eval.json", results)
    return run_dir


#: the folder of ``train.sample_every``'s sample grids inside a run directory
SNAPSHOTS = "samples"


def remove_own_outputs(run_dir: Path) -> None:
    """A new run starts without an earlier run's TensorBoard events and sample snapshots (files unigen
    wrote; anything else in those folders stays)."""
    for pattern in (f"{loggers.TB_DIR}/events.out.tfevents.*", f"{SNAPSHOTS}/step_*.png"):
        for p in run_dir.glob(pattern):
            p.unlink()


def snapshot(built: Built, path: Path) -> None:
    """Write a sample grid during training without touching its random streams or its train/eval mode:
    every snapshot draws the same noise (``train.seed``), so successive ones show the model changing."""
    if path.parent.exists() and not path.parent.is_dir():
        raise UserError(f"{path.parent} is a file where the run keeps its training snapshots "
                        f"(train.sample_every); move it away, or set train.sample_every=0")
    path.parent.mkdir(exist_ok=True)
    with seeded(built):
        write_samples(built, path)


def _normalise(saved: dict) -> dict:
    """A checkpoint's saved config through the current schema (defaults of newer fields filled in)."""
    return OmegaConf.to_container(resolve(saved).config)


class StopOnSignal:
    """While active, SIGINT and SIGTERM set a flag instead of killing the process (restored on exit)."""

    def __init__(self):
        self.signal: str | None = None

    def requested(self) -> bool:
        return self.signal is not None

    def _handle(self, signum, frame) -> None:
        self.signal = signal.Signals(signum).name

    def __enter__(self) -> "StopOnSignal":
        self._old = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def require_run_dir(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    check_names(run_dir, "RUN")
    if not (run_dir / "config.yaml").is_file():
        raise UserError(f"{run_dir} is not a run directory (no config.yaml); pass the directory `unigen train` wrote")
    return run_dir


def saved_config(run_dir: Path) -> dict:
    """A run directory's ``config.yaml`` as ``unigen train`` wrote it: refused in one line, naming the file, when
    it lacks a section (an empty or cut file would otherwise read as the defaults: "another model")."""
    path = run_dir / "config.yaml"
    data = load_yaml(path)
    missing = [s for s in ("data", "model", "strategy", "train") if not isinstance(data.get(s), dict)]
    if missing:
        raise UserError(f"{path} has no {', '.join(missing)} section{'s' * (len(missing) > 1)}: it is empty or "
                        f"damaged (unigen train writes them all); restore it from a copy")
    return data


def _resolve_saved(config, where: Path, device: str | None) -> Resolved:
    """A saved run config, on ``device`` if given; a CUDA run on a machine without CUDA names ``--device cpu``."""
    if device:
        pick_device(device, "--device")
    resolved = resolve(config, [f"train.device={device}"] if device else [])
    if not device and resolved.config.train.device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"run {where} was trained on {resolved.config.train.device} but no CUDA device is "
                        f"available; pass --device cpu")
    return resolved


def check_finite(programs: Programs, where: Path) -> None:
    bad = [k for k, v in programs.state_dict().items() if v.is_floating_point() and not bool(v.isfinite().all())]
    if bad:
        raise UserError(f"the weights in {where} are not finite ({bad[0]}"
                        f"{f' and {len(bad) - 1} more' if len(bad) > 1 else ''}); the run diverged: retrain it "
                        f"with a lower learning rate")


def load_run(run_dir: str | Path, device: str | None = None) -> Built:
    """A trained run from its directory (``config.yaml`` and ``checkpoint.pt``), ready to sample: ``.programs``
    (in eval mode) and ``.config``. :func:`unigen.load_run` also reads an export."""
    run_dir = require_run_dir(run_dir)
    resolved = _resolve_saved(saved_config(run_dir), run_dir, device)
    built = build(resolved)
    state = checkpoint.load(run_dir / "checkpoint.pt", map_location=built.device)
    checkpoint.check_matches(state, OmegaConf.to_container(resolved.config), run_dir / "checkpoint.pt",
                             normalise=_normalise)
    try:
        built.programs.load_state_dict(state["programs"])
    except (KeyError, RuntimeError, TypeError, AttributeError) as e:
        raise UserError(f"checkpoint in {run_dir} does not fit model {resolved.config.model.name!r} "
                        f"({str(e).splitlines()[0][:120] if str(e) else type(e).__name__}); use the run's own "
                        f"config") from None
    check_finite(built.programs, run_dir / "checkpoint.pt")
    built.programs.eval()
    return built


def check_label(built: Built, label: int | None) -> None:
    """Refuse, in one line, a class for an unconditional model or one outside ``0..K-1``."""
    if label is None:
        return
    if not built.conditional or not _uses_labels(built):
        raise UserError(f"--class {label}: this model is unconditional (model {built.config.model.name!r}, "
                        f"strategy {built.config.strategy.name!r}); drop --class, or train with "
                        f"model.conditional=true")
    k = built.info.num_classes
    if not 0 <= label < k:
        raise UserError(f"--class {label} is out of range: this model has {k} classes, 0..{k - 1}")


@torch.no_grad()
def draw_labelled(built: Built, n: int, label: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``n`` samples from the trained generator and the labels they were drawn with: class ``label``
    for all, else uniform over the classes for labelled data, ``None`` otherwise."""
    built.programs.eval()
    k = built.info.num_classes
    if label is not None:
        c = torch.full((n,), label, dtype=torch.long, device=built.device)
    else:
        c = torch.randint(k, (n,), device=built.device) if built.conditional else None
    x, _ = generate(built.programs, n, c)
    return x, c


def draw(built: Built, n: int) -> torch.Tensor:
    """``n`` samples from the trained generator (labels drawn uniformly if conditional)."""
    return draw_labelled(built, n)[0]


#: what ``write_samples`` writes, by the file's suffix
SAMPLE_FORMATS = (".png", ".npz", ".npy", ".pt")


def no_samples(built: Built) -> str | None:
    """Why these programs draw no new examples to write (a two-domain strategy), or ``None`` when they do."""
    if built.resolved.strategy.needs.domains:
        return ("the strategy reads two domains: its model maps examples of one domain to the other (or labels "
                "them) rather than drawing new ones, so there are no samples to draw; use the programs in Python "
                "(unigen.load_run(RUN).programs)")
    return None


def write_samples(built: Built, path: Path, n: int | None = None, label: int | None = None,
                  seed: int | None = None, step: int | None = None) -> int:
    """Draw ``n`` samples (by default 2,500 of 2-D data, 64 images) and write them by ``path``'s suffix:
    ``.png`` (an image grid, or a scatter over the data for 2-D), ``.npz`` (arrays ``x`` and, for a
    conditional model, ``c``), ``.npy`` (``x``) or ``.pt`` (a dict of tensors ``x``, ``c``, readable with
    ``torch.load(weights_only=True)``). ``seed`` seeds every generator first: the same seed gives the same
    samples. Returns how many were drawn."""
    path = Path(path)
    info = built.info
    n = n or (2500 if len(info.shape) == 1 else 64)
    if seed is not None:
        seed_everything(seed)
    if no_samples(built):
        raise UserError(no_samples(built))
    x, c = draw_labelled(built, n, label)
    x, c = x.detach().cpu(), None if c is None or not _uses_labels(built) else c.cpu()
    suffix = path.suffix.lower()
    if suffix in (".npz", ".npy", ".pt"):
        with atomic_path(path) as tmp:  # the temporary keeps the suffix: numpy adds none
            if suffix == ".npz":
                np.savez(tmp, **{"x": x.numpy(), **({} if c is None else {"c": c.numpy()})})
            elif suffix == ".npy":
                np.save(tmp, x.numpy())
            else:
                torch.save({"x": x, **({} if c is None else {"c": c})}, tmp)
    else:  # plots.save_samples writes through a temporary too
        ref = built.train_data.x[:n] if len(info.shape) == 1 else None
        cfg = built.config
        title = f"{cfg.strategy.name} on {cfg.data.name}" + (f", class {label}" if label is not None else "")
        spec = getattr(getattr(built, "resolved", None), "data", None)
        centres = spec.centres() if hasattr(spec, "centres") else None  # ring / grid: mark the modes
        plots.save_samples(x, path, support=info.support, reference=ref, title=title, centres=centres, step=step)
    return n


def evaluate_built(built: Built) -> dict:
    """The metrics that apply to this data and these programs (:mod:`unigen.metrics.evaluation`), or
    ``{"note": ...}`` saying why none does. Drawn on streams seeded with ``train.seed`` (:func:`seeded`), so
    the evaluation at the end of training and a later ``unigen eval`` of the same weights give the same
    numbers, and a training's own streams are left as they were."""
    ev = Evaluation(programs=built.programs, data=built.resolved.data, train=built.train_data, device=built.device,
                    settings=built.resolved.config.eval, draw=lambda n: draw_labelled(built, n),
                    conditional=_uses_labels(built))
    with seeded(built):
        return plain_keys(evaluate_metrics(ev))


def metric_id(label: str) -> str:
    """A metric's display label as a plain identifier: ``"FID (MNIST-classifier features)"`` ->
    ``"fid_mnist_classifier"``, ``"IS (MNIST-classifier) std"`` -> ``"is_mnist_classifier_std"``."""
    words = re.findall(r"[a-z0-9]+", label.lower())
    return "_".join(w for w in words if w != "features")


def plain_keys(results: dict) -> dict:
    """``results`` keyed by plain identifiers (:func:`metric_id`), with ``"labels"`` mapping each renamed key
    back to its display label (e.g. for tables and plots)."""
    out, labels = {}, {}
    for key, value in results.items():
        ident = metric_id(key) if key not in ("note", "computed_on") else key
        out[ident] = value
        if ident != key:
            labels[ident] = key
    return {**out, "labels": labels} if labels else out


def _uses_labels(built: Built) -> bool:
    """Whether generation depends on the label (a conditional model)."""
    return built.resolved.strategy.needs.labels != "none" or bool(getattr(built.resolved.model, "conditional", False))


def eval_file(overrides: list[str] = ()) -> str:
    """Where :func:`evaluate` writes in the run directory: ``eval.json``, or with overrides a file named after
    the settings they set (``eval.num_images=10000.json``; sorted, the last value of a repeated key, as parsed:
    ``=120`` and ``= 120`` name the same file), so the end-of-training evaluation is never replaced."""
    if not overrides:
        return "eval.json"
    settings = OmegaConf.to_container(parse_overrides(list(overrides))).get("eval", {})
    return "eval." + ",".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}"
                              for k, v in sorted(settings.items())) + ".json"


def evaluate(run_dir: str | Path, device: str | None = None, overrides: list[str] = ()) -> dict:
    """Evaluate a trained run and write the results into it (:func:`eval_file`); ``overrides`` (``eval.KEY=VALUE``)
    change the evaluation's own settings, e.g. the sample count of FID."""
    run_dir = require_run_dir(run_dir)
    # eval writes into the run: not while it trains (and no training starts meanwhile); evaluations side by side may
    with RunLock(run_dir, shared=True, fix="wait for its training to finish, then evaluate it"):
        built = load_run(run_dir, device)
        if overrides:
            built.resolved.config.eval = eval_overrides(built.resolved.config.eval, list(overrides))
        results = evaluate_built(built)
        with disk_errors(run_dir):
            write_json(run_dir / eval_file(overrides), results)
    return strict_json(results)
