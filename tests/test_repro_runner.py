"""The runner of `unigen reproduce`: its result cache (`--cache`: an interrupted reproduction resumes without
retraining) and its results table."""
import torch

from unigen.experiments import monoflow_gan as mf
from unigen.experiments.common import Context, cache_path
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
    assert lines[2] == "| ours | 7.5 ± 0.7071 (published: 8.0) | 0.9 ± 0 |"
    assert lines[3] == "| VEEGAN (published) | 7.5 | — |"
    assert lines[-1] == "- VEEGAN (published) — time: 1 h ()"
