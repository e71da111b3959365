"""The models' standard-normal prior: its shortcut log-density is ``Normal.log_prob``'s, bit for bit."""
import pyro.distributions as dist
import pytest
import torch

from unigen.models.nets import StandardNormal


def _values(dtype):
    torch.manual_seed(0)
    v = torch.randn(64, 5, dtype=dtype) * 3
    v[0, :4] = torch.tensor([-0.0, 0.0, 1e-30, 1e19], dtype=dtype)  # signed zeros, tiny, huge (v² near overflow)
    return v


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_prior_log_prob_and_gradient_are_normals_bit_for_bit(dtype):
    v = _values(dtype)
    ours, theirs = v.clone().requires_grad_(), v.clone().requires_grad_()
    a = StandardNormal(5).to(dtype)(64).log_prob(ours)
    b = dist.Normal(torch.zeros(64, 5, dtype=dtype), torch.ones(64, 5, dtype=dtype)).to_event(1).log_prob(theirs)
    assert torch.equal(a, b)
    g = torch.randn(64, dtype=dtype)
    (a * g).sum().backward()
    (b * g).sum().backward()
    assert torch.equal(ours.grad, theirs.grad)


def test_prior_broadcasts_and_promotes_as_normal_does():
    """A value that must broadcast against the batch, or a dtype that must be promoted, takes Normal's formula."""
    prior = StandardNormal(5)(64)
    expanded = prior.expand((3, 64))  # as a plate's broadcast does: the subclass survives
    assert type(expanded.base_dist) is type(prior.base_dist) and expanded.batch_shape == (3, 64)
    v = _values(torch.float32)
    torch.testing.assert_close(expanded.log_prob(v), dist.Normal(0.0, 1.0).log_prob(v).sum(-1).expand(3, 64),
                               rtol=0, atol=0)
    v64 = v.double()
    out = prior.log_prob(v64)
    assert out.dtype == torch.float64
    assert torch.equal(out, dist.Normal(torch.zeros(64, 5), torch.ones(64, 5)).to_event(1).log_prob(v64))
