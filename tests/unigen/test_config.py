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
    (["train.device=tpu"], "train.device='tpu' is not a device; use auto, cpu or cuda"),
    (["train.device=mps"], "train.device='mps': unigen trains on cpu or cuda devices only"),
    (["train.compile=bogus"], "train.compile='bogus' is not one of none, cudagraph, trace, trace-eager"),
    # caught by `unigen config` too, not first by the optimiser's constructor at `train`
    (["train.optim.betas=[0.5]"], "train.optim.betas=[0.5] must hold two numbers (β1, β2)"),
    (["train.optim.betas=[0.5,0.9,0.1]"], "train.optim.betas=[0.5, 0.9, 0.1] must hold two numbers"),
    (["train.players.generator.betas=[]"], "train.players.generator.betas=[] must hold two numbers"),
    (["train.optim.name=adamw"], "train.optim.name='adamw' is not one of adam, rmsprop, sgd"),
    (["train.players.critic.schedule=foo"], "train.players.critic.schedule='foo' is not one of constant, linear"),
    (["train.data_placement=gpu"], "train.data_placement='gpu' is not one of auto, device, host"),
    # OmegaConf's wording put plainly
    (["train.optim.betas=0.5"], "train.optim.betas takes a list, e.g. train.optim.betas=[0.5,0.999]"),
    (["train.optim=3"], "a single value (int) was given where a section of settings (OptimConfig) goes"),
    (["train.steps=1e3"], "write it as a whole number (1000)"),
    (["train.players.generator.betas=0.5"], "train.players.generator.betas takes a list, e.g. "
                                            "train.players.generator.betas=[0.5,0.999]"),
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
    bad.write_text("train:\n  steps: 5\n   lr: 1\n")
    with pytest.raises(UserError, match=r"not valid YAML: mapping values are not allowed here \(line 3, column 6\)"):
        resolve(bad)
    bad.write_text("data: {name: ring\n")  # the problem, and where the construct it breaks began
    with pytest.raises(UserError, match=r"\(line 2, column 1; while parsing a flow mapping that starts at line 1, "
                                        r"column 7\)"):
        resolve(bad)


def test_naming_another_component_starts_its_section_from_that_components_defaults():
    """model.name=dcgan over a file's mlp_vae section: the file's mlp_vae settings would not fit dcgan."""
    from unigen.models.dcgan import DCGAN

    r = resolve("experiments/configs/mnist_vae.yaml", ["model.name=dcgan", "model.ngf=32"])
    assert r.model == DCGAN(ngf=32)
    kept = resolve("experiments/configs/ring_gan.yaml", ["model.name=mlp", "model.z_dim=3"])  # the same name
    assert kept.model.hidden == 128 and kept.model.depth == 3 and kept.model.z_dim == 3  # the file's settings stay
    # a section that names no model is the default's (mlp): naming another one drops its settings too
    assert resolve({"model": {"hidden": 7}}, ["model.name=mlp_vae"]).model.hidden == 400
    assert resolve({"model": {"hidden": 7}}, ["model.name=mlp"]).model.hidden == 7
    from omegaconf import OmegaConf

    frozen = OmegaConf.create({"model": {"name": "mlp", "hidden": 7}})
    OmegaConf.set_readonly(frozen, True)
    assert resolve(frozen, ["model.name=mlp_vae"]).model.hidden == 400 and frozen.model.hidden == 7


@pytest.mark.parametrize("overrides, hint", [
    (["strategy.divergence=kl"], "`unigen list ns_gan` shows its settings"),
    (["foo=1"], "a config holds data, model, strategy, train, eval"),
    (["train.foo=1"], "`unigen list train`"),
])
def test_an_unknown_key_names_where_the_settings_are_listed(overrides, hint):
    with pytest.raises(UserError) as e:
        resolve("experiments/configs/ring_gan.yaml", overrides)
    assert hint in str(e.value) and "\n" not in str(e.value)
