"""ali-bigan: the metrics on cases with known answers (MMD² of q(z) against N(0, I), Dumoulin et al.'s responsibility
mode count, the encoder's hidden features), post-hoc learned inference trains the encoder against a frozen decoder,
the verdict from synthetic rows, and the quick run: every row measured, both figures of each part written."""
import json
import math

import pyro
import pytest
import torch

from unigen.experiments import ali_bigan as ab
from unigen.experiments.common import Row, run


# ------------------------------------------------------------------------------------ MMD²
def test_mmd_of_two_samples_of_one_gaussian_is_near_zero_and_a_shift_is_clearly_larger():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(1000, 2, generator=g), torch.randn(1000, 2, generator=g)
    same = ab.mmd2_rbf(a, b)
    shifted = ab.mmd2_rbf(a, torch.randn(1000, 2, generator=g) + torch.tensor([1.0, 0.0]))
    narrow = ab.mmd2_rbf(a, 0.5 * torch.randn(1000, 2, generator=g))  # a contracted q(z), as the issue saw
    assert abs(same) < 5e-3
    assert shifted > 0.05 and narrow > 0.02 and shifted > 20 * abs(same)
    assert ab.mmd2_rbf(b, a) == pytest.approx(same)  # symmetric


def test_mmd_is_unbiased_the_mean_over_small_samples_of_one_distribution_is_zero():
    g = torch.Generator().manual_seed(1)
    values = [ab.mmd2_rbf(torch.randn(20, 2, generator=g), torch.randn(20, 2, generator=g), bandwidth=1.0)
              for _ in range(400)]
    assert abs(sum(values) / len(values)) < 3e-3  # the biased (V-statistic) estimate is ≈ 0.06 here


def test_mmd_of_two_point_masses_is_the_kernel_formula():
    x, y = torch.zeros(10, 2), torch.full((12, 2), 1.0)  # all of x at 0, all of y at (1, 1): ‖x − y‖² = 2
    assert ab.mmd2_rbf(x, y, bandwidth=1.0) == pytest.approx(2 - 2 * math.exp(-1.0))
    assert ab.mmd2_rbf(x, x.clone(), bandwidth=0.3) == pytest.approx(0.0)
    # the median heuristic: the pooled distances are 0 (within) and √2 (across); median of the pooled pairs
    d = torch.pdist(torch.cat([x, y]))
    h = float(d.median())
    assert ab.mmd2_rbf(x, y) == pytest.approx(2 - 2 * math.exp(-2 / (2 * h ** 2)))
    with pytest.raises(ValueError):
        ab.mmd2_rbf(x[:1], y)


# ------------------------------------------------------------------------------------ responsibility modes
def test_points_exactly_at_k_centres_count_k_modes():
    centres = torch.tensor([[x, y] for x in (-4.0, -2, 0, 2, 4) for y in (-4.0, -2, 0, 2, 4)])
    for k in (1, 7, 25):
        samples = centres[:k].repeat(3, 1)
        assert ab.responsibility_modes(samples, centres, 0.05) == k


def test_responsibility_assigns_every_sample_even_far_ones_unlike_the_high_quality_count():
    centres = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
    samples = torch.tensor([[0.9, 0.1], [0.2, 1.5], [10.0, -3.0]])  # none within 3 std of a centre
    assert ab.responsibility_modes(samples, centres, 0.05) == 3  # nearest centres: 0, 2 and 1
    assert ab.mode_stats(samples, centres, 0.05)["modes"] == 0


def test_responsibility_follows_the_mixture_weights_and_stds():
    centres = torch.tensor([[0.0], [2.0]])
    midway = torch.tensor([[1.0]])
    assert ab.responsibility_modes(midway, centres, 0.5, weights=torch.tensor([0.9, 0.1])) == 1
    heavy_first = ab.responsibility_modes(torch.tensor([[0.95]]), centres, 0.5, weights=torch.tensor([0.9, 0.1]))
    light_first = ab.responsibility_modes(torch.tensor([[1.05]]), centres, 0.5, weights=torch.tensor([0.1, 0.9]))
    assert heavy_first == light_first == 1
    # a wide component claims a point nearer the narrow one's centre
    wide = torch.tensor([0.1, 3.0])
    log_r = lambda x, k: -torch.log(wide[k]) - (x - centres[k, 0]) ** 2 / (2 * wide[k] ** 2)  # noqa: E731
    x = torch.tensor(0.8)
    expected = int(log_r(x, 1) > log_r(x, 0))
    assert expected == 1
    samples = torch.tensor([[0.8]])
    log_r_all = -(wide.log()) - (samples - centres.T) ** 2 / (2 * wide ** 2)
    assert int(log_r_all.argmax(1)) == 1 and ab.responsibility_modes(samples, centres, wide) == 1


