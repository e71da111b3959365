"""A run's log and result files: ``metrics.jsonl`` (:class:`MetricsLog`, one strict-JSON row per line) and
strict JSON (``eval.json``: :func:`write_json`), written through a temporary file and a rename."""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

from unigen.rundir import DAMAGED, write_text


def strict_json(values: dict) -> dict:
    """``values`` with every NaN or infinity replaced by ``null`` and named under ``"nonfinite"``
    (so that the file is strict JSON that any reader parses)."""
    bad = sorted(k for k, v in values.items() if isinstance(v, float) and not math.isfinite(v))
    if not bad:
        return values
    return {**{k: (None if k in bad else v) for k, v in values.items()},
            "nonfinite": {k: str(values[k]) for k in bad}}


def from_strict_json(values: dict) -> dict:
    """The inverse of :func:`strict_json`: the values named under ``"nonfinite"`` back as floats (inf, nan)."""
    return {**values, **{k: float(v) for k, v in (values.get("nonfinite") or {}).items()}}


def write_json(path: Path, values: dict) -> None:
    """Write ``values`` as strict JSON, through a temporary file and a rename (never a 0-byte or partial file)."""
    write_text(path, json.dumps(strict_json(values), indent=2, allow_nan=False) + "\n")


def parse_row(line: str) -> dict | None:
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
        return [row for row in map(parse_row, self._lines()) if row is not None]

    def truncate_after(self, step: int) -> None:
        """Keep the training rows, resume notes and periodic evaluations (``train.eval_every``) up to ``step``: a
        resumed run re-logs the rest.

        Lines that are not rows (torn by a kill or a full disk, garbage) are not dropped silently: they are appended
        to ``metrics.damaged.jsonl`` beside it, and one line on stderr says how many, where, and what was kept.
        """
        if not self.enabled:
            return
        lines = self._lines()
        rows = [parse_row(line) for line in lines]
        damaged = [(i + 1, line) for i, (line, row) in enumerate(zip(lines, rows)) if row is None and line.strip()]
        keep = [r for r in rows if r is not None and r["step"] <= step
                and (r.get("kind") in ("train", "resume") or r.get("kind") == "eval" and r.get("periodic"))]
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
