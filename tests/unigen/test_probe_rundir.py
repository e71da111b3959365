"""Probes of run directories and the files written into them: odd run paths, run files that are folders,
checkpoints that are no checkpoint, a full disk while writing, a run's own files as `-o`, its lock, and a damaged
`metrics.jsonl`. Each ends in exit 0 with a correct result, or one line and exit 2 (``probes.one_line``), with
the run's files unchanged (``probes.unchanged``) and no partial or 0-byte file left."""
import errno
import json
import os
import shutil
import subprocess

import pytest
import torch
from probes import RING, TINY, cli, one_line, snapshot, unchanged
from probes import base_run, can_mount_tmpfs, fill_disk, run  # noqa: F401  (fixtures)

from unigen import checkpoint
from unigen.rundir import RunLock
from unigen.run import train


def _temporaries(folder):
    return [p for p in folder.rglob(".*") if ".tmp" in p.name]


LONG = "a" * 300


# ------------------------------------------------------------------------------------ odd run paths (train)
def _file(tmp_path):
    (tmp_path / "file").write_text("mine")
    return tmp_path / "file"


def _loop(tmp_path):
    (tmp_path / "loop").symlink_to("loop")
    return tmp_path / "loop"


OUT_CASES = {
    "--out under a file": (lambda t: _file(t) / "run", "is a file, not a folder; choose another run directory"),
    "--out a 300-byte name": (lambda t: t / LONG / "run", "is 300 bytes long, more than the 255"),
    "--out in /proc": (lambda t: "/proc/self/run", "cannot make the run directory /proc/self/run"),
    "--out a symlink loop": (_loop, "is a symbolic link that leads nowhere"),
    "--out below a symlink loop": (lambda t: _loop(t) / "run", "cannot make the run directory"),
    "--out /dev/full": (lambda t: "/dev/full", "is an existing file, not a directory"),
    "--out below /dev/full": (lambda t: "/dev/full/run", "/dev/full is a file, not a folder"),
}


@pytest.mark.parametrize("case", sorted(OUT_CASES))
def test_an_odd_out_is_one_line(case, tmp_path, capsys):
    make, fragment = OUT_CASES[case]
    before = snapshot(tmp_path)
    code, err, _ = cli(["train", RING, *TINY, "train.steps=2", "--out", make(tmp_path)], capsys)
    one_line(code, err, fragment)
    unchanged(tmp_path, before)


def test_a_300_byte_resume_and_run_are_one_line(tmp_path, capsys):
    for argv in (["train", "--resume", tmp_path / LONG], ["sample", tmp_path / LONG, "-o", tmp_path / "s.png"],
                 ["eval", tmp_path / LONG], ["export", tmp_path / LONG, "-o", tmp_path / "m.safetensors"]):
        code, err, _ = cli(argv, capsys)
        one_line(code, err, "is 300 bytes long")


# ------------------------------------------------------------------- run files that are not what they should be
def _list_checkpoint(run):
    torch.save([1, 2, 3], run / "checkpoint.pt")


def _tensor_checkpoint(run):
    torch.save(torch.zeros(3), run / "checkpoint.pt")


def _folder(name):
    def make(run):
        path = run / name
        if path.exists():
            path.unlink()
        path.mkdir()
        (path / "inside").write_text("mine")
    return make


def _fifo_lock(run):
    (run / ".lock").unlink()
    os.mkfifo(run / ".lock")


RESUME, SAMPLE, EVAL = (["train", "--resume", "{run}", "train.steps=12"], ["sample", "{run}", "-o", "{tmp}/s.png"],
                        ["eval", "{run}"])
RUN_CASES = {
    "checkpoint a list (resume)": (_list_checkpoint, RESUME, "holds a list, not a unigen checkpoint"),
    "checkpoint a list (sample)": (_list_checkpoint, SAMPLE, "holds a list, not a unigen checkpoint"),
    "checkpoint a list (eval)": (_list_checkpoint, EVAL, "holds a list, not a unigen checkpoint"),
    "checkpoint a tensor (resume)": (_tensor_checkpoint, RESUME, "holds a Tensor, not a unigen checkpoint"),
    "checkpoint a tensor (sample)": (_tensor_checkpoint, SAMPLE, "holds a Tensor, not a unigen checkpoint"),
    "checkpoint a tensor (eval)": (_tensor_checkpoint, EVAL, "holds a Tensor, not a unigen checkpoint"),
    "checkpoint a folder (sample)": (_folder("checkpoint.pt"), SAMPLE, "checkpoint.pt is a folder, not a file"),
    ".lock a folder (resume)": (_folder(".lock"), RESUME, ".lock is not unigen's lock file"),
    ".lock a folder (sample into the run)": (_folder(".lock"), ["sample", "{run}"], ".lock is not unigen's lock file"),
    ".lock a FIFO (resume)": (_fifo_lock, RESUME, ".lock is not unigen's lock file (not a regular file)"),
    "metrics.jsonl a folder (resume)": (_folder("metrics.jsonl"), RESUME, "metrics.jsonl is a folder"),
    "metrics.jsonl a folder (--overwrite)": (_folder("metrics.jsonl"), ["train", RING, *TINY, "train.steps=2",
                                             "--out", "{run}", "--overwrite"], "metrics.jsonl is a folder"),
    "eval.json a folder (eval)": (_folder("eval.json"), EVAL, "eval.json is a folder"),
    "metrics.csv a folder (resume)": (_folder("metrics.csv"), RESUME, "metrics.csv is a folder"),
}