# ------------------------------------------------------------------------------------ encoder features
def test_encoder_features_are_the_input_of_the_guides_head():
    from unigen.programs import DataInfo
    from unigen.registry import MODELS

    torch.manual_seed(0)
    programs = MODELS.get("mlp_vae")(z_dim=4, hidden=12, disc_hidden=12).build(
        DataInfo(shape=(1, 28, 28), num_classes=10, support="unit"), roles=("model", "guide"))
    x = torch.rand(7, 1, 28, 28)
    h = ab.encoder_features(programs, x, chunk=3)
    assert h.shape == (7, 12)
    assert torch.allclose(h, programs.guide.features(x), atol=1e-6)  # the 12 ReLU units before the Gaussian head
    assert (h >= 0).all()
    assert not programs.guide.head._forward_pre_hooks  # the hook is removed


# ------------------------------------------------------------------------------------ post-hoc learned inference
def test_posthoc_learned_inference_trains_encoder_and_critic_against_a_frozen_decoder():
    cfg = {**ab.QUICK, "posthoc_steps": 5}
    grid, data = ab.grid_data(0, cfg)
    spec = ab.grid_spec(cfg)
    torch.manual_seed(0)
    pyro.set_rng_seed(0)
    state = spec.build(data.info, roles=("model",)).model.state_dict()
    programs = ab.fresh_encoder_programs(spec, data.info, state, 1, cfg)
    before = {role: [p.detach().clone() for p in programs.roles[role].parameters()]
              for role in ("model", "guide", "joint_discriminator")}
    ab.fit_posthoc_inference(programs, data, cfg, 0)
    after = {role: list(programs.roles[role].parameters()) for role in before}
    assert all(torch.equal(a, b) for a, b in zip(before["model"], after["model"]))  # the decoder stays frozen
    for role in ("guide", "joint_discriminator"):
        assert any(not torch.equal(a, b) for a, b in zip(before[role], after[role])), role
    assert all(torch.equal(v, state[k]) for k, v in programs.model.state_dict().items())


def test_the_learned_inverse_mapping_fits_the_encoder_to_the_generators_samples():
    cfg = {**ab.QUICK, "inverse_steps": 30}
    grid, data = ab.grid_data(0, cfg)
    spec = ab.grid_spec(cfg)
    torch.manual_seed(0)
    state = spec.build(data.info, roles=("model",)).model.state_dict()
    programs = ab.fresh_encoder_programs(spec, data.info, state, 1, cfg)
    from unigen.inference.wake_sleep import sleep_log_q
    from unigen.programs import Batch

    like = programs.placeholder(256)
    torch.manual_seed(5)
    with torch.no_grad():
        start = float(sleep_log_q(programs, Batch(like)).mean())
    ab.fit_inverse_mapping(programs, cfg)
    torch.manual_seed(5)
    with torch.no_grad():
        assert float(sleep_log_q(programs, Batch(like)).mean()) > start  # log q(z | G(z)) rose


# ------------------------------------------------------------------------------------ the verdict
BIG, AAE, VAE = "BiGAN (MNIST)", "AAE (MNIST)", "VAE (MNIST)"


def synthetic(ali_modes=25, gan_modes=20, ali_rec=0.2, post_rec=0.5, big_nn=90.0, untrained_nn=80.0, seeds=5,
              on_mode=98.0, read=True):
    rows = []
    for s in range(seeds):
        rows += [Row(ab.ALI, ab.RESP, ali_modes, s), Row(ab.GAN, ab.RESP, gan_modes, s),
                 Row(ab.ALI, ab.MODES, ali_modes, s), Row(ab.GAN, ab.MODES, gan_modes, s),
                 Row(ab.ALI, ab.HQ, 80.0, s), Row(ab.GAN, ab.HQ, 80.0, s),
                 Row(ab.ALI, ab.MMD, 0.001, s), Row(ab.INVERSE, ab.MMD, 0.05, s), Row(ab.POSTHOC, ab.MMD, 0.01, s),
                 Row(BIG, ab.NN_FEAT, big_nn, s), Row(ab.UNTRAINED, ab.NN_FEAT, untrained_nn, s),
                 Row(AAE, ab.NN_FEAT, 92.0, s), Row(VAE, ab.NN_FEAT, 91.0, s),
                 Row(BIG, ab.PROBE, 80.0, s), Row(AAE, ab.PROBE, 85.0, s)]
        if read:
            rows += [Row(ab.ALI, ab.REC, ali_rec, s), Row(ab.POSTHOC, ab.REC, post_rec, s),
                     Row(ab.INVERSE, ab.REC, 0.4, s), Row(ab.ALI, ab.REC_MODE, on_mode, s)]
    return rows


