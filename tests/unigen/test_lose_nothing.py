"""Runs that lose nothing: every bad value is one line with exit code 2, nothing is overwritten unasked,
resume honours what it is told, and a full disk, a kill or a NaN never costs the last good checkpoint."""
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from probes import RING, ROOT, TINY, can_mount_tmpfs, fill_disk
from toys import stopped_at

from unigen import checkpoint
from unigen.cli import main
from unigen.run import train



def _cli(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.err.strip(), captured.out


def _one_line(code, err, fragment):
    assert code == 2, err
    assert err.startswith("unigen: error: ") and len(err.splitlines()) == 1, err
    assert fragment in err, err


# ------------------------------------------------------------------------------ bad values (train)
VALUES = {
    "negative rate": ("train.optim.lr=-1", "train.optim.lr=-1.0 is out of range: it must be >= 0"),
    "NaN rate": ("train.optim.lr=nan", "train.optim.lr=nan is not a finite number"),
    "infinite rate": ("train.optim.lr=inf", "train.optim.lr=inf is not a finite number"),
    "per-player infinite rate": ("train.players.generator.lr=inf", "train.players.generator.lr=inf is not a finite"),
    "negative weight decay": ("train.optim.weight_decay=-1", "train.optim.weight_decay=-1.0 is out of range"),
    "beta of 1": ("train.optim.betas=[1.0,0.9]", "train.optim.betas[0]=1.0 is out of range: it must be >= 0 and < 1"),
    "negative momentum": ("train.optim.momentum=-0.5", "train.optim.momentum=-0.5 is out of range"),
    "zero steps": ("train.steps=0", "train.steps=0 is out of range: it must be >= 1"),
    "absurd steps": ("train.steps=1000000000000", "it must be >= 1 and <= 1,000,000,000"),
    "zero log_every": ("train.log_every=0", "train.log_every=0 is out of range"),
    "negative log_every": ("train.log_every=-1", "train.log_every=-1 is out of range"),
    "negative checkpoint_every": ("train.checkpoint_every=-1", "train.checkpoint_every=-1 is out of range"),
    "negative seed": ("train.seed=-1", "train.seed=-1 is out of range"),
    "seed of 2^32": ("train.seed=4294967296", "it must be >= 0 and < 4,294,967,296"),
    "zero eval samples": ("eval.num_samples=0", "eval.num_samples=0 is out of range"),
    "zero iw samples": ("eval.iw_samples=0", "eval.iw_samples=0 is out of range"),
    "negative penalty weight": ("strategy.penalty_weight=-1", "strategy.penalty_weight=-1.0 is out of range"),
    "absurd n_critic": ("strategy.n_critic=1000000000", "strategy.n_critic=1000000000 is out of range"),
    "zero hidden": ("model.hidden=0", "model.hidden=0 is out of range"),
    "zero z_dim": ("model.z_dim=0", "model.z_dim=0 is out of range"),
    "negative warm-up": ("train.optim.warmup=-3", "train.optim.warmup=-3 is out of range"),
    "stairs on a linear schedule": ("train.optim.stair=5", "hold and stair shape the geometric schedule"),
    "hold of 1": ("train.optim.hold=1", "train.optim.hold=1.0 is out of range"),
    "meta device": ("train.device=meta", "cpu or cuda devices only"),
    "mps device": ("train.device=mps", "cpu or cuda devices only"),
    "missing GPU index": ("train.device=cuda:7", "train.device=cuda:7"),
    "not a device": ("train.device=banana", "is not a device"),
    "empty index override": ("train.optim.betas[0]=", "not key=value with a dotted key"),
    "unbalanced bracket": ("train.optim.betas=[0.5", "bad override"),
    "env interpolation": ("train.optim.lr=${oc.env:HOME}", "interpolations"),
    "key interpolation": ("train.steps=${train.seed}", "interpolations"),
}


@pytest.mark.parametrize("case", sorted(VALUES))
def test_bad_value_is_one_line(case, capsys, tmp_path):
    override, fragment = VALUES[case]
    code, err, _ = _cli(["train", RING, *TINY, "train.steps=2", override, "--out", str(tmp_path / "r")], capsys)
    _one_line(code, err, fragment)
    assert not (tmp_path / "r").exists()  # refused: no run directory left behind, not even an empty one


@pytest.mark.parametrize("argv", [["--out", ""], ["out="]])
def test_an_empty_out_is_refused(argv, capsys):
    code, err, _ = _cli(["train", RING, *TINY, "train.steps=2", *argv], capsys)
    _one_line(code, err, "names no directory")


def test_out_names_the_folder_as_written(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # names that YAML would read as a number or as null
    for name in ("007", "null"):
        code, err, _ = _cli(["train", str(ROOT / RING), *TINY, "train.steps=2", "--out", name], capsys)
        assert code == 0, err
        assert (tmp_path / name / "checkpoint.pt").is_file() and f"out: '{name}'" in (tmp_path / name /
                                                                                      "config.yaml").read_text()


def test_iwae_particles_must_be_positive(capsys, tmp_path):
    code, err, _ = _cli(["train", "experiments/configs/mnist_vae.yaml", "strategy.name=iwae",
                         "strategy.num_particles=0", "--out", str(tmp_path / "r")], capsys)
    _one_line(code, err, "strategy.num_particles")


def test_monitor_must_name_a_logged_series_and_is_checked_after_the_first_step(capsys, tmp_path):
    code, err, _ = _cli(["train", RING, *TINY, "train.steps=200", "train.log_every=100", "train.monitor=nosuch",
                         "--out", str(tmp_path / "r")], capsys)
    _one_line(code, err, "train.monitor='nosuch' names no logged series; choose one of")
    assert "discriminator, generator, grad_norm/discriminator" in err and "lr/generator" in err
    assert not (tmp_path / "r" / "metrics.jsonl").read_text().strip()  # refused before the first log line


# --------------------------------------------------------------------------------- config files
def _yaml_cases(tmp_path):
    deep = "a: " + "[" * 200 + "]" * 200
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    return {
        "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not UTF-8 text"),
        "NUL-filled": (b"\0" * 4096, "not UTF-8 text"),
        "deep nesting": (deep.encode(), "nest"),
        "duplicate keys": (b"train: {steps: 5}\ntrain: {steps: 6}\n", "duplicate key 'train'"),
        "alias bomb": (bomb.encode(), "aliases are expanded"),
        "huge file": (b"# " + b"x" * (2 << 20) + b"\n", "over the 1,048,576-byte limit"),
        "interpolation in the file": (b"train: {steps: '${oc.env:HOME}'}\n", "interpolations"),
        "not a mapping": (b"- a\n- b\n", "must hold a mapping"),
        "invalid YAML": (b"train: {steps: 5\n", "not valid YAML"),
    }


@pytest.mark.parametrize("case", ["binary", "NUL-filled", "deep nesting", "duplicate keys", "alias bomb", "huge file",
                                  "interpolation in the file", "not a mapping", "invalid YAML"])
def test_bad_config_file_fails_fast_in_one_line(case, capsys, tmp_path):
    content, fragment = _yaml_cases(tmp_path)[case]
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    start = time.perf_counter()
    code, err, _ = _cli(["train", str(path), "--out", str(tmp_path / "r")], capsys)
    assert time.perf_counter() - start < 10  # fails fast: the alias bomb once ran 45 s
    _one_line(code, err, fragment)


def test_a_directory_is_not_a_config(capsys, tmp_path):
    code, err, _ = _cli(["train", str(tmp_path), "--out", str(tmp_path / "r")], capsys)
    _one_line(code, err, "is a directory")


# --------------------------------------------------------------------------------------- NPZ data
def _npz_cases(tmp_path):
    def save(name, **arrays):
        p = tmp_path / name
        np.savez(p, **arrays)
        return str(p)

    npy = tmp_path / "renamed.npz"
    np.save(tmp_path / "renamed.npy", np.zeros((100, 2)))
    (tmp_path / "renamed.npy").rename(npy)
    lying = tmp_path / "lying.npz"
    np.savez(lying, x=np.zeros((100, 2)))
    lying.write_bytes(lying.read_bytes().replace(b"(100, 2)", b"(900, 2)"))
    train_file = save("train.npz", x=np.zeros((100, 2)))
    return {
        "renamed .npy": ([f"data.path={npy}"], "single .npy array"),
        "empty events": ([f"data.path={save('e.npz', x=np.zeros((100, 0)))}"], "non-empty examples"),
        "lying header": ([f"data.path={lying}"], "cannot be read"),
        "test split of another shape": ([f"data.path={train_file}", "data.test_path=" +
                                         save("t.npz", x=np.zeros((100, 3)))], "the training file's have (2,)"),
        "complex": ([f"data.path={save('c.npz', x=np.zeros((100, 2), dtype=complex))}"], "is complex"),
        "stray label": ([f"data.path={save('s.npz', x=np.zeros((100, 2)), y=np.r_[np.zeros(99, int), 100000])}",
                         "data.label_key=y"], "labels span 0..100000 but only 2 distinct values occur"),
        "negative labels": ([f"data.path={save('n.npz', x=np.zeros((100, 2)), y=np.full(100, -5))}",
                             "data.label_key=y"], "found -5"),
    }


@pytest.mark.parametrize("case", ["renamed .npy", "empty events", "lying header", "test split of another shape",
                                  "complex", "stray label", "negative labels"])
def test_bad_npz_is_one_line(case, capsys, tmp_path):
    extra, fragment = _npz_cases(tmp_path)[case]
    code, err, _ = _cli(["train", RING, "train.steps=2", "train.batch_size=16", "data.name=npz", *extra,
                         "--out", str(tmp_path / "r")], capsys)
    _one_line(code, err, fragment)


def test_a_data_root_that_is_a_file_is_not_called_missing(capsys, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    code, err, _ = _cli(["train", "experiments/configs/mnist_vae.yaml", f"data.root={f}", "--out",
                         str(tmp_path / "r")], capsys)
    _one_line(code, err, "is a file, not a directory")


def test_a_folder_without_a_checkpoint_is_not_offered_a_resume(capsys, tmp_path):
    """A run that stopped before its first checkpoint, or a folder holding a user's own samples.png: the error
    offers what works (--overwrite, another --out), never a --resume that would fail, and nothing is touched."""
    stopped = tmp_path / "stopped"
    code, err, _ = _cli(["train", RING, *TINY, "train.steps=5", "train.monitor=bogus", "--out", str(stopped)], capsys)
    assert code == 2 and not (stopped / "checkpoint.pt").exists() and (stopped / "config.yaml").exists()
    code, err, _ = _cli(["train", RING, *TINY, "train.steps=3", "--out", str(stopped)], capsys)
    _one_line(code, err, "holds a run that stopped before its first checkpoint")
    assert "--overwrite" in err and "--resume" not in err
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "samples.png").write_bytes(b"my figure")
    code, err, _ = _cli(["train", RING, *TINY, "train.steps=3", "--out", str(mine)], capsys)
    _one_line(code, err, "holds samples.png, which a new run would write; move them")
    assert "--resume" not in err and (mine / "samples.png").read_bytes() == b"my figure"


# ---------------------------------------------------------------------------- one run, many abuses
@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    """A finished 10-step ring run (copied by each test that changes it)."""
    root = tmp_path_factory.mktemp("base")
    return train(RING, TINY + ["train.steps=10"], out=str(root / "base"))


@pytest.fixture
def run(base_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(base_run, copy)
    return copy


def test_an_existing_run_is_never_replaced_unasked(run, capsys, tmp_path):
    before = {f: (run / f).read_bytes() for f in ("checkpoint.pt", "config.yaml", "metrics.jsonl")}
    code, err, _ = _cli(["train", RING, *TINY, "train.steps=3", "--out", str(run)], capsys)
    _one_line(code, err, "already holds a run")
    assert "--resume" in err and "--overwrite" in err
    assert {f: (run / f).read_bytes() for f in before} == before
    (run / "notes.txt").write_text("mine")
    assert main(["train", RING, *TINY, "train.steps=3", "--out", str(run), "--overwrite"]) == 0
    assert checkpoint.load(run / "checkpoint.pt")["step"] == 3
    assert (run / "notes.txt").read_text() == "mine"  # only unigen's own files are replaced


def test_out_that_is_a_file_is_refused(capsys, tmp_path):
    f = tmp_path / "file"
    f.write_text("precious")
    code, err, _ = _cli(["train", RING, *TINY, "train.steps=2", "--out", str(f)], capsys)
    _one_line(code, err, "is an existing file")
    assert f.read_text() == "precious"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_out_is_refused(capsys, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    code, err, _ = _cli(["train", RING, *TINY, "train.steps=2", "--out", str(ro / "r")], capsys)
    _one_line(code, err, "permission denied")


def _state(run):
    return checkpoint.load(run / "checkpoint.pt")


def test_resume_with_rate_zero_leaves_the_weights_unchanged(run):
    before = _state(run)["programs"]
    train(overrides=["train.steps=20", "train.optim.lr=0"], resume=run)
    after = _state(run)
    assert after["step"] == 20
    for name, value in before.items():
        torch.testing.assert_close(after["programs"][name], value, rtol=0, atol=0, msg=name)
    assert all(g["lr"] == 0 for o in after["optimizers"].values() for g in o["param_groups"])


def test_resume_uses_and_records_new_settings(run):
    train(overrides=["train.steps=15", "train.optim.lr=1e-5", "train.players.discriminator.betas=[0.0,0.9]",
                     "train.batch_size=32"], resume=run)
    state = _state(run)
    assert state["optimizers"]["generator"]["param_groups"][0]["lr"] == pytest.approx(1e-5)
    assert tuple(state["optimizers"]["discriminator"]["param_groups"][0]["betas"]) == (0.0, 0.9)
    from unigen.config import resolve

    cfg = resolve(run / "config.yaml").config  # config.yaml holds what the run now uses
    assert cfg.train.batch_size == 32 and cfg.train.optim.lr == pytest.approx(1e-5) and cfg.train.steps == 15
    notes = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    changed = [r["changed"] for r in notes if r["kind"] == "resume"][0]
    assert changed["train.optim.lr"] == [pytest.approx(2e-3), pytest.approx(1e-5)]
    assert changed["train.batch_size"] == [64, 32]


def test_resume_with_a_new_schedule_follows_it(run):
    train(overrides=["train.steps=20", "train.optim.schedule=linear"], resume=run)
    state = _state(run)
    # linear over 20 updates per player: after 20 updates the multiplier is 1 - 20/20 = 0
    assert state["optimizers"]["generator"]["param_groups"][0]["lr"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("override, fragment", [
    ("train.optim.name=sgd", "train.optim.name cannot change on resume"),
    ("model.depth=2", "model.depth cannot change on resume"),
    ("strategy.name=minimax_gan", "cannot change on resume"),
    ("data.n=3000", "data.n cannot change on resume"),
    ("train.seed=5", "train.seed cannot change on resume"),
    ("out=/tmp/elsewhere", "out cannot change on resume"),
])
def test_resume_refuses_what_cannot_change(run, override, fragment, capsys):
    before = (run / "checkpoint.pt").read_bytes()
    code, err, _ = _cli(["train", "--resume", str(run), override], capsys)
    _one_line(code, err, fragment)
    assert (run / "checkpoint.pt").read_bytes() == before


def test_a_copied_run_resumes_in_its_new_place_and_records_it(run, base_run, capsys, monkeypatch):
    from omegaconf import OmegaConf

    assert OmegaConf.load(run / "config.yaml").out == str(base_run)  # the fixture's run is a copy (cp -r)
    original = (base_run / "config.yaml").read_bytes()
    taken = _state(run)["step"]
    code, err, _ = _cli(["train", "--resume", str(run), f"train.steps={taken + 5}"], capsys)
    assert code == 0, err
    assert OmegaConf.load(run / "config.yaml").out == str(run) and _state(run)["step"] == taken + 5
    assert (base_run / "config.yaml").read_bytes() == original
    shutil.copytree(run, run.parent / "null")  # a folder name that YAML would read as something else
    monkeypatch.chdir(run.parent)
    code, err, _ = _cli(["train", "--resume", "null", f"train.steps={taken + 6}"], capsys)
    assert code == 0, err
    assert OmegaConf.load(run.parent / "null" / "config.yaml").out == "null"
    code, err, _ = _cli(["train", "--resume", str(run), "--overwrite"], capsys)
    _one_line(code, err, "--resume continues a run and --overwrite replaces one; drop one of them")


def test_resume_refuses_fewer_steps_than_taken_and_leaves_the_run_as_it_was(run, capsys):
    files = {name: (run / name).read_bytes() for name in ("checkpoint.pt", "config.yaml", "metrics.jsonl")}
    taken = _state(run)["step"]
    code, err, _ = _cli(["train", "--resume", str(run), f"train.steps={taken - 5}"], capsys)
    _one_line(code, err, f"train.steps={taken - 5} is below the {taken} steps this run has taken")
    assert {name: (run / name).read_bytes() for name in files} == files


def test_resume_refuses_another_out_and_a_config(run, capsys, tmp_path):
    code, err, _ = _cli(["train", "--resume", str(run), "--out", str(tmp_path / "other")], capsys)
    _one_line(code, err, "a run resumes in its own directory")
    code, err, _ = _cli(["train", RING, "--resume", str(run)], capsys)
    _one_line(code, err, "give either a CONFIG or --resume")


def test_resume_reads_past_a_torn_last_line(run):
    with (run / "metrics.jsonl").open("a") as f:
        f.write('{"step": 10, "kind": "tra')  # a full disk mid-write
    train(overrides=["train.steps=15"], resume=run)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["kind"] == "train"] == [5, 10, 15]


def test_a_full_disk_is_one_line_and_keeps_the_checkpoint(run, capsys, monkeypatch):
    from unigen import run as run_module

    def full(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(run_module.MetricsLog, "write", full)
    good = (run / "checkpoint.pt").read_bytes()
    code, err, _ = _cli(["train", "--resume", str(run), "train.steps=20"], capsys)
    _one_line(code, err, f"cannot write to {run}: no space left on the device")
    assert (run / "checkpoint.pt").read_bytes() == good


def test_a_read_only_file_system_is_one_line(tmp_path, capsys):
    ro = tmp_path / "ro"
    if not can_mount_tmpfs(ro, "ro,size=1m"):
        pytest.skip("cannot mount a tmpfs here (needs root and mount permission)")
    try:
        code, err, _ = _cli(["train", RING, *TINY, "train.steps=2", "--out", str(ro / "r")], capsys)
        _one_line(code, err, "the file system is read-only")
    finally:
        subprocess.run(["umount", str(ro)], capture_output=True)


def test_a_really_full_disk(tmp_path, capsys):
    disk = tmp_path / "disk"
    if not can_mount_tmpfs(disk):
        pytest.skip("cannot mount a tmpfs here (needs root and mount permission)")
    try:
        run = train(RING, TINY + ["train.steps=10"], out=str(disk / "run"))
        good = (run / "checkpoint.pt").read_bytes()
        fill_disk(disk)  # to the last byte
        code, err, _ = _cli(["train", "--resume", str(run), "train.steps=20", "train.checkpoint_every=1"], capsys)
        _one_line(code, err, "no space left on the device")
        assert (run / "checkpoint.pt").read_bytes() == good
        assert not list(run.glob("*.tmp"))
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_stale_checkpoint_temporaries_are_removed(run):
    for i in range(3):
        (run / f"checkpoint.pt{i}abc.tmp").write_bytes(b"\0" * 1000)
    train(overrides=["train.steps=12"], resume=run)
    assert not list(run.glob("*.tmp"))


def test_an_older_run_without_newer_fields_still_loads(run, capsys):
    import yaml

    cfg = yaml.safe_load((run / "config.yaml").read_text())
    for key in ("max_skipped", "skip_window"):
        cfg["train"].pop(key)
    cfg["train"]["optim"].pop("final")
    cfg.pop("schema")
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    state = _state(run)
    state["config"] = json.loads(json.dumps(cfg))
    state.pop("schema", None)
    torch.save(state, run / "checkpoint.pt")
    assert main(["sample", str(run), "-n", "50", "-o", str(run / "s.png")]) == 0
    assert main(["eval", str(run)]) == 0
    assert main(["train", "--resume", str(run), "train.steps=12"]) == 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_gpu_run_on_a_cpu_machine_names_the_device_flag(run, capsys):
    text = (run / "config.yaml").read_text().replace("device: auto", "device: cuda")
    (run / "config.yaml").write_text(text)
    for argv in (["eval", str(run)], ["sample", str(run), "-o", str(run / "s.png")]):
        code, err, _ = _cli(argv, capsys)
        _one_line(code, err, "pass --device cpu")
    assert main(["eval", str(run), "--device", "cpu"]) == 0


def test_a_newer_schema_is_refused(run, capsys):
    text = (run / "config.yaml").read_text().replace("schema: 1", "schema: 99")
    (run / "config.yaml").write_text(text)
    code, err, _ = _cli(["eval", str(run)], capsys)
    _one_line(code, err, "written by a newer unigen")


def _damage(state):
    """13 ways a checkpoint can be wrong after it loads."""
    g = "generator"
    return {
        "missing programs": lambda s: s.pop("programs"),
        "missing optimizers": lambda s: s.pop("optimizers"),
        "missing step": lambda s: s.pop("step"),
        "step is text": lambda s: s.__setitem__("step", "ten"),
        "missing rng": lambda s: s.pop("rng"),
        "missing index generator": lambda s: s.pop("index_generator"),
        "index generator of floats": lambda s: s.__setitem__("index_generator", torch.zeros(3)),
        "weights of another shape": lambda s: s["programs"].__setitem__(
            next(iter(s["programs"])), torch.zeros(3, 3)),
        "optimiser of another player": lambda s: s["optimizers"].__setitem__("other", s["optimizers"].pop(g)),
        "optimiser state of another size": lambda s: s["optimizers"][g]["param_groups"][0].__setitem__(
            "params", [0]),
        "programs not a mapping": lambda s: s.__setitem__("programs", [1, 2]),
        "window of another kind": lambda s: s.__setitem__("window", {"sums": 3, "count": "x"}),
        "rng of another kind": lambda s: s.__setitem__("rng", {"torch": torch.zeros(2)}),
    }


DAMAGE = sorted(_damage(None))


@pytest.mark.parametrize("case", DAMAGE)
def test_a_malformed_checkpoint_is_one_line_on_resume(run, case, capsys):
    state = _state(run)
    _damage(state)[case](state)
    torch.save(state, run / "checkpoint.pt")
    code, err, _ = _cli(["train", "--resume", str(run), "train.steps=12"], capsys)
    _one_line(code, err, "checkpoint")


def test_sample_and_eval_refuse_non_finite_weights(run, capsys):
    state = _state(run)
    name = next(k for k, v in state["programs"].items() if v.is_floating_point())
    state["programs"][name] = torch.full_like(state["programs"][name], float("nan"))
    torch.save(state, run / "checkpoint.pt")
    for argv in (["sample", str(run), "-o", str(run / "s.png")], ["eval", str(run)]):
        code, err, _ = _cli(argv, capsys)
        _one_line(code, err, "are not finite")


@pytest.mark.parametrize("args, fragment", [
    (["-n", "0"], "-n 0: draw between 1 and"),
    (["-n", "-5"], "-n -5"),
    (["-n", "1000000000"], "-n 1000000000"),
    (["-o", "/no/such/folder/s.png"], "does not exist; create it first"),
    (["-o", "samples.gif"], "unknown format '.gif'"),
])
def test_sample_refuses_bad_arguments(run, args, fragment, capsys):
    before = (run / "samples.png").read_bytes()
    code, err, _ = _cli(["sample", str(run), *args], capsys)
    _one_line(code, err, fragment)
    assert (run / "samples.png").read_bytes() == before


def test_sample_into_a_directory_is_refused(run, capsys, tmp_path):
    code, err, _ = _cli(["sample", str(run), "-o", str(tmp_path)], capsys)
    _one_line(code, err, "is a directory; name a file in it")


def test_eval_json_and_metrics_are_strict_json(run, monkeypatch):
    from unigen import evaluate as evaluate_module

    monkeypatch.setattr(evaluate_module, "evaluate_built", lambda built: {"test_elbo": float("-inf"), "modes": 3.0})
    evaluate_module.evaluate(run)
    text = (run / "eval.json").read_text()
    values = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert values["test_elbo"] is None and values["nonfinite"] == {"test_elbo": "-inf"} and values["modes"] == 3.0
    for line in (run / "metrics.jsonl").read_text().splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))


def test_checkpoints_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        run = train(RING, TINY + ["train.steps=2"], out=str(tmp_path / "r"))
    finally:
        os.umask(old)
    assert (run / "checkpoint.pt").stat().st_mode & 0o777 == 0o644
    assert (run / "config.yaml").stat().st_mode & 0o777 == 0o644


def test_interrupted_start_up_and_final_evaluation_exit_130(capsys, tmp_path, monkeypatch):
    from unigen import run as run_module

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(run_module, "build", interrupt)
        code, err, _ = _cli(["train", RING, *TINY, "train.steps=2", "--out", str(tmp_path / "a")], capsys)
    assert code == 130 and len(err.splitlines()) == 1 and "interrupted" in err
    with monkeypatch.context() as m:
        m.setattr(run_module, "evaluate_built", interrupt)
        code, err, _ = _cli(["train", RING, *TINY, "train.steps=2", "--out", str(tmp_path / "b")], capsys)
    assert code == 130 and len(err.splitlines()) == 1, err
    assert f"unigen eval {tmp_path / 'b'}" in err
    assert checkpoint.load(tmp_path / "b" / "checkpoint.pt")["step"] == 2


def test_sigint_exits_130_after_saving(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "unigen", "train", RING, *TINY, "train.steps=100000",
                             "train.checkpoint_every=0", "--out", str(run)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 60
    while time.time() < deadline and not ((run / "metrics.jsonl").is_file() and (run / "metrics.jsonl").read_text()):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert 0 < checkpoint.load(run / "checkpoint.pt")["step"] < 100000


def test_two_processes_cannot_train_one_directory(tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen([sys.executable, "-m", "unigen", "train", RING, *TINY, "train.steps=100000",
                              "train.checkpoint_every=5", "--out", str(run)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not (run / "checkpoint.pt").is_file():
            time.sleep(0.2)
        second = subprocess.run([sys.executable, "-m", "unigen", "train", "--resume", str(run)], capture_output=True,
                                text=True, env=env, timeout=120)
        assert second.returncode == 2, second.stderr
        assert f"is in use by process {first.pid}" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
    finally:
        first.kill()  # kill -9: the lock file stays behind, but its lock dies with the process
        first.communicate(timeout=60)
    assert (run / ".lock").exists()
    taken = checkpoint.load(run / "checkpoint.pt")["step"]
    third = subprocess.run([sys.executable, "-m", "unigen", "train", "--resume", str(run), f"train.steps={taken + 1}"],
                           capture_output=True, text=True, env=env, timeout=120)
    assert third.returncode == 0, third.stderr  # the stale lock is taken over


def test_a_resume_off_a_logging_boundary_logs_like_an_uninterrupted_run(tmp_path, monkeypatch):
    args = TINY + ["train.steps=30"]
    full = train(RING, args, out=str(tmp_path / "full"))
    with stopped_at(monkeypatch, 17):
        part = train(RING, args, out=str(tmp_path / "part"))
    assert checkpoint.load(part / "checkpoint.pt")["step"] == 17
    train(resume=part)

    def rows(run):
        return [{k: v for k, v in json.loads(line).items() if k != "time"}
                for line in (run / "metrics.jsonl").read_text().splitlines() if json.loads(line)["kind"] == "train"]

    assert rows(part) == rows(full)


def test_a_refused_run_removes_only_the_directories_it_created(capsys, tmp_path):
    """A setting refused when the trainer is built (after the run directory was made and locked): the new
    directories go, parents included; an existing directory and what the user keeps in it stay."""
    code, err, _ = _cli(["train", RING, *TINY, "train.steps=2", "train.optim.stair=5", "--out",
                         str(tmp_path / "a" / "b" / "c")], capsys)
    _one_line(code, err, "hold and stair shape")
    assert not (tmp_path / "a").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    code, err, _ = _cli(["train", RING, *TINY, "train.steps=2", "train.optim.stair=5", "--out", str(mine / "run")],
                        capsys)
    _one_line(code, err, "hold and stair shape")
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"] and (mine / "notes.txt").read_text() == "keep"
