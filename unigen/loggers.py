"""What a run logs besides ``metrics.jsonl``: a CSV mirror, TensorBoard events, per-player rates and
gradient norms, and a plain progress line for logs that are not a terminal.

``metrics.jsonl`` stays the source of truth. :class:`CSVMirror` keeps ``metrics.csv`` equal to its
training rows (one CSV row per ``"kind": "train"`` line, the columns the union of their keys); on
resume it is rebuilt from the truncated ``metrics.jsonl``, so a resumed run's CSV is the uninterrupted
run's. ``train.logger=tensorboard`` also writes the same scalars as TensorBoard events under
``RUN_DIR/tensorboard`` (``pip install unigen[tb]``).
"""
from __future__ import annotations

import csv
import io
import json
import math
import sys
import time
from pathlib import Path

import torch

from unigen.errors import UserError

#: TensorBoard's folder inside a run directory
TB_DIR = "tensorboard"
#: leading CSV columns; the logged series follow in sorted order
FIRST = ("step", "kind", "time")


def check_logging(train) -> None:
    """Refuse, in one line, a ``train.logger`` or ``train.sample_every`` that cannot work (before any file is written;
    the logger's name is a declared choice of ``TrainConfig.logger``, checked with the config)."""
    if train.logger == "tensorboard":
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            raise UserError("train.logger=tensorboard needs the tensorboard package; install it with "
                            "`pip install unigen[tb]` (or pip install tensorboard)") from None
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
        for k, v in values.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                self.writer.add_scalar(k, v, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


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