@pytest.mark.parametrize("case", sorted(RUN_CASES))
def test_a_run_file_that_is_not_one_is_one_line(case, run, tmp_path, capsys):
    damage, argv, fragment = RUN_CASES[case]
    damage(run)
    before = snapshot(run)
    code, err, _ = cli([str(a).format(run=run, tmp=tmp_path) for a in argv], capsys)
    one_line(code, err, fragment)
    unchanged(run, before)
    assert not (tmp_path / "s.png").exists() and not _temporaries(run)


# ------------------------------------------------------------------------------ a run's own files as -o (item 6)
OWN = ["checkpoint.pt", "best.pt", "losses.png", "samples/step_000010.png", "tensorboard/x.png",
       ".checkpoint.pt.abcd1234.tmp.pt", ".samples.png.abcd1234.tmp.png"]


@pytest.mark.parametrize("name", OWN)
@pytest.mark.parametrize("via", ["path", "symlink"])
def test_sample_never_replaces_a_run_file_even_forced(name, via, run, tmp_path, capsys):
    target = run / name
    target.parent.mkdir(exist_ok=True)
    if not target.exists():
        target.write_bytes(b"the run's own")
    out = target
    if via == "symlink":
        out = tmp_path / ("link" + target.suffix)
        out.symlink_to(target)
    before = snapshot(run)
    code, err, _ = cli(["sample", run, "-n", "10", "-o", out, "--force"], capsys)
    one_line(code, err, "samples never replace a run's own files, with or without --force")
    unchanged(run, before, ignore=())


def test_sample_may_redraw_the_runs_samples_png_and_write_beside_its_files(run, capsys):
    for out in (run / "samples.png", run / "mine.npz"):
        code, err, _ = cli(["sample", run, "-n", "10", "-o", out, "--force"], capsys)
        assert code == 0, err
    assert (run / "samples.png").stat().st_size > 0 and (run / "mine.npz").stat().st_size > 0


def test_writing_into_a_run_that_trains_is_refused(run, tmp_path, capsys):
    """A run held by a training (its exclusive lock): sample into it and eval are refused, nothing changes; sampling
    it to a file outside works. The lock is shared among such writers: a training cannot start meanwhile."""
    before = snapshot(run)
    with RunLock(run):
        for argv in (["sample", run], ["sample", run, "-o", run / "extra.png"], ["eval", run],
                     ["export", run, "-o", run / "m.safetensors"]):
            code, err, _ = cli(argv, capsys)
            one_line(code, err, f"run directory {run} is in use by process {os.getpid()}")
        code, err, _ = cli(["sample", run, "-n", "10", "-o", tmp_path / "outside.png"], capsys)
        assert code == 0, err
    unchanged(run, before)
    with RunLock(run, shared=True):  # a sampler writing into the run
        code, err, _ = cli(["train", "--resume", run, "train.steps=12"], capsys)
        one_line(code, err, "is in use by")
        code, err, _ = cli(["sample", run, "-n", "10"], capsys)  # another sampler: fine
        assert code == 0, err
    assert checkpoint.load(run / "checkpoint.pt")["step"] == 10


# ------------------------------------------------------------------------------------- a full disk (item 4)
def _enospc(*a, **k):
    raise OSError(errno.ENOSPC, "No space left on device")


def _torch_full(obj, f, *a, **k):  # torch's zip writer on a full disk: a partial file, then a RuntimeError
    with open(f, "wb") as out:
        out.write(b"PK\x03\x04partial")
    raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")


def _no_space_left(monkeypatch):
    from unigen import rundir

    class Full:
        f_bavail, f_frsize = 0, 4096

    monkeypatch.setattr(rundir.os, "statvfs", lambda path: Full())


