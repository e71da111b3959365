"""cyclegan-digits in quick mode: the true map keeps labels and has no cycle error, the identity keeps few labels."""
import json

from unigen.experiments.common import run


def test_cyclegan_digits_quick(tmp_path):
    md = run("cyclegan-digits", quick=True, seeds=1, results=tmp_path)
    rows = {(r["method"], r["metric"]): r["mean"] for r in json.loads(md.with_suffix(".json").read_text())}
    true, identity, trained = "true map (G = M, F = M⁻¹)", "identity (G = F = id)", "CycleGAN (linear G, F; MLP critics)"
    assert rows[(true, "cycle error A")] == rows[(true, "‖G(a) − M(a)‖₁")] == 0  # F∘G = id exactly
    assert rows[(true, "label kept A→B")] > 0.95 and rows[(true, "label kept B→A")] > 0.95  # the classifier's accuracy
    assert rows[(identity, "label kept A→B")] < 0.3  # an upright digit turned back by 90° is rarely read right
    assert 0 < rows[(trained, "cycle error A")] < 1 and 0 <= rows[(trained, "label kept A→B")] <= 1
    assert (tmp_path / "cyclegan-digits.quick.png").is_file() and "## Protocol" in md.read_text()
