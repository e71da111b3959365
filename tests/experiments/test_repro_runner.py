"""The runner of `unigen reproduce`: its result cache (`--cache`: an interrupted reproduction resumes without
retraining) and its results table."""
import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from unigen.experiments import monoflow_gan as mf
from unigen.experiments.common import (RESULTS, Context, Row, aggregate, cache_path, cell, fmt_mean_std, fmt_value,
                                       hardware, rerender, table, write)
from unigen.trainer import NonFiniteError


def _ctx(tmp_path, cache=True, quick=True, device="cpu"):
    return Context(quick=quick, seeds=[0], device=device, out=tmp_path, cache=tmp_path / "cache" if cache else None)


def test_cached_runs_once_per_key_and_reloads_the_value(tmp_path):
    calls = []

    def fn():
        calls.append(1)
        return {"x": torch.arange(3.0), "score": 1.5, "note": None}

    first = _ctx(tmp_path).cached(["run", {"seed": 0}], fn)
    again = _ctx(tmp_path)  # a later invocation: a new context on the same folder
    second = again.cached(["run", {"seed": 0}], fn)
    assert len(calls) == 1 and again.reused == 1 and again.reused_seconds > 0.0
    assert len(list((tmp_path / "cache").glob("*.json"))) == 1  # the seconds it took, beside the result
    torch.testing.assert_close(second["x"], first["x"])
    assert second["score"] == 1.5 and second["note"] is None
    # any change of the key, of quick mode or of the device is another result
    _ctx(tmp_path).cached(["run", {"seed": 1}], fn)
    _ctx(tmp_path, quick=False).cached(["run", {"seed": 0}], fn)
    _ctx(tmp_path, device="cuda").cached(["run", {"seed": 0}], fn)
    assert len(calls) == 4


def test_without_a_cache_every_call_trains(tmp_path):
    calls = []
    ctx = _ctx(tmp_path, cache=False)
    for _ in range(2):
        ctx.cached(["run"], lambda: calls.append(1) or 0.0)
    assert len(calls) == 2 and ctx.reused == 0 and not (tmp_path / "cache").exists()


def test_key_order_of_mappings_does_not_matter(tmp_path):
    assert cache_path(tmp_path, {"a": 1, "b": [2, 3]}) == cache_path(tmp_path, {"b": [2, 3], "a": 1})
    assert cache_path(tmp_path, {"a": 1}) != cache_path(tmp_path, {"a": 2})
    assert cache_path(None, {"a": 1}) is None


def test_monoflow_gan_reports_a_run_stopped_by_a_non_finite_loss(monkeypatch):
    """A captured step cannot skip an update: the run stops, and the loss is reported as stopped."""
    def diverge(*args, **kwargs):
        raise NonFiniteError("generator", 1234, exact=False)

    monkeypatch.setattr(mf.mc, "fit", diverge)
    out = mf.train_and_score(mf.config(16, 10, 8, 0, "cudagraph"), [], mf.LOSSES[mf.CONTROL], 10, "cpu", None)
    assert out == {"stopped": "player 'generator' had a non-finite loss or gradient by step 1234"}
    assert mf.config(16, 10, 8, 0, "cudagraph")["train"]["on_nan"] == "error"
    assert mf.config(16, 10, 8, 0)["train"]["on_nan"] == "skip"


def _trains(failing: dict[str, int], seeds: int = 3) -> list[Row]:
    """``trains`` rows for every MonoFlow loss: 1 in every seed but ``failing[name]`` seeds of 0 (the control fails)."""
    fails = {mf.CONTROL: seeds, **failing}
    return [Row(name, mf.TRAINS, float(s >= fails.get(name, 0)), s) for name in mf.LOSSES for s in range(seeds)]


