"""One contract over every registered strategy: each phase updates exactly its players."""
import dataclasses
import math
import warnings

import pytest
import torch

from unigen import Trainer
from unigen.config import OptimConfig
from unigen.data.base import TensorData
from unigen.registry import STRATEGIES


def _data(info, n=256):
    g = torch.Generator().manual_seed(0)
    return TensorData(torch.randn(n, *info.shape, generator=g), None, info)


def _snapshot(programs):
    return {name: p.detach().clone() for name, p in programs.named_parameters()}


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_every_phase_updates_exactly_its_players(name, tiny_programs):
    programs, info = tiny_programs
    strategy = STRATEGIES.get(name)()
    trainer = Trainer(programs, strategy, _data(info), batch_size=32, optim=OptimConfig(lr=1e-2))
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
    assert cls.__doc__.strip().splitlines()[0]
    strategy = cls()  # every setting has a default
    for f in dataclasses.fields(strategy):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(strategy, f.name, getattr(strategy, f.name))
