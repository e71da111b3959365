"""KID: the unbiased MMD² under the cubic kernel (Bińkowski et al., 2018), through torchmetrics with our features."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.testing import assert_close

from unigen.metrics import MNISTClassifier, kernel_distance, kid, kid_name


def unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Direct numpy MMD²_u with k(a, b) = (aᵀb/d + 1)³ on two sets of m feature vectors each."""
    m, d = x.shape

    def k(a, b):
        return (a @ b.T / d + 1.0) ** 3

    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(within - 2.0 * kxy.sum() / m ** 2)


def gaussian(n: int, dim: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=g, dtype=torch.float64) + shift


def test_kid_on_whole_sets_equals_a_direct_unbiased_mmd():
    a, b = gaussian(60, 6, 0), gaussian(60, 6, 1, shift=0.4) * 1.3
    expected = unbiased_mmd2(a.numpy(), b.numpy())
    # a subset as large as the set is a permutation of it, and MMD²_u does not depend on the order
    mean, std = kernel_distance(a, b, nn.Identity(), subsets=3, subset_size=60)
    assert_close(mean, expected, rtol=1e-10, atol=1e-12)
    assert_close(std, 0.0, rtol=0, atol=1e-10)
    assert expected > 0.1  # not a degenerate case
    # features computed in batches of any size give the same value
    assert_close(kernel_distance(a, b, nn.Identity(), subsets=1, subset_size=60, batch_size=7)[0], expected,
                 rtol=1e-10, atol=1e-12)


def test_kid_of_a_set_against_itself_split_in_two_is_zero_within_its_std_and_grows_with_a_shift():
    x = gaussian(2000, 8, 0)
    first, second = x[:1000], x[1000:]
    same_mean, same_std = kernel_distance(first, second, nn.Identity(), subset_size=500)
    assert abs(same_mean) <= same_std and same_std > 0
    means = [kernel_distance(first, second + s, nn.Identity(), subset_size=500) for s in (0.25, 0.5)]
    assert means[0][0] > 5 * means[0][1] and means[0][0] > 5 * (abs(same_mean) + same_std)
    assert means[1][0] > 2 * means[0][0]  # a mean shift s adds about (s²) · const to MMD² for small s


def test_kid_subsets_are_seeded_and_leave_the_global_generator_alone():
    a, b = gaussian(300, 4, 0), gaussian(300, 4, 1, shift=0.2)
    torch.manual_seed(5)
    before = torch.get_rng_state()
    first = kernel_distance(a, b, nn.Identity(), subsets=20, subset_size=100, seed=3)
    assert torch.equal(torch.get_rng_state(), before)
    assert first == kernel_distance(a, b, nn.Identity(), subsets=20, subset_size=100, seed=3)
    assert first != kernel_distance(a, b, nn.Identity(), subsets=20, subset_size=100, seed=4)


def test_kid_of_images_names_its_feature_network_and_its_subsets():
    torch.manual_seed(0)
    net = MNISTClassifier().eval()
    net.label = "Fashion-MNIST-classifier"
    x = torch.rand(40, 1, 32, 32) * 2 - 1
    out = kid(x[:30], x[30:], net, support="symmetric", subsets=5)
    name = "KID (Fashion-MNIST-classifier features)"
    assert kid_name(net) == name and set(out) == {name, f"{name} std", "kid_subsets", "kid_subset_size"}
    assert out["kid_subsets"] == 5 and out["kid_subset_size"] == 5  # capped at half the smaller set: subsets differ
    assert out[f"{name} std"] > 0
    features = net.features(x, "symmetric").detach().double()
    # the same seeded subsets of the classifier's features
    assert_close(kid(x[:20], x[20:], net, support="symmetric", subsets=3)[name],
                 kernel_distance(features[:20], features[20:], nn.Identity(), subsets=3, subset_size=10)[0],
                 rtol=1e-4, atol=1e-6)


def test_kid_refuses_too_few_samples_and_the_raw_classifier():
    x = torch.rand(5, 1, 28, 28)
    net = MNISTClassifier().eval()
    with pytest.raises(ValueError, match="KID needs at least 4"):
        kid(x[:1], x, net)
    with pytest.raises(TypeError, match="kid"):
        kernel_distance(x, x, net)
