"""The runner behind ``unigen reproduce``: seeds, tables of mean ± std beside published numbers, files.

A reproduction is a module in this package with ``NAME``, ``TITLE``, ``PROTOCOL`` (markdown),
``PUBLISHED`` (rows of published numbers) and ``run(ctx) -> list[Row]``, where ``ctx`` is a
:class:`Context` (quick or full settings, seeds, device, output folder for plots). The runner writes
``experiments/results/NAME.md`` (table, protocol, hardware, wall time) and ``NAME.json`` (rows of
``{method, metric, mean, std, seeds}``).

A long reproduction can be resumed: with ``cache`` set (``unigen reproduce NAME --cache DIR``) each
training's result is stored under a hash of everything that determines it (:meth:`Context.cached`), and a
second invocation with the same settings reuses it instead of training again.
"""
from __future__ import annotations

import hashlib
import json
import math
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from unigen import checkpoint

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Row:
    """One measured number for one method and seed (aggregated over seeds by the runner)."""

    method: str
    metric: str
    value: float
    seed: int


@dataclass
class Context:
    quick: bool
    seeds: list[int]
    device: str
    out: Path
    notes: list[str] = field(default_factory=list)  # lines added to the results page
    cache: Path | None = None  # finished trainings' results, reused by a rerun (None: no cache)
    reused: int = 0  # results this invocation took from the cache
    reused_seconds: float = 0.0  # the time those results took to compute, where it was recorded

    def pick(self, quick, full):
        """``quick`` settings for tests and CPU smoke runs, ``full`` for the real experiment."""
        return quick if self.quick else full

    def cached(self, key, fn):
        """``fn()``, or its result stored in the cache by an earlier call with an equal ``key``.

        ``key`` must hold everything the result depends on (a run configuration, seed, metric settings);
        it is hashed as canonical JSON, together with the quick flag and the device. Results are saved with
        :func:`torch.save` and loaded with ``weights_only=True``, so they must be tensors, numbers, strings,
        ``None`` and lists, tuples or dicts of them. Without a cache this is ``fn()``.
        """
        path = cache_path(self.cache, [key, self.quick, self.device])
        if path is not None and path.exists():
            self.count_reused(path)
        return load_or_compute(path, fn)

    def count_reused(self, path: Path) -> None:
        """Count a result taken from the cache, and the seconds its computation took (when recorded)."""
        self.reused += 1
        seconds = path.with_suffix(".json")
        if seconds.exists():
            self.reused_seconds += json.loads(seconds.read_text())["seconds"]


def cache_path(cache: Path | None, key) -> Path | None:
    """The file of ``key`` in ``cache`` (``None`` without a cache)."""
    if cache is None:
        return None
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:24]
    return Path(cache) / f"{digest}.pt"


def load_or_compute(path: Path | None, fn):
    """The value stored at ``path``, or ``fn()``, then stored there (atomically, by
    :func:`unigen.checkpoint.save`) with the seconds it took in ``path.json``; without a path, ``fn()``."""
    if path is not None and path.exists():
        return torch.load(path, weights_only=True)
    start = time.perf_counter()
    value = fn()
    if path is not None:
        checkpoint.save(value, path)
        path.with_suffix(".json").write_text(json.dumps({"seconds": time.perf_counter() - start}))
    return value


def aggregate(rows: list[Row]) -> list[dict]:
    groups: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        groups.setdefault((r.method, r.metric), []).append(r)
    out = []
    for (method, metric), rs in groups.items():
        vals = [r.value for r in rs]
        out.append({"method": method, "metric": metric, "mean": statistics.fmean(vals),
                    "std": _std(vals), "seeds": [r.seed for r in rs]})
    return out


def _std(vals: list[float]) -> float:
    """Sample standard deviation; NaN when a value is infinite (a run that failed), 0 for one value."""
    if len(vals) < 2:
        return 0.0
    return statistics.stdev(vals) if all(math.isfinite(v) for v in vals) else math.nan


def _fmt(x: float) -> str:
    if isinstance(x, float) and (math.isinf(x) or math.isnan(x)):
        return str(x)
    return f"{x:.4g}"


def on_gpu(device: str) -> bool:
    """Whether a reproduction's ``--device`` trains on a GPU (there, steps are captured in CUDA graphs)."""
    return device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())


def hardware(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()} (torch {torch.__version__})"
    n = torch.get_num_threads()
    return f"CPU {platform.processor() or platform.machine()}, {n} thread{'s' if n != 1 else ''} (torch {torch.__version__})"


