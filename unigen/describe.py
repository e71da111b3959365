"""``unigen list NAME``: one component's settings, with their types, defaults, ranges and allowed choices.

The settings are the fields of the component's dataclass; their ranges come from the field metadata
(:class:`unigen.settings.Bounds`), their descriptions from the ``:param NAME:`` lines of the class's
docstring (or of a base class's), and their choices from the field too (:func:`unigen.settings.choice`, declared
next to the field, often from a table beside the code that uses it: ``DIVERGENCES`` in
``inference/divergences.py``, ``H_NAMES`` in ``inference/monoflow.py``), so a new divergence or ``h`` shows up
here, and is checked, without an edit of the core.
"""
from __future__ import annotations

import inspect
import re
import typing
from dataclasses import MISSING, fields, is_dataclass
from typing import Callable

from unigen.errors import UserError
from unigen.settings import choices_of


def choices(name: str, cls: type, field: str) -> tuple[str, ...] | None:
    """The allowed values of ``cls.field`` as its dataclass declares them (:func:`unigen.settings.choice`), or
    ``None`` for a free setting; ``name`` (the component's) is kept for callers that name it."""
    f = next((f for f in fields(cls) if f.name == field), None) if is_dataclass(cls) else None
    return None if f is None else choices_of(f)


_TEX = {"\\in ": "∈ ", "\\le ": "≤ ", "\\ge ": "≥ ", "\\lambda": "λ", "\\beta": "β", "\\alpha": "α",
        "\\gamma": "γ", "\\sigma": "σ", "\\infty": "∞", "\\phi": "φ",
        "\\theta": "θ", "\\,": " "}


def plain(text: str) -> str:
    """reST as a terminal shows it: roles unwrapped (``:math:`h(d)``` -> ``h(d)``), the few LaTeX symbols settings'
    docs use as characters, double backquotes dropped."""
    text = re.sub(r":[\w~.]+:`~?([^`]*)`", r"\1", text)
    for tex, symbol in _TEX.items():
        text = text.replace(tex, symbol)
    return text.replace("``", "")


def param_docs(cls: type) -> dict[str, str]:
    """``{field: description}`` from the ``:param NAME: text`` lines of ``cls``'s docstrings (bases first)."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        doc = klass.__dict__.get("__doc__") or ""
        for m in re.finditer(r":param (\w+):\s*(.*?)(?=\n\s*\n|\n\s*:(?:param|returns?|raises|type)\b|\n\s*\.\.|\Z)",
                             doc, flags=re.S):
            out[m.group(1)] = plain(" ".join(m.group(2).split()))
    return out


def comment_docs(cls: type) -> dict[str, str]:
    """``{field: comment}`` from the comments beside (or on the line above) a field in ``cls``'s source,
    for the shared sections (``TrainConfig``), whose fields are documented that way."""
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):
        return {}
    out, above = {}, []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("#"):
            above.append(stripped.lstrip("# "))
            continue
        m = re.match(r"\s+(\w+):[^=]*=.*?#\s*(.*)$", line) or re.match(r"\s+(\w+):[^=]*=", line)
        if m:
            beside = m.group(2) if m.lastindex == 2 else ""
            out[m.group(1)] = " ".join(above + ([beside] if beside else []))
        above = []
    return {k: v for k, v in out.items() if v}


def _type_name(t) -> str:
    if isinstance(t, str):
        return t
    if isinstance(t, type):
        return t.__name__
    return re.sub(r"\btyping\.", "", str(t))


def _default(f) -> str:
    if f.default is not MISSING:
        return repr(f.default)
    if f.default_factory is not MISSING:
        value = f.default_factory()
        return "(section)" if is_dataclass(value) else repr(value)
    return "(required)"


def settings_lines(name: str, cls: type) -> list[str]:
    """One line per setting: ``key  type = default  range/choices  description``."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # forward references that do not resolve: fall back to the annotations as written
        hints = {}
    docs, lines = {**comment_docs(cls), **param_docs(cls)}, []
    for f in fields(cls):
        if not f.init or f.name.startswith("_"):
            continue
        kind = _type_name(hints.get(f.name, f.type))
        extra = []
        bounds = f.metadata.get("bounds")
        if bounds is not None:
            extra.append(f"range: {bounds}")
        allowed = choices(name, cls, f.name)
        if allowed:
            extra.append(f"choices: {', '.join(allowed)}")
        if docs.get(f.name):
            extra.append(docs[f.name])
        lines.append(f"  {f.name:<16} {kind} = {_default(f)}" + ("".join(f"\n      {e}" for e in extra)))
    return lines


