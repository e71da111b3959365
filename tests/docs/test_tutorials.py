"""The docs site's tutorials (``docs/tutorials/plot_*.py``, sphinx-gallery scripts executed in the Sphinx build) run at
their quick size (``UNIGEN_DOCS_QUICK=1``), draw their figures, write nothing outside their temporary folders, and
compute what they claim where the answer is known at any size.

All of them run in one child process (one import of torch, Pyro and unigen; a tutorial registers a strategy, which
must not leak into the test process's registry), each with ``runpy`` from an empty working directory and its figures
counted before the next one starts; the child reports per tutorial, so one failure does not hide the others."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = ROOT / "docs" / "tutorials"

#: every tutorial and the figures it draws (sphinx-gallery shows each in the page)
FIGURES = {
    "plot_01_pyro_vae_three_ways": 3,
    "plot_02_ring_gan_monoflow": 3,
    "plot_03_ali_known_encoder": 2,
    "plot_04_new_strategy": 3,
    "plot_05_domain_adaptation": 3,
    "plot_06_reproduce_a_table": 2,
}

#: the child: run each script as sphinx-gallery does (as __main__, Agg backend), keep a few of its values as JSON
DRIVER = r"""
import json, os, runpy, sys, traceback
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch


def plain(v):
    if isinstance(v, torch.Tensor):
        return v.tolist()
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v if isinstance(v, (int, float, str, bool, type(None))) else repr(v)


KEEP = {  # values each test reads back
    "plot_01_pyro_vae_three_ways": lambda g: {"bounds": g["bounds"], "iw_key": g["iw_key"]},
    "plot_02_ring_gan_monoflow": lambda g: {"last": {k: c[-1][1] for k, (_, c) in g["results"].items()}},
    "plot_03_ali_known_encoder": lambda g: {"correlation": g["correlation"], "sign": g["sign"],
                                            "curve": g["curve"]},
    "plot_04_new_strategy": lambda g: {"constant_critic": float(g["values"]["discriminator"]),
                                       "registered": "rsgan" in g["STRATEGIES"].names(),
                                       "eval": g["scores"], "loaded": g["run"].config.strategy.name,
                                       "last": {k: c[-1][1] for k, (_, c, _) in g["results"].items()}},
    "plot_05_domain_adaptation": lambda g: {"summary": g["summary"],
                                            "hidden": sorted(set(g["data"].c[g["data"].domain == 1].tolist()))},
    "plot_06_reproduce_a_table": lambda g: {"code": g["code"], "page": g["page"], "records": g["records"]},
}
report = {}
for path in sys.argv[2:]:
    name = os.path.basename(path)[:-3]
    plt.close("all")
    try:
        g = runpy.run_path(path, run_name="__main__")
        report[name] = {"figures": len(plt.get_fignums()), "values": plain(KEEP[name](g))}
    except BaseException:
        report[name] = {"error": traceback.format_exc()}
with open(sys.argv[1], "w") as f:
    json.dump(report, f)
"""


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> dict:
    """Every tutorial's report, from one child process started in an empty folder with its own TMPDIR."""
    work = tmp_path_factory.mktemp("tutorials")
    cwd, tmp = work / "cwd", work / "tmp"
    cwd.mkdir()
    tmp.mkdir()
    before = sorted(p.name for p in TUTORIALS.iterdir())
    env = {**os.environ, "UNIGEN_DOCS_QUICK": "1", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp)}
    scripts = [str(TUTORIALS / f"{name}.py") for name in FIGURES]
    out = work / "report.json"
    proc = subprocess.run([sys.executable, "-c", DRIVER, str(out), *scripts], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and out.is_file(), proc.stderr[-3000:]
    report = json.loads(out.read_text())
    report["_left"] = {"cwd": sorted(p.name for p in cwd.iterdir()),
                       "tmp": sorted(p.name for p in tmp.iterdir() if not p.name.startswith("torchinductor_")),
                       "tutorials": sorted(p.name for p in TUTORIALS.iterdir()), "before": before}
    return report


def test_every_tutorial_is_listed():
    assert sorted(p.stem for p in TUTORIALS.glob("plot_*.py")) == sorted(FIGURES)
    header = (TUTORIALS / "README.txt").read_text().splitlines()
    assert header[0] == "Tutorials" and set(header[1]) == {"="} and len(header[1]) >= len(header[0])


def test_tutorials_write_nothing_outside_their_temporary_folders(ran):
    left = ran["_left"]
    assert left["cwd"] == [], "a tutorial wrote into its working directory (the docs build runs it in the repository)"
    assert left["tmp"] == [], "a tutorial left files in the temporary folder (torch's own cache aside)"
    assert left["tutorials"] == left["before"]


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_tutorial_runs_and_draws_its_figures(ran, name):
    entry = ran[name]
    assert "error" not in entry, entry.get("error")
    assert entry["figures"] == FIGURES[name]


def _values(ran, name):
    entry = ran[name]
    if "error" in entry:
        pytest.fail(f"{name} failed:\n{entry['error']}")
    return entry["values"]


def test_vae_three_ways_bounds(ran):
    """The K-sample bound is never below the ELBO of the same draws (Jensen), for each of the three trainings."""
    v = _values(ran, "plot_01_pyro_vae_three_ways")
    assert list(v["bounds"]) == ["VAE (ELBO)", "IWAE (K = 5)", "GAN (NS + R1)"]
    for b in v["bounds"].values():
        elbo, iw = b["test_elbo"], b[v["iw_key"]]
        assert math.isfinite(elbo) and elbo < 0
        assert iw >= elbo


def test_monoflow_scores_every_h(ran):
    last = _values(ran, "plot_02_ring_gan_monoflow")["last"]
    assert len(last) == 5
    for m in last.values():
        assert m["num_modes"] == 8 and 0 <= m["modes"] <= 8 and 0.0 <= m["high_quality"] <= 1.0


def test_ali_compares_with_the_true_latent(ran):
    v = _values(ran, "plot_03_ali_known_encoder")
    assert v["sign"] in (1.0, -1.0)
    assert 0.0 <= v["correlation"] <= 1.0
    assert [s for s, _, _ in v["curve"]] == [10, 20]


def test_new_strategy(ran):
    """A critic that cannot tell real from fake gives the relativistic critic loss log 2; the registered name trains a
    run directory that scores and loads back."""
    v = _values(ran, "plot_04_new_strategy")
    assert v["constant_critic"] == pytest.approx(math.log(2), abs=1e-6)
    assert v["registered"] and v["loaded"] == "rsgan"
    assert v["eval"]["num_modes"] == 8 and 0 <= v["eval"]["modes"] <= 8
    assert list(v["last"]) == ["NS-GAN (built in)", "RSGAN (this file)"]


def test_domain_adaptation(ran):
    v = _values(ran, "plot_05_domain_adaptation")
    assert v["hidden"] == [-1]  # the target's labels are hidden from training
    assert list(v["summary"]) == ["source only", "DANN (flipped labels)"]
    for s in v["summary"].values():
        assert all(0.0 <= s[k] <= 1.0 for k in ("target", "source", "domain"))


def test_reproduction_page(ran):
    v = _values(ran, "plot_06_reproduce_a_table")
    assert v["code"] == 0
    assert "Mode: **quick" in v["page"] and "| method |" in v["page"]
    assert v["records"] and all(r["seeds"] == [0] and len(r["values"]) == 1 for r in v["records"])
