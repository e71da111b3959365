"""The runner behind ``unigen reproduce``: seeds, tables of mean ± std beside published numbers, files.

A reproduction is a module in this package with ``NAME``, ``TITLE``, ``PROTOCOL`` (markdown),
``PUBLISHED`` (reference numbers: rows of ``{method, metric, value, source}``, with ``kind: "analytic"`` for
a value that is derived rather than published) and ``run(ctx) -> list[Row]``, where ``ctx`` is a
:class:`Context` (quick or full settings, seeds, device, data set, output folder for plots). A module that
runs on more than one data set lists them in ``DATA`` (its default first; ``unigen reproduce NAME --data
fashion_mnist``); a page for another data set than the default is ``NAME-DATA.md`` (``hu2018-aavae-fashion-mnist.md``),
its title from ``TITLES[data]`` and its protocol from ``PROTOCOLS[data]`` where the module has them, and its table
shows no published numbers (they were measured on the default data set). The runner writes
``NAME.md`` (table, protocol, hardware, wall time), ``NAME.json`` (rows of ``{method, metric, mean, std,
seeds, values}``: ``values`` per seed, so that a paired reading can be checked; pages before it lack them)
and the module's figures into the results folder (default ``./experiments/results`` under the working
directory). A quick run writes ``NAME.quick.md``, ``NAME.quick.json`` and ``NAME.quick*.png`` instead, so a smoke
test never replaces a full page. :func:`rerender` rewrites a page's table from its JSON without running anything.

A long reproduction can be resumed: with ``cache`` set (``unigen reproduce NAME --cache DIR``) each
training's result is stored under a hash of everything that determines it (:meth:`Context.cached`), and a
second invocation with the same settings reuses it instead of training again. An entry that cannot be read
(damaged, truncated, a folder, a value of another kind than its record says) is recomputed and replaced, and one
line on stderr names it; entries are loaded with ``weights_only=True``, so no pickled code ever runs.
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
from unigen.errors import UserError, first_line

RESULTS = Path(__file__).resolve().parent / "results"  # the committed pages (in a checkout; installed copies may lack them)
DEFAULT_RESULTS = Path("experiments") / "results"  # where `unigen reproduce` writes: relative to the working directory
DECIMALS = 4  # the most decimals a table prints; a value below half a unit of the last one prints as 0


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
    name: str = ""  # the reproduction's NAME: the stem of its files
    figures: list[Path] = field(default_factory=list)  # the figures this invocation wrote (:meth:`figure`)
    data: str = ""  # the data set (a name of unigen's DATASETS); "" where the reproduction has one fixed set
    default_data: str = ""  # the reproduction's own data set (the first of its DATA)
    variant: str = ""  # set by a run on settings reduced for its hardware ("cpu"): the page gets its own name
    verdict: str = ""  # the page's last line, computed from its numbers (unigen.experiments.verdict)

    def pick(self, quick, full):
        """``quick`` settings for tests and CPU smoke runs, ``full`` for the real experiment."""
        return quick if self.quick else full

    @property
    def other_data(self) -> bool:
        """Whether this run is on another data set than the reproduction's default (``--data``)."""
        return self.data != self.default_data

    @property
    def stem(self) -> str:
        """``NAME`` for a full run, ``NAME.quick`` for a quick one: quick files never replace full ones;
        ``NAME-DATA`` (``-fashion-mnist``) on another data set than the default, and ``…-VARIANT`` (``-cpu``) where
        the run set :attr:`variant`, so that none of these pages replaces another."""
        stem = f"{self.name}-{self.data.replace('_', '-')}" if self.other_data else self.name
        stem = f"{stem}-{self.variant}" if self.variant else stem
        return f"{stem}.quick" if self.quick else stem

    def figure(self, suffix: str = "") -> Path:
        """The path of a figure of this run, ``out/STEM{suffix}.png``; it is listed on the page."""
        path = self.out / f"{self.stem}{suffix}.png"
        self.figures.append(path)
        return path

    def cached(self, key, fn):
        """``fn()``, or its result stored in the cache by an earlier call with an equal ``key``.

        ``key`` must hold everything the result depends on (a run configuration, seed, metric settings);
        it is hashed as canonical JSON, together with the quick flag and the device. Results are saved with
        :func:`torch.save` and loaded with ``weights_only=True``, so they must be tensors, numbers, strings,
        ``None`` and lists, tuples or dicts of them. Without a cache this is ``fn()``.

        An entry that cannot be read (truncated, empty, not a torch file, a folder, a damaged record, a value of
        another kind than the one stored) is a miss: ``fn()`` is recomputed and replaces it, and one line on
        stderr names the entry (:func:`read_entry`).
        """
        path = cache_path(self.cache, [key, self.quick, self.device])
        hit = None if path is None else read_entry(path)
        if hit is None:
            return compute_and_store(path, fn)
        value, seconds = hit
        self.count_reused(seconds=seconds)
        return value

    def count_reused(self, path: Path | None = None, seconds: float | None = None) -> None:
        """Count a result taken from the cache, and the seconds its computation took: given, or read from the
        record of the entry ``path`` (a job run in a worker process reads the entry itself); none when unrecorded."""
        if seconds is None and path is not None:
            try:
                seconds = float(json.loads(path.with_suffix(".json").read_text())["seconds"])
            except (OSError, ValueError, KeyError, TypeError):
                seconds = 0.0
        self.reused += 1
        self.reused_seconds += seconds or 0.0


