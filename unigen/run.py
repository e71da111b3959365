"""Training a run directory (:func:`train`): a new run or a resumed one, its files, its signals.

Assembling a run is :mod:`unigen.assemble`; loading a trained one :mod:`unigen.loading`; sampling
:mod:`unigen.sampling`; evaluating :mod:`unigen.evaluate`.

A run directory holds ``config.yaml`` (resolved), ``metrics.jsonl`` (one JSON object per log line),
``metrics.csv`` (its training rows as a table), ``checkpoint.pt`` (last), ``best.pt`` (best value of
``train.monitor``, if set), ``samples.png``, ``losses.png`` and ``eval.json``; with
``train.logger`` also ``tensorboard/``, ``wandb/``, ``mlruns/`` and ``trackers.json`` (:mod:`unigen.loggers`), and
with ``train.sample_every`` ``samples/step_NNNNNN.png``.
"""
from __future__ import annotations

import os
import sys
import time
from contextlib import nullcontext
from pathlib import Path

from omegaconf import OmegaConf

from unigen import checkpoint, loggers, plots
from unigen.assemble import build
from unigen.ema import scoring_weights
from unigen.config import SCHEMA, Resolved, dotted, resolve
from unigen.config import save as save_config
from unigen.errors import UserError
from unigen.environment import environment, record_environment
from unigen.evaluate import evaluate_built
from unigen.loading import normalise, saved_config
from unigen.rundir import RunLock, claim_new, discard_unused, disk_errors, first_missing, remove_stale_temps, usable_dir
from unigen.runlog import MetricsLog, write_json
from unigen.sampling import SNAPSHOTS, no_samples, snapshot, write_samples
from unigen.signals import Interrupted, StopOnSignal
from unigen.trainer import NonFiniteError


#: settings that a resumed run cannot change: its parameters, data and random streams come from the checkpoint
FIXED_ON_RESUME = ("model", "strategy", "data", "train.seed", "out", "train.augment")


def resume_changes(old: dict, new: dict) -> dict:
    """``{key: [old, new]}`` for every setting an override changes; refuses what cannot change on resume."""
    a, b = dotted(old), dotted(new)
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
    resumed: dict = {}
    env = environment(built.device)  # versions, device, git commit (unigen.environment)
    if resuming:
        state = resumed = checkpoint.load(run_dir / "checkpoint.pt", map_location=built.device)
        checkpoint.check_matches(state, container, run_dir / "checkpoint.pt", normalise=normalise)
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
            record_environment(run_dir / "environment.json", env, resumed=True)
            if changes:
                log.write(trainer.step_count, {"changed": changes}, kind="resume")
    elif main:
        save_config(cfg, run_dir / "config.yaml")
        record_environment(run_dir / "environment.json", env)
        log.path.write_text("")
        remove_own_outputs(run_dir)
    csv_log = loggers.CSVMirror(run_dir / "metrics.csv", log.rows(), enabled=main)
    logs = loggers.Loggers(run_dir, cfg, trainer.step_count if resuming else None, changes, main)  # train.logger
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
        state["environment"] = env
        state["best"] = {"monitor": cfg.train.monitor, "mode": cfg.train.monitor_mode, "value": best["value"]}
        checkpoint.save(state, run_dir / name)
        remove_stale_temps(run_dir)
        if name == "checkpoint.pt":
            last_good["step"] = step

    saved_best = resumed.get("best") if isinstance(resumed.get("best"), dict) else {}  # best.pt's value goes on
    same = (saved_best.get("monitor"), saved_best.get("mode")) == (cfg.train.monitor, cfg.train.monitor_mode)
    best = {"value": saved_best.get("value") if same and isinstance(saved_best.get("value"), (int, float)) else None}
    sign = 1.0 if cfg.train.monitor_mode == "min" else -1.0

    def check_monitor(names: set[str], scored: bool = True) -> None:
        """``train.monitor`` names a logged series; with ``train.eval_every`` an eval metric too, known once
        ``scored`` (at the first evaluation)."""
        if cfg.train.monitor and cfg.train.monitor not in names and (scored or not cfg.train.eval_every):
            raise UserError(f"train.monitor={cfg.train.monitor!r} names no logged series; choose one of "
                            f"{', '.join(sorted(names))}")

    def on_log(step: int, values: dict) -> None:
        values = {**values, **loggers.player_stats(trainer)}
        row = log.write(step, values)
        csv_log.append(row)
        logs.write(step, values)
        if plain is not None:
            plain.write(step, values)
        if main and cfg.train.sample_every and step % cfg.train.sample_every == 0:
            with scoring_weights(built, trainer.players.average):  # the weight average when kept
                snapshot(built, run_dir / SNAPSHOTS / f"step_{step:06d}.png", step)
        scored = bool(cfg.train.eval_every) and step % cfg.train.eval_every == 0
        try:
            if scored:  # on streams of its own (evaluate_built is seeded): training continues bit for bit
                with scoring_weights(built, trainer.players.average):
                    scores = evaluate_built(built)
                log.write(step, {**scores, "periodic": True}, kind="eval")
                values = {**values, **{k: v for k, v in scores.items() if isinstance(v, (int, float))}}
                logs.write(step, scores)
            check_monitor(set(values), scored)
        except UserError:  # a refused evaluation or monitor name: keep the steps trained so far
            save_checkpoint(step)
            raise
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
                        on_first_step=lambda losses: check_monitor(losses | set(loggers.player_stats(trainer)),
                                                                   scored=False))
        except NonFiniteError as e:
            kept = run_dir / "checkpoint.pt"
            last = (f"the last good checkpoint {kept} (step {last_good['step']}) is kept"
                    if kept.is_file() and last_good["step"] is not None else "no checkpoint was written yet")
            # skipping drops an update whose loss or gradient is bad; it cannot catch weights an update overflows
            skippable = cfg.train.on_nan == "error" and "weights" not in e.what
            fix = "lower the learning rate, or set train.on_nan=skip" if skippable else "lower the learning rate"
            raise UserError(f"{e}; {last}; {fix}") from None
        finally:
            logs.close("FAILED" if sys.exc_info()[0] else "KILLED" if stop.signal is not None else "FINISHED")
        log.write(trainer.step_count, {"wall_s": round(time.perf_counter() - start, 2), **trainer.compile_stats()},
                  kind="timing")
        save_checkpoint(trainer.step_count)
    if stop.signal is not None:
        raise Interrupted(stop.signal, run_dir, trainer.step_count)
    if not main:
        return run_dir
    try:
        plots.save_curves(log.path, run_dir / "losses.png", strategy=resolved.strategy)
        with scoring_weights(built, trainer.players.average):  # the weight average when kept (unigen.ema)
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


def remove_own_outputs(run_dir: Path) -> None:
    """A new run starts without an earlier run's TensorBoard events and sample snapshots (files unigen
    wrote; anything else in those folders stays)."""
    for pattern in (f"{loggers.TB_DIR}/events.out.tfevents.*", f"{SNAPSHOTS}/step_*.png"):
        for p in run_dir.glob(pattern):
            p.unlink()
