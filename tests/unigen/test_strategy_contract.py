"""One contract over every registered strategy: each phase updates exactly its players."""
import dataclasses
import math
import warnings

import pytest
import torch

from toys import contract_setup
from unigen import Trainer
from unigen.config import OptimConfig
from unigen.registry import STRATEGIES


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


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_diagnostics_use_the_shared_vocabulary(name):
    """Every logged name is a player, in the shared vocabulary (COMMON_MEANINGS) or declared in the strategy's own
    ``meanings``; bounds are ``bound``, critics ``d_real``/``d_fake``."""
    from unigen.plots import COMMON_MEANINGS

    strategy = STRATEGIES.get(name)()
    programs, data = contract_setup(strategy)
    trainer = Trainer(programs, strategy, data, batch_size=32, optim=OptimConfig(lr=1e-2))
    keys = set()
    for phase in strategy.phases():
        values = trainer.run_phase(phase)
        keys |= set(values)
        critics = {"discriminator", "latent_discriminator", "critic"} & set(phase.players)
        if critics:
            assert {"d_real", "d_fake"} <= set(values), f"{name}: a critic phase reports d_real and d_fake"
    documented = set(COMMON_MEANINGS) | set(strategy.meanings)
    assert keys - set(strategy.players) <= documented, f"{name}: undocumented {keys - documented}"
    if hasattr(strategy, "objective"):  # the VAE family's per-example bound
        assert "bound" in keys, f"{name}: a strategy with a bound on log p(x) logs it as `bound`"
