"""Trainings that resume mid-way inside a cached computation.

A reproduction's cache (``unigen reproduce NAME --cache DIR``) stores each finished computation under the hash of
its settings (:func:`unigen.experiments.common.compute_and_store`), so an interrupted reproduction loses at most
the trainings that were running. A long training (a GPU call's 10-minute limit, a session ending on a CPU) would
lose all its steps: :func:`fit` keeps it. While an entry ``<digest>.pt`` is computed, the k-th training that runs
through :func:`fit` saves its state every :data:`EVERY` steps, at most once per :data:`SECONDS` of wall time,
and once at its end, to ``<digest>.partial<k>.pt`` beside the entry: the trainer's state (programs, players'
optimisers, step, data order, log window; :meth:`unigen.trainer.Trainer.state_dict`), every random state
(:func:`unigen.checkpoint.rng_state`), the logged rows and, at the end, the last window's means. A rerun with the
same settings starts that training from the file, as ``unigen train --resume`` does a run, so the entry comes out
as an uninterrupted computation writes it (its own wall times aside); the files go when the entry is stored. A
kill loses the steps since the last save (at most about a minute and :data:`EVERY` steps) and what is not a
training step (a trace's compilation, scoring). The wall time of the saved steps
goes with them (:func:`earlier_seconds`), so the entry's record counts the compute of every invocation. Outside a
cached computation (no cache), :func:`fit` is ``trainer.fit``.

A computation's trainings must run in a fixed order, and what happens between them must not depend on whether
a training resumed; state a training keeps outside its trainer (a hook's counters) is not saved, so the
reproductions that train through here keep none.
"""
from __future__ import annotations

import contextlib
import contextvars
import copy
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from unigen import checkpoint
from unigen.errors import UserError

EVERY = 100  # steps between the chances to save a training's state (each reads the non-finite watch: one sync)
SECONDS = 60.0  # the least wall time between two saves of one training


@dataclass
class _Entry:
    path: Path  # the cache entry being computed
    count: int = 0  # trainings started through fit() so far
    earlier: float = 0.0  # wall seconds of the trainings' steps taken by earlier, interrupted invocations


_entry: contextvars.ContextVar[_Entry | None] = contextvars.ContextVar("unigen_partial_entry", default=None)


@contextlib.contextmanager
def computing(path: Path | None):
    """While an entry ``path`` is computed: the trainings run through :func:`fit` save and resume their state
    beside it (call :func:`discard` once the entry is stored)."""
    token = _entry.set(None if path is None else _Entry(Path(path)))
    try:
        yield
    finally:
        _entry.reset(token)


def earlier_seconds() -> float:
    """The wall seconds that the current computation's resumed trainings had spent before they were
    interrupted (0 outside a computation): add them to a time measured inside it, which sees only this
    invocation's share."""
    entry = _entry.get()
    return 0.0 if entry is None else entry.earlier


def elapsed(start: float) -> float:
    """The wall seconds of the current computation since ``start`` (a ``time.perf_counter()`` reading taken inside
    it), with those its resumed trainings had spent in interrupted invocations (:func:`earlier_seconds`)."""
    return time.perf_counter() - start + earlier_seconds()


def files(path: Path) -> list[Path]:
    """The saved training states of the entry ``path``."""
    return sorted(path.parent.glob(f"{path.stem}.partial*.pt"))


def discard(path: Path) -> None:
    """Remove the saved training states of the entry ``path`` (once the entry itself is stored), and the
    temporaries of a save that a kill interrupted (:func:`unigen.rundir.atomic_path`'s ``.NAME.XXXX.tmp.pt``)."""
    for p in [*files(path), *path.parent.glob(f".{path.stem}.partial*.pt.*.tmp.pt")]:
        if p.is_file() or p.is_symlink():
            p.unlink(missing_ok=True)


def fit(trainer, steps: int, **fit_kwargs) -> dict[str, float]:
    """``trainer.fit(steps, **fit_kwargs)``, resumable inside a cached computation (module docstring); returns
    what ``fit`` returns, the means of the last log window."""
    entry = _entry.get()
    if entry is None:
        return trainer.fit(steps, **fit_kwargs)
    state_path = entry.path.with_name(f"{entry.path.stem}.partial{entry.count}.pt")
    entry.count += 1
    last, before = resume(trainer, state_path) if state_path.exists() else ({}, 0.0)
    entry.earlier += before
    if 0 < trainer.step_count < steps:  # a resumed training says so (one line; a finished one is silent)
        print(f"unigen: resuming a training at step {trainer.step_count:,} of {steps:,} from {state_path}",
              file=sys.stderr)
    start = saved = time.monotonic()

    def save(step: int, final: bool = False) -> None:
        nonlocal saved
        if saved is None or (not final and time.monotonic() - saved < SECONDS):
            return
        state = trainer.state_dict()
        state.update(rng=checkpoint.rng_state(), history=trainer.history, last=last,
                     seconds=before + time.monotonic() - start)
        try:
            checkpoint.save(state, state_path)
        except (OSError, RuntimeError, UserError) as e:  # a full or read-only disk, a folder in the way
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e).splitlines()[0][:160]
            print(f"unigen: training state {state_path} cannot be saved ({why}); this training goes on without "
                  f"saving, and an interruption loses its steps", file=sys.stderr)
            saved = None  # one line per training: no more attempts
            return
        saved = time.monotonic()

    if trainer.step_count < steps:
        last = trainer.fit(steps, on_checkpoint=save, checkpoint_every=EVERY, **fit_kwargs)
        save(trainer.step_count, final=True)
    return last


def resume(trainer, path: Path) -> tuple[dict[str, float], float]:
    """Load the saved training state ``path`` into ``trainer`` and the random states; returns the last window's
    means and the wall seconds of training it holds. A state that cannot be read or does not fit (damaged, a
    folder, another model) is a miss, as a damaged cache entry is: one line on stderr names it, the trainer and
    random states stay as they were, and the training starts from its first step (a file is replaced at its
    first save; a folder is left alone, and the training is not saved)."""
    if path.is_dir():
        return _miss(path, "a folder in its place")
    try:
        state = checkpoint.load(path, map_location=trainer.device)
    except UserError:
        return _miss(path, "not a readable torch file")
    before, rng = copy.deepcopy(trainer.state_dict()), checkpoint.rng_state()
    try:
        trainer.load_state_dict(state)
        checkpoint.set_rng_state(state["rng"])
        history, last, seconds = list(state["history"]), dict(state["last"]), float(state["seconds"])
    except (UserError, KeyError, TypeError, ValueError, RuntimeError, AttributeError):
        trainer.load_state_dict(before)
        checkpoint.set_rng_state(rng)
        return _miss(path, "it does not fit this training")
    trainer.history = history
    return last, seconds


def _miss(path: Path, why: str) -> tuple[dict, float]:
    print(f"unigen: saved training state {path} is unreadable ({why}); training from the first step", file=sys.stderr)
    return {}, 0.0
