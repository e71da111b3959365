"""stacked-mnist: the quick page, every method's configuration, and the scoring path on known generators."""
import json
import math
import re
from types import SimpleNamespace

import pytest
import torch

from unigen.config import resolve
from unigen.data.stacked_mnist import StackedMNIST
from unigen.experiments import mnist_common as mc
from unigen.experiments import stacked_mnist as sm
from unigen.experiments.common import run
from unigen.metrics.evaluation import Evaluation, StackedModeCoverage


def cells(line: str) -> int:
    """The number of cells of a markdown table row (escaped bars do not separate cells)."""
    return len(re.split(r"(?<!\\)\|", line.strip().strip("|")))


def uniform_draws(n: int, trials: int = 4000) -> tuple[torch.Tensor, torch.Tensor]:
    """Modes hit and KL(p̂ ‖ U) of ``trials`` perfect generators (``n`` uniform draws over 1,000 modes each)."""
    counts = torch.zeros(trials, 1000).scatter_add_(
        1, torch.randint(1000, (trials, n), generator=torch.Generator().manual_seed(0)), torch.ones(trials, n))
    p = counts / n
    return (counts > 0).sum(1).double(), torch.special.xlogy(p, p * 1000).sum(1).double()


def test_quick_run_writes_the_table_the_published_rows_and_the_figures(tmp_path):
    md = run("stacked-mnist", quick=True, seeds=1, results=tmp_path)
    text = md.read_text()
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert table[0] == f"| method | {sm.MODES} | {sm.KL} | {sm.CONFIDENT_MODES} |" and all(cells(r) == 4 for r in table)
    for p in sm.PUBLISHED:  # every published method has its own row, with its published value
        row = next(r for r in table if r.startswith(f"| {p['method']} |"))
        assert str(p["value"]) in row
    value = {(r["method"], r["metric"]): r["mean"] for r in json.loads(md.with_suffix(".json").read_text())}
    n = sm.QUICK.n_eval
    for method in (*sm.QUICK.methods, sm.REAL):
        modes, kl = value[method, sm.MODES], value[method, sm.KL]
        assert 1 <= modes <= n and modes == int(modes)
        # KL(p̂ ‖ U) = log 1000 − H(p̂) and H(p̂) <= log(modes): the two columns must agree
        assert math.log(1000 / modes) - 1e-9 <= kl <= math.log(1000) + 1e-9
        assert 0 <= value[method, sm.CONFIDENT_MODES] <= modes  # the filter only removes stacks
    # real held-out stacks read through the classifier score like a perfect generator of n samples
    # (its misread channels land on other modes about uniformly); the range holds 99.9% of perfect ones
    modes, kl = uniform_draws(n)
    assert modes.quantile(0.0005) - 5 <= value[sm.REAL, sm.MODES] <= modes.quantile(0.9995) + 5
    assert kl.quantile(0.0005) - 0.02 <= value[sm.REAL, sm.KL] <= kl.quantile(0.9995) + 0.02
    assert (tmp_path / "stacked-mnist.quick.png").is_file() and (tmp_path / "stacked-mnist.quick-modes.png").is_file()
    assert "Quick mode" in text and "test accuracy 0.9" in text and "## Protocol" in text
    assert value[sm.REAL, sm.CONFIDENT_MODES] > 0.8 * value[sm.REAL, sm.MODES]  # real digits are read confidently


@pytest.mark.parametrize("method", [m for m in sm.METHODS if m not in sm.QUICK.methods])
def test_every_other_method_resolves_for_the_gpu_and_trains_two_steps(method):
    resolved = resolve(sm.config(method, sm.GPU, 0, "cuda"))
    assert resolved.config.train.compile == "cudagraph" and resolved.config.model.ngf == 64
    tiny = sm.Schedule(width=8, steps=2, n_train=200, n_eval=10, methods=(method,))
    built = mc.fit(sm.config(method, tiny, 0, "cpu"))
    assert built.train_data.x.shape == (200, 3, 28, 28)
    assert sm.draw(built, 4).shape == (4, 3, 28, 28)


def test_the_scoring_path_reads_a_generator_stuck_on_one_stack_as_one_mode():
    data = StackedMNIST()
    stack = data.load("test").x[7:8]
    metric, asked = StackedModeCoverage(), []
    metric.chunk = 300  # draws in chunks: 300, 300, 300, 100

    def draw(k):
        asked.append(k)
        return stack.repeat(k, 1, 1, 1), None

    ev = Evaluation(programs=None, data=data, train=None, device=torch.device("cpu"),
                    settings=SimpleNamespace(num_samples=1000), draw=draw)
    out = metric(ev)
    assert asked == [300, 300, 300, 100]
    assert out["modes"] == 1 and out["kl_modes"] == pytest.approx(math.log(1000)) and out["num_modes"] == 1000
    assert out["computed_on"]["stacked_modes"]["generated_samples"] == 1000


def test_the_finding_says_no_run_collapsed_and_names_the_leader_of_the_filtered_count():
    from unigen.experiments.common import Row

    rows = [Row(sm.REAL, sm.MODES, 1000, 0)]
    for seed, (ns, wg) in enumerate(((560, 640), (570, 650), (571, 645))):
        rows += [Row("NS-GAN", sm.MODES, 985, seed), Row("NS-GAN", sm.CONFIDENT_MODES, ns, seed),
                 Row("WGAN-GP (λ=10)", sm.MODES, 999, seed), Row("WGAN-GP (λ=10)", sm.CONFIDENT_MODES, wg, seed)]
    line = sm.finding(rows)
    assert line.startswith("No run collapsed: every method hit 985–999 of the 1,000 modes")
    assert "WGAN-GP (λ=10) leads (645.0 ± 5.0 against NS-GAN's 567.0 ± 6.1)" in line
    collapsed = [Row("NS-GAN", sm.MODES, 90, 0), Row("NS-GAN", sm.CONFIDENT_MODES, 40, 0)]
    assert sm.finding(collapsed) == ("The unfiltered counts (90–90 of 1,000) and the samples are the evidence; "
                                     "there NS-GAN leads (40 ± 0).")
