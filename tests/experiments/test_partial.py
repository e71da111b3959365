"""A training killed inside a cached computation resumes from its saved state and ends bit for bit as an
uninterrupted one (unigen.experiments.partial)."""
import json
import time

import pytest
import torch

from unigen import checkpoint
from unigen.assemble import build
from unigen.config import resolve
from unigen.experiments import common, partial
from unigen.experiments import mode_collapse as mc
from unigen.trainer import Trainer

# a short ring run whose rate decays in stairs: the optimiser's schedule must resume with the weights
SCHED = {"steps": 300, "batch_size": 64, "lr": 2e-3, "decay_from": 0.5}


def job():
    return mc.train_job("ring", {"name": "ns_gan"}, 0, SCHED, "cpu")


def two_trainings():
    return job(), mc.train_job("ring", {"name": "ns_gan", "penalty": "r1", "penalty_weight": 0.1}, 1, SCHED, "cpu")


@pytest.fixture
def steps(monkeypatch):
    """Counts the training steps taken; ``steps["stop"] = n`` interrupts the n-th (as Ctrl-C or a timeout)."""
    taken = {"n": 0, "stop": None}
    real = Trainer.step

    def step(self):
        taken["n"] += 1
        if taken["n"] == taken["stop"]:
            raise KeyboardInterrupt
        return real(self)

    monkeypatch.setattr(Trainer, "step", step)
    monkeypatch.setattr(partial, "EVERY", 50)
    monkeypatch.setattr(partial, "SECONDS", 0.0)  # save at every chance
    return taken


def assert_same(a, b):
    for (x, stats), (y, other) in zip(a, b):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
        assert stats == other


def test_a_killed_training_resumes_from_its_last_save_and_ends_as_an_uninterrupted_one(tmp_path, steps, capsys):
    whole = common.compute_and_store(tmp_path / "a" / "e.pt", job)
    entry = tmp_path / "b" / "e.pt"
    steps.update(n=0, stop=180)
    with pytest.raises(KeyboardInterrupt):
        common.compute_and_store(entry, job)
    assert not entry.exists() and [p.name for p in partial.files(entry)] == ["e.partial0.pt"]
    saved = checkpoint.load(partial.files(entry)[0])
    assert saved["step"] == 150 and saved["seconds"] > 0  # the last save before step 180, and its training time
    steps.update(n=0, stop=None)
    start = time.perf_counter()
    resumed = common.compute_and_store(entry, job)
    took = time.perf_counter() - start
    assert steps["n"] == SCHED["steps"] - 150  # only the steps the killed run had not saved
    said = f"unigen: resuming a training at step 150 of 300 from {entry.with_name('e.partial0.pt')}"
    assert capsys.readouterr().err.strip() == said
    assert_same([resumed], [whole])
    assert entry.exists() and partial.files(entry) == []  # stored: its saved states are gone
    # the record's compute time holds the killed invocation's 150 steps besides this one's, so it exceeds this one
    assert json.loads(entry.with_suffix(".json").read_text())["seconds"] > took
    assert common.load_or_compute(entry, lambda: pytest.fail("recomputed"))[1] == whole[1]


def test_a_computation_of_two_trainings_resumes_the_second_without_retraining_the_first(tmp_path, steps):
    whole = common.compute_and_store(tmp_path / "a" / "e.pt", two_trainings)
    entry = tmp_path / "b" / "e.pt"
    steps.update(n=0, stop=SCHED["steps"] + 120)  # in the second training
    with pytest.raises(KeyboardInterrupt):
        common.compute_and_store(entry, two_trainings)
    assert [checkpoint.load(p)["step"] for p in partial.files(entry)] == [SCHED["steps"], 100]
    steps.update(n=0, stop=None)
    resumed = common.compute_and_store(entry, two_trainings)
    assert steps["n"] == SCHED["steps"] - 100
    assert_same(resumed, whole)


def test_without_a_cache_nothing_is_saved_and_a_resumed_trainer_keeps_its_logged_rows(tmp_path, steps):
    cfg = mc.config("ring", {"name": "ns_gan"}, 0, SCHED, "cpu")
    cfg["train"]["log_every"] = 50

    def fit():
        trainer = build(resolve(cfg)).trainer()
        last = partial.fit(trainer, SCHED["steps"], log_every=50, progress=False)
        return trainer.history, last

    history, last = fit()  # no computation: trainer.fit
    assert list(tmp_path.iterdir()) == [] and len(history) == 6
    steps.update(n=0, stop=130)
    with partial.computing(tmp_path / "e.pt"), pytest.raises(KeyboardInterrupt):
        fit()
    steps.update(n=0, stop=None)
    with partial.computing(tmp_path / "e.pt"):
        assert fit() == (history, last)  # the rows logged before the kill came back with the state
    with partial.computing(tmp_path / "e.pt"):  # saved at its end: a rerun takes no step and returns the same
        assert fit() == (history, last) and steps["n"] == SCHED["steps"] - 100


@pytest.mark.parametrize("damage", ["bytes", "other model"])
def test_a_damaged_saved_state_is_a_miss_named_in_one_line_and_the_training_starts_over(tmp_path, steps, damage,
                                                                                          capsys):
    whole = common.compute_and_store(tmp_path / "a" / "e.pt", job)
    entry = tmp_path / "b" / "e.pt"
    state = entry.with_name("e.partial0.pt")
    entry.parent.mkdir()
    if damage == "bytes":
        state.write_bytes(b"not a torch file")
    else:  # a readable state of another model: the grid's 25-mode data, other widths
        other = build(resolve(mc.config("grid", {"name": "ns_gan"}, 0, {**SCHED, "model": {"hidden": 64}}, "cpu")))
        checkpoint.save({**other.trainer().state_dict(), "rng": checkpoint.rng_state(), "history": [], "last": {}},
                        state)
    steps.update(n=0)
    assert_same([common.compute_and_store(entry, job)], [whole])
    assert steps["n"] == SCHED["steps"]  # from the first step
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(state) in err[0] and "training from the first step" in err[0]
    assert partial.files(entry) == []


def test_a_folder_in_a_states_place_or_a_disk_that_refuses_it_costs_one_line_and_the_training_goes_on(
        tmp_path, steps, capsys, monkeypatch):
    whole = common.compute_and_store(tmp_path / "a" / "e.pt", job)
    entry = tmp_path / "b" / "e.pt"
    (entry.parent / "e.partial0.pt").mkdir(parents=True)
    (entry.parent / "e.partial0.pt" / "user file").write_text("kept")
    assert_same([common.compute_and_store(entry, job)], [whole])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "a folder in its place" in err[0] and "cannot be saved" in err[1]
    assert (entry.parent / "e.partial0.pt" / "user file").read_text() == "kept"  # a user's folder is never removed

    def full_disk(state, path):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(partial.checkpoint, "save", full_disk)  # the entry cannot be stored either
    again = common.compute_and_store(tmp_path / "c" / "e.pt", job)
    assert_same([again], [whole])  # the value, uncached, as compute_and_store promises
    err = capsys.readouterr().err.strip().splitlines()
    assert ["cannot be saved (No space left on device)" in line for line in err] == [True, False]
    assert "cannot be stored" in err[1]
