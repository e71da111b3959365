"""The probe harness: bad inputs and faults must end in exit 0 with a correct result, or one line and exit 2.

Every probe test (``tests/unigen/test_probe_*.py``) goes through these helpers, so "one line" means the same
everywhere: stderr is exactly one line starting ``unigen: error:``, no traceback, no hang, exit code 2.

* :func:`cli` runs ``unigen ARGV`` in this process (fast; the usual case);
* :func:`cli_process` runs it in a child process with a time limit, for faults that can kill a process
  (a crash shows as a negative return code, a hang as ``TimeoutExpired``);
* :func:`one_line` asserts the refusal; :func:`snapshot` and :func:`unchanged` assert that no file was lost.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RING = "experiments/configs/ring_gan.yaml"
TINY = ["data.n=2000", "model.hidden=32", "model.disc_hidden=32", "train.batch_size=64", "train.log_every=5",
        "train.optim.schedule=constant", "train.progress=false", "eval.num_samples=100"]


def cli(argv, capsys):
    """``unigen ARGV`` in process: ``(exit code, stderr stripped, stdout)``."""
    from unigen.cli import main

    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.err.strip(), captured.out


def cli_process(argv, timeout=240, env=None, cwd=ROOT):
    """``unigen ARGV`` in a child process: ``(return code, stderr stripped, stdout)``; a crash is a negative code."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    p = subprocess.run([sys.executable, "-m", "unigen", *map(str, argv)], capture_output=True, text=True,
                       timeout=timeout, env=full_env, cwd=cwd)
    return p.returncode, p.stderr.strip(), p.stdout


def one_line(code, err, fragment=""):
    """A refusal: exit 2, one line on stderr beginning ``unigen: error:``, holding ``fragment``."""
    assert code == 2, f"exit {code}: {err}"
    assert "Traceback" not in err, err
    assert err.startswith("unigen: error: ") and len(err.splitlines()) == 1, err
    assert fragment in err, err


def snapshot(folder: Path) -> dict:
    """Every file below ``folder`` and its bytes (to show later that nothing was lost or changed)."""
    return {p.relative_to(folder): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def unchanged(folder: Path, before: dict, ignore=(".lock",)) -> None:
    """Assert that every file of ``before`` is still there with the same bytes (files in ``ignore`` aside)."""
    after = snapshot(folder)
    lost = [str(k) for k in before if k.name not in ignore and after.get(k) != before[k]]
    assert not lost, f"changed or lost: {lost}"


# ---------------------------------------------------------------------------------- shared fixtures
@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    """A finished 10-step ring-GAN run (copied by each test that changes it: :func:`run`)."""
    from unigen.run import train

    return train(RING, TINY + ["train.steps=10"], out=str(tmp_path_factory.mktemp("base") / "base"))


@pytest.fixture
def run(base_run, tmp_path):
    """A copy of :func:`base_run` for one test to damage."""
    copy = tmp_path / "run"
    shutil.copytree(base_run, copy)
    return copy


def can_mount_tmpfs(path: Path, options: str = "size=4m") -> bool:
    """Mount a small tmpfs at ``path`` (root only): a real full or read-only file system for a test."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    path.mkdir(exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def fill_disk(disk: Path) -> None:
    """Fill the file system of ``disk`` to its last byte."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    for chunk in (65536, 1):
        try:
            while True:
                os.write(fd, b"\0" * chunk)
        except OSError:
            pass
    os.close(fd)
