"""Signals during a run: SIGINT and SIGTERM set a flag that the training loop checks after each step
(:class:`StopOnSignal`); the run saves its checkpoint and raises :class:`Interrupted`, which the CLI turns into
exit code 128 + the signal's number."""
from __future__ import annotations

import signal
import threading
from pathlib import Path


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
