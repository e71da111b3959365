"""The batch's two extra fields: two-domain data (balanced, interleaved) and the step counter ``Batch.step``."""
from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch
from torch.testing import assert_close

from toys import ShiftGenerator
from unigen import Programs, Trainer
from unigen.config import OptimConfig
from unigen.data.base import TensorData
from unigen.errors import UserError
from unigen.needs import Needs
from unigen.programs import Batch, DataInfo, split_domains
from unigen.strategy import Phase, Strategy

INFO = DataInfo(shape=(1,), support="real")


def two_domains(n0=30, n1=10):
    """Domain 0 holds the values 0..n0-1, domain 1 the values 1000..1000+n1-1 (mixed in the order)."""
    x = torch.cat([torch.arange(n0), 1000 + torch.arange(n1)]).float().unsqueeze(1)
    d = torch.cat([torch.zeros(n0), torch.ones(n1)]).long()
    perm = torch.randperm(n0 + n1, generator=torch.Generator().manual_seed(0))
    return TensorData(x[perm], None, INFO, name="toy", domain=d[perm])


def test_two_domain_batches_interleave_the_domains_and_draw_each_uniformly():
    data = two_domains()
    g = torch.Generator().manual_seed(1)
    draws = torch.stack([data.sample(8, generator=g).x[:, 0] for _ in range(3000)])  # (3000, 8)
    assert bool((draws[:, 0::2] < 1000).all()) and bool((draws[:, 1::2] >= 1000).all())
    batch = data.sample(8, generator=g)
    assert batch.domain.tolist() == [0, 1] * 4
    a, b = split_domains(batch)
    assert bool((a.x < 1000).all()) and bool((b.x >= 1000).all()) and a.x.shape == b.x.shape == (4, 1)
    # uniform within each domain: each of the 10 domain-1 values appears 1/10 of the time (± 5 sigma)
    counts = torch.bincount((draws[:, 1::2] - 1000).long().flatten(), minlength=10).float()
    expected = counts.sum() / 10
    assert float((counts - expected).abs().max()) < 5 * expected.sqrt() * (0.9 ** 0.5)


def test_one_domain_data_draw_as_before():
    x = torch.randn(50, 1)
    data = TensorData(x, None, INFO)
    g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    batch = data.sample(16, generator=g1)
    assert batch.domain is None and batch.step is None
    assert_close(batch.x, x[torch.randint(50, (16,), generator=g2)])
    with pytest.raises(ValueError, match="two-domain"):
        split_domains(batch)


@pytest.mark.parametrize("domain, match", [
    (torch.zeros(40), "examples of both"),
    (torch.full((40,), 2), "must be 0 or 1"),
    (torch.zeros(39), r"domains have shape \(39,\)"),
])
def test_bad_domains_are_refused_in_one_line(domain, match):
    with pytest.raises(UserError, match=match):
        TensorData(torch.randn(40, 1), None, INFO, domain=domain)


def test_an_odd_batch_and_a_one_domain_subset_are_refused():
    data = two_domains()
    with pytest.raises(UserError, match="even train.batch_size"):
        data.check_batch_size(7)
    with pytest.raises(UserError, match="examples of both"):
        data.subset(data.domain == 0)
    kept = data.subset(torch.arange(20))
    assert kept.by_domain is not None and len(kept) == 20


@dataclass(frozen=True)
class _Recorder(Strategy):
    """Records Batch.step and the domains each loss call sees (test only)."""

    needs: ClassVar[Needs] = Needs(("model",), domains=True)
    players: ClassVar[dict] = {"generator": ("model",)}
    seen: list = None

    def phases(self):
        return (Phase(("generator",), self.loss, repeats=2),)

    def loss(self, programs, batch):
        self.seen.append((batch.step.clone(), batch.domain.clone()))
        return {"generator": (programs.model.theta ** 2).sum() * (1 + 0 * batch.x.sum())}


def _trainer(seen, data):
    return Trainer(Programs(model=ShiftGenerator()), _Recorder(seen=seen), data, batch_size=4,
                   optim=OptimConfig(lr=1e-3))


def test_batch_step_counts_completed_steps_and_resumes():
    seen = []
    trainer = _trainer(seen, two_domains())
    for _ in range(3):
        trainer.step()
    assert [float(s) for s, _ in seen] == [0, 0, 1, 1, 2, 2]  # two repeats a step, the same step
    assert all(d.tolist() == [0, 1, 0, 1] for _, d in seen)
    state = trainer.state_dict()
    later = []
    resumed = _trainer(later, two_domains())
    resumed.load_state_dict(state)
    resumed.step()
    assert [float(s) for s, _ in later] == [3, 3]


def test_a_two_domain_strategy_refuses_one_domain_data():
    with pytest.raises(UserError, match="reads two domains but the data mark none"):
        _trainer([], TensorData(torch.randn(40, 1), None, INFO))


def test_a_batch_made_by_hand_has_no_step():
    assert Batch(torch.zeros(2, 1)).step is None


def test_streamed_two_domain_batches_equal_device_batches():
    runs = []
    for stream in (False, True):
        seen = []
        trainer = Trainer(Programs(model=ShiftGenerator()), _Recorder(seen=seen), two_domains(), batch_size=4,
                          optim=OptimConfig(lr=1e-3), stream=stream)
        batches = []
        for _ in range(3):
            if trainer.host is not None:
                trainer.host.stage()
            batches += [trainer.sample_batch().x.clone() for _ in range(2)]  # the step's two slots (staged buffers are reused)
        assert (trainer.host is not None) == stream
        runs.append(batches)
        assert trainer.sample_batch().domain.tolist() == [0, 1, 0, 1]
    assert_close(runs[1], runs[0], rtol=0, atol=0)
