"""unigen's own Sphinx extension: the pages that are read off the code when the site is built.

At ``builder-inited`` it writes, under ``docs/generated/`` (ignored by git):

* ``api/``: one page per registered component, found by enumerating the tables the code itself reads
  (:data:`unigen.registry.STRATEGIES`, ``MODELS``, ``DATASETS``, :data:`unigen.inference.penalties.PENALTIES`,
  :data:`unigen.metrics.evaluation.METRICS`) and the config sections ``train``, ``optim`` and ``eval``. Each page
  starts with a label (``strategy-NAME``, ``model-NAME``, ``data-NAME``, ``penalty-NAME``, ``metric-NAME``,
  ``config-NAME``), shows the class docstring through autodoc, and a settings table parsed from
  :func:`unigen.describe.settings_lines`, the lines ``unigen list NAME`` prints. A component enters the
  site by being registered.
* ``cli.md``: every subcommand of :func:`unigen.cli.parser`, its usage, arguments and help.
* ``results/``: the reproduction pages ``experiments/results/*.md`` (not the ``.quick.md`` ones) with their
  figures, ``benchmarks/RESULTS.md``, and an index.
* ``tutorials/index.md``: a stand-in, only while ``docs/tutorials/`` holds no gallery (sphinx-gallery writes the
  real one).

Files are rewritten only when their text changes (so Sphinx rereads only what changed) and files that are no
longer generated are removed. The functions that make pages return ``{relative path: text}`` and need no
Sphinx, so ``tests/docs/test_api_pages.py`` checks them directly.
"""
from __future__ import annotations

import dataclasses
import importlib
import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
GENERATED = "generated"

# (label prefix, folder, title, how a config names one)
KINDS = (("strategy", "strategies", "Strategies", "strategy.name"),
         ("model", "models", "Model specs", "model.name"),
         ("data", "data", "Data sets", "data.name"))
SECTIONS = {"train": ("TrainConfig", "train.KEY=VALUE"), "optim": ("OptimConfig", "train.optim.KEY=VALUE"),
            "eval": ("EvalConfig", "eval.KEY=VALUE")}


# ----------------------------------------------------------------------------------------------------- text

def escape(text: str) -> str:
    """Plain text for a Markdown table cell: CommonMark's backslash escapes for the characters MyST reads."""
    return re.sub(r"([\\`*_\[\]<>|$~{}#])", r"\\\1", text)


def code(text: str) -> str:
    """An inline code span that survives a table (``|`` escaped; backquotes inside widen the fence)."""
    text = text.replace("|", "\\|")
    fence = "``" if "`" in text else "`"
    return f"{fence}{' ' if fence == '``' else ''}{text}{' ' if fence == '``' else ''}{fence}"


def first_paragraph(obj) -> str:
    """The first paragraph of ``obj``'s docstring as ``unigen list`` shows it (:func:`unigen.describe.plain`)."""
    from unigen.describe import plain

    doc = (getattr(obj, "__doc__", None) or "").strip()
    return plain(" ".join(doc.split("\n\n")[0].split())) if doc else ""


def public_path(obj) -> str:
    """The shortest importable dotted path of a class or function: ``unigen.inference.NonSaturatingGAN`` rather
    than ``unigen.inference.gan_nonsaturating.NonSaturatingGAN`` when the package exports it."""
    parts = obj.__module__.split(".")
    for i in range(1, len(parts) + 1):
        module = ".".join(parts[:i])
        try:
            if getattr(importlib.import_module(module), obj.__qualname__, None) is obj:
                return f"{module}.{obj.__qualname__}"
        except ImportError:
            continue
    return f"{obj.__module__}.{obj.__qualname__}"


# ------------------------------------------------------------------------------------------------- settings

@dataclasses.dataclass(frozen=True)
class Setting:
    """One row of a settings table: one field of a component, as ``unigen list NAME`` shows it."""

    name: str
    type: str
    default: str
    range: str = ""
    choices: str = ""
    description: str = ""


