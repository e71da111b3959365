"""``unigen reproduce unified-zoo``: every registered strategy that applies is on the page (a newly registered one
too, with no edit of the experiment), the others are listed with the project's reason, the per-seed values are in
the JSON, the reading is computed from the numbers, and the sliced W1 it reports matches a closed form."""
import json
import math
import re
from dataclasses import dataclass
from typing import ClassVar

import matplotlib.image
import pytest
import torch

from unigen.experiments import common
from unigen.experiments import unified_zoo as zoo
from unigen.inference.gan_nonsaturating import NonSaturatingGAN
from unigen.metrics import sliced_w1
from unigen.needs import Needs
from unigen.registry import STRATEGIES


@dataclass(frozen=True)
class ZooProbeGAN(NonSaturatingGAN):
    """A strategy registered only by this test: the non-saturating GAN under another name."""


@dataclass(frozen=True)
class ZooProbeLabelled(NonSaturatingGAN):
    """A strategy registered only by this test that reads labels through a conditional model."""

    needs: ClassVar[Needs] = Needs(("model", "discriminator"), labels="given")


@pytest.fixture
def probes_registered(monkeypatch):
    """Two strategies registered for one test (the registry's table patched, and restored after it)."""
    for name, cls in (("zoo_probe_gan", ZooProbeGAN), ("zoo_probe_labelled", ZooProbeLabelled)):
        monkeypatch.setattr(cls, "registry_name", name, raising=False)
        monkeypatch.setitem(STRATEGIES._classes, name, cls)
    yield
    # monkeypatch undoes both after the test; nothing else registered them


# ------------------------------------------------------------------------------------------- sliced W1
def test_sliced_w1_of_two_gaussians_matches_the_closed_form():
    """1-D: W1(N(μ1, σ²), N(μ2, σ²)) = |μ1 − μ2|; 2-D with unit covariances: SW1 = |μ1 − μ2| E|cos φ| = (2/π)|Δμ|
    (every projection is a pair of equal-variance Gaussians whose means differ by θ·Δμ)."""
    g = torch.Generator().manual_seed(0)
    n = 40_000
    x = 0.7 * torch.randn(n, 1, generator=g) - 0.4
    y = 0.7 * torch.randn(n, 1, generator=g) + 1.1
    assert sliced_w1(x, y, projections=8) == pytest.approx(1.5, abs=0.02)
    delta = torch.tensor([3.0, -4.0])  # |Δ| = 5
    a = torch.randn(2000, 2, generator=g)
    b = torch.randn(2000, 2, generator=g) + delta
    assert sliced_w1(a, b, projections=2000) == pytest.approx(5 * 2 / math.pi, rel=0.04)  # ±1 % from the directions
    assert sliced_w1(a, a.clone()) == 0.0


# ------------------------------------------------------------------------------------------- applicability
def test_applicability_splits_the_whole_registry_with_the_projects_reasons(probes_registered):
    p = zoo.SCHED["quick"]
    applicable, refused = zoo.applicability("ring", p, "cpu")
    assert set(applicable) | set(refused) == set(STRATEGIES.names())
    assert not set(applicable) & set(refused)
    assert "zoo_probe_gan" in applicable and "ns_gan" in applicable and "elbo" in applicable
    # the reasons are the project's own checks, in their command-line words
    assert "labelled data" in refused["zoo_probe_labelled"] and "labelled data" in refused["cgan"]
    assert "generator_ab" in refused["cyclegan"] and "domain_discriminator" in refused["dann"]
    assert all(reason and "\n" not in reason for reason in refused.values())
    _, refused_images = zoo.applicability("mnist", p, "cpu")
    assert "model.conditional=true" in refused_images["zoo_probe_labelled"]  # the unconditional image model


