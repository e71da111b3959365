"""Name → component registries, used only at the edge (config, CLI).

Each registered component is a dataclass whose fields are its settings; its docstring's first line is
the one-line description that ``unigen list`` prints.

The tables are filled in one place, :func:`fill`, which every read of a table calls first: it imports the
component packages ``unigen.data``, ``unigen.inference`` and ``unigen.models`` (once), and each of those
imports its modules by name, so the tables are full wherever they are read while ``import unigen`` stays
cheap. The components import this module, never the reverse at import time.
"""
from __future__ import annotations

import difflib

from dataclasses import is_dataclass
from typing import Callable, Generic, TypeVar

from unigen.errors import UserError

T = TypeVar("T")

#: the packages whose modules register components, in the order they are imported
COMPONENT_PACKAGES = ("unigen.data", "unigen.inference", "unigen.models")
_filled = False


def fill() -> None:
    """Import the component packages once, so that every registered class is in its table."""
    global _filled
    if not _filled:
        _filled = True  # first: a component that reads a table while the packages import finds no loop
        import importlib

        for name in COMPONENT_PACKAGES:
            importlib.import_module(name)


class Registry(Generic[T]):
    """A named table of component classes (strategies, models or datasets)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._classes: dict[str, type[T]] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        def deco(cls: type[T]) -> type[T]:
            if not is_dataclass(cls):
                raise TypeError(f"{self.kind} {name!r} must be a dataclass (its fields are its settings)")
            if name in self._classes:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            cls.registry_name = name
            self._classes[name] = cls
            return cls

        return deco

    def get(self, name: str) -> type[T]:
        fill()
        if name not in self._classes:
            choices = ", ".join(sorted(self._classes))
            recipe = next((c.aliases[name] for c in self._classes.values() if name in getattr(c, "aliases", {})), None)
            if recipe is not None:  # a name users bring for a setting of a registered component (wgan_gp)
                raise UserError(f"unknown {self.kind} {name!r}: it is {recipe}")
            near = difflib.get_close_matches(str(name), list(self._classes), n=1, cutoff=0.7)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise UserError(f"unknown {self.kind} {name!r}{hint}; choose one of: {choices}")
        return self._classes[name]

    def names(self) -> list[str]:
        fill()
        return sorted(self._classes)

    def describe(self) -> dict[str, str]:
        """``{name: first line of the docstring}`` for every registered class."""
        fill()
        return {n: (c.__doc__ or "").strip().splitlines()[0] for n, c in sorted(self._classes.items())}


STRATEGIES: Registry = Registry("strategy")
MODELS: Registry = Registry("model")
DATASETS: Registry = Registry("dataset")