def cache_path(cache: Path | None, key) -> Path | None:
    """The file of ``key`` in ``cache`` (``None`` without a cache)."""
    if cache is None:
        return None
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:24]
    return Path(cache) / f"{digest}.pt"


def load_or_compute(path: Path | None, fn):
    """The value stored at ``path`` (:func:`read_entry`), or ``fn()``, then stored there
    (:func:`compute_and_store`); without a path, ``fn()``."""
    hit = None if path is None else read_entry(path)
    return compute_and_store(path, fn) if hit is None else hit[0]


class _Unreadable(Exception):
    """A cache entry that cannot be used; the message says why."""


def structure(value) -> str:
    """A digest of the kind of a cached value: its containers, their keys and lengths, the types of its numbers
    and strings, its tensors' dtypes and shapes. Stored in the entry's record, it tells a rerun whether the entry
    still holds what was stored (not the values themselves: any numbers of the same kind pass)."""
    import numbers

    def walk(v) -> str:
        if v is None or isinstance(v, (bool, str, bytes)):
            return type(v).__name__
        if isinstance(v, numbers.Integral):
            return "int"
        if isinstance(v, numbers.Real):
            return "float"
        if isinstance(v, torch.Tensor):
            return f"tensor[{v.dtype},{tuple(v.shape)}]"
        if isinstance(v, dict):
            return "{" + ",".join(f"{k!r}:{walk(x)}" for k, x in v.items()) + "}"
        if isinstance(v, (list, tuple)):
            return ("[%s]" if isinstance(v, list) else "(%s)") % ",".join(walk(x) for x in v)
        return type(v).__name__

    return hashlib.sha256(walk(value).encode()).hexdigest()[:16]


def read_entry(path: Path) -> tuple[object, float] | None:
    """``(value, seconds)`` of the cache entry ``path`` and its record ``path.json``, or ``None`` for a miss:
    no entry, or one that cannot be read (then one line on stderr names it and says it is recomputed).

    The value is loaded with ``weights_only=True`` (no pickled code runs); a record written by this version
    holds the value's :func:`structure`, and an entry whose value no longer matches it is unreadable too.
    An entry without a record (written by an older version that stopped between the two files) is used, its
    compute time unrecorded."""
    import sys

    if not (path.exists() or path.is_symlink()):
        return None
    record = path.with_suffix(".json")
    blocked = _full_folder(path)
    try:
        if blocked is not None:
            raise _Unreadable(f"{blocked} is a folder with files in it, which is kept: move it away to cache the "
                              f"result again")
        if not path.is_file():  # never opened: a FIFO would block
            raise _Unreadable("a folder, not a file" if path.is_dir() else
                              "a link to nothing" if not path.exists() else "not a regular file")
        seconds, kind = 0.0, None
        if record.exists() or record.is_symlink():
            if not record.is_file():
                raise _Unreadable(f"its record {record} is not a regular file")
            try:
                meta = json.loads(record.read_text())
            except (OSError, ValueError) as e:  # unreadable, not UTF-8, not JSON
                raise _Unreadable(f"its record {record} cannot be read: {type(e).__name__}") from None
            seconds = meta.get("seconds") if isinstance(meta, dict) else None
            if (isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds)
                    or seconds < 0 or not isinstance(meta.get("type", ""), str)):
                raise _Unreadable(f"its record {record} is not one that unigen wrote")
            seconds, kind = float(seconds), meta.get("type")
        try:
            value = torch.load(path, weights_only=True)
        except Exception as e:  # truncated zip, empty, random bytes, a disallowed global: never run
            raise _Unreadable(f"not a readable torch file: {type(e).__name__}") from None
        if kind is not None and structure(value) != kind:
            raise _Unreadable(f"it holds another kind of value than {record} records")
    except _Unreadable as e:
        print(f"unigen: cache entry {path} is unreadable ({e}); recomputing it", file=sys.stderr)
        return None
    return value, seconds