def test_the_verdict_is_reproduced_when_every_claim_holds_in_four_of_five_seeds():
    line = ab.grid_verdict(synthetic())
    assert line.startswith("**Verdict: reproduced**")
    assert "ALI at or above GAN on " + ab.RESP + " in 5 of 5 seeds" in line
    assert "ALI below GAN + post-hoc learned inference on " + ab.REC + " in 5 of 5 seeds" in line
    assert "above untrained networks (MNIST reference) on " + ab.NN_FEAT + " in 5 of 5" in line
    assert "Described, not claimed" in line and "ALICE" not in line  # ALI inverts (98 % on x's mode)


def test_a_tie_in_modes_holds_at_least_as_many():
    assert ab.grid_verdict(synthetic(ali_modes=25, gan_modes=25)).startswith("**Verdict: reproduced**")
    line = ab.grid_verdict(synthetic(ali_modes=19, gan_modes=20))
    assert line.startswith("**Verdict: partly reproduced**") and "in 0 of 5 seeds" in line


def test_a_failed_reconstruction_claim_and_imperfect_inversion_name_alice():
    line = ab.grid_verdict(synthetic(ali_rec=0.9, post_rec=0.5, on_mode=60.0))
    assert line.startswith("**Verdict: partly reproduced**")
    assert "Failed at this budget" in line and "ALICE" in line and "Li et al. 2017" in line


def test_a_failed_claim_carries_its_measured_evidence():
    line = ab.grid_verdict(synthetic(ali_modes=24, gan_modes=25, ali_rec=0.9, post_rec=0.5, on_mode=60.0))
    assert "the GAN covers all 25 modes in 5 of 5 seeds" in line and "random hyper-parameter" in line
    assert "reconstructions on x's mode ALI 60 %" in line and "ALI's errors by seed 0.90, 0.90" in line
    assert "covers all 25" not in ab.grid_verdict(synthetic(ali_modes=19, gan_modes=20))  # only where it does


def with_draws(rows, ali, gan):
    return rows + [Row(m, ab.RESP, v, d) for d, (a, g) in enumerate(zip(ali, gan)) for m, v in ((ab.ALI_R, a),
                                                                                              (ab.GAN_R, g))]


def test_the_mode_claim_is_over_the_random_settings_and_the_main_setting_is_described():
    rows = with_draws(synthetic(ali_modes=24, gan_modes=25), [20, 18, 25, 12, 22] * 2, [15, 18, 25, 8, 23] * 2)
    line = ab.grid_verdict(rows)
    assert line.startswith("**Verdict: reproduced**")  # 8 of 10 draws: the claim holds; the main setting's 0 of 5
    assert "Failed at this budget" not in line  # is described, not claimed
    assert f"ALI, random settings at or above GAN, random settings on {ab.RESP} in 8 of 10 draws" in line
    described = line.split("Described, not claimed")[1]
    assert f"ALI at or above GAN on {ab.RESP} in 0 of 5 seeds" in described
    assert "At the main setting the GAN covers all 25 modes in 5 of 5 seeds" in line
    line = ab.grid_verdict(with_draws(synthetic(), [10] * 10, [12] * 10))  # ALI behind in every draw
    assert "GAN, random settings on " + ab.RESP + ": 0 of 10 draws (mean over the draws: ALI 10 ± 0" in line
    assert "published 13.4 ± 5.8" in line and "collapsed" not in line  # 10 and 12 modes: collapses
    line = ab.grid_verdict(with_draws(synthetic(), [22] * 10, [24] * 10))
    assert "no draw collapsed (the fewest modes: ALI 22, the GAN 24 of 25)" in line


def test_random_settings_are_drawn_from_the_stated_ranges_and_repeat_by_index():
    cfg = ab.SWEEP_FULL
    settings = [ab.sweep_setting(d, cfg) for d in range(40)]
    assert settings[:10] == [ab.sweep_setting(d, cfg) for d in range(10)]  # seeded by the index
    assert all(ab.LR_RANGE[0] <= s["lr"] <= ab.LR_RANGE[1] for s in settings)
    for key, options in (("hidden", ab.HIDDEN_CHOICES), ("batch_size", ab.BATCH_CHOICES)):
        assert {s[key] for s in settings} == set(options)  # every option is drawn
    assert {s["betas"][0] for s in settings} == set(ab.BETA1_CHOICES)
    assert len({s["lr"] for s in settings}) == 40


