"""A run directory on disk: claimed by one process at a time, never silently replaced, disk errors in one line.

* :class:`RunLock` holds an exclusive ``fcntl.flock`` on ``RUN_DIR/.lock`` while a process trains or
  resumes the directory. The kernel drops the lock when its process dies, so a stale lock file of a
  killed process is simply taken over; a live holder makes a second process fail at once, naming its PID.
* :func:`claim_new` refuses a directory that already holds a run unless asked to ``overwrite`` it; then
  it removes only unigen's own run files (:data:`RUN_FILES`), never anything else a user put there.
* :func:`remove_stale_temps` deletes half-written checkpoint temporaries (``unigen.run.train`` calls it at start-up
  and after each save).
* :func:`disk_errors` turns "no space left", "read-only file system" and "permission denied" while
  writing the run into one :class:`~unigen.errors.UserError` naming the directory.
"""
from __future__ import annotations

import errno
import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

from unigen.errors import UserError

#: the files ``unigen train`` writes into a run directory
RUN_FILES = ("config.yaml", "metrics.jsonl", "metrics.csv", "checkpoint.pt", "best.pt", "samples.png",
             "losses.png", "eval.json")
LOCK = ".lock"


def usable_dir(path: Path, what: str = "--out") -> Path:
    """Create ``path`` (and parents) as a directory, or refuse in one line."""
    if not str(path).strip():
        raise UserError(f"{what} '' names no directory; give a run directory, e.g. --out runs/mine")
    if path.exists() and not path.is_dir():
        raise UserError(f"{what} {path} is an existing file, not a directory; choose another run directory")
    with disk_errors(path):
        path.mkdir(parents=True, exist_ok=True)
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"cannot write to the run directory {path} (permission denied); choose a writable --out")
    return path


def first_missing(path: Path) -> Path | None:
    """The outermost of ``path`` and its parents that does not exist yet (``None`` if ``path`` exists): what
    :func:`usable_dir` will create."""
    missing = None
    for p in (path, *path.parents):
        if p.exists():
            break
        missing = p
    return missing


def discard_unused(run_dir: Path, created: Path | None) -> None:
    """After a run was refused before it wrote anything: remove the directories this invocation created for it
    (``created``: :func:`first_missing`'s answer, taken before), leaf first, while they hold nothing but the lock."""
    if created is None:
        return
    lock = run_dir / LOCK
    if lock.is_file() and set(os.listdir(run_dir)) == {LOCK}:
        lock.unlink()
    for p in (run_dir, *run_dir.parents):
        try:
            p.rmdir()  # only if empty
        except OSError:
            return
        if p == created:
            return


class RunLock:
    """An exclusive lock on a run directory for the life of this object (use as a context manager)."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK
        self.fd: int | None = None

    def __enter__(self) -> "RunLock":
        with disk_errors(self.path.parent):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise UserError(f"run directory {self.path.parent} is in use by process {holder} (it holds "
                            f"{self.path}); wait for it to finish, or use another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the flock; the file stays (harmless, and reused)
            self.fd = None


def holds_run(run_dir: Path) -> list[str]:
    """The unigen run files present in ``run_dir``."""
    return [f for f in RUN_FILES if (run_dir / f).exists()]


def claim_new(run_dir: Path, overwrite: bool) -> None:
    """Make ``run_dir`` ready for a new run (call while holding its :class:`RunLock`)."""
    present = holds_run(run_dir)
    if present and not overwrite:
        files = ", ".join(present)
        if "checkpoint.pt" in present:
            raise UserError(f"{run_dir} already holds a run ({files}); continue it with "
                            f"`unigen train --resume {run_dir}`, or pass --overwrite to replace it")
        if "config.yaml" in present:  # it stopped before its first checkpoint: nothing to resume from
            raise UserError(f"{run_dir} holds a run that stopped before its first checkpoint ({files}); pass "
                            f"--overwrite to start it again, or choose another --out")
        raise UserError(f"{run_dir} holds {files}, which a new run would write; move them, pass --overwrite to "
                        f"replace them, or choose another --out")
    with disk_errors(run_dir):
        for name in present:
            (run_dir / name).unlink()


def remove_stale_temps(run_dir: Path) -> int:
    """Delete half-written checkpoint temporaries (``*.pt*.tmp``) left by a killed process; return how many."""
    stale = [p for p in Path(run_dir).glob("*.pt*.tmp") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


DISK_ERRORS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "the disk quota is exceeded",
               errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
               errno.EPERM: "permission denied"}


@contextmanager
def disk_errors(run_dir: Path, after: str = ""):
    """Re-raise a full disk, a read-only file system or a permission error as one line naming ``run_dir``."""
    try:
        yield
    except OSError as e:
        if e.errno not in DISK_ERRORS:
            raise
        raise UserError(f"cannot write to {run_dir}: {DISK_ERRORS[e.errno]}"
                        f"{'; ' + after if after else ''}") from None
