"""A page's computed **Verdict**: does a method beat its baseline seed by seed, as its paper says?

Every reproduction states its claim as pairs (method, baseline, metric, direction); :func:`paired` reads the
per-seed values of both from the page's rows (the same seed is the same data order and initialisation where the
reproduction shares them), and :func:`verdict` turns the pairs into one line: *reproduced* when every claim holds
in at least ``need`` of the seeds (4 of 5, the target of the reproduction issue), *partly reproduced* when some
do, *not reproduced* when none does,
with the count of seeds and the paired difference (mean ± sample std over seeds) for each claim.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from unigen.experiments.common import Row, fmt_mean_std, fmt_value

#: the share of seeds in which a claim must hold to call it reproduced
NEED = 0.8


@dataclass(frozen=True)
class Paired:
    """``method`` against ``baseline`` on ``metric``, seed by seed."""

    method: str
    baseline: str
    metric: str
    higher: bool  # whether a larger value is the paper's direction
    diffs: tuple[float, ...]  # method − baseline per shared seed
    ties: bool = False  # whether a tie holds ("at least as many"; by default a tie counts against the claim)
    unit: str = "seeds"  # what pairs the two runs (ali-bigan's random settings pair by "draws")

    @property
    def wins(self) -> int:
        if self.ties:
            return sum(d >= 0 if self.higher else d <= 0 for d in self.diffs)
        return sum(d > 0 if self.higher else d < 0 for d in self.diffs)

    @property
    def holds(self) -> bool:
        return bool(self.diffs) and self.wins >= NEED * len(self.diffs)

    @property
    def finite(self) -> list[float]:
        """The differences of the seeds where neither run diverged."""
        return [d for d in self.diffs if math.isfinite(d)]

    @property
    def mean(self) -> float:
        """The mean paired difference over :attr:`finite` (NaN when every seed diverged)."""
        return statistics.fmean(self.finite) if self.finite else math.nan

    def describe(self) -> str:
        """The claim in words. A run that diverged (a score of ±inf, its difference ±inf, or nan when both did)
        still counts by its sign; the spread is over the finite differences, and the others are counted apart."""
        n, word = len(self.diffs), "above" if self.higher else "below"
        word = f"at or {word}" if self.ties else word
        finite = self.finite
        spread = (fmt_mean_std(self.mean, statistics.stdev(finite)) if len(finite) > 1 else
                  fmt_value(finite[0]) if finite else "none")
        diverged = n - len(finite)
        over = f" over the {len(finite)} with finite scores; {diverged} diverged" if diverged else ""
        return (f"{self.method} {word} {self.baseline} on {self.metric} in {self.wins} of {n} {self.unit} "
                f"(paired difference {spread}{over})")


def by_seed(rows: list[Row], method: str, metric: str) -> dict[int, float]:
    """``method``'s values of ``metric``, seed → value, in the order of the seeds."""
    return {r.seed: r.value for r in sorted(rows, key=lambda r: r.seed) if r.method == method and r.metric == metric}


def mean_of(rows: list[Row], method: str, metric: str) -> float:
    """The mean over seeds of ``method``'s ``metric``."""
    return statistics.fmean(by_seed(rows, method, metric).values())


def paired(rows: list[Row], method: str, baseline: str, metric: str, higher: bool = True,
           ties: bool = False, unit: str = "seeds") -> Paired:
    """The per-seed differences ``method − baseline`` of ``metric`` over the seeds both ran (``ties``: a tie
    holds; ``unit``: what the rows' seeds stand for, in the description)."""
    a, b = by_seed(rows, method, metric), by_seed(rows, baseline, metric)
    return Paired(method, baseline, metric, higher, tuple(a[s] - b[s] for s in sorted(a.keys() & b.keys())), ties,
                  unit)


def level(rows: list[Row], method: str, metric: str, threshold: float, higher: bool = False) -> Paired:
    """``method``'s ``metric`` against a fixed ``threshold``, seed by seed: the claim holds in a seed where
    value − threshold is below 0 (``higher``: above)."""
    values = by_seed(rows, method, metric).values()
    return Paired(method, f"{threshold:g}", metric, higher, tuple(v - threshold for v in values))


def verdict(claims: list[Paired], finding: str = "") -> str:
    """One line: reproduced (every claim in ≥ :data:`NEED` of the seeds) or not reproduced, each claim with its
    count and paired difference; ``finding`` (measured evidence of why a claim fails at this scale) follows a
    failed verdict; no claims (a quick run without the methods they compare), no line."""
    if not claims:
        return ""
    held = all(c.holds for c in claims)
    head = "reproduced" if held else "partly reproduced" if any(c.holds for c in claims) else "not reproduced"
    line = f"**Verdict: {head}** — " + "; ".join(c.describe() for c in claims) + "."
    return line + (f" {finding}" if finding and not held else "")