def _full_folder(path: Path) -> Path | None:
    """The entry ``path`` or its record, where one is a folder with files in it (never removed), else ``None``."""
    for p in (path, path.with_suffix(".json")):
        if p.is_dir() and not p.is_symlink() and any(p.iterdir()):
            return p
    return None


#: set to "1", a result missing from the cache raises :class:`CacheMiss` instead of being computed (checking that a
#: page re-renders from its cache, :mod:`unigen.experiments.check_pages`, must never start a training)
CACHE_ONLY_ENV = "UNIGEN_CACHE_ONLY"


class CacheMiss(RuntimeError):
    """A result that :data:`CACHE_ONLY_ENV` forbids computing is not in the cache."""


def compute_and_store(path: Path | None, fn):
    """``fn()``, stored at ``path`` (atomically, by :func:`unigen.checkpoint.save`) after its record
    ``path.json`` (the seconds it took and its :func:`structure`); without a path, ``fn()``. An empty folder in
    the way is removed, a folder with files in it kept (the value is returned uncached: :func:`read_entry` said
    so); where the entry cannot be written (a read-only or full disk), one line on stderr says so and the value is
    returned uncached. With ``$UNIGEN_CACHE_ONLY=1`` and a path, :class:`CacheMiss` instead of ``fn()``."""
    import os
    import sys
    import tempfile

    if path is not None and os.environ.get(CACHE_ONLY_ENV) == "1":
        raise CacheMiss(f"{path.name} is not in the cache {path.parent}")
    from unigen.experiments import partial

    start = time.perf_counter()
    with partial.computing(path):  # a long training inside fn saves its state beside the entry (partial.fit)
        value = fn()
        seconds = partial.elapsed(start)  # with the steps of interrupted invocations
    if path is None or _full_folder(path) is not None:
        return value
    record = path.with_suffix(".json")
    try:
        for p in (record, path):
            if p.is_dir() and not p.is_symlink():
                p.rmdir()  # an empty folder in the entry's place; a full one raises (and is kept)
        text = json.dumps({"seconds": seconds, "type": structure(value)})
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=record.name, suffix=".tmp")
        try:
            mask = os.umask(0)
            os.umask(mask)
            os.fchmod(fd, 0o666 & ~mask)  # mkstemp makes 0600; the record follows the umask like its entry
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.replace(tmp, record)  # the record first: an entry is never newer than its record
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        checkpoint.save(value, path)
        partial.discard(path)
    except (OSError, RuntimeError, UserError) as e:
        why = (f"{e.strerror}: {e.filename}" if isinstance(e, OSError) and e.strerror and e.filename else
               first_line(e))
        print(f"unigen: cache entry {path} cannot be stored ({why}); the result is used without caching it",
              file=sys.stderr)
    return value


def aggregate(rows: list[Row]) -> list[dict]:
    groups: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        groups.setdefault((r.method, r.metric), []).append(r)
    out = []
    for (method, metric), rs in groups.items():
        vals = [r.value for r in rs]
        out.append({"method": method, "metric": metric, "mean": statistics.fmean(vals),
                    "std": _std(vals), "seeds": [r.seed for r in rs], "values": vals})
    return out


def _std(vals: list[float]) -> float:
    """Sample standard deviation; NaN when a value is infinite (a run that failed), 0 for one value."""
    if len(vals) < 2:
        return 0.0
    return statistics.stdev(vals) if all(math.isfinite(v) for v in vals) else math.nan


def _decimals(x: float, digits: int) -> int:
    """Decimals that show ``digits`` significant digits of ``x``, between 0 and :data:`DECIMALS`."""
    if x == 0 or not math.isfinite(x):
        return 0
    return min(DECIMALS, max(0, digits - 1 - math.floor(math.log10(abs(x)))))


def _fixed(x: float, decimals: int) -> str:
    s = f"{x:.{decimals}f}"
    return s[1:] if s.startswith("-") and float(s) == 0 else s  # no "-0.000"


