"""``unigen sweep``: a grid of runs into one folder, resumable, never overwriting, summarised over seeds."""
import csv

from probes import cli, one_line

from unigen.sweep import grid, split_value

ARGS = ["train.steps=10", "data.n=2000", "model.hidden=16", "model.disc_hidden=16", "eval.num_samples=200",
        "train.progress=false"]


def test_values_split_on_commas_outside_brackets():
    assert split_value("ns_gan,wgan") == ["ns_gan", "wgan"]
    assert split_value("[0.5,0.9]") == ["[0.5,0.9]"] and split_value("[0.5,0.9],[0.0,0.9]") == ["[0.5,0.9]", "[0.0,0.9]"]
    fixed, swept = grid(["train.optim.betas=[0.5,0.9]", "train.seed=0,1", "strategy.name=ns_gan,wgan"])
    assert fixed == ["train.optim.betas=[0.5,0.9]"] and swept == {"train.seed": ["0", "1"],
                                                                  "strategy.name": ["ns_gan", "wgan"]}


def test_a_sweep_runs_its_grid_summarises_over_seeds_and_resumes_without_retraining(tmp_path, capsys):
    out = tmp_path / "sw"
    argv = ["sweep", "ring_gan", "strategy.name=ns_gan,minimax_gan", "train.seed=0,1", *ARGS, "--out", out]
    code, err, stdout = cli(argv, capsys)
    assert code == 0, err
    runs = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert runs == [f"strategy.name={s},train.seed={i}" for s in ("minimax_gan", "ns_gan") for i in (0, 1)]
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [r["strategy.name"] for r in rows] == ["ns_gan", "minimax_gan"] and all(r["runs"] == "2" for r in rows)
    assert "| strategy.name | runs |" in (out / "summary.md").read_text() and "summary written to" in stdout
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/checkpoint.pt")}
    assert cli(argv, capsys)[0] == 0  # a rerun keeps the finished runs
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/checkpoint.pt")} == stamps


def test_a_folder_of_other_settings_is_refused_and_bad_values_fail_before_training(tmp_path, capsys):
    out = tmp_path / "sw"
    assert cli(["sweep", "ring_gan", "train.seed=0,1", *ARGS, "--out", out], capsys)[0] == 0
    code, err, _ = cli(["sweep", "ring_gan", "train.seed=0,1", "model.hidden=32", *ARGS[:2], "--out", out], capsys)
    one_line(code, err, "holds a run of other settings than this point of the sweep")
    code, err, _ = cli(["sweep", "ring_gan", "train.seed=0,-1", *ARGS, "--out", tmp_path / "new"], capsys)
    one_line(code, err, "train.seed=-1 is out of range")
    assert not (tmp_path / "new" / "train.seed=0").exists()  # nothing trained
    code, err, _ = cli(["sweep", "ring_gan", *ARGS, "--out", tmp_path / "none"], capsys)
    one_line(code, err, "needs at least one swept setting")
