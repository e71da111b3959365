"""A run directory on disk: claimed by one process at a time, never silently replaced, disk errors in one line.

* :class:`RunLock` holds an exclusive ``fcntl.flock`` on ``RUN_DIR/.lock`` while a process trains or
  resumes the directory. The kernel drops the lock when its process dies, so a stale lock file of a
  killed process is simply taken over; a live holder makes a second process fail at once, naming its PID.
* :func:`claim_new` refuses a directory that already holds a run unless asked to ``overwrite`` it; then
  it removes only unigen's own run files (:data:`RUN_FILES`), never anything else a user put there.
* :func:`remove_stale_temps` deletes the half-written temporaries of a run's own files (``unigen.run.train`` calls it
  at start-up and after each save).
* :func:`disk_errors` turns "no space left", "read-only file system" and "permission denied" while
  writing the run into one :class:`~unigen.errors.UserError` naming the directory.
* :func:`atomic_path` is how every run file, sample file, export and result page is written: into a temporary
  file beside it (mode from the umask), synced, then renamed over it, so a full disk or a kill leaves the old
  file or the new one, never half of one, and a symbolic link at that name is replaced, never written through.
* :func:`own_file` names the files a run directory keeps for itself, which ``unigen sample -o`` and
  ``unigen export -o`` never replace; :func:`run_of` finds the run a file lands in, whose lock a writer into it
  takes shared (:class:`RunLock` ``shared=True``: refused while the run trains, allowed beside other readers).
"""
from __future__ import annotations

import errno
import fcntl
import os
import re
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path

from unigen.errors import UserError, first_line

LOCK = ".lock"
#: the file a resume keeps ``metrics.jsonl``'s damaged lines in (lines that are not rows: torn, garbage)
DAMAGED = "metrics.damaged.jsonl"
#: the files ``unigen train`` writes into a run directory
#: the trackers' folders inside a run directory (train.logger), protected as the run's own files
TRACKER_DIRS = {"tensorboard": "TensorBoard", "wandb": "W&B", "mlruns": "MLflow"}
RUN_FILES = ("config.yaml", "metrics.jsonl", "metrics.csv", "checkpoint.pt", "best.pt", "samples.png",
             "losses.png", "eval.json", DAMAGED, "environment.json", "trackers.json")


def short(path) -> str:
    """A path for a one-line message: a very long one is shortened in its middle."""
    text = str(path)
    return text if len(text) <= 120 else f"{text[:60]}…{text[-40:]}"


def _exists(path: Path) -> bool:
    """Whether ``path`` exists (following links), for any path: a name too long is not an error here."""
    try:
        os.stat(path)
    except (OSError, ValueError):
        return False
    return True


def check_names(path: str | Path, what: str) -> None:
    """Refuse, in one line, a path holding a name longer than its file system allows (before any look-up
    of it raises "File name too long")."""
    path = Path(path)
    base = next((p for p in (path.absolute(), *path.absolute().parents) if _exists(p)), Path("/"))
    try:
        name_max, path_max = os.pathconf(base, "PC_NAME_MAX"), os.pathconf(base, "PC_PATH_MAX")
    except (OSError, ValueError):
        name_max, path_max = 255, 4096
    for part in path.parts:
        size = len(os.fsencode(part))
        if size > name_max:
            raise UserError(f"{what} {short(path)}: the name {short(part)[:40]}… is {size} bytes long, more than "
                            f"the {name_max} this file system allows; choose a shorter name")
    size = len(os.fsencode(str(path.absolute())))
    if size >= path_max:
        raise UserError(f"{what} {short(path)} is {size} bytes long, more than the {path_max - 1} this system "
                        f"allows; choose a shorter path")


def usable_dir(path: Path, what: str = "--out") -> Path:
    """Create ``path`` (and parents) as a directory, or refuse in one line."""
    if not str(path).strip():
        raise UserError(f"{what} '' names no directory; give a run directory, e.g. --out runs/mine")
    check_names(path, what)
    if path.is_symlink() and not _exists(path):
        raise UserError(f"{what} {path} is a symbolic link that leads nowhere (a loop, or a missing target); "
                        f"remove the link or choose another run directory")
    if path.exists() and not path.is_dir():
        raise UserError(f"{what} {path} is an existing file, not a directory; choose another run directory")
    blocked = next((p for p in path.parents if _exists(p) and not p.is_dir()), None)
    if blocked is not None:
        raise UserError(f"{what} {path}: {blocked} is a file, not a folder; choose another run directory")
    with disk_errors(path):
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            if e.errno in DISK_ERRORS:
                raise
            raise UserError(f"cannot make the run directory {short(path)} ({e.strerror or type(e).__name__}); "
                            f"choose another {what}") from None
    odd = [f for f in RUN_FILES if (path / f).is_symlink() and not _exists(path / f)
           or _exists(path / f) and not (path / f).is_file()]
    if odd:  # found before anything is written: a folder where a run file goes is never removed or written into
        raise UserError(f"{path / odd[0]} is a folder (or not a regular file) where a run keeps its file; move it "
                        f"away, or choose another {what}")
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"cannot write to the run directory {path} (permission denied); choose a writable --out")
    return path