def test_every_strategy_starts_from_the_same_generator_for_a_seed():
    """One model spec: a seed initialises the generator (and the encoder) the same under every strategy."""
    from unigen.assemble import build
    from unigen.config import resolve

    p = zoo.SCHED["quick"]

    def weights(strategy, seed, role="model"):
        built = build(resolve(zoo.config("ring", strategy, zoo.DEFAULT_LR, seed, p, "cpu")))
        return [t.clone() for t in getattr(built.programs, role).state_dict().values()]

    base = weights("ns_gan", 0)
    for other in ("elbo", "wgan", "aae", "ali"):
        assert all(torch.equal(a, b) for a, b in zip(base, weights(other, 0))), other
    assert not all(torch.equal(a, b) for a, b in zip(base, weights("ns_gan", 1)))
    assert all(torch.equal(a, b) for a, b in zip(weights("elbo", 0, "guide"), weights("aae", 0, "guide")))


def test_families_are_read_from_what_a_strategy_asks_for():
    assert zoo.family("elbo") == zoo.family("wake_sleep") == "likelihood"
    assert zoo.family("ns_gan") == zoo.family("ali") == zoo.family("wgan") == "adversarial"
    assert zoo.family("vaegan") == zoo.family("aae") == zoo.family("avb") == "hybrid"


# ------------------------------------------------------------------------------------------- tuning and reading
def _result(data, value):
    key = zoo.SW1 if data == "ring" else "FID (MNIST-classifier features)"
    return {"metrics": {key: value}}


def test_the_rate_is_chosen_on_the_tuning_seeds_and_a_diverged_rate_never_wins():
    res = {("ring", "s", 1e-4, 100): _result("ring", 0.3), ("ring", "s", 1e-4, 101): _result("ring", 0.1),
           ("ring", "s", 1e-3, 100): _result("ring", 0.15), ("ring", "s", 1e-3, 101): _result("ring", 0.15),
           ("ring", "s", 1e-2, 100): _result("ring", math.inf), ("ring", "s", 1e-2, 101): _result("ring", 0.0)}
    lr, means = zoo.choose_lr("ring", "s", (1e-4, 1e-3, 1e-2), [100, 101], res)
    assert lr == 1e-3 and means[1e-4] == pytest.approx(0.2) and means[1e-2] == math.inf
    res = {("mnist", "s", lr, 100): _result("mnist", math.nan) for lr in (1e-4, 1e-3)}
    assert zoo.choose_lr("mnist", "s", (1e-4, 1e-3), [100], res)[0] == zoo.DEFAULT_LR


def _rows(data, values: dict, setting="tuned"):
    """Rows of ``{strategy: {metric: [per-seed values]}}``."""
    return [common.Row(zoo.label(data, s, setting), metric, v, seed)
            for s, metrics in values.items() for metric, vs in metrics.items() for seed, v in enumerate(vs)]


def test_the_reading_is_computed_from_the_numbers():
    iw = zoo.iwae_name(4)
    values = {"elbo": {zoo.MODES: [8, 8, 8], zoo.SW1: [0.10, 0.11, 0.12], iw: [-3.0, -3.1, -2.9]},
              "iwae": {zoo.MODES: [8, 8, 7], zoo.SW1: [0.20, 0.21, 0.19], iw: [-2.0, -2.1, -1.9]},
              "aae": {zoo.MODES: [6, 7, 8], zoo.SW1: [0.30, 0.31, 0.29], iw: [-1.0, -1.1, -0.9]},
              "ns_gan": {zoo.MODES: [8, 8, 8], zoo.SW1: [0.05, 0.06, 0.04]}}
    table = zoo.Table(_rows("ring", values))
    names = list(values)
    coverage = zoo.coverage_sentence(table, "ring", names, "tuned")
    assert re.search(r"likelihood \(scores log p\(x\|z\), no critic\): 1 of 2 cover all 8 on every seed \(elbo\)", coverage)
    assert "adversarial (a critic, no density): 1 of 1 cover all 8 on every seed (ns_gan)" in coverage
    trade = zoo.tradeoff_sentences(table, "ring", names, "tuned", zoo.SW1, 4)[0]
    assert "the best test IWAE (K=4) is aae's" in trade and "trade sample quality for likelihood" in trade
    assert "ρ(sliced W1, test IWAE (K=4)) = 1" in trade
    pairs = " ".join(zoo.pair_sentences(table, "ring", names, "tuned", zoo.SW1, 4))
    assert "iwae vs elbo" in pairs and "by sliced W1 iwae ranks 3 and elbo 2 of 4, iwae better in 0 of 3 seeds" in pairs
    assert "it does not move ahead; by test IWAE (K=4) iwae ranks 2 and elbo 3 of 3, iwae better in 3 of 3 seeds" in pairs
    # the same strategies with the bound reversed: now the better bound goes with the better samples
    flipped = {s: {**m, iw: [-x for x in m[iw]]} if iw in m else m for s, m in values.items()}
    trade = zoo.tradeoff_sentences(zoo.Table(_rows("ring", flipped)), "ring", names, "tuned", zoo.SW1, 4)[0]
    assert "no trade-off among them" in trade and "the best test IWAE (K=4) is elbo's" in trade