def settings(name: str, cls: type) -> list[Setting]:
    """The settings of ``cls`` read from :func:`unigen.describe.settings_lines`, the text of ``unigen list NAME``:
    a head line ``  NAME  TYPE = DEFAULT`` per setting, then indented ``range: ...``, ``choices: ...`` and
    description lines, in that order."""
    from unigen.describe import settings_lines

    rows: list[Setting] = []
    for block in settings_lines(name, cls):
        head, *extra = block.split("\n")
        field, rest = head.strip().split(None, 1)
        kind, _, default = rest.partition(" = ")
        found = {"range": "", "choices": "", "description": ""}
        for line in (e.strip() for e in extra):
            key = next((k for k in ("range", "choices") if line.startswith(f"{k}: ")), None)
            if key and not found[key] and not found["description"]:
                found[key] = line[len(key) + 2:]
            else:
                found["description"] = f"{found['description']} {line}".strip()
        rows.append(Setting(field, kind, default, **found))
    return rows


def settings_table(rows: list[Setting], prefix: str) -> str:
    """A Markdown table of ``rows``; ``prefix`` is how a config or the command line names them."""
    if not rows:
        return "This component has no settings.\n"
    described = any(r.description for r in rows)  # a column of blanks is left out
    out = [f"Set one with `{prefix}.NAME=VALUE` (in a config file: under `{prefix.split('.')[0]}:`). "
           "`unigen list` prints the same table.\n",
           "| setting | type | default | range or choices |" + (" description |" if described else ""),
           "|---|---|---|---|" + ("---|" if described else "")]
    for r in rows:
        allowed = escape(r.range) if r.range else ""
        if r.choices:
            allowed = (allowed + "; " if allowed else "") + ", ".join(code(c.strip()) for c in r.choices.split(","))
        out.append(f"| {code(r.name)} | {code(r.type)} | {code(r.default)} | {allowed} |"
                   + (f" {escape(r.description)} |" if described else ""))
    return "\n".join(out) + "\n"


def autodoc(kind: str, path: str, *options: str) -> str:
    """An autodoc directive in an ``eval-rst`` block (autodoc writes reST, so MyST hands it to the reST parser)."""
    lines = [f".. auto{kind}:: {path}", *(f"   :{o}:" for o in options)]
    return "```{eval-rst}\n" + "\n".join(lines) + "\n```\n"


# --------------------------------------------------------------------------------------------- API pages

def _metric_lists() -> dict[str, list[str]]:
    """``{metric name: [data sets that list it]}``."""
    from unigen.registry import DATASETS

    out: dict[str, list[str]] = {}
    for name in DATASETS.names():
        for metric in getattr(DATASETS.get(name), "metrics", ()):
            out.setdefault(metric, []).append(name)
    return out


def documented_classes() -> set[str]:
    """The dotted paths of every class whose settings a generated page tables (their ``:param:`` lines are the
    table's descriptions, so autodoc leaves them out there)."""
    from unigen.registry import DATASETS, MODELS, STRATEGIES

    from unigen.config import EvalConfig, OptimConfig, TrainConfig

    classes = [reg.get(n) for reg in (STRATEGIES, MODELS, DATASETS) for n in reg.names()]
    return {f"{c.__module__}.{c.__qualname__}" for c in [*classes, TrainConfig, OptimConfig, EvalConfig]}


def facts_list(rows: list[tuple[str, str]]) -> list[str]:
    """How to use a component, as a short list: ``- **in a config**: `strategy.name=ns_gan` ``."""
    return [*(f"- **{k}**: {v}" for k, v in rows), ""]


