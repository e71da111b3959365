"""A page's verdict is computed seed by seed: paired differences, the count of seeds in the paper's direction."""
import pytest

from unigen.experiments.common import Row
from unigen.experiments.verdict import paired, verdict


def _rows(ours, base, metric="acc"):
    return ([Row("ours", metric, v, s) for s, v in enumerate(ours)]
            + [Row("base", metric, v, s) for s, v in enumerate(base)])


def test_paired_differences_follow_the_seeds_both_ran():
    rows = _rows([0.8, 0.7, 0.9], [0.6, 0.75]) + [Row("ours", "other", 5.0, 0)]
    p = paired(rows, "ours", "base", "acc")
    assert p.diffs == pytest.approx((0.2, -0.05))  # seed 2 has no baseline: left out
    assert p.wins == 1 and not p.holds


@pytest.mark.parametrize("ours, higher, wins, holds", [
    ([0.8, 0.8, 0.8, 0.8, 0.4], True, 4, True),   # 4 of 5: the threshold
    ([0.8, 0.8, 0.8, 0.4, 0.4], True, 3, False),
    ([0.4, 0.4, 0.4, 0.4, 0.4], False, 5, True),  # lower is the paper's direction (an error, a distance)
])
def test_a_claim_holds_in_four_of_five_seeds(ours, higher, wins, holds):
    p = paired(_rows(ours, [0.5] * 5), "ours", "base", "acc", higher=higher)
    assert (p.wins, p.holds) == (wins, holds)


def test_the_verdict_line_names_each_claim_and_the_finding_only_when_it_fails():
    good = paired(_rows([0.9, 0.8], [0.5, 0.5]), "ours", "base", "acc")
    bad = paired(_rows([0.1, 0.2], [0.5, 0.5]), "ours", "base", "acc")
    assert verdict([good], "why").startswith("**Verdict: reproduced** — ours above base on acc in 2 of 2 seeds "
                                             "(paired difference 0.35")
    assert "why" not in verdict([good], "why")
    line = verdict([good, bad], "the measured reason")
    assert line.startswith("**Verdict: partly reproduced**") and "in 0 of 2 seeds" in line
    assert line.endswith("the measured reason")
    assert verdict([bad], "").startswith("**Verdict: not reproduced**")


def test_no_claims_no_verdict():
    assert verdict([], "why") == ""