# ------------------------------------------------------------------------------------------- the quick run
def test_quick_run_lists_every_applicable_strategy_a_new_one_included(tmp_path, probes_registered):
    md = common.run("unified-zoo", quick=True, seeds=1, results=tmp_path)
    assert md.name == "unified-zoo.quick.md"
    text = md.read_text()
    rows = json.loads((tmp_path / "unified-zoo.quick.json").read_text())
    methods = {r["method"] for r in rows}
    notes = text.split("## Notes", 1)[1]
    for data in zoo.SCHED["quick"]["two_d"] + ("mnist",):
        name = zoo.DATA_LABELS[data]
        settings = ("default", "tuned") if data in zoo.TWO_D else ("default",)
        refused_line = next(line for line in notes.splitlines() if line.startswith(f"- {name}, not applicable"))
        refused = set(re.findall(r"\*\*(\w+)\*\* — [^;*]+", refused_line))
        on_page = {m.split(" · ")[1].split(" (")[0] for m in methods if m.startswith(f"{name} · ")}
        # every registered strategy (the two this test registered included) is on the page, or listed as not
        # applicable with the project's reason; never both, never neither
        assert on_page | refused == set(STRATEGIES.names()) and not on_page & refused, data
        assert {m for m in methods if m.startswith(f"{name} · ")} == {zoo.label(data, s, st) for s in on_page
                                                                       for st in settings}
        assert {"ns_gan", "elbo", "wgan", "zoo_probe_gan"} <= on_page and {"cyclegan", "zoo_probe_labelled"} <= refused
        assert f"- {name}: {len(on_page)} of {len(STRATEGIES.names())} registered strategies apply" in notes
    assert "**zoo_probe_labelled** — the strategy needs labelled data" in notes
    assert "**zoo_probe_labelled** — the strategy needs a model whose samples depend on the labels c" in notes
    # per-seed values, every seed reported
    assert rows and all(r["seeds"] == [0] and len(r["values"]) == 1 for r in rows)
    value = {(r["method"], r["metric"]): r["values"][0] for r in rows}
    assert value[("ring · ns_gan (default)", zoo.LR)] == zoo.DEFAULT_LR
    assert value[("ring · ns_gan (tuned)", zoo.LR)] in zoo.SCHED["quick"]["lrs"]
    assert ("ring · elbo (default)", zoo.iwae_name(4)) in value and ("ring · ns_gan (default)", zoo.iwae_name(4)) not in value
    assert ("MNIST · elbo (default)", zoo.PROBE) in value and ("MNIST · ns_gan (default)", zoo.REC) not in value
    assert all(math.isfinite(value[(m, zoo.UPS)]) and value[(m, zoo.UPS)] > 0 for m in methods)
    # the controlled speed: once per strategy and data set, on its default row
    speeds = {m for (m, metric) in value if metric == zoo.SPEED}
    assert speeds == {m for m in methods if m.endswith("(default)")}
    assert all(value[(m, zoo.SPEED)] > 0 for m in speeds)
    for needle in ("Reading, ring (tuned)", "Mode coverage, ring (tuned)", "Importance weighting, ring (tuned): iwae vs elbo",
                   "MonoFlow's h", "Updates per strategy step", "wgan: discriminator 5, generator 1", "Hardware:",
                   "Chosen rate, ring", "Quick mode"):
        assert needle in text, needle
    for suffix in ("-ring", "-mnist"):
        png = tmp_path / f"unified-zoo.quick{suffix}.png"
        height, width = matplotlib.image.imread(png).shape[:2]
        assert max(height, width) <= 1600
        assert f"![{png.name}]({png.name})" in text