def test_monoflow_gan_reading_states_a_failed_paper_loss_as_a_negative_result():
    assert mf.reading(_trains({})) == ("Reading: the paper's four losses trained in every seed, as claimed; the added "
                                       "f-GAN generators (not in the paper's experiment) trained in every seed; the "
                                       "non-monotone control trained in 0 of 3 seeds, as MonoFlow predicts.")
    text = mf.reading(_trains({mf.KL: 3}))  # an added loss failing is not a negative result against the paper
    assert text.startswith("Reading: the paper's four losses trained in every seed, as claimed; of the added f-GAN "
                           "generators (not in the paper's experiment), not in every seed: kl (h = r) (0 of 3 "
                           "seeds). For kl (h = r = e^d) this is the saturation")
    assert "Neyman χ², whose h' = 2e^(−d) is largest there, trained in every seed" in text
    text = mf.reading(_trains({"logit": 2, mf.CONTROL: 2}))
    assert text.startswith("Reading (a negative result against the paper): of the paper's losses, trained in every "
                           "seed: ns, vanilla (C=5), arcsinh; not in every seed: logit (1 of 3 seeds)")
    assert "saturation" not in text and text.endswith("trained in 1 of 3 seeds, against MonoFlow's prediction.")
    # a paper loss that misses one seed of five still holds by the verdict's share (4 of 5): named, not negative
    text = mf.reading(_trains({"vanilla (C=5)": 1}, seeds=5))
    assert text.startswith("Reading: of the paper's losses, trained in every seed: ns, logit") and \
        "vanilla (C=5) (4 of 5 seeds)" in text


def test_cli_passes_the_cache_folder(tmp_path, monkeypatch, capsys):
    from unigen import cli
    from unigen.experiments import common

    seen = {}

    def fake_run(name, **kwargs):
        seen.update(kwargs, name=name)
        md = tmp_path / f"{name}.md"
        md.write_text("# table\n## Protocol\n")
        return md

    monkeypatch.setattr(common, "run", fake_run)
    assert cli.main(["reproduce", "mode-collapse", "--results", str(tmp_path), "--cache", str(tmp_path / "c")]) == 0
    assert seen["name"] == "mode-collapse" and seen["cache"] == tmp_path / "c"
    assert cli.main(["reproduce", "mode-collapse", "--results", str(tmp_path)]) == 0
    assert seen["cache"] is None
    assert "results written to" in capsys.readouterr().out


def test_table_puts_published_numbers_beside_ours_and_other_papers_methods_in_rows():
    from types import SimpleNamespace

    from unigen.experiments.common import Row, aggregate, table

    module = SimpleNamespace(PUBLISHED=[
        {"method": "ours", "metric": "modes", "value": 8.0},  # same method: beside our number
        {"method": "VEEGAN (published)", "metric": "modes", "value": 7.5},  # another paper's model: a row
        {"method": "VEEGAN (published)", "metric": "time", "value": "1 h"},  # a metric we do not measure: listed
    ])
    agg = aggregate([Row("ours", "modes", 7.0, 0), Row("ours", "modes", 8.0, 1), Row("ours", "quality", 0.9, 0),
                     Row("ours", "quality", 0.9, 1)])
    lines = table(module, agg)
    assert lines[0] == "| method | modes | quality |"
    assert lines[2] == "| ours | 7.50 ± 0.71 (published: 8.0) | 0.9 ± 0 |"
    assert lines[3] == "| VEEGAN (published) | 7.5 | — |"
    assert lines[-1] == "- VEEGAN (published) — time: 1 h (published; )"


def _pipes(line: str) -> int:
    """The unescaped ``|`` of a markdown table line: its cell borders."""
    return len(re.findall(r"(?<!\\)\|", line))


def _tables(text: str) -> list[list[str]]:
    blocks, block = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            block.append(line)
        elif block:
            blocks.append(block)
            block = []
    return blocks


def test_every_committed_results_row_has_its_headers_width():
    pages = sorted(RESULTS.glob("*.md"))
    assert len(pages) >= 7
    for page in pages:
        tables = _tables(page.read_text())
        assert tables, page.name
        for rows in tables:
            assert all(_pipes(r) == _pipes(rows[0]) for r in rows), (page.name, [r for r in rows if _pipes(r) != _pipes(rows[0])])


def test_cells_are_escaped_and_references_labelled_by_their_kind():
    module = SimpleNamespace(PUBLISHED=[{"method": "critic", "metric": "error", "value": "W1 = |θ|", "kind": "analytic"},
                                        {"method": "critic", "metric": "grad", "value": 1.0}])
    agg = aggregate([Row("critic", "error", 0.1, 0), Row("critic", "grad", 1.0, 0)])
    lines = table(module, agg)
    assert lines[2] == r"| critic | 0.1 (analytic: W1 = \|θ\|) | 1 (published: 1.0) |"
    assert _pipes(lines[2]) == _pipes(lines[0]) == 4
    assert cell("a|b") == r"a\|b"


