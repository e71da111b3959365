"""The benchmark stays runnable: the same networks on both sides, finite rates, a table with every row."""
import json
import re
import statistics
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks import bench  # noqa: E402


def test_each_reference_has_the_same_parameters_as_unigen():
    for name, case in bench.CASES.items():
        data = case.data(torch.device("cpu"), n=1024)
        hand = case.reference(data.x, case.batch_size, False)
        trainer = case.trainer(data, "none")
        counts = {p: sum(q.numel() for q in ps) for p, ps in trainer.params.items()}
        assert counts == hand.parameter_counts(), name


def test_a_short_cpu_run_writes_rates_and_a_report(tmp_path):
    bench.main(["--device", "cpu", "--cases", "ring_gan", "--min-time", "0.1", "--out", str(tmp_path / "results"),
                "--fit"])
    result = json.loads((tmp_path / "results" / "cpu.json").read_text())
    (row,) = result["rows"]
    assert row["hand_eager"] > 0 and row["unigen_eager"] > 0 and row["unigen_fit"] > 0
    table = bench.table(result)
    assert "2-D ring MLP GAN" in table and "×" in table and "unigen eager fit() / hand eager" in table
    report = (tmp_path / "RESULTS.md").read_text()
    assert table in report
    assert result["host"].endswith((" core", " cores")) and f"{result['host']}; torch" in report  # the machine timed
    assert all(len(v) == 10 for v in row["rounds"].values())  # ten interleaved slices per variant
    assert row["hand_eager"] == statistics.median(row["rounds"]["hand_eager"])  # the median of the slices


def test_a_ratio_gives_the_medians_quotient_and_the_range_of_its_slices():
    row = {"a": 2.0, "b": 1.0, "rounds": {"a": [1.0, 3.0, 2.0], "b": [1.0, 1.0, 0.5]}}
    assert bench.ratio(row, "a", "b") == "2.00× (1.00–4.00)"
    assert bench.ratio({"a": 3.0, "b": 2.0}, "a", "b") == "1.50×"  # an older result, without slices
    assert bench.ratio(row, "a", "missing") == "—"


def test_the_inductor_ab_compares_option_sets_against_the_hand_written_step(capsys):
    from benchmarks import inductor_ab

    inductor_ab.main(["host_ring", "--min-time", "0.2", "--rounds", "2", "--variant", "off",
                      '{"layout_optimization": false}'])
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["hand eager", "off"]
    assert lines[0].split("; by round: ")[1] == "1.00 1.00"  # the reference against itself
    import unigen.inductor

    assert unigen.inductor.compile_graph.__module__ == "unigen.inductor"  # put back


def test_the_inductor_ab_refuses_options_that_are_not_a_json_object(capsys):
    import pytest

    from benchmarks import inductor_ab

    for bad in ("{bad", "[1, 2]"):
        with pytest.raises(SystemExit) as stop:
            inductor_ab.main(["host_ring", "--variant", "x", bad])
        assert stop.value.code == 2
        assert "variant 'x': options must be a JSON object" in capsys.readouterr().err


def test_the_hand_written_forward_is_the_first_half_of_its_step():
    """host_split times ``loss()`` as the step's forward: the same loss from the same random draws."""
    case = bench.CASES["host_iwae"]
    hand = case.reference(case.data(torch.device("cpu"), n=256).x, case.batch_size, False)
    torch.manual_seed(3)
    forward = hand.loss().detach()
    torch.manual_seed(3)
    torch.testing.assert_close(hand.step(), forward, rtol=0, atol=0)
    torch.manual_seed(3)
    assert not torch.equal(hand.loss().detach(), forward)  # the step updated the weights


def test_the_host_split_divides_the_gap_between_forward_and_rest(capsys):
    from benchmarks import host_split

    host_split.main(["host_vae", "--min-time", "0.2", "--rounds", "2"])
    line, split = capsys.readouterr().out.strip().splitlines()[-2:]
    ms = {k: float(v) for k, v in re.findall(r"(hand step|hand forward|unigen step|unigen forward) ([\d.]+) ms", line)}
    assert len(ms) == 4 and all(v > 0 for v in ms.values())
    assert ms["hand forward"] < ms["hand step"] and ms["unigen forward"] < ms["unigen step"]
    gap, fwd, rest = (float(v) for v in re.findall(r"([+-][\d.]+) ms", split))
    assert gap == pytest.approx(fwd + rest, abs=2e-3)
    assert fwd == pytest.approx(ms["unigen forward"] - ms["hand forward"], abs=2e-3)
