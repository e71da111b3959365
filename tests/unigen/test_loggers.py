"""Logs a tracker can read: metrics.csv, TensorBoard events, rates and gradient norms, plain progress lines,
sample grids during training."""
import csv
import json
import math
import os
import subprocess
import sys

import pytest
import torch

from unigen.cli import main
from unigen.loggers import PlainProgress, player_stats
from unigen.run import train
from unigen.players import GradNorms

RING_TINY = ["data.n=2000", "model.hidden=32", "model.disc_hidden=32", "train.batch_size=64", "train.log_every=5",
             "train.optim.schedule=constant", "train.progress=false", "eval.num_samples=100"]


def _rows(run, kind="train"):
    return [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if r["kind"] == kind]


def _csv(run):
    with (run / "metrics.csv").open() as f:
        return list(csv.DictReader(f))


def _same(csv_rows, json_rows):
    assert len(csv_rows) == len(json_rows)
    for c, j in zip(csv_rows, json_rows):
        assert set(c) >= set(j)
        for k, v in j.items():
            assert (c[k] == v) if isinstance(v, str) else float(c[k]) == v, (k, c[k], v)
        assert all(c[k] == "" for k in set(c) - set(j))


def _train(out, *overrides):
    return train("experiments/configs/ring_gan.yaml", [*RING_TINY, *overrides], out=str(out))


def test_metrics_csv_equals_the_training_rows_of_metrics_jsonl(tmp_path):
    run = _train(tmp_path / "r", "train.steps=20")
    rows = _rows(run)
    assert [r["step"] for r in rows] == [5, 10, 15, 20]
    _same(_csv(run), rows)
    header = next(csv.reader((run / "metrics.csv").open()))
    assert header[:3] == ["step", "kind", "time"]


def test_a_resumed_run_keeps_metrics_csv_consistent(tmp_path):
    whole = _train(tmp_path / "whole", "train.steps=20")
    part = _train(tmp_path / "part", "train.steps=10")
    (part / "metrics.csv").write_text("stale\n")  # rebuilt from metrics.jsonl, the source of truth
    train(overrides=["train.steps=20"], resume=part)
    _same(_csv(part), _rows(part))
    drop = lambda rows: [{k: v for k, v in r.items() if k != "time"} for r in rows]  # noqa: E731
    assert drop(_csv(part)) == drop(_csv(whole))


def test_rates_and_gradient_norms_of_every_player_are_logged(tmp_path):
    run = _train(tmp_path / "r", "train.steps=10", "train.players.discriminator.lr=1e-3")
    last = _rows(run)[-1]
    assert last["lr/generator"] == 2e-3 and last["lr/discriminator"] == 1e-3  # ring_gan's and the override
    assert last["grad_norm/generator"] > 0 and last["grad_norm/discriminator"] > 0


def test_player_stats_is_the_norm_of_the_last_gradients():
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))
    a.grad, b.grad = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 4.0, 0.0])
    c = torch.nn.Parameter(torch.zeros(1))  # no gradient yet

    class Fake:
        params = {"g": [a, b], "d": [c]}
        optimizers = {"g": torch.optim.Adam([a, b], lr=0.25), "d": torch.optim.SGD([c], lr=torch.tensor(0.5))}

        def last_grad_norms(self):  # an eager trainer's: read from .grad
            return GradNorms(self.params, torch.device("cpu")).read(recorded=False)

    assert player_stats(Fake()) == {"lr/g": 0.25, "lr/d": 0.5, "grad_norm/g": 5.0}


def test_tensorboard_events_hold_the_logged_scalars(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = _train(tmp_path / "r", "train.steps=15", "train.logger=tensorboard")
    acc = EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    rows = _rows(run)
    for key in ("generator", "discriminator", "lr/generator", "grad_norm/discriminator"):
        events = acc.Scalars(key)
        assert [e.step for e in events] == [r["step"] for r in rows]
        assert all(math.isclose(e.value, r[key], rel_tol=1e-6) for e, r in zip(events, rows))


def test_tensorboard_missing_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import fails as if it were not installed
    code = main(["train", "ring_gan", *RING_TINY, "train.steps=5", "train.logger=tensorboard",
                 "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "pip install unigen[tb]" in err
    assert not (tmp_path / "r" / "config.yaml").exists()


def test_without_a_terminal_a_plain_line_replaces_the_bar(tmp_path):
    argv = [sys.executable, "-m", "unigen", "train", "ring_gan", *RING_TINY, "train.progress=true",
            "train.steps=20", "--out", str(tmp_path / "r")]
    done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    lines = [l for l in done.stdout.splitlines() if l.startswith("ns_gan step ")]
    assert [l.split()[2] for l in lines] == ["5/20", "10/20", "15/20", "20/20"]
    assert "generator=" in lines[0] and "steps/s" in lines[0]
    assert "it/s" not in done.stderr and "\r" not in done.stderr  # no tqdm bar


def test_plain_line_format():
    progress = PlainProgress(100, 0, "elbo")
    progress.first_time -= 30.0  # 50 steps in 30 s: 50 more take 30 s
    line = progress.line(50, {"vae": 123.456, "lr/vae": 1e-3})
    assert line.startswith("elbo step 50/100 (50%) vae=123.5 [") and "lr/" not in line
    assert line.endswith(", elapsed 0:30, ETA 0:30]"), line


def test_sample_grids_during_training_leave_the_training_unchanged(tmp_path):
    plain = _train(tmp_path / "plain", "train.steps=20")
    sampled = _train(tmp_path / "sampled", "train.steps=20", "train.sample_every=10")
    assert sorted(p.name for p in (sampled / "samples").iterdir()) == ["step_000010.png", "step_000020.png"]
    drop = lambda rows: [{k: v for k, v in r.items() if k != "time"} for r in rows]  # noqa: E731
    assert drop(_rows(sampled)) == drop(_rows(plain))  # the snapshots draw from their own random stream
    assert not (plain / "samples").exists()


def test_sample_every_must_be_a_multiple_of_log_every(tmp_path, capsys):
    code = main(["train", "ring_gan", *RING_TINY, "train.steps=5", "train.sample_every=12",
                 "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "train.sample_every=12 is not a multiple of train.log_every=5" in err and "sample_every=10" in err


def test_an_overwritten_run_drops_the_old_runs_events_and_snapshots(tmp_path):
    run = _train(tmp_path / "r", "train.steps=10", "train.logger=tensorboard", "train.sample_every=5")
    (run / "samples" / "mine.png").write_bytes(b"mine")
    train("experiments/configs/ring_gan.yaml", [*RING_TINY, "train.steps=5"], out=str(run), overwrite=True)
    assert not list((run / "tensorboard").glob("events.*")) and not list((run / "samples").glob("step_*"))
    assert (run / "samples" / "mine.png").read_bytes() == b"mine"