@pytest.mark.parametrize("mean, std, text", [
    (-2.558e-17, 1.208e-16, "0.0000 ± 0.0000"),  # float noise around zero
    (-360.6, 1.374, "-360.6 ± 1.4"),
    (0.001469, 0.0005084, "0.0015 ± 0.0005"),
    (54.77, 48.44, "55 ± 48"),
    (25.0, 0.0, "25 ± 0"),
    (0.98, 0.0, "0.98 ± 0"),
    (math.inf, math.nan, "inf ± nan"),
])
def test_mean_and_spread_print_to_the_spreads_precision(mean, std, text):
    assert fmt_mean_std(mean, std) == text


@pytest.mark.parametrize("x, text", [(25.0, "25"), (9.408, "9.408"), (6.13245, "6.132"), (1e-10, "0.0000"),
                                     (-1e-10, "0.0000"), (740.526, "740.5"), (math.inf, "inf")])
def test_a_single_value_prints_four_significant_digits_in_fixed_notation(x, text):
    assert fmt_value(x) == text


def test_hardware_says_thread_for_one():
    torch_threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert ", 1 thread (" in hardware("cpu")
    finally:
        torch.set_num_threads(torch_threads)


def _fake_module():
    return SimpleNamespace(NAME="fake", TITLE="Fake", PROTOCOL="p", PUBLISHED=[])


def test_a_quick_run_never_replaces_a_full_page(tmp_path):
    module = _fake_module()
    full = Context(quick=False, seeds=[0], device="cpu", out=tmp_path, name="fake")
    full.figure().write_bytes(b"png")
    md = write(module, full, [Row("m", "x", 1.0, 0)], 1.0, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    quick = Context(quick=True, seeds=[0], device="cpu", out=tmp_path, name="fake")
    quick.figure("-ring").write_bytes(b"quick png")
    quick_md = write(module, quick, [Row("m", "x", 2.0, 0)], 1.0, tmp_path)
    assert md.name == "fake.md" and quick_md.name == "fake.quick.md"
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name in before} == before
    assert {p.name for p in tmp_path.iterdir()} - set(before) == {"fake.quick.md", "fake.quick.json",
                                                                   "fake.quick-ring.png"}
    assert "fake.quick-ring.png" in quick_md.read_text() and "fake.quick-ring.png" not in md.read_text()
    assert "Mode: **quick" in quick_md.read_text()


def test_notes_written_by_hand_beside_a_page_survive_every_render_after_the_computed_ones(tmp_path):
    ctx = Context(quick=False, seeds=[0], device="cpu", out=tmp_path, name="fake")
    ctx.notes.append("computed")
    (tmp_path / "fake.notes").write_text("Machine: two cores.\n\n  A probe: FID 63.3.  \n")
    for _ in range(2):  # a second render (from the cache, say) keeps them, once
        text = write(_fake_module(), ctx, [Row("m", "x", 1.0, 0)], 1.0, tmp_path).read_text()
        assert "## Notes\n\n- computed\n- Machine: two cores.\n- A probe: FID 63.3.\n" in text
    quick = Context(quick=True, seeds=[0], device="cpu", out=tmp_path, name="fake")  # another stem: not its notes
    assert "Machine" not in write(_fake_module(), quick, [Row("m", "x", 1.0, 0)], 1.0, tmp_path).read_text()


def test_the_page_states_the_cached_results_compute_time(tmp_path):
    ctx = Context(quick=True, seeds=[0], device="cpu", out=tmp_path, name="fake", reused=3, reused_seconds=801.0)
    text = write(_fake_module(), ctx, [Row("m", "x", 1.0, 0)], 1.2, tmp_path).read_text()
    assert "wall time 1 s for this invocation, which took 3 result(s) from the cache" in text
    assert "computing them took 801 s in earlier invocations" in text


