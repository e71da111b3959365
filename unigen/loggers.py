"""What a run logs besides ``metrics.jsonl``: a CSV mirror, TensorBoard events and experiment trackers, per-player
rates and gradient norms, and a plain progress line for logs that are not a terminal.

``metrics.jsonl`` stays the source of truth. :class:`CSVMirror` keeps ``metrics.csv`` equal to its
training rows (one CSV row per ``"kind": "train"`` line, the columns the union of their keys); on
resume it is rebuilt from the truncated ``metrics.jsonl``, so a resumed run's CSV is the uninterrupted
run's.

``train.logger`` names more logs (:class:`Loggers`): ``none``, one name, or several joined by commas
(``train.logger=tensorboard,wandb``, in YAML too; in a sweep quote it, ``'train.logger="tensorboard,wandb"'``, or
it is swept). Each gets the scalars of every training row and of every periodic evaluation, at their steps:

* ``tensorboard``: events under ``RUN_DIR/tensorboard`` (``pip install unigen[tb]``); a resume purges the events
  after the checkpoint and writes them again;
* ``wandb``: a Weights & Biases run (``pip install unigen[wandb]``), ``RUN_DIR/wandb`` offline
  (``WANDB_MODE=offline``); online without credentials is refused;
* ``mlflow``: an MLflow run (``pip install unigen[mlflow]``) in ``MLFLOW_TRACKING_URI``'s store, else in
  ``RUN_DIR/mlruns``.

The two trackers also get the config once, continue their runs on resume (ids in ``RUN_DIR/trackers.json``) and
keep what a killed run sent them after its last checkpoint: :mod:`unigen.trackers` says how. A missing package, an
unknown name or W&B online without a login is one line before any file is written (:func:`check_logging`); only
the main process logs, and ``wandb`` / ``mlflow`` are imported only when named.
"""
from __future__ import annotations

import csv
import io
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from unigen import trackers
from unigen.config import LOGGERS
from unigen.errors import UserError, first_line
from unigen.settings import check_choices, choice

#: TensorBoard's folder inside a run directory
TB_DIR = "tensorboard"
#: leading CSV columns; the logged series follow in sorted order
FIRST = ("step", "kind", "time")


@dataclass
class _Logger:
    """One name in ``train.logger``, checked as a declared choice (:func:`unigen.settings.choice`)."""

    logger: str = choice("none", LOGGERS)


def logger_names(value) -> list[str]:
    """The loggers ``train.logger`` names (``none``: ``[]``; ``tensorboard,wandb``: both), each a known name."""
    names = [n.strip() for n in str(value).split(",")]
    if len(names) > 1 and not all(names):
        raise UserError(f"train.logger={value!r} holds an empty name; join names with single commas, e.g. "
                        f"train.logger=tensorboard,wandb")
    for name in names:
        check_choices(_Logger(name), prefix="train.")
    if "none" in names and len(names) > 1:
        raise UserError(f"train.logger={value!r}: none means no logger; drop it from the list")
    return [n for n in dict.fromkeys(names) if n != "none"]


def check_logging(train) -> None:
    """Refuse, in one line, a ``train.logger`` or ``train.sample_every`` that cannot work (before any file is written):
    an unknown name, a missing package, W&B online without credentials (:func:`unigen.trackers.check`)."""
    for name in logger_names(train.logger):
        if name == "tensorboard":
            try:
                import tensorboard  # noqa: F401
            except ImportError:
                raise UserError("train.logger=tensorboard needs the tensorboard package; install it with "
                                "`pip install unigen[tb]` (or pip install tensorboard)") from None
        else:
            trackers.check(name)
    for key, every in (("sample_every", train.sample_every), ("eval_every", train.eval_every)):
        if every and every % train.log_every:
            raise UserError(f"train.{key}={every} is not a multiple of train.log_every={train.log_every}; "
                            f"{'samples are drawn' if key == 'sample_every' else 'evaluations run'} at log steps: "
                            f"use e.g. train.{key}={max(1, round(every / train.log_every)) * train.log_every}")


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True)
    return repr(v) if isinstance(v, float) else str(v)