def fmt_value(x: float) -> str:
    """One number (one seed, or a spread of 0): 4 significant digits, at most :data:`DECIMALS` decimals, in
    fixed notation; exact values lose trailing zeros (``25``, ``0.98``)."""
    if not math.isfinite(x):
        return str(x)
    d = _decimals(x, 4)
    s = _fixed(x, d)
    if "." in s and round(x, d) == x:
        s = s.rstrip("0").rstrip(".")
    return s


def fmt_mean_std(mean: float, std: float) -> str:
    """``mean ± std``, both to the decimal of the spread's second significant digit (at most :data:`DECIMALS`):
    ``-360.6 ± 1.4``, ``0.0015 ± 0.0005``; float noise around zero prints as ``0.0000 ± 0.0000``."""
    if not (math.isfinite(mean) and math.isfinite(std)):
        return f"{fmt_value(mean) if math.isfinite(mean) else mean} ± {std if not math.isfinite(std) else fmt_value(std)}"
    if std == 0:
        return f"{fmt_value(mean)} ± 0"
    d = _decimals(std, 2)
    return f"{_fixed(mean, d)} ± {_fixed(std, d)}"


def fmt_values(values: list[float]) -> str:
    """Several seeds' values as a table cell prints them: ``mean ± sample std`` (one value: ``± 0``)."""
    return fmt_mean_std(statistics.fmean(values), _std(values))


def cell(text) -> str:
    """A markdown table cell: ``|`` escaped, so that it cannot end the cell."""
    return str(text).replace("|", r"\|")


def on_gpu(device: str) -> bool:
    """Whether a reproduction's ``--device`` trains on a GPU (there, steps are captured in CUDA graphs)."""
    return device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())


def gpu_settings(ctx: Context) -> bool:
    """Whether this run has a reproduction's full settings (a full run on a GPU). A full run on a CPU has settings
    reduced for it and is marked as the ``cpu`` variant (:attr:`Context.variant`), so that it writes its own page,
    ``NAME-cpu.md``, beside the GPU run's; a quick run is neither."""
    gpu = on_gpu(ctx.device) and not ctx.quick
    if not gpu and not ctx.quick:
        ctx.variant = "cpu"
    return gpu


def step_compile(ctx: Context) -> str:
    """``train.compile`` for a reproduction's training step: captured in a CUDA graph on a full GPU run
    (``cudagraph``), traced on a full CPU run (``trace``), eager in a quick run (``none``: a smoke test's few steps
    would not repay the compile)."""
    return "none" if ctx.quick else "cudagraph" if on_gpu(ctx.device) else "trace"


def hardware(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()} (torch {torch.__version__})"
    n = torch.get_num_threads()
    return f"CPU {platform.processor() or platform.machine()}, {n} thread{'s' if n != 1 else ''} (torch {torch.__version__})"


def table(module, agg: list[dict], published: bool = True) -> list[str]:
    """The results table: our mean ± std per method and metric, with a reference number beside ours where
    there is one for the same method and metric, labelled by its kind ("published", or "analytic" for a
    derived truth). Published methods that we did not run (other papers' models) get rows of their own, marked
    by their names; reference numbers for metrics outside the table are listed below it. Every cell is
    escaped (:func:`cell`), so each row has the header's width. ``published=False``: our numbers only (a run
    on another data set than the one the references were measured on)."""
    pubs = getattr(module, "PUBLISHED", []) if published else []
    published = {(p["method"], p["metric"]): p for p in pubs}
    metrics = list(dict.fromkeys(a["metric"] for a in agg))
    methods = list(dict.fromkeys(a["method"] for a in agg))
    lookup = {(a["method"], a["metric"]): a for a in agg}
    others = list(dict.fromkeys(p["method"] for p in pubs if p["method"] not in methods and p["metric"] in metrics))

    def row(cells) -> str:
        return "| " + " | ".join(cell(c) for c in cells) + " |"

    lines = [row(["method", *metrics]), "|---|" + "---|" * len(metrics)]
    for m in methods:
        cells = []
        for metric in metrics:
            a = lookup.get((m, metric))
            ours = "—" if a is None else (fmt_mean_std(a["mean"], a["std"]) if len(a["seeds"]) > 1 else fmt_value(a["mean"]))
            pub = published.get((m, metric))
            cells.append(ours + (f" ({pub.get('kind', 'published')}: {pub['value']})" if pub is not None else ""))
        lines.append(row([m, *cells]))
    for m in others:
        lines.append(row([m, *(published[m, metric]["value"] if (m, metric) in published else "—" for metric in metrics)]))
    extra = [p for p in pubs if (p["method"], p["metric"]) not in lookup
             and not (p["method"] in others and p["metric"] in metrics)]
    if extra:
        lines += ["", "Reference rows without a counterpart here:", ""]
        lines += [f"- {p['method']} — {p['metric']}: {p['value']} ({p.get('kind', 'published')}; {p.get('source', '')})"
                  for p in extra]
    return lines


