r"""Bounds on settings, declared where each settings dataclass defines its fields, checked in one place.

A field declared with :func:`bounded` carries its allowed range in its metadata;
:func:`check_settings` walks a settings dataclass (and the dataclasses nested in it) and refuses, in one
line that names the key, the value and the range:

* any ``float`` or ``int`` that is NaN or infinite (every numeric setting must be finite);
* a value outside its declared :class:`Bounds` (for a list, each element).

The config layer (:func:`unigen.config.resolve`) calls it on every section with the section's key as
prefix (``train.optim.lr=-1: must be >= 0``); the Python API names the class instead
(``OptimConfig.lr=-1: ...``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from unigen.errors import UserError

#: the largest count a setting may ask for: a larger one is a typo, and would run for ever
MAX_COUNT = 10 ** 9


@dataclass(frozen=True)
class Bounds:
    """A closed or half-open interval; ``None`` is unbounded on that side."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def holds(self, v: float) -> bool:
        if self.lo is not None and (v <= self.lo if self.lo_open else v < self.lo):
            return False
        return not (self.hi is not None and (v >= self.hi if self.hi_open else v > self.hi))

    def __str__(self) -> str:
        def num(v: float) -> str:
            return f"{int(v):,}" if float(v).is_integer() and abs(v) >= 1000 else f"{v:g}"

        parts = []
        if self.lo is not None:
            parts.append(f"{'>' if self.lo_open else '>='} {num(self.lo)}")
        if self.hi is not None:
            parts.append(f"{'<' if self.hi_open else '<='} {num(self.hi)}")
        return " and ".join(parts) or "finite"


def bounded(default: Any = None, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
            hi_open: bool = False, default_factory: Any = None) -> Any:
    """A dataclass field whose value (each element, for a list) must lie in the given interval."""
    meta = {"bounds": Bounds(lo, hi, lo_open, hi_open)}
    if default_factory is not None:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


def count(default: int, lo: int = 1, hi: int = MAX_COUNT) -> Any:
    """An integer setting that counts something: at least ``lo`` (1), at most ``hi`` (10⁹)."""
    return bounded(default, lo, hi)


def seed(default: int = 0) -> Any:
    """A random seed: ``0 <= seed < 2**32`` (what numpy accepts)."""
    return bounded(default, 0, 2 ** 32, hi_open=True)


def check_settings(obj: Any, prefix: str) -> None:
    """Refuse non-finite numbers and values outside their declared :class:`Bounds`, naming ``prefix.key``."""
    if not is_dataclass(obj):
        return
    for f in fields(obj):
        value, key = getattr(obj, f.name), f"{prefix}.{f.name}"
        bounds = f.metadata.get("bounds")
        items = value if isinstance(value, (list, tuple)) else [value]
        for i, v in enumerate(items):
            where = key if items is not value else f"{key}[{i}]"
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                continue
            if isinstance(v, float) and not math.isfinite(v):
                raise UserError(f"{where}={v} is not a finite number; give a finite value")
            if bounds is not None and not bounds.holds(v):
                raise UserError(f"{where}={v} is out of range: it must be {bounds}")
        if is_dataclass(value):
            check_settings(value, key)
