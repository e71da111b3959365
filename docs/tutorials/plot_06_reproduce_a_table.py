r"""
Reproducing a published table
=============================

``unigen reproduce NAME`` reruns one published comparison end to end: it trains every method of the
table over several seeds, writes a Markdown page with the table (mean ± standard deviation over seeds,
the published or analytic value beside ours), the protocol, notes on what was reduced, and the figures,
plus a JSON file with every seed's number. ``unigen list`` names the reproductions; ``--quick`` runs one at
reduced settings in about a minute on a CPU and writes ``NAME.quick.*``, so a smoke test never replaces a
full page.

Here we run the quick version of ``wgan-disjoint``, the example that motivated the Wasserstein GAN
(Arjovsky et al., 2017, Example 1). The data lie on a vertical line, :math:`P_0 = (0, Z)`, and the
generator's on a parallel one, :math:`P_\theta = (\theta, Z)`, with :math:`Z \sim U[0, 1]`. For every
:math:`\theta \ne 0` the Jensen-Shannon divergence is :math:`\log 2`, flat, so a GAN's critic gives the
generator no gradient, while the Wasserstein-1 distance is :math:`|\theta|`, with slope 1. Both truths are
analytic, so the table can put them beside the trained critics' estimates. We run it from Python, through
the same entry point as the command line, into a temporary folder.
"""

# %%
# What the reproduction is
# ------------------------
# ``unigen list NAME`` describes a reproduction: what it reproduces, its data sets, its default seeds and
# where its page goes. ``unigen.cli.main`` takes the command line's arguments as a list and returns its exit
# code.
import contextlib
import io
import json
import os
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt

from unigen.cli import main

QUICK = os.environ.get("UNIGEN_DOCS_QUICK") == "1"
SEEDS = 1 if QUICK else 3
NAME = "wgan-disjoint"

assert main(["list", NAME]) == 0

# %%
# Running it
# ----------
# The equivalent command is ``unigen reproduce wgan-disjoint --quick --seeds 3 --results DIR``.
# ``--results`` says where the page goes (by default ``./experiments/results`` under the working
# directory). The command prints the table and where it wrote the page; we keep that output to the side and
# read the page itself below. (The reproductions that train for long also take ``--cache DIR``, which keeps
# each finished training's result, so that one interrupted, or run again with the same settings, picks up
# where it stopped.)
tmp = tempfile.TemporaryDirectory(prefix="unigen-reproduce-")  # removed at the end
workdir = Path(tmp.name)
results = workdir / "results"
command = ["reproduce", NAME, "--quick", "--seeds", str(SEEDS), "--device", "cpu", "--results", str(results)]

printed = io.StringIO()
start = time.perf_counter()
with contextlib.redirect_stdout(printed):
    code = main(command)
elapsed = time.perf_counter() - start
print(f"unigen {' '.join(command[:5])} ... → exit code {code} after {elapsed:.0f} s")
assert code == 0, printed.getvalue()
print("written:", sorted(p.name for p in results.iterdir()))

# %%
# The page
# --------
# The Markdown page states the command, the mode (quick here), the seeds, the hardware and the wall time,
# then the table. A value marked *analytic* is a derived truth (here JS and W1 of the two lines), one marked
# *published* is a paper's number.
page = (results / f"{NAME}.quick.md").read_text()
print(page)

# %%
# Its figure
# ----------
# The page's figures are PNG files beside it (``NAME.quick*.png``), linked from its "Plots" section.
pngs = sorted(results.glob(f"{NAME}.quick*.png"))
fig, axes = plt.subplots(len(pngs), 1, figsize=(9, 4.5 * len(pngs)), layout="constrained", squeeze=False)
for ax, png in zip(axes[:, 0], pngs):
    ax.imshow(plt.imread(png))
    ax.set_title(png.name, fontsize=9)
    ax.axis("off")

# %%
# The numbers behind the table
# ----------------------------
# ``NAME.quick.json`` holds one record per method and metric, with every seed's value: what the table's
# mean ± std were computed from, and what ``unigen.experiments.common.rerender`` redraws the table from
# when its format changes, without training anything again. The right panel is the example's point: the
# GAN's critic gives the generator a gradient of about 0 at :math:`\theta = 0.5`, the WGAN-GP critic one of
# about 1, as the analytic values say.
records = json.loads((results / f"{NAME}.quick.json").read_text())
metrics = list(dict.fromkeys(r["metric"] for r in records))  # in the table's order
fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 2.8), layout="constrained", squeeze=False)
for ax, metric in zip(axes[0], metrics):
    rows = [r for r in records if r["metric"] == metric]
    for i, r in enumerate(rows):
        ax.plot(r["values"], [i] * len(r["values"]), "o", color=f"C{i}", alpha=0.7)
        ax.errorbar(r["mean"], i, xerr=r["std"], fmt="|", color="k", ms=18, capsize=4)
    ax.set_yticks(range(len(rows)), [r["method"] for r in rows])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_title(metric, fontsize=9)
    ax.grid(alpha=0.3)
fig.suptitle("each seed (dots) and the table's mean ± std (bars)", fontsize=9)
for r in records:
    print(f"{r['method']:<22} {r['metric']:<26} seeds {r['seeds']}: " + ", ".join(f"{v:.4f}" for v in r["values"]))

# %%
# The full reproductions (``unigen reproduce NAME`` without ``--quick``) are meant for a GPU or a long CPU
# run; their pages, with what was reduced where they ran on a CPU, are linked from the README's
# "Reproducing published comparisons".
tmp.cleanup()
plt.show()
