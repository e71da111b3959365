r"""Bounds on settings, declared where each settings dataclass defines its fields, checked in one place.

A field declared with :func:`bounded` carries its allowed range in its metadata;
:func:`check_settings` walks a settings dataclass (and the dataclasses nested in it) and refuses, in one
line that names the key, the value and the range:

* any ``float`` or ``int`` that is NaN or infinite (every numeric setting must be finite);
* a value outside its declared :class:`Bounds` (for a list, each element);
* a value that is not one of its declared choices (:func:`choice`: a name such as ``train.compile`` or
  ``model.likelihood``; the choices may be a function, read when checked, for tables that plugins fill).

``unigen list`` reads the same declarations (:func:`choices_of`), so what it shows is what is checked.

The config layer (:func:`unigen.config.resolve`) calls it on every section with the section's key as
prefix (``train.optim.lr=-1: must be >= 0``); the Python API names the class instead
(``OptimConfig.lr=-1: ...``).
"""
from __future__ import annotations

import math
from dataclasses import Field, dataclass, field, fields, is_dataclass
from typing import Any, Callable, Iterable

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


def choice(default: Any, values: Iterable | Callable[[], Iterable], *, checked: bool = True, shown: str = "") -> Any:
    """A setting that takes one of ``values`` (a tuple, or a function returning one, read when checked: for a
    table that plugins fill, such as the registered penalties). ``checked=False`` declares choices that are
    shown but checked elsewhere (``train.device``: ``cuda:N`` stands for any index); ``shown`` notes what
    ``unigen list`` adds to them."""
    return field(default=default, metadata={"choices": values, "checked": checked, "shown": shown})


def choices_of(f: Field) -> tuple[str, ...] | None:
    """The declared choices of a dataclass field, as strings (``None`` for a free setting)."""
    values = f.metadata.get("choices")
    if values is None:
        return None
    return tuple(str(v) for v in (values() if callable(values) else values))


def _check_choice(f: Field, value: Any, key: str, context: str = "") -> None:
    allowed = choices_of(f) if f.metadata.get("checked", True) else None
    if allowed is None or value is None or str(value) in allowed and not isinstance(value, bool):
        return
    import difflib

    near = difflib.get_close_matches(str(value), allowed, n=1, cutoff=0.7)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    raise UserError(f"{context}{key}={value!r} is not one of {', '.join(allowed)}{hint}; choose one of them")


def check_choices(obj: Any, prefix: str = "", context: str = "") -> None:
    """Refuse, at construction (a ``__post_init__``) or build, a name outside its field's declared choices. The
    message names the field bare (``warmup='cosine' is not one of ...``, which the config layer prefixes with its
    section), or ``prefix`` + field after ``context`` (``model 'mlp': model.likelihood='x' ...``)."""
    for f in fields(obj):
        if "choices" in f.metadata:
            _check_choice(f, getattr(obj, f.name), prefix + f.name, context)


def check_settings(obj: Any, prefix: str) -> None:
    """Refuse non-finite numbers, values outside their declared :class:`Bounds` and names outside their declared
    choices (:func:`choice`), naming ``prefix.key``."""
    if not is_dataclass(obj):
        return
    for f in fields(obj):
        value, key = getattr(obj, f.name), f"{prefix}.{f.name}"
        if "choices" in f.metadata:
            _check_choice(f, value, key)
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