class CSVMirror:
    """``metrics.csv``: the training rows of ``metrics.jsonl`` as a table that any tracker reads."""

    def __init__(self, path: Path, rows: list[dict] = (), enabled: bool = True):
        self.path, self.enabled = path, enabled
        self.rows = [r for r in rows if r.get("kind") == "train"]
        self.columns: list[str] = []
        self.rewrite()

    def _columns(self) -> list[str]:
        keys = {k for r in self.rows for k in r}
        return [k for k in FIRST if k in keys] + sorted(keys - set(FIRST))

    def rewrite(self) -> None:
        """Write the whole table again (at start, on resume, and when a new column appears)."""
        if not self.enabled:
            return
        self.columns = self._columns()
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.columns)
        w.writerows([_cell(r.get(k)) for k in self.columns] for r in self.rows)
        from unigen.rundir import write_text

        write_text(self.path, buf.getvalue() if self.columns else "")  # a temporary and a rename: never half a table

    def append(self, row: dict) -> None:
        """Add one training row (as written to ``metrics.jsonl``): one appended line, or a rewrite for new keys."""
        if not self.enabled or row.get("kind") != "train":
            return
        self.rows.append(row)
        if set(row) - set(self.columns):
            self.rewrite()
            return
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow([_cell(row.get(k)) for k in self.columns])
        with self.path.open("a") as f:
            f.write(buf.getvalue())


class TensorBoardLogger:
    """Scalars of every training row as TensorBoard events in ``RUN_DIR/tensorboard``.

    A resumed run opens the folder with ``purge_step`` at the checkpoint's step, so TensorBoard drops
    the events a killed run wrote after its last checkpoint, as ``metrics.jsonl`` does.
    """

    def __init__(self, run_dir: Path, purge_step: int | None = None):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(run_dir / TB_DIR), purge_step=purge_step)

    def write(self, step: int, values: dict) -> None:
        for k, v in trackers.scalars(values).items():
            self.writer.add_scalar(k, v, step)
        self.writer.flush()

    def close(self, status: str = "FINISHED") -> None:
        self.writer.close()


class Loggers:
    """The loggers ``train.logger`` names, for the main process (none elsewhere): :meth:`write` at each log step
    (each tracker skips the steps a killed run sent it already), :meth:`close` when training ends.

    ``resumed_at`` is the checkpoint's step when the run resumes (``None`` for a new run); ``changes`` the settings
    the resume changed; the trackers' runs and last steps are kept in ``RUN_DIR/trackers.json``."""

    def __init__(self, run_dir: Path, cfg, resumed_at: int | None = None, changes: dict | None = None,
                 main: bool = True):
        from omegaconf import OmegaConf

        names = logger_names(cfg.train.logger) if main else []
        self.path = run_dir / trackers.STATE
        self.open: dict = {}
        self.state: dict = {}
        self.skip: dict[str, int] = {}  # a tracker's last step sent before this process
        if main and resumed_at is None:
            self.path.unlink(missing_ok=True)  # a new run: an earlier run's trackers are not this one's
        elif main and self.path.is_file():
            try:
                self.state = json.loads(self.path.read_text())
            except (OSError, ValueError):  # unreadable: the trackers start new runs
                self.state = {}
            self.state = self.state if isinstance(self.state, dict) else {}
        config = OmegaConf.to_container(cfg)
        try:
            for name in names:
                if name == "tensorboard":
                    self.open[name] = TensorBoardLogger(run_dir, None if resumed_at is None else resumed_at + 1)
                    continue
                kept = self.state.get(name) if isinstance(self.state.get(name), dict) else {}
                tracker = self.open[name] = trackers.TRACKERS[name](run_dir, config, kept, changes or {})
                if tracker.continued and isinstance(kept.get("step"), int):
                    self.skip[name] = kept["step"]
                self.state[name] = {**tracker.state, "step": self.skip.get(name)}
        except BaseException:
            self.close("FAILED")
            raise
        self._save()

    def _save(self) -> None:
        if any(name in trackers.TRACKERS for name in self.open):
            from unigen.rundir import write_text

            write_text(self.path, json.dumps(self.state, indent=1, sort_keys=True) + "\n")

    def write(self, step: int, values: dict) -> None:
        """The scalars of ``values`` to every logger at ``step`` (a tracker that fails is dropped, with a warning)."""
        values, sent = trackers.scalars(values), False
        for name, logger in list(self.open.items()):
            if step <= self.skip.get(name, -1):
                continue
            if name == "tensorboard":
                logger.write(step, values)
                continue
            try:
                logger.write(step, values)
            except Exception as e:
                print(f"unigen: warning: train.logger={name} failed at step {step} ({first_line(e)}); it logs no "
                      f"more in this process, metrics.jsonl keeps every row", file=sys.stderr)
                self._close(name, "FAILED")
                continue
            self.state[name]["step"], sent = step, True
        if sent:
            self._save()

    def _close(self, name: str, status: str) -> None:
        logger = self.open.pop(name)
        try:
            logger.close(status)
        except Exception as e:  # the training's results stand
            if name == "tensorboard":
                raise
            print(f"unigen: warning: train.logger={name} did not close ({first_line(e)})", file=sys.stderr)

    def close(self, status: str = "FINISHED") -> None:
        """End every logger: ``FINISHED``, ``KILLED`` (a signal stopped the training) or ``FAILED`` (it raised)."""
        for name in list(self.open):
            self._close(name, status)