def _summary(cls: type) -> str:
    doc = (cls.__doc__ or "").strip()
    return plain(doc.split("\n\n")[0].replace("\n", " ")) if doc else ""


def _reproduction(name: str, module) -> str:
    """``unigen list NAME`` of a reproduction: what it reproduces, its data sets and seeds, how to run it."""
    data = tuple(getattr(module, "DATA", ()))
    lines = [f"{name} (reproduction; unigen reproduce {name} [--quick] [--seeds N]"
             f"{' [--data D]' if data else ''} [--device cuda] [--cache DIR])", f"  {_summary(module)}",
             f"data: {', '.join(data)} (default {data[0]})" if data else "data: its own",
             f"seeds: {getattr(module, 'SEEDS', 3)} by default",
             f"page: experiments/results/{name}.md" + (
                 f" ({name}-{data[1].replace('_', '-')}.md for --data {data[1]}; " if len(data) > 1 else " (")
             + f"{name}.quick.md with --quick"
             + "".join(f"; {name}-{v}.md from a run at settings reduced for a {v.upper()}"
                       for v in getattr(module, "PAGE_VARIANTS", ())) + ")"]
    return "\n".join(lines)


def components() -> dict[str, tuple[str, type | Callable]]:
    """Every name ``unigen list NAME`` knows: ``{name: (kind, class or function)}``."""
    from unigen.config import EvalConfig, OptimConfig, TrainConfig
    from unigen.inference.penalties import PENALTIES
    from unigen.registry import DATASETS, MODELS, STRATEGIES

    out: dict[str, tuple[str, type | Callable]] = {}
    for kind, reg in (("strategy", STRATEGIES), ("model", MODELS), ("dataset", DATASETS)):
        for n in reg.names():
            out.setdefault(n, (kind, reg.get(n)))
    for n, fn in PENALTIES.items():
        out.setdefault(n, ("penalty", fn))
    for n, cls in (("train", TrainConfig), ("optim", OptimConfig), ("eval", EvalConfig)):
        out.setdefault(n, ("section", cls))
    return out


def describe(name: str) -> str:
    """The text of ``unigen list NAME``; an unknown name is a :class:`UserError` listing the names."""
    from unigen.experiments import REPRODUCTIONS

    known = components()
    if name not in known and name in REPRODUCTIONS:
        return _reproduction(name, REPRODUCTIONS[name])
    if name not in known:
        import difflib

        names = [*known, *REPRODUCTIONS]
        near = difflib.get_close_matches(name.replace("-", "_").lower(), names, n=1, cutoff=0.6) or \
            difflib.get_close_matches(name.replace("_", "-").lower(), names, n=1, cutoff=0.6)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise UserError(f"unknown name {name!r}{hint}; `unigen list NAME` takes one of: {', '.join(sorted(known))}, "
                        f"or a reproduction: {', '.join(REPRODUCTIONS)}")
    kind, obj = known[name]
    usage = {"strategy": f"strategy.name={name}", "model": f"model.name={name}", "dataset": f"data.name={name}",
             "penalty": f"strategy.penalty={name} (any adversarial strategy)",
             "section": f"{'train.optim' if name == 'optim' else name}.KEY=VALUE"}[kind]
    head = [f"{name} ({kind}; {usage})", f"  {_summary(obj)}"]
    if not is_dataclass(obj):  # a penalty: a function, weighted by the strategy's penalty_weight
        return "\n".join(head + ["settings: strategy.penalty_weight (see `unigen list ns_gan`)"])
    players = getattr(obj, "players", None)
    if kind == "strategy" and isinstance(players, dict):
        head.append("players: " + "; ".join(f"{p} ({', '.join(r)})" for p, r in players.items()))
    lines = settings_lines(name, obj)
    return "\n".join(head + ["settings:" if lines else "settings: none"] + lines)
