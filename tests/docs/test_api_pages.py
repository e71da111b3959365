"""The documentation's generated pages, checked without a Sphinx build: a page for every registered component with
its label and every setting ``unigen list`` shows, a CLI reference with every subcommand and option, the results
pages, the README as a front page whose links resolve, and the extension recipes of ``docs/howto/extend.md``."""
from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _load_extension():
    spec = importlib.util.spec_from_file_location("unigen_docs", DOCS / "_ext" / "unigen_docs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["unigen_docs"] = module  # its dataclass looks its module up
    spec.loader.exec_module(module)
    return module


ext = _load_extension()


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    return ext.api_pages()


def _setting_names(name: str, cls) -> list[str]:
    """The setting names in ``unigen list NAME``'s lines, read independently of the extension's parser."""
    from unigen.describe import settings_lines

    return [block.split()[0] for block in settings_lines(name, cls)]


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def test_every_registered_strategy_model_and_data_set_has_a_page_with_its_label_and_settings(pages):
    from unigen.registry import DATASETS, MODELS, STRATEGIES

    for label, folder, reg in (("strategy", "strategies", STRATEGIES), ("model", "models", MODELS),
                               ("data", "data", DATASETS)):
        assert len(reg.names()) > 0
        for name in reg.names():
            page = pages.get(f"{folder}/{name}.md")
            assert page is not None, f"no API page for {label} {name}"
            assert page.startswith(f"({label}-{name})=\n# {name}\n"), page[:80]
            defined = [k for k, p in pages.items() if re.search(rf"^\({label}-{name}\)=$", p, re.M)]
            assert defined == [f"{folder}/{name}.md"]  # the label is defined once
            cls = reg.get(name)
            assert f".. autoclass:: {ext.public_path(cls)}" in page
            for setting in _setting_names(name, cls):
                assert re.search(rf"^\| `{re.escape(setting)}` \|", page, re.M), f"{name}: setting {setting} missing"
            index = pages[f"{folder}/index.md"]
            assert f"{{ref}}`{name} <{label}-{name}>`" in index and f"\n{name}\n" in index  # listed and in the toctree


def test_penalties_metrics_and_config_sections_have_labelled_pages(pages):
    from unigen.config import TrainConfig
    from unigen.inference.penalties import PENALTIES
    from unigen.metrics.evaluation import METRICS

    for name in PENALTIES:
        assert pages[f"penalties/{name}.md"].startswith(f"(penalty-{name})=\n")
    for name in METRICS:
        assert pages[f"metrics/{name}.md"].startswith(f"(metric-{name})=\n")
    for name in ("train", "optim", "eval"):
        assert pages[f"config/{name}.md"].startswith(f"(config-{name})=\n")
    for setting in _setting_names("train", TrainConfig):
        assert f"| `{setting}` |" in pages["config/train.md"]


def test_the_settings_table_holds_what_unigen_list_prints():
    """Type, default, range, choices and description of every setting, as ``unigen list NAME`` prints them."""
    from unigen.describe import settings_lines
    from unigen.registry import MODELS, STRATEGIES

    for name, cls in (("monoflow", STRATEGIES.get("monoflow")), ("fgan", STRATEGIES.get("fgan")),
                      ("dcgan", MODELS.get("dcgan"))):
        table = _unescape(ext.settings_table(ext.settings(name, cls), "strategy"))
        for block in settings_lines(name, cls):
            head, *extra = block.split("\n")
            setting, rest = head.split(None, 1)
            kind, default = rest.split(" = ", 1)
            row = next(line for line in table.splitlines() if line.startswith(f"| `{setting}` |"))
            assert f"`{kind}`" in row and f"`{default}`" in row, row
            for line in extra:
                line = line.strip()
                if line.startswith("choices: "):
                    assert all(f"`{c.strip()}`" in row for c in line[9:].split(",")), row
                else:
                    assert line.removeprefix("range: ") in row, (line, row)


def test_a_newly_registered_strategy_gets_its_page_without_a_list_to_edit():
    from unigen.inference import NonSaturatingGAN
    from unigen.registry import STRATEGIES
    from unigen.settings import bounded

    @dataclass(frozen=True)
    class Brand(NonSaturatingGAN):
        """A strategy made up for this test.

        :param strength: how strong.
        """

        strength: float = bounded(1.0, 0)

    STRATEGIES.register("brand_new_gan")(Brand)
    try:
        page = ext.api_pages()["strategies/brand_new_gan.md"]
    finally:
        del STRATEGIES._classes["brand_new_gan"]  # no other test may see it
    assert page.startswith("(strategy-brand_new_gan)=") and "| `strength` | `float` | `1.0` |" in page
    assert "how strong." in page


def test_the_cli_reference_lists_every_subcommand_and_option():
    from unigen.cli import parser

    page = ext.cli_page()
    p = parser()
    (subparsers,) = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(subparsers.choices) >= {"train", "sample", "eval", "export", "list", "reproduce", "config", "sweep"}
    for name, sub in subparsers.choices.items():
        assert f"(cli-{name})=\n### unigen {name}\n" in page
        section = page.split(f"### unigen {name}\n", 1)[1].split("\n### ", 1)[0]
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            for option in action.option_strings or [action.metavar or action.dest]:
                assert option in section, f"unigen {name}: {option} missing from the CLI reference"


def test_results_pages_are_copied_with_labels_and_quick_pages_left_out(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "toy.md").write_text("# A toy\n\nMode: **full**; hardware: CPU x86_64 (torch)\n\n"
                                    "costs $5, see [the quick page](toy.quick.md) and [other](other.md)\n\n![f](toy.png)\n")
    (results / "other.md").write_text("# Other\n")
    (results / "toy.quick.md").write_text("# quick\n")
    (results / "toy.png").write_bytes(b"\x89PNG")
    (results / "toy.quick.png").write_bytes(b"\x89PNG")
    out = ext.results_pages(results, tmp_path / "no-benchmarks.md")
    assert set(out) == {"toy.md", "other.md", "toy.png", "index.md"}
    toy = out["toy.md"]
    assert toy.startswith("(results-toy)=\n# A toy")
    assert "the quick page" in toy and "toy.quick.md" not in toy  # a link to a page not copied: text only
    assert "[other](other.md)" in toy and "costs \\$5" in toy
    assert "{ref}`toy <results-toy>`" in out["index.md"] and "full; CPU x86_64" in _unescape(out["index.md"])
    assert "Computed verdicts" not in out["index.md"]  # no page has one


def test_the_results_index_gives_each_pages_verdict_and_counts_them(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    pages = {"a": "## Verdict\n\n**Verdict: reproduced** — x above y in 5 of 5 seeds.\n",
             "b": "## Verdict\n\n**Verdict: partly reproduced** — x above y in 2 of 5 seeds.\n",
             "c": "## Verdict\n\nNot computed: this GPU run predates per-seed values.\n",
             "d": "no verdict section\n", "e": "## Verdict\n\n**Verdict: reproduced** — z.\n"}
    for name, tail in pages.items():
        (results / f"{name}.md").write_text(f"# Page {name}\n\n{tail}")
    index = _unescape(ext.results_pages(results, tmp_path / "none.md")["index.md"])
    rows = {line.split("`")[1].split(" <")[0]: line.rsplit("|", 2)[1].strip() for line in index.splitlines()
            if line.startswith("| {ref}")}
    assert rows == {"a": "reproduced", "b": "partly reproduced", "c": "not computed", "d": "—", "e": "reproduced"}
    assert ("Computed verdicts over the 3 pages that have one: 2 reproduced, 1 partly reproduced, 0 not reproduced."
            in index)


def test_the_committed_results_pages_all_reach_the_site():
    out = ext.results_pages()
    committed = {p.name for p in (ROOT / "experiments" / "results").glob("*.md") if ".quick." not in p.name}
    assert committed and committed <= set(out)
    for name in committed:
        assert f"<results-{name[:-3]}>" in out["index.md"]


def test_readme_is_a_front_page_whose_relative_links_resolve():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) < 200
    assert "OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q -n 2 --dist loadfile" in text  # .ci/run's command
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    assert links
    for link in links:
        if re.match(r"[a-z]+:", link) or link.startswith("#"):
            continue
        assert (ROOT / link.split("#")[0]).exists(), f"README links to {link}, which does not exist"


def test_every_page_in_the_index_toctree_exists_or_is_generated():
    text = (DOCS / "index.md").read_text()
    toctree = text.split("```{toctree}", 1)[1].split("```", 1)[0]
    entries = [re.sub(r"^.*<(.*)>$", r"\1", line.strip()) for line in toctree.splitlines()
               if line.strip() and not line.startswith(":")]
    assert len(entries) == 8
    for entry in entries:
        if entry.startswith("generated/"):
            continue
        assert any((DOCS / f"{entry}{ext_}").is_file() for ext_ in (".md", ".rst")), entry


def test_the_extension_recipes_run_as_written(tmp_path, monkeypatch, capsys):
    """docs/howto/extend.md's files, written out as a user would, register and train from Python and the CLI.
    In this process, to spare an import of torch: the names they register are removed afterwards."""
    from unigen.cli import main
    from unigen.metrics.evaluation import METRICS
    from unigen.registry import DATASETS, MODELS, STRATEGIES

    text = (DOCS / "howto" / "extend.md").read_text()
    files = re.findall(r"```\{code-block\} python\n:caption: (\S+)\n\n(.*?)```", text, re.S)
    modules = {name[:-3] for name, _ in files} - {"my_unigen"}
    assert modules >= {"my_strategy", "my_model", "my_data", "my_metric"}
    for name, body in files:
        (tmp_path / name).write_text(body)
    (usage,) = re.findall(r"```python\n(.*?)```", text, re.S)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    try:
        exec(compile(usage.replace("fit(1000)", "fit(20)"), "extend.md", "exec"), {})
        assert main(["list", "smoothed_gan"]) == 0
        assert main(["config", "ring_gan", "data.name=two_moons", "model.name=linear",
                     "strategy.name=smoothed_gan", "strategy.smoothing=0.2"]) == 0
        assert main(["config", "ring_gan", "strategy.name=smoothed_gan", "strategy.smoothing=1.5"]) == 2
        assert "moments" in METRICS and DATASETS.get("two_moons").metrics == ("moments",)
    finally:  # no other test may see them
        for reg, name in ((STRATEGIES, "smoothed_gan"), (MODELS, "linear"), (DATASETS, "two_moons")):
            reg._classes.pop(name, None)
        METRICS.pop("moments", None)
        for module in modules:
            sys.modules.pop(module, None)
    out = capsys.readouterr()
    assert "smoothing" in out.out and "two_moons" in out.out and "strategy.smoothing" in out.err
