"""One contract over every registered strategy: each phase updates exactly its players."""
import dataclasses
import math
import warnings

import pytest
import torch

from unigen import Trainer
from unigen.config import OptimConfig
from unigen.data.base import TensorData
from unigen.models.mlp import MLP
from unigen.models.ssvae import SSVAE
from unigen.programs import DataInfo
from unigen.registry import STRATEGIES


def contract_setup(strategy, n=256):
    """Tiny programs with every role the strategy needs.

    MLP programs on 2-D data, labelled (3 classes) when the strategy needs labels; strategies that need
    a classifier (semi-supervised) get the M2 model on 4×4 unit images with a third of the labels hidden.
    """
    g = torch.Generator().manual_seed(0)
    k = 3 if strategy.needs.labels != "none" else None
    labels = torch.randint(0, 3, (n,), generator=g) if k else None
    if "classifier" in strategy.needs.role_names:
        info = DataInfo(shape=(1, 4, 4), num_classes=3, support="unit")
        programs = SSVAE(z_dim=3, hidden=16, disc_hidden=16).build(info)
        labels = torch.where(torch.arange(n) % 3 == 0, -1, labels)
        return programs, TensorData(torch.rand(n, 1, 4, 4, generator=g), labels, info)
    info = DataInfo(shape=(2,), num_classes=k, support="real")
    programs = MLP(hidden=16, disc_hidden=16, likelihood="normal", conditional=bool(k)).build(info)
    return programs, TensorData(torch.randn(n, 2, generator=g), labels, info)


def _snapshot(programs):
    return {name: p.detach().clone() for name, p in programs.named_parameters()}


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_every_phase_updates_exactly_its_players(name):
    strategy = STRATEGIES.get(name)()
    programs, data = contract_setup(strategy)
    trainer = Trainer(programs, strategy, data, batch_size=32, optim=OptimConfig(lr=1e-2))
    owner = {id(p): player for player, ps in trainer.params.items() for p in ps}
    names = dict(programs.named_parameters())
    seen_players = set()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for phase in strategy.phases():
            before = _snapshot(programs)
            values = trainer.run_phase(phase)
            assert set(phase.players) <= set(values)
            for key, v in values.items():
                assert v.dim() == 0 and math.isfinite(float(v)), f"{name}: {key} = {v}"
            for pname, old in before.items():
                changed = not torch.equal(old, names[pname].detach())
                mine = owner.get(id(names[pname])) in phase.players
                if not mine:
                    assert not changed, f"{name}: phase {phase.players} changed {pname} it does not own"
            for player in phase.players:
                assert any(not torch.equal(before[n], p.detach()) for n, p in names.items()
                           if owner.get(id(p)) == player), f"{name}: player {player} did not move"
            seen_players.update(phase.players)
    assert seen_players == set(strategy.players), "every player must be stepped by some phase"


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_strategy_is_a_frozen_settings_dataclass_with_a_description(name):
    cls = STRATEGIES.get(name)
    first = cls.__doc__.strip().splitlines()[0]
    assert first and ":math:" not in first, "the first docstring line is `unigen list`'s plain-text description"
    strategy = cls()  # every setting has a default
    for f in dataclasses.fields(strategy):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(strategy, f.name, getattr(strategy, f.name))