def test_rerender_rewrites_only_the_table(tmp_path):
    from unigen.experiments import wgan_disjoint

    page = tmp_path / "wgan-disjoint.md"
    page.write_text("# T\n\nMode: **full**; hardware: CPU x86_64, 1 threads (torch 2); wall time 375 s.\n\n"
                    "| method | old |\n|---|---|\n| x | y |\n\n## Protocol\n\nkept\n\n## Notes\n\n- note\n")
    (tmp_path / "wgan-disjoint.json").write_text(json.dumps(
        [{"method": "WGAN-GP critic (W1)", "metric": "max abs error vs truth", "mean": 0.0502, "std": 0.000193,
          "seeds": [0, 1, 2]}]))
    (tmp_path / "wgan-disjoint-cpu.md").write_text(page.read_text())  # a variant's page, by its stem
    (tmp_path / "wgan-disjoint-cpu.json").write_text((tmp_path / "wgan-disjoint.json").read_text())
    variant = rerender("wgan-disjoint", tmp_path, stem="wgan-disjoint-cpu")
    assert variant.name == "wgan-disjoint-cpu.md" and "| x | y |" in page.read_text()  # the other page untouched
    text = rerender("wgan-disjoint", tmp_path).read_text()
    assert variant.read_text() == text
    assert "1 thread (torch 2); wall time 375 s." in text and "| x | y |" not in text
    assert r"| WGAN-GP critic (W1) | 0.0502 ± 0.0002 (analytic: W1 = \|θ\|) |" in text
    assert text.endswith("## Protocol\n\nkept\n\n## Notes\n\n- note\n")
    assert wgan_disjoint.PUBLISHED[1]["kind"] == "analytic"
    from unigen.errors import UserError

    with pytest.raises(UserError, match=r"no page .*nope.md with its JSON to rerender; wgan-disjoint's pages there: "
                                        r"wgan-disjoint, wgan-disjoint-cpu$"):
        rerender("wgan-disjoint", tmp_path, stem="nope")


def test_a_page_on_another_data_set_has_its_own_protocol_and_no_published_numbers(tmp_path):
    from unigen.experiments import hu2018_iwgan as iw

    rows = [Row("IWCGAN", iw.ACC, 0.73, 0), Row("IWCGAN", iw.ACC, 0.74, 1)]
    pages = {}
    for data in iw.DATA:
        ctx = Context(quick=False, seeds=[0, 1], device="cpu", out=tmp_path, name=iw.NAME, data=data,
                      default_data=iw.DATA[0], variant="cpu")
        pages[data] = write(iw, ctx, rows, 1.0, tmp_path)
    mnist, fashion = pages["mnist"], pages["fashion_mnist"]
    assert fashion.name == "hu2018-iwgan-fashion-mnist-cpu.md"
    for _ in range(2):  # as written, then rerendered from the JSON
        assert "(published: 0.987)" in mnist.read_text() and "published" not in fashion.read_text().split("##")[0]
        assert iw.PROTOCOL.strip() in mnist.read_text() and "4,500 training digits" not in fashion.read_text()
        assert iw.PROTOCOLS["fashion_mnist"].strip() in fashion.read_text()
        for page in pages.values():
            rerender(iw.NAME, tmp_path, stem=page.stem)


def test_reproduce_writes_under_the_working_directory_by_default(tmp_path, monkeypatch):
    from unigen import cli
    from unigen.experiments import common

    seen = {}

    def fake_run(name, **kwargs):
        seen.update(kwargs)
        md = Path(kwargs["results"]) / f"{name}.quick.md"
        md.parent.mkdir(parents=True, exist_ok=True)
        md.write_text("# table\n## Protocol\n")
        return md

    monkeypatch.setattr(common, "run", fake_run)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["reproduce", "wgan-disjoint", "--quick"]) == 0
    assert seen["quick"] and (tmp_path / seen["results"]).resolve() == (tmp_path / "experiments" / "results").resolve()
    assert not Path(seen["results"]).is_absolute()


