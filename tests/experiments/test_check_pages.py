"""check_pages: a page's Command: line is read back, a page re-rendered from its cache compares equal apart from its
Mode: line, an edited page differs, and a result missing from the cache stops the check instead of training."""
import pytest

from unigen.experiments import check_pages as cp
from unigen.experiments.common import CACHE_ONLY_ENV, CacheMiss, compute_and_store, run


@pytest.mark.parametrize("line, want", [
    ("Command: `unigen reproduce ada-digits --seeds 5 --device cpu`  ",
     cp.Command("ada-digits", 5, "cpu", None, False, False)),
    ("Command: `unigen reproduce hu2018-iwgan --data fashion_mnist --seeds 5 --device cpu`  ",
     cp.Command("hu2018-iwgan", 5, "cpu", "fashion_mnist", False, False)),
    ("Command: `unigen reproduce mode-collapse --seeds 3 --device cuda`  ",
     cp.Command("mode-collapse", 3, "cuda", None, False, False)),
    ("Command: `unigen reproduce wgan-disjoint --quick --seeds 1 --device cpu`  ",
     cp.Command("wgan-disjoint", 1, "cpu", None, True, False)),
    ("Command: `unigen reproduce gp-stabilises-grid --seeds 3 --device cpu` (run as `unigen reproduce gp-stabilises "
     "--seeds 3 --device cpu` when this was the page; renamed unchanged, not rerun, when …)",
     cp.Command("gp-stabilises-grid", 3, "cpu", None, False, True)),
])
def test_the_command_line_of_a_page_is_read_back(line, want):
    assert cp.command(f"# Title\n\n{line}\nMode: **full**\n") == want


def test_differences_leave_out_the_mode_line():
    a = "# T\nMode: **full**; wall time 5 s\n| m | 1 |\n"
    assert cp.differences(a, a.replace("5 s", "912 s")) == []
    assert cp.differences(a, a.replace("| 1 |", "| 2 |")) == ["-| m | 1 |", "+| m | 2 |"]


def test_a_cache_only_run_raises_instead_of_computing(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setenv(CACHE_ONLY_ENV, "1")
    with pytest.raises(CacheMiss, match="is not in the cache"):
        compute_and_store(tmp_path / "entry.pt", lambda: calls.append(1))
    assert calls == [] and not (tmp_path / "entry.pt").exists()
    assert compute_and_store(None, lambda: 7) == 7  # without a cache there is nothing to miss


def test_a_page_checks_against_its_cache(tmp_path):
    results, cache = tmp_path / "results", tmp_path / "cache"
    results.mkdir()
    (results / "wgan-disjoint.quick.notes").write_text("Machine: a note written by hand.\n")
    page = run("wgan-disjoint", quick=True, seeds=1, results=results, cache=cache)
    assert "- Machine: a note written by hand." in page.read_text()
    assert cp.check(page, cache) == ("same", [])  # re-rendered with its sidecar beside it
    page.write_text(page.read_text().replace("## Protocol", "## Protocol\n\nA line added by hand."))
    state, lines = cp.check(page, cache)
    assert state == "differs" and lines == ["-", "-A line added by hand."], lines
    for entry in (cache / "wgan-disjoint").iterdir():
        entry.unlink()
    state, lines = cp.check(page, cache)
    assert state == "miss" and "is not in the cache" in lines[0]
    assert not any((cache / "wgan-disjoint").iterdir())  # nothing was trained into the cache
    assert cp.check(page, tmp_path / "elsewhere")[0] == "skip"


def test_a_missing_page_is_one_line_and_exit_code_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        cp.main([str(tmp_path / "nope.md")])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and err[-1].endswith("no such page: " + str(tmp_path / "nope.md")
                                                  + "; give results pages (e.g. experiments/results/NAME.md)")
