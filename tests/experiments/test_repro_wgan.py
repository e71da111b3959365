"""wgan-disjoint in quick mode: the GAN critic sees a flat JS = log 2 with no gradient, the WGAN-GP critic W1 = |θ|."""
import json

from unigen.experiments.common import run


def test_wgan_disjoint_quick(tmp_path):
    md = run("wgan-disjoint", quick=True, seeds=1, results=tmp_path)
    rows = {(r["method"], r["metric"]): r["mean"] for r in json.loads(md.with_suffix(".json").read_text())}
    assert rows[("GAN critic (JS)", "max abs error vs truth")] < 0.05  # JS estimate stuck at log 2
    assert abs(rows[("GAN critic (JS)", "generator ∂θ at θ=0.5")]) < 0.01  # ... and no gradient for θ
    assert rows[("WGAN-GP critic (W1)", "max abs error vs truth")] < 0.2  # W1 estimate follows |θ|
    assert 0.8 < rows[("WGAN-GP critic (W1)", "generator ∂θ at θ=0.5")] < 1.2  # useful gradient ∂θ |θ| = 1
    assert (tmp_path / "wgan-disjoint.quick.png").is_file() and "## Protocol" in md.read_text()
    verdict = md.read_text().split("## Verdict")[1]  # the page ends with its three claims, on the one seed
    assert "**Verdict: " in verdict and verdict.count(" of 1 seeds") == 3, verdict


def test_wgan_disjoint_keeps_its_trainings_in_the_cache(tmp_path):
    """A rerun with ``--cache`` reads each seed's critics' numbers instead of training them again: the same page."""
    import json

    from unigen.experiments.common import run

    pages = [run("wgan-disjoint", quick=True, seeds=1, results=tmp_path / f"r{i}", cache=tmp_path / "cache")
             for i in range(2)]
    first, second = (json.loads(p.with_suffix(".json").read_text()) for p in pages)
    assert first == second
    assert "1 result(s) from the cache" in pages[1].read_text() and "from the cache" not in pages[0].read_text()