def _data_module(seen):
    def run(ctx):
        seen.update(data=ctx.data, seeds=ctx.seeds, stem=ctx.stem)
        return [Row("VAE", "bound", -100.0 - s, s) for s in ctx.seeds]

    return SimpleNamespace(NAME="fake", TITLE="Fake on MNIST", TITLES={"fashion_mnist": "Fake on Fashion-MNIST"},
                           PROTOCOL="p", DATA=("mnist", "fashion_mnist"), SEEDS=5, run=run,
                           PUBLISHED=[{"method": "VAE", "metric": "bound", "value": -92.5, "source": "s"}])


def test_another_data_set_gets_its_own_page_title_and_no_published_numbers(tmp_path, monkeypatch):
    from unigen import experiments
    from unigen.experiments import common

    from unigen.data.fashion_mnist import FashionMNIST

    seen = {}
    monkeypatch.setitem(experiments._MODULES, "fake", "fake")
    monkeypatch.setattr(experiments.REPRODUCTIONS.__class__, "__getitem__", lambda self, name: _data_module(seen))
    monkeypatch.setattr(FashionMNIST, "check_available", lambda self: None)  # the fake reads no files
    md = common.run("fake", results=tmp_path)  # the default data set and the module's own seed count
    assert seen == {"data": "mnist", "seeds": [0, 1, 2, 3, 4], "stem": "fake"} and md.name == "fake.md"
    mnist = md.read_text()
    assert mnist.startswith("# Fake on MNIST") and "(published: -92.5)" in mnist and "--data" not in mnist
    other = common.run("fake", seeds=2, results=tmp_path, data="fashion_mnist")
    assert other.name == "fake-fashion-mnist.md" and md.read_text() == mnist  # the MNIST page is untouched
    text = other.read_text()
    assert text.startswith("# Fake on Fashion-MNIST") and "-92.5" not in text
    assert "`unigen reproduce fake --data fashion_mnist --seeds 2 --device cpu`" in text
    assert "| VAE | -100.50 ± 0.71 |" in text
    assert common.run("fake", quick=True, seeds=1, results=tmp_path, data="fashion_mnist").name == \
        "fake-fashion-mnist.quick.md"