def component_page(label: str, name: str, cls, usage: str, prefix: str, facts: list[tuple[str, str]],
                   seen: set) -> str:
    """One component's page: its label, name, how to use it, its docstring (autodoc), its settings."""
    path = public_path(cls)
    rows = [("in a config", f"`{usage}`"), ("in Python", f"`{path}`"), *facts,
            ("on the command line", f"`unigen list {name}`")]
    options = ("no-index",) if cls in seen else ()  # one class under two names: documented once
    seen.add(cls)
    parts = [f"({label}-{name})=", f"# {name}", "", *facts_list(rows),
             autodoc("class", path, *options), "## Settings", "", settings_table(settings(name, cls), prefix)]
    return "\n".join(parts)


def api_pages() -> dict[str, str]:
    """Every page of ``generated/api/``: ``{path relative to it: Markdown}``."""
    import unigen  # noqa: F401  (fills the registries)
    from unigen.config import EvalConfig, OptimConfig, TrainConfig
    from unigen.inference.penalties import PENALTIES
    from unigen.metrics.evaluation import METRICS
    from unigen.registry import DATASETS, MODELS, STRATEGIES

    pages: dict[str, str] = {}
    seen: set = set()
    listed = _metric_lists()
    registries = {"strategy": STRATEGIES, "model": MODELS, "data": DATASETS}
    for label, folder, title, key in KINDS:
        reg = registries[label]
        index = [f"({folder}-index)=", f"# {title}", "",
                 f"Every {reg.kind} registered in `unigen.registry`, by the name a config gives (`{key}=NAME`).",
                 "", "| name | class | what |", "|---|---|---|"]
        for name in reg.names():
            cls = reg.get(name)
            facts: list[tuple[str, str]] = []
            players = getattr(cls, "players", None)
            if label == "strategy" and isinstance(players, dict) and players:
                facts.append(("players (roles they own)",
                              "; ".join(f"`{p}` ({', '.join(r)})" for p, r in players.items())))
            if label == "data":
                own = tuple(getattr(cls, "metrics", ()))
                listed_here = ", ".join(f"{{ref}}`{m} <metric-{m}>`" for m in own) or "none of its own"
                facts.append(("its metrics", f"{listed_here} (and the generic ones: {{ref}}`metrics-index`)"))
            pages[f"{folder}/{name}.md"] = component_page(label, name, cls, f"{key}={name}", key.rsplit(".", 1)[0],
                                                          facts, seen)
            index.append(f"| {{ref}}`{name} <{label}-{name}>` | `{cls.__name__}` | {escape(first_paragraph(cls))} |")
        index += ["", "```{toctree}", ":hidden:", "", *reg.names(), "```", ""]
        pages[f"{folder}/index.md"] = "\n".join(index)

    index = ["(penalties-index)=", "# Penalties", "",
             "A gradient penalty on the critic composes with every adversarial strategy: "
             "`strategy.penalty=NAME strategy.penalty_weight=λ`.", "", "| name | function | what |", "|---|---|---|"]
    for name, fn in PENALTIES.items():
        path = public_path(fn)
        options = ("no-index",) if fn in seen else ()
        seen.add(fn)
        pages[f"penalties/{name}.md"] = "\n".join([
            f"(penalty-{name})=", f"# {name}", "", *facts_list([
                ("in a config", f"`strategy.penalty={name}` on any adversarial strategy "
                                f"(e.g. {{ref}}`ns_gan <strategy-ns_gan>`)"),
                ("its weight", "`strategy.penalty_weight` (λ or γ; default 10)"), ("in Python", f"`{path}`")]),
            autodoc("function", path, *options)])
        index.append(f"| {{ref}}`{name} <penalty-{name}>` | `{fn.__name__}` | {escape(first_paragraph(fn))} |")
    pages["penalties/index.md"] = "\n".join(index + ["", "```{toctree}", ":hidden:", "", *PENALTIES, "```", ""])

    index = ["(metrics-index)=", "# Metrics", "",
             "An evaluation (`eval.json`, `unigen eval RUN`) runs, in this order, every metric that is generic or "
             "that the data set lists, and that applies. Their settings are the `eval` section: "
             "{ref}`config-eval`.", "", "| name | kind | what |", "|---|---|---|"]
    for order, (name, metric) in enumerate(METRICS.items(), 1):
        cls = type(metric)
        kind = ("generic: any data set, by the programs' roles" if getattr(metric, "generic", False) else
                "listed by " + (", ".join(f"{{ref}}`{d} <data-{d}>`" for d in listed.get(name, ())) or "no data set"))
        path = public_path(cls)
        pages[f"metrics/{name}.md"] = "\n".join([
            f"(metric-{name})=", f"# {name}", "", *facts_list([
                ("applies to", kind), ("order", f"{order} of {len(METRICS)} in an evaluation"),
                ("in Python", f"`unigen.metrics.evaluation.METRICS[{name!r}]`, an instance of `{path}`"),
                ("settings", "the `eval` section, {ref}`config-eval`")]), autodoc("class", path)])
        index.append(f"| {{ref}}`{name} <metric-{name}>` | {kind} | {escape(first_paragraph(cls))} |")
    pages["metrics/index.md"] = "\n".join(index + ["", "```{toctree}", ":hidden:", "", *METRICS, "```", ""])

    index = ["(config-index)=", "# Shared settings: train, optim, eval", "",
             "The sections every run config has beside `data`, `model` and `strategy`.", "",
             "| section | class | what |", "|---|---|---|"]
    classes = {"train": TrainConfig, "optim": OptimConfig, "eval": EvalConfig}
    for name, (clsname, usage) in SECTIONS.items():
        cls = classes[name]
        prefix = usage.rsplit(".", 2)[0] if name != "optim" else "train.optim"
        pages[f"config/{name}.md"] = "\n".join([
            f"(config-{name})=", f"# {name}", "", *facts_list([
                ("in a config", f"`{usage}`"), ("in Python", f"`{public_path(cls)}`"),
                ("on the command line", f"`unigen list {name}`")]),
            autodoc("class", public_path(cls)), "## Settings", "", settings_table(settings(name, cls), prefix)])
        index.append(f"| {{ref}}`{name} <config-{name}>` | `{clsname}` | {escape(first_paragraph(cls))} |")
    pages["config/index.md"] = "\n".join(index + ["", "```{toctree}", ":hidden:", "", *SECTIONS, "```", ""])
    return pages