@torch.no_grad()
def player_stats(trainer) -> dict[str, float]:
    """``lr/PLAYER`` (the first parameter group's current rate) and ``grad_norm/PLAYER`` (the L2 norm of
    the player's gradients, i.e. of its last update) for every player (one host sync)."""
    out = {f"lr/{player}": float(trainer.optimizers[player].param_groups[0]["lr"]) for player in trainer.params}
    norms = trainer.last_grad_norms()
    if getattr(trainer, "precision", None) is not None and trainer.precision.scalers:  # fp16's skipped steps
        out["scaler_skips"] = trainer.precision.skips
    if norms:
        values = torch.stack(list(norms.values())).tolist()
        out.update({f"grad_norm/{p}": v for p, v in zip(norms, values)})
    return out


def _clock(seconds: float) -> str:
    """``H:MM:SS`` (``M:SS`` under an hour)."""
    m, sec = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


class PlainProgress:
    """The progress line printed at each log step when stdout is not a terminal (a cluster's log file)."""

    def __init__(self, total: int, start: int, name: str, stream=None):
        self.total, self.name, self.stream = total, name, stream or sys.stdout
        self.last_step, self.last_time = start, time.perf_counter()
        self.first_step, self.first_time = start, self.last_time

    def line(self, step: int, values: dict) -> str:
        """``NAME step S/T (P%) losses [R steps/s, elapsed E, ETA F]``: the rate over the last window, the time
        since this process started training, and the rest at the rate so far."""
        now = time.perf_counter()
        rate = (step - self.last_step) / max(now - self.last_time, 1e-9)
        overall = (step - self.first_step) / max(now - self.first_time, 1e-9)
        self.last_step, self.last_time = step, now
        shown = " ".join(f"{k}={v:.4g}" for k, v in values.items()
                         if isinstance(v, (int, float)) and not k.startswith(("lr/", "grad_norm/")))
        eta = _clock((self.total - step) / overall) if overall > 0 else "?"
        return (f"{self.name} step {step}/{self.total} ({100 * step / self.total:.0f}%) {shown} "
                f"[{rate:.1f} steps/s, elapsed {_clock(now - self.first_time)}, ETA {eta}]")

    def write(self, step: int, values: dict) -> None:
        print(self.line(step, values), file=self.stream, flush=True)
