"""Probes of exports and sample outputs: export metadata that is damaged or nonsense (nested 100,000 deep, a
negative shape, ``support: "weird"``), odd `-o` paths (a missing folder, /dev/full, a 300-byte name, links), a full
disk while writing, the umask, and two writers of one file. Each ends in exit 0 with a correct result, or one line
and exit 2 (``probes.one_line``), with nothing lost (``probes.unchanged``) and no partial or 0-byte file left."""
import errno
import json
import os
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest
import torch
from probes import RING, ROOT, TINY, cli, one_line, snapshot, unchanged

from unigen.run import train


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    """A finished 10-step ring-GAN run and its export."""
    run = train(RING, TINY + ["train.steps=10"], out=str(tmp_path_factory.mktemp("base") / "base"))
    from unigen.cli import main

    assert main(["export", str(run), "-o", str(run.parent / "model.safetensors")]) == 0
    return run


@pytest.fixture
def run(base_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(base_run, copy)
    return copy


@pytest.fixture
def export(base_run, tmp_path):
    copy = tmp_path / "model.safetensors"
    shutil.copy(base_run.parent / "model.safetensors", copy)
    return copy


def _temporaries(folder):
    return [p for p in folder.rglob(".*") if ".tmp" in p.name]


def _contents(path):
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}


def _with_metadata(path, change):
    from safetensors.torch import save_file

    meta, tensors = _contents(path)
    change(meta)
    save_file(tensors, str(path), metadata=meta)


def _data_info(**values):
    def change(meta):
        info = json.loads(meta["unigen.data_info"])
        for k, v in values.items():
            if v is KeyError:
                info.pop(k)
            else:
                info[k] = v
        meta["unigen.data_info"] = json.dumps(info)
    return change


def _raw(key, text):
    def change(meta):
        meta[key] = text
    return change


def _drop(key):
    return lambda meta: meta.pop(key)


DEEP_LIST = "[" * 100_000 + "]" * 100_000
DEEP_DICT = '{"a": ' * 100_000 + "1" + "}" * 100_000
METADATA = {  # (change, fragment)
    "support weird": (_data_info(support="weird"), "support 'weird': not one of unit, symmetric, real"),
    "support a list": (_data_info(support=["real"]), "support ['real']: not one of"),
    "support missing": (_data_info(support=KeyError), "unigen.data_info lacks support"),
    "an unknown data key": (_data_info(colour="red"), "unigen.data_info has unknown colour"),
    "shape negative": (_data_info(shape=[-2]), "shape [-2]: not a list of 1 to 4 positive sizes"),
    "shape zero": (_data_info(shape=[0]), "shape [0]"),
    "shape empty": (_data_info(shape=[]), "shape []"),
    "shape of strings": (_data_info(shape=["2"]), "shape ['2']"),
    "shape a number": (_data_info(shape=2), "shape 2"),
    "shape of floats": (_data_info(shape=[2.0]), "shape [2.0]"),
    "shape of booleans": (_data_info(shape=[True, True]), "shape [True, True]"),
    "shape of five dimensions": (_data_info(shape=[1, 1, 1, 1, 2]), "shape [1, 1, 1, 1, 2]"),
    "shape of 10^18 values": (_data_info(shape=[10 ** 9, 10 ** 9]), "shape [1000000000, 1000000000]"),
    "shape nested": (_data_info(shape=[[[2]]]), "shape [[[2]]]"),
    "classes negative": (_data_info(num_classes=-1), "num_classes -1: not null or a positive count"),
    "classes a string": (_data_info(num_classes="ten"), "num_classes 'ten'"),
    "classes a float": (_data_info(num_classes=1.5), "num_classes 1.5"),
    "classes a boolean": (_data_info(num_classes=True), "num_classes True"),
    "labelled a string": (_data_info(labelled="yes"), "labelled 'yes': not true or false"),
    "data info a list": (_raw("unigen.data_info", "[1, 2]"), "unigen.data_info is a list, not a mapping"),
    "data info not JSON": (_raw("unigen.data_info", "{shape: 2"), "unigen.data_info is not JSON"),
    "data info nested 100,000 deep": (_raw("unigen.data_info", DEEP_LIST), "unigen.data_info nests too deep"),
    "config nested 100,000 deep": (_raw("unigen.config", DEEP_DICT), "unigen.config nests too deep"),
    "config a list": (_raw("unigen.config", "[]"), "unigen.config is a list, not a mapping"),
    "config a string": (_raw("unigen.config", '"ring_gan"'), "unigen.config is a str, not a mapping"),
    "config NaN": (_raw("unigen.config", "NaN"), "unigen.config is a float"),
    "no config": (_drop("unigen.config"), "no unigen.config"),
    "no data info": (_drop("unigen.data_info"), "no unigen.data_info"),
}


@pytest.mark.parametrize("case", sorted(METADATA))
def test_damaged_export_metadata_is_one_line(case, export, tmp_path, capsys):
    change, fragment = METADATA[case]
    _with_metadata(export, change)
    code, err, _ = cli(["sample", export, "-n", "10", "-o", tmp_path / "s.npy"], capsys)
    one_line(code, err, "damaged unigen metadata")
    assert fragment in err and str(export) in err and "export the run again" in err, err
    assert not (tmp_path / "s.npy").exists()


