"""Configuration: YAML + overrides into typed components, one-line errors for bad input."""
import pytest

from unigen.config import optim_config, resolve
from unigen.errors import UserError
from unigen.inference import ELBO, NonSaturatingGAN


def test_overrides_reach_the_components_with_their_types(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data: {name: ring}\nmodel: {name: mlp, hidden: 32}\nstrategy: {name: ns_gan}\n"
                    "train: {steps: 10}\n")
    r = resolve(path, ["strategy.n_critic=3", "train.batch_size=17", "train.players.generator.lr=0.5"])
    assert isinstance(r.strategy, NonSaturatingGAN) and r.strategy.n_critic == 3
    assert r.model.hidden == 32 and r.config.train.batch_size == 17 and r.config.train.steps == 10
    assert optim_config(r.config, "generator").lr == pytest.approx(0.5)
    assert optim_config(r.config, "discriminator").lr == pytest.approx(2e-4)


def test_switching_strategy_is_one_override():
    r = resolve({"model": {"name": "mlp"}}, ["strategy.name=elbo", "strategy.num_particles=4"])
    assert r.strategy == ELBO(num_particles=4)


@pytest.mark.parametrize("overrides, fragment", [
    (["strategy.n_critc=2"], "n_critc"),
    (["strategy.n_critic=abc"], "abc"),
    (["train.stpes=3"], "stpes"),
    (["strategy.name=nope"], "unknown strategy 'nope'"),
    (["model.name=nope"], "unknown model 'nope'"),
    (["data.name=nope"], "unknown dataset 'nope'"),
    (["train.players.critic.lr=1"], "critic"),
    (["train.players.generator.lrr=1"], "lrr"),
    (["steps"], "key=value"),
])
def test_bad_config_is_a_one_line_error_naming_it(overrides, fragment):
    with pytest.raises(UserError) as e:
        resolve({}, overrides)
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_missing_and_malformed_yaml(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        resolve(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed\n")
    with pytest.raises(UserError, match="not valid YAML"):
        resolve(bad)