def test_a_data_set_the_reproduction_does_not_run_on_is_refused_in_one_line(tmp_path, capsys):
    from unigen import cli

    assert cli.main(["reproduce", "hu2018-aavae", "--data", "cifar10", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "unigen: error: --data cifar10: hu2018-aavae runs on mnist or fashion_mnist; choose one of: " \
                  "mnist, fashion_mnist"
    assert cli.main(["reproduce", "wgan-disjoint", "--data", "mnist", "--results", str(tmp_path)]) == 2
    assert "wgan-disjoint runs on its own data only; omit --data" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("option", ["--results", "--cache"])
def test_a_results_or_cache_folder_that_is_a_file_is_refused_before_training(option, tmp_path, capsys):
    from unigen import cli

    f = tmp_path / "ring.png"
    f.write_bytes(b"precious")
    other = ["--cache", str(tmp_path / "c")] if option == "--results" else ["--results", str(tmp_path / "r")]
    assert cli.main(["reproduce", "monoflow-gan", "--quick", "--seeds", "1", option, str(f), *other]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{f} is an existing file; pass a folder" in err and option in err
    assert f.read_bytes() == b"precious"
    assert not (tmp_path / "c" / "monoflow-gan").exists() or not any((tmp_path / "c" / "monoflow-gan").iterdir())


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_reproduce_on_a_missing_gpu_is_refused_in_one_line_before_training(tmp_path, capsys):
    from unigen import cli

    assert cli.main(["reproduce", "wgan-disjoint", "--quick", "--device", "cuda", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--device=cuda but no CUDA device is available; use --device cpu" in err
    assert not list(tmp_path.iterdir())  # nothing written


def test_a_run_on_reduced_settings_writes_its_own_page_beside_the_full_one(tmp_path, monkeypatch):
    from unigen import experiments
    from unigen.experiments import common, gan_practice, hu2018_aavae, hu2018_iwgan, mode_collapse, monoflow_gan

    def module(variant):
        def run(ctx):
            ctx.variant = variant
            return [Row("GAN", "IS", 6.0 + s, s) for s in ctx.seeds]
        return SimpleNamespace(NAME="fake", TITLE="Fake", PROTOCOL="p", PUBLISHED=[], run=run)

    monkeypatch.setitem(experiments._MODULES, "fake", "fake")
    current = {}
    monkeypatch.setattr(experiments.REPRODUCTIONS.__class__, "__getitem__", lambda self, name: current["m"])
    current["m"] = module("")
    full = common.run("fake", seeds=2, results=tmp_path)
    before = full.read_text()
    current["m"] = module("cpu")
    reduced = common.run("fake", seeds=3, results=tmp_path)
    assert (full.name, reduced.name) == ("fake.md", "fake-cpu.md") and full.read_text() == before
    assert (tmp_path / "fake-cpu.json").exists() and "| GAN | 7.0 ± 1.0 |" in reduced.read_text()
    # the reproductions' choice: a full CPU run is the reduced variant; a GPU run and a quick run are not
    for device, quick, variant in [("cpu", False, "cpu"), ("cuda", False, ""), ("cpu", True, ""), ("cuda", True, "")]:
        ctx = common.Context(quick=quick, seeds=[0], device=device, out=tmp_path, name="hu2018-iwgan")
        assert common.gpu_settings(ctx) == (device == "cuda" and not quick) and ctx.variant == variant
        assert common.step_compile(ctx) == ("none" if quick else "cudagraph" if device == "cuda" else "trace")
    for module in (hu2018_iwgan, hu2018_aavae, mode_collapse, monoflow_gan, gan_practice):  # each names its page
        assert module.PAGE_VARIANTS == ("cpu",)


def test_gp_stabilises_reading_says_where_the_ns_gan_did_not_reach_the_line():
    from unigen.experiments import gp_stabilises as g

    import torch

    spread = {2: torch.stack([torch.tensor([-1.0, 1.0]).repeat(50), torch.zeros(100)], 1),  # std along the line ≈ 1
              128: torch.full((100, 2), 0.3)}  # every sample at one point: spread 0

    def results(ns_128, mm_128, ns_128_half=None):
        """Curves (start 2.0, halfway, end) per D, loss and seed; D = 2: the NS-GAN on the line, minimax at 1."""
        out = {}
        for dim, ns, mm, half in ((2, [0.02, 0.03], [1.0, 1.0], None), (128, ns_128, mm_128, ns_128_half)):
            for seed in range(2):
                mid = ns[seed] if half is None else half[seed]
                out[dim, "NS-GAN", seed] = {"curve": [(0, 2.0, {}), (750, mid, {}), (1500, ns[seed], {})],
                                            "samples": spread[dim]}
                out[dim, "minimax GAN", seed] = {"curve": [(0, 2.0, {}), (750, mm[seed], {}), (1500, mm[seed], {})],
                                                 "samples": spread[dim]}
        return out

    text = g.toy_reading(results([0.38, 0.40], [0.39, 1.8]), (2, 128), [0, 1])
    assert text.startswith("Reading of part 1 (a partial result): D = 2: from 2.00 at the start, the NS-GAN ends at "
                           "0.025 (99% of the gap closed; on the line in every seed; its samples spread 1.01 along "
                           "the line, the data 0.58), the minimax GAN at 1.00 (50%; 0 of 2 seeds as close as the "
                           "NS-GAN); D = 128: from 2.00 at the start, the NS-GAN ends at 0.390 (80% of the gap closed; "
                           "not on the line; level since update 750, 0.390 then; its samples spread 0.00 along the "
                           "line, the data 0.58), the minimax GAN at 1.09 (45%; 1 of 2 seeds as close as the NS-GAN). "
                           "So the claim holds at D = 2 only.")
    still_moving = g.toy_reading(results([0.38, 0.40], [1.8, 1.8], [0.8, 0.8]), (2, 128), [0, 1])
    assert "(80% of the gap closed; not on the line; its samples spread 0.00 along the line, the data 0.58), the " \
        "minimax GAN" in still_moving
    text = g.toy_reading(results([0.01, 0.02], [1.0, 1.0]), (2, 128), [0, 1])
    assert "partial" not in text and "the minimax GAN does not, at every D." in text
    text = g.toy_reading(results([0.01, 0.02], [0.01, 0.01]), (2, 128), [0, 1])  # minimax reaches it too at 128
    assert "So the claim holds at D = 2 only." in text
