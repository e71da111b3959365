"""ali-bigan in quick mode: every row is measured for both methods, the mode metric reads 25/25 on the data itself,
and the figure is written."""
import json
import math

from unigen.experiments.common import run

METRICS = ("modes (of 25)", "high-quality %", "reconstruction ‖x̂ − x‖²", "reconstruction on x's mode %")


def test_ali_bigan_quick(tmp_path):
    md = run("ali-bigan", quick=True, seeds=1, results=tmp_path)
    rows = {(r["method"], r["metric"]): r["mean"] for r in json.loads(md.with_suffix(".json").read_text())}
    for method in ("ALI", "GAN + post-hoc encoder"):
        for metric in METRICS:
            assert math.isfinite(rows[(method, metric)]), (method, metric)
        assert 0 <= rows[(method, "modes (of 25)")] <= 25
        assert 0 <= rows[(method, "reconstruction on x's mode %")] <= 100
    assert rows[("data (reference)", "modes (of 25)")] == 25  # the metric's ceiling: test points cover every mode
    assert rows[("data (reference)", "high-quality %")] > 97  # 3 std holds 98.9% of a 2-D Gaussian
    text = md.read_text()
    assert (tmp_path / "ali-bigan.quick.png").is_file() and "## Protocol" in text and "Reduced for a CPU" in text