def _config(**values):
    def change(meta):
        config = json.loads(meta["unigen.config"])
        config.update(values)
        meta["unigen.config"] = json.dumps(config)
    return change


@pytest.mark.parametrize("values, fragment", [
    ({"strategy": [1]}, "config section 'strategy' must be a mapping"),
    ({"train": {"seed": "x"}}, "train.seed"),
    ({"model": {"name": "mlp", "deep": json.loads('{"a": ' * 900 + "1" + "}" * 900)}}, "nests too deep"),
])
def test_a_refused_saved_config_names_the_export(values, fragment, export, tmp_path, capsys):
    _with_metadata(export, _config(**values))
    code, err, _ = cli(["sample", export, "-n", "10", "-o", tmp_path / "s.npy"], capsys)
    one_line(code, err, fragment)
    assert str(export) in err and "export the run again" in err, err


def _header(header: dict | str, body: bytes = b"\0" * 8) -> bytes:
    text = (header if isinstance(header, str) else json.dumps(header)).encode()
    return struct.pack("<Q", len(text)) + text + body


HEADERS = {
    "a tensor of negative shape": {"x": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}},
    "a tensor of unknown dtype": {"x": {"dtype": "Q99", "shape": [2], "data_offsets": [0, 8]}},
    "offsets past the end": {"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 10 ** 12]}},
    "a header nested 100,000 deep": '{"x": ' + DEEP_LIST + "}",
    "metadata of numbers": {"__metadata__": {"unigen.format": 1}},
    "a header that lies about its length": "{",
}


@pytest.mark.parametrize("case", sorted(HEADERS))
def test_a_damaged_safetensors_header_is_one_line(case, tmp_path, capsys):
    path = tmp_path / "model.safetensors"
    path.write_bytes(_header(HEADERS[case]))
    code, err, _ = cli(["sample", path, "-n", "10", "-o", tmp_path / "s.npy"], capsys)
    one_line(code, err, str(path))


def test_metadata_as_unigen_export_writes_it_still_samples(export, tmp_path, capsys):
    """The checks take what `unigen export` writes: an export whose metadata went through JSON again samples."""
    _with_metadata(export, _data_info())
    code, err, _ = cli(["sample", export, "-n", "10", "-o", tmp_path / "s.npy"], capsys)
    assert code == 0, err
    assert np.load(tmp_path / "s.npy").shape == (10, 2)


# ---------------------------------------------------------------------------------------------- odd -o paths
LONG = "a" * 300


def _out_cases(tmp_path):
    (tmp_path / "file").write_text("mine")
    return {
        "a missing folder": (tmp_path / "nope" / "x", "the folder {parent} does not exist; create it first"),
        "under a file": (tmp_path / "file" / "x", "is not a folder; name a file in a folder"),
        "under /dev/full": ("/dev/full/x", "/dev/full is not a folder"),
        "a 300-byte name": (tmp_path / LONG, "is 304 bytes long, more than the 255"),
        "a 300-byte folder": (tmp_path / LONG / "x", "is 300 bytes long, more than the 255"),
        "a folder": (tmp_path / "folder", "is a directory; name a file in it"),
    }


@pytest.mark.parametrize("command", ["sample", "export"])
@pytest.mark.parametrize("case", ["a missing folder", "under a file", "under /dev/full", "a 300-byte name",
                                  "a 300-byte folder", "a folder"])
def test_an_odd_output_path_is_one_line(command, case, run, tmp_path, capsys):
    out, fragment = _out_cases(tmp_path)[case]
    suffix = ".png" if command == "sample" else ".safetensors"
    out = f"{out}{suffix}"
    if case == "a folder":
        os.mkdir(out)
    before = snapshot(tmp_path)
    code, err, _ = cli([command, run, "-o", out], capsys)
    one_line(code, err, fragment.format(parent=os.path.dirname(str(out))).replace("304", str(300 + len(suffix))))
    unchanged(tmp_path, before)


@pytest.mark.parametrize("command, name", [("sample", "s.npz"), ("sample", "s.png"), ("export", "m.safetensors")])
def test_forcing_onto_a_link_replaces_the_link_never_its_target(command, name, run, tmp_path, capsys):
    target = tmp_path / "precious.txt"
    target.write_text("a user's own file")
    for pointed in (target, "/dev/full", tmp_path / "nowhere"):
        link = tmp_path / name
        link.unlink(missing_ok=True)
        link.symlink_to(pointed)
        code, err, _ = cli([command, run, "-o", link], capsys)  # without --force: refused, the link stays
        one_line(code, err, "already exists; choose another name, or pass --force")
        assert link.is_symlink()
        code, err, _ = cli([command, run, "-o", link, "--force"], capsys)
        assert code == 0, err
        assert not link.is_symlink() and link.stat().st_size > 0
    assert target.read_text() == "a user's own file"