def test_no_run_qualified_says_so_and_the_claim_fails():
    line = ab.grid_verdict(synthetic(read=False))
    assert line.startswith("**Verdict: partly reproduced**")
    assert "in 0 of 0 seeds" in line and "no seed had both" in line and "ALICE" not in line


def test_nothing_holds_is_not_reproduced():
    line = ab.grid_verdict(synthetic(ali_modes=10, gan_modes=20, ali_rec=1.0, big_nn=70.0))
    assert line.startswith("**Verdict: not reproduced**")


# ------------------------------------------------------------------------------------ the quick run
def test_ali_bigan_quick(tmp_path):
    md = run("ali-bigan", quick=True, seeds=1, results=tmp_path, cache=tmp_path / "cache")
    table = json.loads(md.with_suffix(".json").read_text())
    again = run("ali-bigan", quick=True, seeds=1, results=tmp_path / "again", cache=tmp_path / "cache")
    assert "took 7 result(s) from the cache" in again.read_text()  # the grid's seed, 2 draws, 4 MNIST runs
    assert json.loads(again.with_suffix(".json").read_text()) == table
    rows = {(r["method"], r["metric"]): r["mean"] for r in table}
    assert all("values" in r and len(r["values"]) == len(r["seeds"]) for r in table)  # per-seed values
    for method in (ab.ALI, ab.GAN, ab.ALI_REF, ab.ALI_R, ab.GAN_R):
        for metric in (ab.RESP, ab.MODES, ab.HQ):
            assert math.isfinite(rows[(method, metric)]), (method, metric)
        assert 0 <= rows[(method, ab.MODES)] <= rows[(method, ab.RESP)] <= 25  # an HQ mode is a responsible one
        assert 0 <= rows[(method, ab.HQ)] <= 100
    for method in (ab.ALI, ab.ALI_REF, ab.INVERSE, ab.POSTHOC):  # the quick gate is 0 %: every run is read
        for metric in (ab.MMD, ab.ZSTD, ab.REC, ab.REC_MODE):
            assert math.isfinite(rows[(method, metric)]), (method, metric)
        assert 0 <= rows[(method, ab.REC_MODE)] <= 100 and rows[(method, ab.ZSTD)] > 0
    assert (ab.INVERSE, ab.RESP) not in rows and (ab.POSTHOC, ab.HQ) not in rows  # the samples are the GAN's
    assert rows[(ab.DATA_REF, ab.RESP)] == 25 and rows[(ab.DATA_REF, ab.MODES)] == 25  # the metrics' ceilings
    assert rows[(ab.DATA_REF, ab.HQ)] > 97  # 3 std holds 98.9 % of a 2-D Gaussian
    assert abs(rows[(ab.PRIOR_REF, ab.MMD)]) < 0.01 and abs(rows[(ab.PRIOR_REF, ab.ZSTD)] - 1) < 0.1
    for method in (BIG, AAE, VAE, ab.UNTRAINED):
        assert 0 < rows[(method, ab.MREC)] < 1, method  # pixels and decoder means lie in [0, 1]
        for metric in (ab.PROBE, ab.NN, ab.PROBE_FEAT, ab.NN_FEAT):
            assert 0 <= rows[(method, metric)] <= 100, (method, metric)
    for method in (BIG, AAE, VAE):  # probe accuracy against updates
        for step in (0, 10, 20):
            assert 0 <= rows[(f"{method} at {step:,} updates", ab.NN_FEAT)] <= 100
        assert rows[(f"{method} at 0 updates", ab.NN)] == rows[(ab.UNTRAINED, ab.NN)]  # the same initialisation
    assert rows[(ab.PIXELS, ab.PROBE)] > 80 and rows[(ab.PIXELS, ab.NN)] > 80  # chance: 10
    text = md.read_text()
    for suffix in ("", "-curves", "-mnist", "-mnist-probes"):
        assert (tmp_path / f"ali-bigan.quick{suffix}.png").is_file(), suffix
    assert "97.39" in text and "## Verdict" in text and "**Verdict:" in text
    assert "## Protocol" in text and "Reduced for a CPU" in text and "learned inverse mapping" in text
    assert "whose reconstructions the table reads" in text  # the count of runs that passed the gate