def first_missing(path: Path) -> Path | None:
    """The outermost of ``path`` and its parents that does not exist yet (``None`` if ``path`` exists): what
    :func:`usable_dir` will create."""
    missing = None
    for p in (path, *path.parents):
        try:
            if p.exists():
                break
        except OSError:  # a name too long: usable_dir refuses it before anything is made
            return None
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
    """A lock on a run directory for the life of this object (use as a context manager).

    Exclusive (``unigen train``: the process that writes the run) by default; ``shared=True`` for a process that
    writes a file into a finished run (``unigen sample`` without ``-o`` or with ``-o`` inside the run, ``unigen
    eval``): refused while the run trains, allowed beside other shared holders, and it keeps a training from
    starting meanwhile. ``fix`` ends the refusal's message.
    """

    def __init__(self, run_dir: Path, shared: bool = False, fix: str = "wait for it to finish, or use another --out"):
        self.path = Path(run_dir) / LOCK
        self.shared, self.fix = shared, fix
        self.fd: int | None = None

    def __enter__(self) -> "RunLock":
        flags = (os.O_RDONLY if self.shared else os.O_RDWR) | os.O_CREAT | os.O_NONBLOCK  # a FIFO never blocks
        with disk_errors(self.path.parent):
            try:
                fd = os.open(self.path, flags, 0o644)
            except OSError as e:
                if e.errno in DISK_ERRORS:
                    raise
                raise UserError(f"{self.path} is not unigen's lock file ({e.strerror}); move it away, then run "
                                f"again") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise UserError(f"{self.path} is not unigen's lock file (not a regular file); move it away, then run again")
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise UserError(f"run directory {self.path.parent} is in use by {holder} (it holds "
                            f"{self.path}); {self.fix}") from None
        if not self.shared:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the flock; the file stays (harmless, and reused)
            self.fd = None


def _holder(fd: int) -> str:
    """Who holds a lock: the training process whose PID the lock file holds, while it lives; else a reader."""
    text = os.pread(fd, 64, 0).decode(errors="replace").strip()
    if text.isdigit():
        try:
            os.kill(int(text), 0)
            return f"process {text}"
        except ProcessLookupError:
            pass
        except (PermissionError, OverflowError, ValueError):
            return f"process {text}"
    return "another process (a unigen sample or eval writing into it)"


def holds_run(run_dir: Path) -> list[str]:
    """The unigen run files present in ``run_dir``."""
    return [f for f in RUN_FILES if (run_dir / f).exists()]


def claim_new(run_dir: Path, overwrite: bool) -> None:
    """Make ``run_dir`` ready for a new run (call while holding its :class:`RunLock`)."""
    present = holds_run(run_dir)
    odd = [f for f in present if (run_dir / f).is_dir() or not (run_dir / f).is_file()]
    if odd:  # never removed, not even with --overwrite: it is not a file unigen wrote
        raise UserError(f"{run_dir / odd[0]} is a folder (or not a regular file) where a run keeps its file; "
                        f"move it away, or choose another --out")
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


#: the temporaries of :func:`atomic_path` that a run directory's own files leave when a process is killed
_OWN_TEMP = re.compile(r"\.(config\.yaml|metrics\.jsonl|metrics\.csv|checkpoint\.pt|best\.pt|samples\.png|"
                       r"losses\.png|eval(\..*)?\.json|metrics\.damaged\.jsonl|step_\d+\.png)"
                       r"\.[a-z0-9_]{8}\.tmp(\.[^.]*)?")


def is_temp(name: str) -> bool:
    """Whether ``name`` is a temporary that writing one of a run's files leaves behind when killed (today's
    ``.NAME.XXXXXXXX.tmp.SUFFIX``, and the checkpoint temporaries ``NAME.ptXXXXXXXX.tmp`` of earlier versions)."""
    return bool(_OWN_TEMP.fullmatch(name)) or bool(re.fullmatch(r".+\.pt.*\.tmp", name))


def remove_stale_temps(run_dir: Path) -> int:
    """Delete half-written temporaries of the run's own files left by a killed process (:func:`is_temp`; in the
    run directory and its ``samples/`` folder); return how many."""
    stale = [p for d in (Path(run_dir), Path(run_dir) / "samples") if d.is_dir()
             for p in d.iterdir() if is_temp(p.name) and p.is_file() and not p.is_symlink()]
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