def table(module, agg: list[dict]) -> list[str]:
    """The results table: our mean ± std per method and metric, with a published number beside ours where
    the paper has one for the same method and metric. Published methods that we did not run (other papers'
    models) get rows of their own, marked by their names; published numbers for metrics outside the table
    are listed below it."""
    pubs = getattr(module, "PUBLISHED", [])
    published = {(p["method"], p["metric"]): p["value"] for p in pubs}
    metrics = list(dict.fromkeys(a["metric"] for a in agg))
    methods = list(dict.fromkeys(a["method"] for a in agg))
    lookup = {(a["method"], a["metric"]): a for a in agg}
    others = list(dict.fromkeys(p["method"] for p in pubs if p["method"] not in methods and p["metric"] in metrics))
    lines = ["| method | " + " | ".join(metrics) + " |", "|---|" + "---|" * len(metrics)]
    for m in methods:
        cells = []
        for metric in metrics:
            a = lookup.get((m, metric))
            ours = "—" if a is None else (f"{_fmt(a['mean'])} ± {_fmt(a['std'])}" if len(a["seeds"]) > 1 else _fmt(a["mean"]))
            pub = published.get((m, metric))
            cells.append(ours + (f" (published: {pub})" if pub is not None else ""))
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    for m in others:
        lines.append(f"| {m} | " + " | ".join(str(published.get((m, metric), "—")) for metric in metrics) + " |")
    extra = [p for p in pubs if (p["method"], p["metric"]) not in lookup
             and not (p["method"] in others and p["metric"] in metrics)]
    if extra:
        lines += ["", "Published rows without a counterpart here:", ""]
        lines += [f"- {p['method']} — {p['metric']}: {p['value']} ({p.get('source', '')})" for p in extra]
    return lines


def write(module, ctx: Context, rows: list[Row], wall_s: float, results: Path = RESULTS) -> Path:
    """Write ``NAME.md`` and ``NAME.json`` into ``results``; return the markdown path."""
    results.mkdir(parents=True, exist_ok=True)
    agg = aggregate(rows)
    lines = [f"# {module.TITLE}", "",
             f"Command: `unigen reproduce {module.NAME}{' --quick' if ctx.quick else ''} --seeds {len(ctx.seeds)}"
             f" --device {ctx.device}`  ", f"Mode: **{'quick (reduced settings, smoke test)' if ctx.quick else 'full'}**; "
             f"seeds {ctx.seeds}; hardware: {hardware(ctx.device)}; wall time {wall_s:.0f} s.", ""]
    lines += table(module, agg)
    lines += ["", "## Protocol", "", module.PROTOCOL.strip(), ""]
    if ctx.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in ctx.notes] + [""]
    plots = sorted(p.name for p in ctx.out.glob(f"{module.NAME}*.png"))
    if plots:
        lines += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    md = results / f"{module.NAME}.md"
    md.write_text("\n".join(lines))
    (results / f"{module.NAME}.json").write_text(json.dumps(agg, indent=2) + "\n")
    return md


def run(name: str, quick: bool = False, seeds: int = 3, device: str = "cpu", results: Path = RESULTS,
        cache: Path | None = None) -> Path:
    """Run one reproduction and write its results; returns the markdown path.

    :param cache: a folder for finished trainings' results (its ``NAME`` subfolder); a rerun with the same
        settings reuses them, so an interrupted reproduction resumes where it stopped.
    """
    from unigen.experiments import REPRODUCTIONS

    module = REPRODUCTIONS[name]
    results.mkdir(parents=True, exist_ok=True)
    ctx = Context(quick=quick, seeds=list(range(seeds)), device=device, out=results,
                  cache=None if cache is None else Path(cache) / name)
    start = time.perf_counter()
    rows = module.run(ctx)
    if ctx.reused:
        took = (f" Computing them took {ctx.reused_seconds:.0f} s in the earlier invocation(s), summed over "
                f"trainings (which may have run in parallel)." if ctx.reused_seconds else "")
        ctx.notes.append(f"Resumed: {ctx.reused} result(s) came from the cache of an earlier, interrupted "
                         f"invocation with the same settings (`--cache`); the wall time above covers this "
                         f"invocation only.{took}")
    return write(module, ctx, rows, time.perf_counter() - start, results)


def asdicts(rows: list[Row]) -> list[dict]:
    return [asdict(r) for r in rows]