_documented: set[str] = set()  # filled at builder-inited: documented_classes()


def strip_settings_params(app, what, name, obj, options, lines) -> None:
    """``autodoc-process-docstring``: drop the ``:param NAME:`` fields of a component's class docstring, which its
    page's settings table already shows (with type, default, range and choices)."""
    if what != "class" or f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}" not in _documented:
        return
    kept, skipping = [], False
    for line in lines:
        if re.match(r"\s*:param \w+:", line):
            skipping = True
            continue
        if skipping and (line.startswith((" ", "\t")) and line.strip()):
            continue
        skipping = False
        kept.append(line)
    lines[:] = kept


# ---------------------------------------------------------------------------------------------------- CLI

def _subcommands(parser):
    import argparse

    for action in parser._actions:  # argparse keeps its subparsers on the action, nowhere public
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            return [(name, helps.get(name, ""), sub) for name, sub in action.choices.items()]
    return []


def _arguments(parser) -> list[str]:
    import argparse

    rows = ["| argument | what | default |", "|---|---|---|"]
    for a in parser._actions:
        if isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)) or a.help == argparse.SUPPRESS:
            continue
        name = ", ".join(a.option_strings) if a.option_strings else (a.metavar or a.dest)
        if a.option_strings and a.nargs != 0:
            name += f" {a.metavar or a.dest.upper()}"
        if not a.option_strings and a.nargs in ("*", "?"):
            name += " ..." if a.nargs == "*" else " (optional)"
        what = escape(a.help or "")
        if a.choices:
            what += ("; " if what else "") + "one of " + ", ".join(code(str(c)) for c in a.choices)
        default = "" if a.default in (None, False, argparse.SUPPRESS) or a.nargs == 0 else code(repr(a.default))
        rows.append(f"| {code(name)} | {what} | {default} |")
    return rows