FULL = {  # (what fails, the command, the files that must stay as they were)
    "checkpoint: torch RuntimeError": ("torch", RESUME, ["checkpoint.pt"]),
    "checkpoint: ENOSPC": ("torch-enospc", RESUME, ["checkpoint.pt"]),
    "eval.json": ("json", EVAL, ["eval.json", "checkpoint.pt"]),
    "eval.K=V.json": ("json", EVAL + ["eval.num_samples=50"], ["eval.json", "checkpoint.pt"]),
    "samples.png": ("savefig", ["sample", "{run}"], ["samples.png", "checkpoint.pt"]),
    "losses.png at the end of a resume": ("savefig", RESUME, ["losses.png", "samples.png", "eval.json"]),
    "config.yaml on resume": ("yaml", RESUME, ["config.yaml", "checkpoint.pt"]),
}


@pytest.mark.parametrize("case", sorted(FULL))
def test_a_full_disk_while_writing_is_one_line_and_loses_nothing(case, run, tmp_path, capsys, monkeypatch):
    what, argv, kept = FULL[case]
    import matplotlib.figure

    from unigen import rundir

    if what == "torch":
        _no_space_left(monkeypatch)  # torch says only "unexpected pos": the free space tells
        monkeypatch.setattr(torch, "save", _torch_full)
    elif what == "torch-enospc":
        monkeypatch.setattr(torch, "save", _enospc)
    elif what == "savefig":
        def savefig(self, fname, *a, **k):
            open(fname, "wb").close()  # a 0-byte start, then the disk is full
            _enospc()
        monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    else:  # eval.json, config.yaml: text written through rundir.write_text
        real = rundir.Path.write_text

        def write_text(self, text, *a, **k):
            if (what == "json" and ".json." in self.name) or (what == "yaml" and ".yaml." in self.name):
                real(self, text[:3])
                _enospc()
            return real(self, text, *a, **k)
        monkeypatch.setattr(rundir.Path, "write_text", write_text)
    before = snapshot(run)
    code, err, _ = cli([str(a).format(run=run, tmp=tmp_path) for a in argv], capsys)
    one_line(code, err, "no space left on the device")
    assert not _temporaries(run), _temporaries(run)
    after = snapshot(run)
    assert {k: after.get(k) for k in before if k.name in kept} == {k: v for k, v in before.items() if k.name in kept}
    assert not [k for k, v in after.items() if not v and k.name != "metrics.csv"], "a 0-byte file was left"
    assert not [k for k in after if k not in before and k.name.startswith("eval")]


def test_a_writer_error_that_is_not_a_full_disk_is_one_line_too(run, capsys, monkeypatch):
    monkeypatch.setattr(torch, "save", _torch_full)  # the disk has room: torch's message, named and shortened
    before = snapshot(run)
    code, err, _ = cli(RESUME[:2] + [str(run), "train.steps=12"], capsys)
    one_line(code, err, "checkpoint.pt (")
    assert "unexpected pos" in err and not _temporaries(run)
    assert snapshot(run)[next(k for k in before if k.name == "checkpoint.pt")] == before[
        next(k for k in before if k.name == "checkpoint.pt")]


def test_a_really_full_disk_keeps_every_file_whole(base_run, tmp_path, capsys):
    """On a real full tmpfs: redrawing samples.png, evaluating, writing samples and an export beside the run and
    resuming it are each one line, and every file is as it was, with no temporary and no 0-byte file."""
    disk = tmp_path / "disk"
    if not can_mount_tmpfs(disk):
        pytest.skip("cannot mount a tmpfs here (needs root and mount permission)")
    try:
        run = disk / "run"
        shutil.copytree(base_run, run)
        fill_disk(disk)
        before = snapshot(run)
        for argv in (["sample", run], ["eval", run], ["eval", run, "eval.num_samples=50"],
                     ["sample", run, "-o", disk / "s.npz"], ["sample", run, "-o", disk / "s.pt"],
                     ["sample", run, "-o", disk / "s.png"], ["export", run, "-o", disk / "m.safetensors"],
                     ["train", "--resume", run, "train.steps=12", "train.checkpoint_every=1"]):
            code, err, _ = cli(argv, capsys)
            one_line(code, err)
            assert "no space left on the device" in err or "MB free" in err, err
            unchanged(run, before)
            assert not _temporaries(disk), (argv, _temporaries(disk))
            assert not [p for p in disk.iterdir() if p.name.startswith("s.") or p.suffix == ".safetensors"], argv
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