def timing(ctx: Context, wall_s: float) -> str:
    """The page's statement of time: this invocation's wall time and, for results read from the cache, the
    time their computation took in the earlier invocations (as the cache recorded it)."""
    if not ctx.reused:
        return f"wall time {wall_s:.0f} s"
    took = (f"computing them took {ctx.reused_seconds:.0f} s in earlier invocations (summed over trainings, "
            f"which may have run in parallel)" if ctx.reused_seconds else "their compute time was not recorded")
    return (f"wall time {wall_s:.0f} s for this invocation, which took {ctx.reused} result(s) from the cache "
            f"(`--cache`); {took}")


def kept_notes(results: Path, stem: str) -> list[str]:
    """Notes written by hand for the page ``STEM.md`` (``results/STEM.notes``, one note per non-empty line: a
    machine's account of a run, a probe's numbers). :func:`write` puts them after the computed notes, so a page
    re-rendered from the cache keeps them."""
    path = results / f"{stem}.notes"
    if not path.is_file():
        return []
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write(module, ctx: Context, rows: list[Row], wall_s: float, results: Path = DEFAULT_RESULTS) -> Path:
    """Write ``STEM.md`` and ``STEM.json`` into ``results`` (``STEM``: :attr:`Context.stem`); return the
    markdown path."""
    from unigen.rundir import disk_errors, write_text

    results.mkdir(parents=True, exist_ok=True)
    agg = aggregate(rows)
    title = getattr(module, "TITLES", {}).get(ctx.data, module.TITLE) if ctx.other_data else module.TITLE
    protocol = getattr(module, "PROTOCOLS", {}).get(ctx.data, module.PROTOCOL) if ctx.other_data else module.PROTOCOL
    data = f" --data {ctx.data}" if ctx.other_data else ""
    lines = [f"# {title}", "",
             f"Command: `unigen reproduce {module.NAME}{data}{' --quick' if ctx.quick else ''} --seeds {len(ctx.seeds)}"
             f" --device {ctx.device}`  ", f"Mode: **{'quick (reduced settings, smoke test)' if ctx.quick else 'full'}**; "
             f"seeds {ctx.seeds}; hardware: {hardware(ctx.device)}; {timing(ctx, wall_s)}.", ""]
    lines += table(module, agg, published=not ctx.other_data)
    lines += ["", "## Protocol", "", protocol.strip(), ""]
    notes = ctx.notes + kept_notes(results, ctx.stem)
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    plots = sorted(dict.fromkeys(p.name for p in ctx.figures if p.exists()))
    if plots:
        lines += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    if ctx.verdict:
        lines += ["## Verdict", "", ctx.verdict, ""]
    md = results / f"{ctx.stem}.md"
    with disk_errors(results):  # through temporaries and renames: a full disk keeps the earlier page whole
        write_text(md, "\n".join(lines))
        write_text(results / f"{ctx.stem}.json", json.dumps(agg, indent=2) + "\n")
    return md


