"""``unigen reproduce gan-practice``: the quick run writes its page and figures; the reading counts seeds."""
import json
import math

from toys import fake_fashion_classifier

from unigen.experiments import gan_practice
from unigen.experiments.common import run


def test_quick_run_writes_the_page_with_every_variant_and_data_size(tmp_path, monkeypatch, fashion_root):
    monkeypatch.setattr(gan_practice, "classifier", fake_fashion_classifier)
    md = run("gan-practice", quick=True, seeds=1, results=tmp_path)
    assert md.name == "gan-practice.quick.md"
    for suffix in ("", "-samples"):
        assert (tmp_path / f"gan-practice.quick{suffix}.png").is_file()
    rows = json.loads((tmp_path / "gan-practice.quick.json").read_text())
    methods = {r["method"] for r in rows}
    longer = set(gan_practice.ema_label(gan_practice.SCHED["quick"]["ema_steps"]))  # the EMA run scored twice
    assert longer == {"NS-GAN (full, 40 steps)", "+ EMA (full, 40 steps)"}
    longer |= {f"{v} (10 %, 40 steps)" for v, _ in gan_practice.LONG}  # and the limited-data runs
    assert methods == {f"{v} ({size})" for v in gan_practice.SCHED["quick"]["variants"]
                       for size in gan_practice.FRACTIONS} | longer
    fids = [r["mean"] for r in rows if r["metric"] == "FID"]
    assert all(math.isfinite(f) and f > 0 for f in fids)
    text = md.read_text()
    assert "Reading, 10 % data" in text and "+ DiffAugment: FID" in text
    verdict = text.split("## Verdict")[1]  # the quick run's one claim: DiffAugment with 10 % of the data
    assert verdict.count(" of 1 seeds") == 5 and "+ DiffAugment (10 %) below NS-GAN (10 %) on FID" in verdict
    assert ("Described, not claimed, at 40 steps (the EMA's average against the trained weights of the same run; "
            "the limited-data gap and what DiffAugment and LeCam do to it): + EMA (full, 40 steps) below NS-GAN "
            "(full, 40 steps) on FID in") in verdict and "+ LeCam (10 %, 40 steps) below NS-GAN (10 %, 40 steps)" in verdict


def test_the_reading_counts_the_seeds_where_a_technique_lowers_fid():
    by = {("NS-GAN", 0.1, s): {"fid": f} for s, f in enumerate([100.0, 90.0, 80.0])}
    by |= {("+ LeCam", 0.1, s): {"fid": f} for s, f in enumerate([95.0, 92.0, math.inf])}
    k, n, mean = gan_practice.paired(by, "+ LeCam", 0.1, [0, 1, 2])
    assert (k, n) == (1, 3) and mean == -1.5  # (−5 + 2) / 2: the diverged seed counts as not lower, not in the mean