# ---------------------------------------------------------------------------- a damaged metrics.jsonl (item 9)
def test_damaged_metrics_lines_are_kept_aside_and_said_on_resume(run, capsys):
    lines = (run / "metrics.jsonl").read_text().splitlines()
    damaged = ["\x00\x00garbage{", '{"step": "ten", "kind": "train"}', "[1, 2]"]
    (run / "metrics.jsonl").write_text("\n".join([lines[0], damaged[0], lines[1], damaged[1], damaged[2],
                                                  *lines[2:]]) + "\n" + '{"step": 10, "kind": "tra')
    code, err, _ = cli(["train", "--resume", run, "train.steps=15"], capsys)
    assert code == 0, err
    assert len(err.splitlines()) == 1 and err.startswith("unigen: warning: ") and "4 damaged line(s)" in err, err
    assert "metrics.damaged.jsonl" in err and "rows up to step 10" in err
    kept = (run / "metrics.damaged.jsonl").read_text().splitlines()
    assert kept == [*damaged, '{"step": 10, "kind": "tra']
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["kind"] == "train"] == [5, 10, 15]
    assert (run / "losses.png").stat().st_size > 0


def test_a_clean_resume_says_nothing_on_stderr(run, capsys):
    code, err, _ = cli(["train", "--resume", run, "train.steps=15"], capsys)
    assert code == 0 and err == "", err
    assert not (run / "metrics.damaged.jsonl").exists()


# ------------------------------------------------------------------------------------- modes and stale temps
def test_every_run_file_follows_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        run = train(RING, TINY + ["train.steps=5"], out=str(tmp_path / "r"))
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in run.iterdir() if p.is_file() and p.name != ".lock"}
    assert set(modes) >= {"checkpoint.pt", "config.yaml", "metrics.jsonl", "metrics.csv", "losses.png", "samples.png",
                          "eval.json"}
    assert set(modes.values()) == {0o640}, modes


def test_stale_temporaries_of_run_files_are_removed_and_others_kept(run):
    stale = [".eval.json.abcd1234.tmp.json", ".samples.png.k2j4h5g6.tmp.png", "checkpoint.ptab12cd34.tmp"]
    for name in stale:
        (run / name).write_bytes(b"half")
    (run / ".mine.txt.abcd1234.tmp.txt").write_text("a user's own")
    train(overrides=["train.steps=12"], resume=run)
    assert not [n for n in stale if (run / n).exists()]
    assert (run / ".mine.txt.abcd1234.tmp.txt").read_text() == "a user's own"


# ----------------------------------------------------------------------------------------------- other odd paths
def test_a_run_directory_that_is_a_symlink_loop_is_one_line(tmp_path, capsys):
    loop = _loop(tmp_path)
    for argv in (["train", "--resume", loop], ["sample", loop, "-o", tmp_path / "s.png"], ["eval", loop],
                 ["export", loop, "-o", tmp_path / "m.safetensors"]):
        code, err, _ = cli(argv, capsys)
        one_line(code, err, "is not a run directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loop"]


def test_a_snapshot_folder_that_is_a_file_is_one_line(tmp_path, capsys):
    out = tmp_path / "r"
    out.mkdir()
    (out / "samples").write_text("a user's own file")
    code, err, _ = cli(["train", RING, *TINY, "train.steps=10", "train.sample_every=5", "--out", out], capsys)
    one_line(code, err, "is a file where the run keeps its training snapshots")
    assert (out / "samples").read_text() == "a user's own file"


def test_an_unforeseen_os_error_is_one_line(run, tmp_path, capsys, monkeypatch):
    import numpy as np

    def broken(*a, **k):
        raise OSError(errno.EIO, "Input/output error", str(tmp_path / "s.npy"))

    monkeypatch.setattr(np, "save", broken)
    code, err, _ = cli(["sample", run, "-n", "10", "-o", tmp_path / "s.npy"], capsys)
    one_line(code, err, "Input/output error")
    assert not (tmp_path / "s.npy").exists() and not _temporaries(tmp_path)


def test_a_result_page_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    from probes import ROOT

    from unigen.errors import UserError
    from unigen.experiments import common
    from unigen import rundir

    for suffix in (".md", ".json"):
        shutil.copy(ROOT / "experiments" / "results" / f"avb-toy{suffix}", tmp_path)
    before = snapshot(tmp_path)
    real = rundir.Path.write_text

    def full(self, text, *a, **k):
        if ".tmp." in self.name:
            real(self, text[:10])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, text, *a, **k)

    monkeypatch.setattr(rundir.Path, "write_text", full)
    with pytest.raises(UserError, match="no space left on the device"):
        common.rerender("avb-toy", tmp_path)
    unchanged(tmp_path, before)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["avb-toy.json", "avb-toy.md"]
    monkeypatch.undo()
    common.rerender("avb-toy", tmp_path)
    assert (tmp_path / "avb-toy.md").stat().st_mode & 0o777 == 0o666 & ~rundir.umask()