def cli_page() -> str:
    """The command-line reference, read from :func:`unigen.cli.parser`: every subcommand, its usage and
    arguments (included by ``docs/cli.md``)."""
    from unigen.cli import parser

    p = parser()
    out = ["(cli-reference)=", "## Reference", "", f"`{p.prog}`: {escape(p.description or '')}", "",
           "```text", p.format_usage().strip(), "```", "", *_arguments(p), ""]
    for name, help_text, sub in _subcommands(p):
        out += [f"(cli-{name})=", f"### unigen {name}", "", escape(help_text or sub.description or "") + ".", "",
                "```text", sub.format_usage().strip(), "```", "", *_arguments(sub), ""]
    return "\n".join(out)


# ------------------------------------------------------------------------------------------------- results

def _unlink_missing(text: str, here: set[str]) -> str:
    """Links of a copied page to files that were not copied (a ``.quick.md``, a config) become plain text."""
    def fix(m: re.Match) -> str:
        label, target = m.group(1), m.group(2)
        if re.match(r"[a-z]+:", target) or target.startswith("#") or target.split("#")[0] in here:
            return m.group(0)
        return label

    return re.sub(r"(?<!!)\[([^\]]*)\]\(([^)\s]+)\)", fix, text)


def _escape_dollars(text: str) -> str:
    """``$`` outside code spans escaped, so that MyST's dollar maths does not read prices or shell variables."""
    parts = re.split(r"(`+[^`]*`+)", text)
    return "".join(p if p.startswith("`") else p.replace("$", "\\$") for p in parts)


VERDICTS = ("reproduced", "partly reproduced", "not reproduced")


def verdict_of(page: str) -> str:
    """A results page's verdict in a few words: the head of its ``**Verdict: …**`` line, ``not computed`` where its
    Verdict section says so (a page whose JSON predates per-seed values), ``—`` where it has none."""
    head = re.search(r"\*\*Verdict: ([^*]+)\*\*", page)
    if head:
        return head.group(1).strip()
    section = page.split("\n## Verdict\n", 1)
    return "not computed" if len(section) == 2 and section[1].strip().startswith("Not computed") else "—"


def tally(verdicts: list[str]) -> str:
    """One line counting the pages of each computed verdict."""
    counts = [f"{sum(v == kind for v in verdicts)} {kind}" for kind in VERDICTS]
    return f"Computed verdicts over the {sum(v in VERDICTS for v in verdicts)} pages that have one: {', '.join(counts)}."