def test_an_export_never_replaces_a_runs_own_file(run, tmp_path, capsys):
    link = tmp_path / "m.safetensors"
    link.symlink_to(run / "checkpoint.pt")
    before = snapshot(run)
    code, err, _ = cli(["export", run, "-o", link, "--force"], capsys)
    one_line(code, err, "checkpoint.pt, a file of the run")
    unchanged(run, before, ignore=())


def test_an_export_into_a_run_respects_its_lock(run, capsys):
    from unigen.rundir import RunLock

    with RunLock(run):
        code, err, _ = cli(["export", run, "-o", run / "m.safetensors"], capsys)
        one_line(code, err, "is in use by process")
    assert not (run / "m.safetensors").exists()
    code, err, _ = cli(["export", run, "-o", run / "m.safetensors"], capsys)
    assert code == 0, err


# --------------------------------------------------------------------------------------------- a full disk
def _enospc(*a, **k):
    raise OSError(errno.ENOSPC, "No space left on device")


def _partial_then(error):
    def write(*args, **kwargs):
        path = next(a for a in args if isinstance(a, (str, os.PathLike)))
        with open(path, "wb") as f:
            f.write(b"partial")
        raise error
    return write


def _no_space_left(monkeypatch):
    from unigen import rundir

    class Full:
        f_bavail, f_frsize = 0, 4096

    monkeypatch.setattr(rundir.os, "statvfs", lambda path: Full())


def _safetensor_error():
    from safetensors import SafetensorError

    return SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")


@pytest.mark.parametrize("case", ["export: SafetensorError", "export: ENOSPC", "sample .pt: torch RuntimeError",
                                  "sample .npz: ENOSPC", "sample .npy: ENOSPC", "sample .png: ENOSPC"])
@pytest.mark.parametrize("existing", [False, True])
def test_a_full_disk_while_writing_an_output_is_one_line(case, existing, run, tmp_path, capsys, monkeypatch):
    import matplotlib.figure
    import safetensors.torch

    target, error = case.split(": ")
    name = {"export": "m.safetensors"}.get(target, "s" + target.split()[-1])
    out = tmp_path / name
    if existing:
        out.write_bytes(b"the earlier file")
    if target == "export":
        error = _safetensor_error() if error == "SafetensorError" else OSError(errno.ENOSPC, "No space left")
        monkeypatch.setattr(safetensors.torch, "save_file", _partial_then(error))
    elif name.endswith(".pt"):
        def full(obj, f, *a, **k):  # torch says only "unexpected pos": the free space left tells
            _no_space_left(monkeypatch)
            _partial_then(RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534"))(f)
        monkeypatch.setattr(torch, "save", full)
    elif name.endswith(".npz"):
        monkeypatch.setattr(np, "savez", _partial_then(OSError(errno.ENOSPC, "No space left")))
    elif name.endswith(".npy"):
        monkeypatch.setattr(np, "save", _partial_then(OSError(errno.ENOSPC, "No space left")))
    else:
        monkeypatch.setattr(matplotlib.figure.Figure, "savefig",
                            lambda self, f, *a, **k: _partial_then(OSError(errno.ENOSPC, "No space left"))(f))
    before = snapshot(tmp_path)
    argv = ["export", run, "-o", out] if target == "export" else ["sample", run, "-n", "10", "-o", out]
    code, err, _ = cli(argv + (["--force"] if existing else []), capsys)
    one_line(code, err, f"cannot write to {tmp_path}: no space left on the device")
    unchanged(tmp_path, before)
    assert out.exists() == existing and not _temporaries(tmp_path)


# ---------------------------------------------------------------------------------------------- the umask
@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_exports_and_samples_follow_the_umask(mask, mode, run, tmp_path, capsys):
    old = os.umask(mask)
    try:
        for argv in (["export", run, "-o", tmp_path / "m.safetensors"],
                     ["sample", run, "-n", "10", "-o", tmp_path / "s.npz"],
                     ["sample", run, "-n", "10", "-o", tmp_path / "s.png"]):
            code, err, _ = cli(argv, capsys)
            assert code == 0, err
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir() if p.is_file()}
    assert modes == {"m.safetensors": mode, "s.npz": mode, "s.png": mode}


# ----------------------------------------------------------------------------------------------- two writers
def test_two_writers_of_one_file_leave_one_whole_file(base_run, tmp_path):
    out = tmp_path / "s.png"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "unigen", "sample", str(base_run), "-n", "200", "--seed", str(i),
                               "-o", str(out), "--force"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env, cwd=ROOT) for i in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and data.endswith(b"IEND\xaeB`\x82")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.png"]  # no temporary left


@pytest.mark.parametrize("folder, what", [("wandb", "W&B"), ("mlruns", "MLflow"), ("tensorboard", "TensorBoard")])
def test_samples_never_go_into_a_trackers_folder_of_a_run(run, tmp_path, capsys, folder, what):
    (run / folder).mkdir(exist_ok=True)
    target = run / folder / "x.npy"
    target.write_bytes(b"a tracker's file")
    code, err, _ = cli(["sample", run, "-o", target, "--force"], capsys)
    one_line(code, err, f"inside the {what} folder of the run")
    assert target.read_bytes() == b"a tracker's file"
