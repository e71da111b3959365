"""The package's imports: every module imports on its own, and no ``unigen.*`` modules import each other.

The graph is read from the source with ``ast``: every ``import`` and ``from ... import`` statement,
including those inside functions (a lazy import is still a dependency), except under
``if TYPE_CHECKING:`` (never run). Importing ``a.b.c`` also runs ``a.b``'s ``__init__``, so an edge goes
to each package above the target too, except the importer's own packages (Python has started those
before the importer runs, whatever it imports).
"""
import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: package -> its source folder (pyproject.toml's package-dir)
PACKAGES = {"unigen": ROOT / "unigen", "unigen.models": ROOT / "models", "unigen.inference": ROOT / "inference",
            "unigen.experiments": ROOT / "experiments"}


def modules() -> dict[str, Path]:
    out = {}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join([package, *parts])
            if name not in out:  # models/ and inference/ are not folders of unigen/
                out[name] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported(tree: ast.AST, name: str, is_package: bool, known: set[str]) -> set[str]:
    """The ``unigen.*`` modules that module ``name``'s statements import (targets and their packages)."""
    targets: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            targets.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the importer's package
                base = name if is_package else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module
            targets.add(module)
            targets.update(f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in known)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    parts = name.split(".")
    own = {".".join(parts[:i]) for i in range(1, len(parts))} | {name}  # the importer and its packages
    edges = set()
    for target in targets:
        steps = target.split(".")
        edges.update(p for p in (".".join(steps[:i]) for i in range(1, len(steps) + 1)) if p in known and p not in own)
    return edges


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imported(ast.parse(path.read_text()), name, path.name == "__init__.py", known)
            for name, path in mods.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``edges`` as a path ``[a, b, ..., a]``, or ``None`` (depth-first, three colours)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_cycles_and_only_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"a"}}) == ["a", "a"]


def test_the_graph_reads_lazy_relative_and_package_imports():
    known = {"unigen", "unigen.data", "unigen.data.toy", "unigen.registry", "unigen.metrics", "unigen.metrics.modes"}
    src = ("from unigen.registry import DATASETS\n"
           "def f():\n    from unigen.metrics.modes import mode_stats\n"
           "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from unigen.metrics import x\n"
           "from . import base\n")
    edges = imported(ast.parse(src), "unigen.data.toy", False, known)
    assert edges == {"unigen.registry", "unigen.metrics.modes", "unigen.metrics"}
    # a package importing its own modules depends on them; they do not depend on it by being inside it
    assert imported(ast.parse("from unigen.data import toy\n"), "unigen.data", True, known) == {"unigen.data.toy"}
    assert imported(ast.parse("from unigen.data.toy import Ring\n"), "unigen.data.mnist", False,
                    known | {"unigen.data.mnist"}) == {"unigen.data.toy"}


def test_a_registry_that_imported_the_data_package_would_be_a_cycle():
    edges = graph()
    edges["unigen.registry"] = edges["unigen.registry"] | {"unigen.data"}  # the old lazy _load
    cycle = find_cycle(edges)
    assert cycle is not None and "unigen.registry" in cycle and any(m.startswith("unigen.data") for m in cycle)


#: known cycles, each to be removed: (importer, imported) edges left out of the check until fixed.
KNOWN: set[tuple[str, str]] = set()


def test_no_import_cycle_among_unigen_modules():
    edges = graph()
    assert len(edges) > 60 and "unigen.inference.elbo" in edges and "unigen.models.ssvae" in edges
    for a, b in KNOWN:  # still a cycle, else drop it from KNOWN
        assert b in edges[a] and find_cycle({**edges, a: {b}}) is not None, f"{a} -> {b} is fixed: drop it from KNOWN"
        edges[a] = edges[a] - {b}
    cycle = find_cycle(edges)
    assert cycle is None, " -> ".join(cycle)


def test_every_module_imports_in_a_fresh_interpreter():
    names = sorted(n for n in modules() if n != "unigen.__main__")  # __main__ runs the CLI
    code = "import importlib, sys\nfor n in sys.argv[1:]:\n    importlib.import_module(n)\n"
    done = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_registries_are_full_after_any_unigen_import():
    code = ("from unigen.registry import DATASETS, MODELS, STRATEGIES\n"
            "print(len(STRATEGIES.names()), len(MODELS.names()), len(DATASETS.names()))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    strategies, models, datasets = map(int, done.stdout.split())
    assert strategies >= 20 and models >= 4 and datasets >= 6


def test_the_component_packages_list_their_exports():
    import unigen.inference
    import unigen.models
    from unigen.registry import MODELS, STRATEGIES

    for package, registry in ((unigen.inference, STRATEGIES), (unigen.models, MODELS)):
        assert {registry.get(n).__name__ for n in registry.names()} <= set(package.__all__)
        assert all(hasattr(package, n) for n in package.__all__)
        assert "pkgutil" not in Path(package.__file__).read_text()


def test_version_answers_without_torch():
    """``unigen --version`` (and ``import unigen``) import no torch: the package's names load on first use."""
    code = ("import sys\nfrom unigen.cli import main\nsys.argv = ['unigen', '--version']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\nprint('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["unigen", "0.1.0", "False"]


def test_registry_is_full_on_first_read():
    """A table read in a fresh process, with nothing imported but the registry, lists every component."""
    code = ("from unigen.registry import STRATEGIES, MODELS, DATASETS\n"
            "print(len(STRATEGIES.names()) > 20, 'ns_gan' in STRATEGIES.names(), 'mnist' in DATASETS.names(), "
            "'dcgan' in MODELS.names())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True"] * 4