def results_pages(results: Path | None = None, benchmarks: Path | None = None) -> dict[str, str | bytes]:
    """``generated/results/``: every committed reproduction page (``.quick.md`` left out: smoke tests), the
    figures they show, the benchmark page, and an index."""
    results = results or ROOT / "experiments" / "results"
    benchmarks = benchmarks or ROOT / "benchmarks" / "RESULTS.md"
    pages = sorted(p for p in results.glob("*.md") if not p.name.endswith(".quick.md"))
    figures = sorted(p for p in results.glob("*.png") if ".quick" not in p.name)
    out: dict[str, str | bytes] = {p.name: p.read_bytes() for p in figures}
    here = {p.name for p in pages} | set(out)
    rows, verdicts = [], []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        title = next((line[2:].strip() for line in text.splitlines() if line.startswith("# ")), page.stem)
        mode = re.search(r"Mode: \*\*([^*]+)\*\*", text)
        hardware = re.search(r"hardware: ([^;(]+)", text)
        run = "; ".join(x for x in (mode and mode.group(1), hardware and hardware.group(1).strip()) if x)
        out[page.name] = f"(results-{page.stem})=\n" + _escape_dollars(_unlink_missing(text, here))
        found = verdict_of(text)
        verdicts.append(found)
        rows.append(f"| {{ref}}`{page.stem} <results-{page.stem}>` | {escape(title)} | {escape(run)} | "
                    f"{escape(found)} |")
    if benchmarks.is_file():
        text = benchmarks.read_text(encoding="utf-8")
        out["benchmarks.md"] = "(results-benchmarks)=\n" + _escape_dollars(_unlink_missing(text, set()))
    index = ["(results-index)=", "# Results", "",
             "The pages that `unigen reproduce NAME` wrote, as committed in `experiments/results/` (how to run one: "
             "{doc}`/howto/reproduce`). Each states its command, hardware, wall time, protocol and what was "
             "reduced; values marked *published* are the papers' own. The verdict column is each page's own "
             "computed verdict (its last section): reproduced where every claim held in at least 4 of 5 seeds.", "",
             *([tally(verdicts), ""] if any(v in VERDICTS for v in verdicts) else []),
             "| page | what | run | verdict |", "|---|---|---|---|", *rows, "",
             *(["The speed of a training step, unigen against hand-written PyTorch: {ref}`results-benchmarks`.", ""]
               if "benchmarks.md" in out else []),
             "```{toctree}", ":hidden:", "", *(f"{p.stem} <{p.stem}>" for p in pages),
             *(["benchmarks <benchmarks>"] if "benchmarks.md" in out else []), "```", ""]
    out["index.md"] = "\n".join(index)
    return out


# ---------------------------------------------------------------------------------------------- the hook

TUTORIALS_STUB = """# Tutorials

The tutorials are scripts in `docs/tutorials/` (`plot_*.py`), run by sphinx-gallery when the site is built.
None are there yet.
"""


def has_gallery(docs: Path = DOCS) -> bool:
    """Whether ``docs/tutorials/`` is a sphinx-gallery folder (it has the gallery's README)."""
    return any((docs / "tutorials" / f"README.{ext}").is_file() for ext in ("txt", "rst"))


def write_tree(folder: Path, files: dict[str, str | bytes], keep: tuple[str, ...] = ()) -> list[str]:
    """Make ``folder`` hold exactly ``files`` (paths relative to it), rewriting only what changed; paths starting
    with one of ``keep`` are left alone. Returns the paths written."""
    written = []
    for rel, content in files.items():
        path = folder / rel
        data = content.encode("utf-8") if isinstance(content, str) else content
        if not path.is_file() or path.read_bytes() != data:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            written.append(rel)
    if folder.is_dir():
        for path in sorted(folder.rglob("*"), reverse=True):
            rel = path.relative_to(folder).as_posix()
            if rel in files or rel.startswith(keep) or any(f.startswith(rel + "/") for f in files):
                continue
            if path.is_dir():
                if not any(path.iterdir()):
                    path.rmdir()
            else:
                path.unlink()
    return written


def generate(docs: Path = DOCS) -> list[str]:
    """Write every generated page under ``docs/generated/``; returns the paths written."""
    files: dict[str, str | bytes] = {f"api/{k}": v for k, v in api_pages().items()}
    files["cli.md"] = cli_page()
    files.update({f"results/{k}": v for k, v in results_pages().items()})
    keep: tuple[str, ...] = ()
    if has_gallery(docs):
        keep = ("tutorials/",)  # sphinx-gallery's own output
        stub = docs / GENERATED / "tutorials" / "index.md"
        if stub.is_file():  # the stand-in of a build before the gallery existed: one index per folder
            stub.unlink()
    else:
        files["tutorials/index.md"] = TUTORIALS_STUB
    return write_tree(docs / GENERATED, files, keep)


def _builder_inited(app) -> None:
    _documented.update(documented_classes())
    written = generate(Path(app.srcdir))
    if written:
        from sphinx.util import logging

        logging.getLogger(__name__).info(f"unigen_docs: wrote {len(written)} generated file(s)")


def setup(app):
    app.connect("builder-inited", _builder_inited)
    app.connect("autodoc-process-docstring", strip_settings_params)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
