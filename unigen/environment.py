"""What a run ran on: the versions of unigen, torch, Pyro and Python, the device, and the git commit of the
working directory when it is a repository (pythae's ``environment.json``). Written into the run directory
(``environment.json``: the start, then one entry per resume), into each checkpoint and into an export's metadata."""
from __future__ import annotations

import platform
import subprocess
from importlib import metadata

import torch


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def git_commit() -> str | None:
    """The commit checked out in the working directory (with ``+dirty`` for uncommitted changes), or ``None``."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=5)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def environment(device: torch.device | str) -> dict:
    """The versions, the device (with the GPU's name) and the git commit, as plain JSON values."""
    device = torch.device(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    return {"unigen": _version("unigen"), "torch": str(torch.__version__), "pyro": _version("pyro-ppl"),
            "python": platform.python_version(), "device": str(device), "device_name": name,
            "git_commit": git_commit()}


def record_environment(path, env: dict, resumed: bool = False) -> None:
    """Write ``environment.json`` with ``env`` (:func:`environment`): ``{"started": env}`` for a new run; a resume
    appends it to ``"resumed"`` (an unreadable earlier file is started afresh)."""
    import json

    from unigen.rundir import write_text

    record = {}
    if resumed:
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            record = {}
        record = record if isinstance(record, dict) else {}
        record["resumed"] = [*(record.get("resumed") or []), env]
    else:
        record = {"started": env}
    write_text(path, json.dumps(record, indent=2) + "\n")