def is_run_dir(path: Path) -> bool:
    """Whether ``path`` is a run directory: it holds unigen's lock file or a checkpoint, or a config with logs."""
    return ((path / LOCK).is_file() or (path / "checkpoint.pt").is_file()
            or ((path / "config.yaml").is_file() and (path / "metrics.jsonl").exists()))


def own_file(path: str | Path) -> str | None:
    """What ``path`` is, when it resolves (through links) to a file that a run directory keeps for itself: its
    checkpoints, config, logs, curves, evaluations, lock, temporaries, TensorBoard events or training
    snapshots (a run's ``samples.png`` is not one: ``unigen sample RUN`` redraws it). ``None`` otherwise."""
    real = Path(os.path.realpath(path))
    folder, name = real.parent, real.name
    if is_run_dir(folder) and ((name in RUN_FILES and name != "samples.png") or name == LOCK or is_temp(name)
                               or re.fullmatch(r"eval\..+\.json", name)):
        return f"{name}, a file of the run {folder}"
    snapshot = re.fullmatch(r"step_\d+\.png", name) or is_temp(name)
    if folder.name == "samples" and is_run_dir(folder.parent) and snapshot:
        return f"a training snapshot of the run {folder.parent}"
    for d in real.parents:
        if d.name in TRACKER_DIRS and is_run_dir(d.parent):
            return f"inside the {TRACKER_DIRS[d.name]} folder of the run {d.parent}"
    return None


def run_of(path: str | Path) -> Path | None:
    """The run directory that a file written at ``path`` lands in (its folder, or that folder's parent for a
    run's ``samples/``), resolved through links; ``None`` outside any run."""
    folder = Path(os.path.realpath(path)).parent
    for d in (folder, folder.parent):
        if is_run_dir(d):
            return d
    return None


def umask() -> int:
    """The process's umask (read without changing it for longer than a call)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: what a writer's own exception says when the disk is full or read-only (torch's zip writer raises a
#: RuntimeError, safetensors a SafetensorError; neither carries an errno)
_ERRNO_TEXT = re.compile(r"\[Errno (\d+)\]|os error (\d+)")


def _writer_errno(e: BaseException, folder: Path) -> int | None:
    """The errno behind a writer's non-``OSError`` failure, when one can be told: named in its message, or a disk
    with no space left (torch's zip writer says only "unexpected pos" or "file write failed")."""
    found = _ERRNO_TEXT.search(str(e))
    if found:
        return int(found.group(1) or found.group(2))
    for code in DISK_ERRORS:
        if os.strerror(code).lower() in str(e).lower():
            return code
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    return errno.ENOSPC if st.f_bavail * st.f_frsize < (1 << 20) else None


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside ``path`` for a writer to write; when the block ends, the file is synced,
    given the mode the umask asks for (as ``open`` would) and renamed over ``path`` in one step. So a full disk,
    an error or a kill leaves the old file or the new one, never a part of one (and a failed write no
    temporary); a symbolic link at ``path`` is replaced, never written through; two writers leave one whole file.

    The temporary keeps ``path``'s suffix (``.NAME.XXXXXXXX.tmp.SUFFIX``), for writers that pick a format by it.
    A writer's failure that is not an ``OSError`` (torch's ``RuntimeError``, safetensors' ``SafetensorError``)
    is raised as the ``OSError`` it stands for when one can be told (so :func:`disk_errors` names it), else as
    one :class:`UserError` naming ``path``.
    """
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        raise UserError(f"{short(path)} is a folder, where a file is to be written; move it away, or write elsewhere")
    suffix = path.suffix if len(path.suffix) <= 16 else ""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:240 - len(suffix)]}.", suffix=f".tmp{suffix}")
    tmp = Path(name)
    try:
        os.close(fd)
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            # mkstemp makes 0600, and some writers (safetensors) replace the file with a 0600 one of their own:
            # what is written follows the umask, as open's files do
            os.fchmod(fd, 0o666 & ~umask())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except Exception as e:
        code = None if isinstance(e, (OSError, UserError)) else _writer_errno(e, path.parent)
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and e.filename == str(tmp):
            e.filename = str(path)  # a message names the file asked for, not its temporary
        if code is not None:
            raise OSError(code, os.strerror(code), str(path)) from None
        if isinstance(e, RuntimeError) or type(e).__name__ == "SafetensorError":
            raise UserError(f"cannot write {short(path)} ({first_line(e)[:120]}); check the disk and the folder, "
                            f"then try again") from None
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


DISK_ERRORS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "the disk quota is exceeded",
               errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
               errno.EPERM: "permission denied", errno.EFBIG: "a file is larger than the file system allows",
               errno.ENAMETOOLONG: "a file name is longer than the file system allows"}


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