def rerender(name: str, results: Path = RESULTS, stem: str | None = None) -> Path:
    """Rewrite the table of the page ``results/NAME.md`` (or ``results/STEM.md``: ``hu2018-iwgan-cpu``) from its
    JSON and the module's ``PUBLISHED``, without running anything: for a change of the table's format. The page's
    header, protocol, notes and plots are kept as they were written (the JSON holds only the table's numbers);
    the header's "1 threads" of earlier runners is corrected. A page for another data set than the module's
    default (``hu2018-iwgan-fashion-mnist-cpu``) keeps its table free of the published numbers, as :func:`write`
    wrote it."""
    from unigen.experiments import REPRODUCTIONS

    from unigen.errors import UserError
    from unigen.rundir import disk_errors, write_text

    module = REPRODUCTIONS[name]
    md = Path(results) / f"{stem or name}.md"
    if not md.is_file() or not md.with_suffix(".json").is_file():
        pages = sorted(p.stem for p in Path(results).glob(f"{name}*.md") if p.with_suffix(".json").is_file())
        raise UserError(f"no page {md} with its JSON to rerender; {name}'s pages there: {', '.join(pages) or 'none'}")
    text = md.read_text()
    agg = json.loads(md.with_suffix(".json").read_text())
    head, rest = text.split("\n| method |", 1)
    tail = rest[rest.index("\n## Protocol"):]
    head = head.replace(" 1 threads ", " 1 thread ")
    other = [f"{name}-{d.replace('_', '-')}" for d in getattr(module, "DATA", ())[1:]]
    published = not any(md.stem == o or md.stem.startswith(f"{o}-") or md.stem.startswith(f"{o}.") for o in other)
    with disk_errors(md.parent):
        write_text(md, head.rstrip("\n") + "\n\n" + "\n".join(table(module, agg, published)) + "\n" + tail)
    return md


def run(name: str, quick: bool = False, seeds: int | None = None, device: str = "cpu", results: Path | None = None,
        cache: Path | None = None, data: str | None = None) -> Path:
    """Run one reproduction and write its results; returns the markdown path.

    :param results: the folder of the page, its JSON and figures (default ``./experiments/results`` under the
        working directory). A quick run writes ``NAME.quick.*`` there, never ``NAME.*``.
    :param cache: a folder for finished trainings' results (its ``NAME`` subfolder); a rerun with the same
        settings reuses them, so an interrupted reproduction resumes where it stopped.
    :param seeds: the number of seeds ``0..seeds-1`` (default: the module's ``SEEDS``, else 3).
    :param data: the data set, one of the module's ``DATA`` (default: its first); a reproduction without
        ``DATA`` runs on its own data only.
    """
    from unigen.errors import UserError
    from unigen.experiments import REPRODUCTIONS

    module = REPRODUCTIONS[name]
    choices = tuple(getattr(module, "DATA", ()))
    if data is not None and data not in choices:
        raise UserError(f"--data {data}: {name} runs on {' or '.join(choices) if choices else 'its own data only'}"
                        + (f"; choose one of: {', '.join(choices)}" if choices else "; omit --data"))
    results = _folder(Path(DEFAULT_RESULTS if results is None else results), "results")
    if cache is not None:
        _folder(Path(cache) / name, "cache")
    default = choices[0] if choices else ""
    seeds = getattr(module, "SEEDS", 3) if seeds is None else seeds
    ctx = Context(quick=quick, seeds=list(range(seeds)), device=device, out=results,
                  cache=None if cache is None else Path(cache) / name, name=name,
                  data=default if data is None else data, default_data=default)
    check_data(module, ctx.data)  # before anything trains: a missing data set is one line, not a lost hour
    start = time.perf_counter()
    rows = module.run(ctx)
    return write(module, ctx, rows, time.perf_counter() - start, results)


def check_data(module, data: str = "") -> None:
    """Refuse in one line, before anything trains, a reproduction whose data are not on this machine: its data set
    ``data`` (``--data``) and those it always needs (the module's ``NEEDS_DATA``), each checked by its spec's
    ``check_available`` where the spec has one (``fashion_mnist``: the IDX files that ``make data`` installs)."""
    from unigen.registry import DATASETS

    for name in dict.fromkeys([*([data] if data else []), *getattr(module, "NEEDS_DATA", ())]):
        check = getattr(DATASETS.get(name)(), "check_available", None)
        if check is not None:
            try:
                check()
            except UserError as e:
                raise UserError(f"{module.NAME} needs the data set {name}: {e}",
                                cli=f"{module.NAME} needs the data set {name}: {e.for_cli()}") from None


def _folder(path: Path, option: str) -> Path:
    """Make the folder ``path`` (for ``--results`` / ``--cache``) before anything trains, or refuse in one line."""
    from unigen.errors import UserError

    blocked = next((p for p in [path, *path.parents] if p.exists() and not p.is_dir()), None)
    if blocked is not None:
        raise UserError(f"{option}={path}: {blocked} is an existing file; pass a folder",
                        cli=f"--{option} {path}: {blocked} is an existing file; pass a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{option}={path} cannot be made ({e.strerror}); pass a folder you can write",
                        cli=f"--{option} {path} cannot be made ({e.strerror}); pass a folder you can write") from None
    return path


def asdicts(rows: list[Row]) -> list[dict]:
    return [asdict(r) for r in rows]
