"""Probes of ``unigen reproduce NAME --cache DIR`` (issue 29, item 5) and of a reproduction's data (item 9).

A damaged cache entry (truncated, empty, random bytes, a value of another kind, a bad record, a folder, a FIFO,
a link, a pickle that would run code) is a miss: the reproduction recomputes it, replaces it, says so in one line
on stderr that names the file, and exits 0 with the right numbers; no pickle runs, no file outside the entry
changes. A cache folder that cannot be one, or a missing data set, is one line and exit 2 before anything trains."""
from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path

import pytest
import torch

from probes import cli, one_line

NAME = "probe-cache"
EXPECTED = 2.5 + 6.0  # the fake reproduction's one number: score + sum(arange(4))


class Marker:
    """Unpickling it would make a folder: that the folder never appears shows that no pickle ran."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return os.mkdir, (self.path,)


@pytest.fixture
def fake(monkeypatch):
    """A reproduction ``probe-cache`` whose one cached computation counts its calls (no training)."""
    from unigen import experiments
    from unigen.experiments.common import Row

    module = types.ModuleType(f"unigen.experiments.{NAME.replace('-', '_')}")
    module.NAME, module.TITLE, module.PROTOCOL, module.PUBLISHED, module.SEEDS = NAME, "probe", "none", [], 1
    module.calls = 0

    def compute():
        module.calls += 1
        return {"score": 2.5, "curve": torch.arange(4.0), "tag": "ok", "parts": [1, (2.0, None)]}

    def run(ctx):
        v = ctx.cached({"what": "probe"}, compute)
        return [Row("m", "x", v["score"] + float(v["curve"].sum()), 0)]

    module.run = run
    monkeypatch.setitem(experiments._MODULES, NAME, NAME.replace("-", "_"))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module


def _reproduce(tmp_path, capsys):
    return cli(["reproduce", NAME, "--quick", "--results", tmp_path / "results", "--cache", tmp_path / "cache"],
               capsys)


def _value(tmp_path) -> float:
    return json.loads((tmp_path / "results" / f"{NAME}.quick.json").read_text())[0]["mean"]


def _write(path: Path, data: bytes) -> None:
    path.unlink()
    path.write_bytes(data)


def _replace_with_folder(path: Path, full: bool = False) -> None:
    path.unlink()
    path.mkdir()
    if full:
        (path / "keep.txt").write_text("a user's file")


DAMAGE = {  # case: damage to the entry (X.pt) or its record (X.json), given both paths and the test's folder
    "truncated": lambda pt, rec, tmp: _write(pt, pt.read_bytes()[: pt.stat().st_size // 2]),
    "empty": lambda pt, rec, tmp: _write(pt, b""),
    "random bytes": lambda pt, rec, tmp: _write(pt, os.urandom(2048)),
    "a tensor in place of the dict": lambda pt, rec, tmp: torch.save(torch.zeros(3), pt),
    "a list in place of the dict": lambda pt, rec, tmp: torch.save([1, 2], pt),
    "a dict of other keys": lambda pt, rec, tmp: torch.save({"score": "high"}, pt),
    "a pickle that runs code": lambda pt, rec, tmp: torch.save(Marker(str(tmp / "pickle-ran")), pt),
    "an empty folder": lambda pt, rec, tmp: _replace_with_folder(pt),
    "a dangling link": lambda pt, rec, tmp: (pt.unlink(), pt.symlink_to(tmp / "nowhere")),
    "a link to garbage": lambda pt, rec, tmp: ((tmp / "garbage").write_bytes(b"garbage"), pt.unlink(),
                                               pt.symlink_to(tmp / "garbage")),
    "a FIFO": lambda pt, rec, tmp: (pt.unlink(), os.mkfifo(pt)),
    "record: bad JSON": lambda pt, rec, tmp: _write(rec, b"{not json"),
    "record: empty": lambda pt, rec, tmp: _write(rec, b""),
    "record: not UTF-8": lambda pt, rec, tmp: _write(rec, b"\xff\xfe\x00"),
    "record: a list": lambda pt, rec, tmp: _write(rec, b"[]"),
    "record: NaN seconds": lambda pt, rec, tmp: _write(rec, b'{"seconds": NaN}'),
    "record: text seconds": lambda pt, rec, tmp: _write(rec, b'{"seconds": "10"}'),
    "record: an empty folder": lambda pt, rec, tmp: _replace_with_folder(rec),
    "record: a FIFO": lambda pt, rec, tmp: (rec.unlink(), os.mkfifo(rec)),
    "record of another kind": lambda pt, rec, tmp: _write(rec, b'{"seconds": 1.0, "type": "0123456789abcdef"}'),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_a_damaged_entry_is_recomputed_replaced_and_named(case, fake, capsys, tmp_path):
    code, err, _ = _reproduce(tmp_path, capsys)
    assert code == 0 and err == "" and fake.calls == 1 and _value(tmp_path) == EXPECTED
    (pt,) = (tmp_path / "cache" / NAME).glob("*.pt")
    rec = pt.with_suffix(".json")
    DAMAGE[case](pt, rec, tmp_path)

    code, err, _ = _reproduce(tmp_path, capsys)
    assert code == 0, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith(f"unigen: cache entry {pt} is unreadable (") and err.endswith("); recomputing it"), err
    assert fake.calls == 2 and _value(tmp_path) == EXPECTED
    assert not (tmp_path / "pickle-ran").exists(), "a pickle ran"
    assert pt.is_file() and not pt.is_symlink() and rec.is_file()  # replaced, not written through a link
    if case == "a link to garbage":
        assert (tmp_path / "garbage").read_bytes() == b"garbage"

    code, err, _ = _reproduce(tmp_path, capsys)  # the replaced entry is read back: no line, no recomputation
    assert code == 0 and err == "" and fake.calls == 2 and _value(tmp_path) == EXPECTED


@pytest.mark.parametrize("which", ["entry", "record"])
def test_a_folder_with_files_in_the_way_is_kept_and_the_result_recomputed(which, fake, capsys, tmp_path):
    _reproduce(tmp_path, capsys)
    (pt,) = (tmp_path / "cache" / NAME).glob("*.pt")
    folder = pt if which == "entry" else pt.with_suffix(".json")
    _replace_with_folder(folder, full=True)
    for calls in (2, 3):  # every rerun recomputes, and says why, until the folder is moved away
        code, err, _ = _reproduce(tmp_path, capsys)
        assert code == 0 and len(err.splitlines()) == 1, err
        assert f"unigen: cache entry {pt} is unreadable ({folder} is a folder with files in it" in err, err
        assert fake.calls == calls and _value(tmp_path) == EXPECTED
        assert (folder / "keep.txt").read_text() == "a user's file"


def test_an_entry_without_its_record_is_still_used(fake, capsys, tmp_path):
    """Entries written by an older version that stopped between its two files have no record: used as they are."""
    _reproduce(tmp_path, capsys)
    (pt,) = (tmp_path / "cache" / NAME).glob("*.pt")
    pt.with_suffix(".json").unlink()
    code, err, _ = _reproduce(tmp_path, capsys)
    assert code == 0 and err == "" and fake.calls == 1 and _value(tmp_path) == EXPECTED


def test_an_entry_that_cannot_be_stored_is_one_line_and_the_run_goes_on(fake, capsys, tmp_path, monkeypatch):
    from unigen import checkpoint

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device", "cache/x.pt")

    monkeypatch.setattr(checkpoint, "save", full_disk)
    code, err, _ = _reproduce(tmp_path, capsys)
    assert code == 0 and len(err.splitlines()) == 1, err
    assert "cannot be stored (No space left on device: cache/x.pt); the result is used without caching it" in err
    assert _value(tmp_path) == EXPECTED


def test_structure_survives_a_round_trip(tmp_path):
    from unigen.experiments.common import structure

    value = {"a": 1.5, "b": torch.ones(2, 3), "c": [1, (2.0, None, "s")], 4: True, "d": {"e": torch.arange(3)}}
    torch.save(value, tmp_path / "v.pt")
    assert structure(torch.load(tmp_path / "v.pt", weights_only=True)) == structure(value)
    assert structure({"a": 1.5}) != structure({"a": "1.5"}) != structure([1.5])


# ------------------------------------------------------------------------------- refusals before training
CACHE_FOLDERS = {  # the --cache folder itself: (make it, fragment)
    "a file": (lambda c: c.write_text("x"), "is an existing file; pass a folder"),
    "its NAME a file": (lambda c: (c.mkdir(), (c / NAME).write_text("x")), "is an existing file; pass a folder"),
    "under a file": (lambda c: c.write_text("x"), "is an existing file"),
}


@pytest.mark.parametrize("case", sorted(CACHE_FOLDERS))
def test_a_cache_folder_that_cannot_be_one_is_one_line(case, fake, capsys, tmp_path):
    make, fragment = CACHE_FOLDERS[case]
    make(tmp_path / "cache")
    cache = tmp_path / "cache" / "sub" if case == "under a file" else tmp_path / "cache"
    code, err, _ = cli(["reproduce", NAME, "--quick", "--results", tmp_path / "r", "--cache", cache], capsys)
    one_line(code, err, fragment)
    assert fake.calls == 0


def test_gp_stabilises_without_fashion_mnist_is_one_line_before_training(capsys, tmp_path, monkeypatch):
    from unigen.data import fashion_mnist
    from unigen.experiments import gp_stabilises

    def trains(*args, **kwargs):
        raise AssertionError("trained before finding that the data are missing")

    monkeypatch.setattr(fashion_mnist, "has_idx_files", lambda root: False)
    monkeypatch.setattr(gp_stabilises, "run_toy", trains)
    monkeypatch.setattr(gp_stabilises, "run_sweep", trains)
    code, err, _ = cli(["reproduce", "gp-stabilises", "--quick", "--results", tmp_path / "r"], capsys)
    one_line(code, err, "gp-stabilises needs the data set fashion_mnist: Fashion-MNIST IDX files are not in")
    assert "make data" in err
    assert not list((tmp_path / "r").glob("gp-stabilises*"))


@pytest.mark.parametrize("name", ["hu2018-iwgan", "hu2018-aavae"])
def test_a_reproduction_on_missing_fashion_mnist_is_one_line_before_training(name, capsys, tmp_path, monkeypatch):
    from unigen.data import fashion_mnist
    from unigen.experiments import REPRODUCTIONS

    def trains(*args, **kwargs):
        raise AssertionError("trained before finding that the data are missing")

    monkeypatch.setattr(fashion_mnist, "has_idx_files", lambda root: False)
    monkeypatch.setattr(REPRODUCTIONS[name], "run", trains)
    code, err, _ = cli(["reproduce", name, "--quick", "--data", "fashion_mnist", "--results", tmp_path / "r"], capsys)
    one_line(code, err, f"{name} needs the data set fashion_mnist")
