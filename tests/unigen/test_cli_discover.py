"""Discoverability: --version, `list NAME`, `config`, example configs by name, unigen.load_run."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import unigen
from unigen.cli import config_source, main

RING_TINY = ["data.n=2000", "model.hidden=32", "model.disc_hidden=32", "train.batch_size=64", "train.log_every=5",
             "train.progress=false", "eval.num_samples=100"]


def _one_line(code, err, fragment):
    assert code == 2, err
    assert err.startswith("unigen: error: ") and len(err.splitlines()) == 1, err
    assert fragment in err, err


def test_version_is_the_package_version(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0
    assert capsys.readouterr().out.strip() == f"unigen {unigen.__version__}"


@pytest.mark.parametrize("name, module, table", [
    ("fgan", "unigen.inference.divergences", "DIVERGENCES"),
    ("fgan", "unigen.inference.fgan", "GENERATORS"),
    ("monoflow", "unigen.inference.monoflow", "H_NAMES"),
    ("ns_gan", "unigen.inference.penalties", "PENALTIES"),
    ("mlp", "unigen.models.mlp", "LIKELIHOODS"),
    ("dcgan", "unigen.models.dcgan", "NORMS"),
])
def test_list_name_shows_every_choice_of_its_table(name, module, table, capsys):
    import importlib

    assert main(["list", name]) == 0
    out = capsys.readouterr().out
    names = list(getattr(importlib.import_module(module), table))
    line = next(l for l in out.splitlines() if l.strip().startswith("choices:") and names[0] in l)
    assert line.split("choices:")[1].strip().split(", ")[-len(names):] == names


def test_list_name_shows_types_defaults_ranges_and_the_summary(capsys):
    assert main(["list", "ns_gan"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "ns_gan (strategy; strategy.name=ns_gan)"
    assert "non-saturating" in out.splitlines()[1].lower()
    assert "n_critic         int = 1\n      range: >= 1 and <= 1,000" in out
    assert "penalty_weight   float = 10.0\n      range: >= 0" in out
    assert main(["list", "optim"]) == 0
    out = capsys.readouterr().out
    assert "betas" in out and "range: >= 0 and < 1" in out and "choices: adam, rmsprop, sgd" in out
    assert main(["list", "train"]) == 0
    out = capsys.readouterr().out
    assert "logger           str = 'none'\n      choices: none, tensorboard" in out
    assert "seed             int = 0\n      range: >= 0 and < 4,294,967,296" in out


def test_list_a_dataset_and_a_penalty(capsys):
    assert main(["list", "mnist"]) == 0
    out = capsys.readouterr().out
    assert "data.name=mnist" in out and "choices: unit, symmetric" in out
    assert main(["list", "gp"]) == 0
    assert "Gulrajani" in capsys.readouterr().out


def test_list_a_reproduction_says_what_it_runs_and_how(capsys):
    from unigen.experiments import REPRODUCTIONS

    assert main(["list", "hu2018-iwgan"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("hu2018-iwgan (reproduction; unigen reproduce hu2018-iwgan [--quick]")
    assert "Importance weighted GANs on MNIST" in out and "seeds: 5 by default" in out
    assert f"data: {', '.join(REPRODUCTIONS['hu2018-iwgan'].DATA)} (default mnist)" in out
    assert ("page: experiments/results/hu2018-iwgan.md (hu2018-iwgan-fashion-mnist.md for --data fashion_mnist; "
            "hu2018-iwgan.quick.md with --quick; hu2018-iwgan-cpu.md from a run at settings reduced for a CPU)") in out
    assert main(["list", "wgan-disjoint"]) == 0
    out = capsys.readouterr().out
    assert "data: its own" in out and "seeds: 3 by default" in out and "[--data D]" not in out
    assert "page: experiments/results/wgan-disjoint.md (wgan-disjoint.quick.md with --quick)" in out
    # gan-practice's technique variants (its VARIANTS) are not pages: only its CPU page is named
    assert main(["list", "gan-practice"]) == 0
    assert ("page: experiments/results/gan-practice.md (gan-practice.quick.md with --quick; gan-practice-cpu.md from "
            "a run at settings reduced for a CPU)\n") in capsys.readouterr().out


def test_list_an_unknown_name_is_one_line_listing_the_names(capsys):
    for typo, near in (("ns-gan", "ns_gan"), ("nsgan", "ns_gan"), ("hu2018_iwgan", "hu2018-iwgan")):
        assert main(["list", typo]) == 2
        assert f"unknown name {typo!r} (did you mean {near!r}?)" in capsys.readouterr().err
    code = main(["list", "fgan2"])
    err = capsys.readouterr().err.strip()
    _one_line(code, err, "unknown name 'fgan2'")
    assert "or a reproduction: hu2018-iwgan," in err
    for name in ("fgan", "monoflow", "mlp_vae", "mnist", "gp", "train"):
        assert f" {name}," in err or err.endswith(f" {name}")


def test_config_prints_the_resolved_yaml(capsys):
    assert main(["config", "ring_gan", "train.steps=7", "strategy.name=fgan", "strategy.divergence=kl"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["train"]["steps"] == 7 and cfg["strategy"] == {"name": "fgan", "divergence": "kl", "generator":
                                                              "saturating", "n_critic": 1, "penalty": "none",
                                                              "penalty_weight": 10.0, "lecam_weight": 0.0,
                                                              "lecam_decay": 0.99, "simultaneous": False}
    assert cfg["train"]["optim"]["lr"] == 2e-3 and cfg["train"]["logger"] == "none"  # the file, then defaults
    assert cfg["model"]["likelihood"] == "delta"


@pytest.mark.parametrize("argv, fragment", [
    (["config", "ring_gan", "train.steps=0"], "train.steps=0 is out of range"),
    (["config", "ring_gan", "strategy.divergence=kl"], "divergence"),
    (["config", "ring_gan", "train.logger=wandbb"], "train.logger='wandbb' is not one of none, tensorboard, wandb, "
                                                    "mlflow (did you mean 'wandb'?)"),
    (["config", "ring_gan", "train.sample_every=7"], "not a multiple of train.log_every=50"),
    (["config", "ring_gann"], "no example config"),
    (["config", "no/such.yaml"], "does not exist"),
    (["config", "ring_gan", "train.steps"], "not key=value"),
    # a component's choice that only building it would check: `unigen config` says so before a run
    (["config", "ring_gan", "model.likelihood=foo"], "model.likelihood='foo' is not one of delta, normal"),
    (["config", "mnist_vae", "model.name=dcgan", "model.disc_norm=group"], "model.disc_norm='group' is not one of"),
    (["train", "ring_gann"], "ring_gan"),
    # did you mean: a misspelt name, a setting another component has, a recipe users know by another name
    (["config", "ring_gn"], "no example config 'ring_gn' (did you mean 'ring_gan'?)"),
    (["config", "ring_gan", "strategy.nam=wgan"], "(did you mean strategy.name?)"),
    (["config", "ring_gan", "strategy.name=ns_gn"], "unknown strategy 'ns_gn' (did you mean 'ns_gan'?)"),
    (["config", "ring_gan", "strategy.divergence=kl"], "fgan has it (strategy.name=fgan)"),
    (["config", "ring_gan", "strategy.name=wgan_gp"], "it is strategy.name=wgan strategy.clip=0 strategy.penalty=gp"),
    (["config", "ring_gan", "train.optim.name=adan"], "(did you mean 'adam'?)"),
    # what `train` refuses when the model meets the data, `config` refuses too (the data's shape is known)
    (["config", "ring_gan", "model.name=dcgan"], "model 'dcgan' needs square images"),
    (["config", "ring_gan", "model.disc_maxout=1"], "model.disc_maxout=1 is a Linear layer without an activation"),
    (["config", "ring_gan", "train.augment=colour"], "unknown op 'colour'"),
])
def test_bad_config_input_is_one_line(argv, fragment, capsys):
    code = main(argv)
    _one_line(code, capsys.readouterr().err.strip(), fragment)


def test_an_example_config_is_found_by_name(tmp_path, monkeypatch):
    import unigen.experiments

    packaged = Path(unigen.experiments.__file__).parent / "configs" / "ring_gan.yaml"
    assert Path(config_source("ring_gan")) == packaged
    assert config_source("experiments/configs/ring_gan.yaml") == "experiments/configs/ring_gan.yaml"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ring_gan").write_text("data: {name: grid}\n")  # an existing file wins over the name
    assert config_source("ring_gan") == "ring_gan"
    assert config_source("mine.yaml") == "mine.yaml"  # a path is never looked up, even when missing


def test_train_an_example_config_by_name(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", "ring_gan", *RING_TINY, "train.steps=5", "--out", str(out)]) == 0
    assert yaml.safe_load((out / "config.yaml").read_text())["model"]["hidden"] == 32
    run = unigen.load_run(out)  # exported from the package
    assert run.config.strategy.name == "ns_gan" and run.programs.has("discriminator")
    assert "load_run" in unigen.__all__


def test_importing_unigen_does_not_import_the_run_machinery():
    code = "import sys, unigen; print('unigen.run' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_every_components_defaults_lie_in_their_declared_choices():
    """The choices a field declares (unigen.settings.choice: what `unigen list` shows and the config checks) hold
    its default, for every registered component and the shared sections; and every name setting declares them."""
    from dataclasses import MISSING, fields

    from unigen.config import OptimConfig, TrainConfig
    from unigen.registry import DATASETS, MODELS, STRATEGIES
    from unigen.settings import choices_of

    classes = [reg.get(n) for reg in (STRATEGIES, MODELS, DATASETS) for n in reg.names()] + [OptimConfig, TrainConfig]
    declared = 0
    for cls in classes:
        for f in fields(cls):
            allowed = choices_of(f)
            if allowed is not None:
                declared += 1
                assert f.default is MISSING or str(f.default) in allowed, (cls.__name__, f.name, allowed)
            names = ("penalty", "likelihood", "disc_norm", "code_prior", "divergence", "warmup", "support", "base",
                     "form", "transform", "h", "generator", "size")
            if f.name in names and f.type in ("str", str):
                assert allowed is not None, f"{cls.__name__}.{f.name} declares no choices"
    assert declared > 40


def test_settings_docs_show_no_latex_source(capsys):
    """`unigen list NAME` shows a docstring's maths as a terminal can (d ∈ [-8, 8], sleep-φ), never its source."""
    from unigen.describe import components, param_docs

    for name, (_, obj) in components().items():
        if isinstance(obj, type):
            for field, text in param_docs(obj).items():
                assert "\\" not in text, (name, field, text)
    assert main(["list", "monoflow"]) == 0
    assert "d ∈ [-8, 8]" in capsys.readouterr().out


def test_a_run_ends_with_its_headline_numbers_and_eval_says_where_it_wrote(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", "ring_gan", "train.steps=10", "data.n=2000", "eval.num_samples=200", "train.progress=false",
                 "--out", str(out)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    results = json.loads((out / "eval.json").read_text())
    assert last.startswith(f"evaluation: modes {results['modes']}, high_quality ") and last.endswith(
        f"(all of it in {out / 'eval.json'})")
    assert main(["eval", str(out), "eval.num_samples=300"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == json.loads((out / "eval.num_samples=300.json").read_text())
    assert captured.err.strip() == f"unigen: written to {out / 'eval.num_samples=300.json'}"


def test_unigen_list_describes_every_reproduction(capsys):
    from unigen.experiments import DESCRIPTIONS, REPRODUCTIONS

    assert set(DESCRIPTIONS) == set(REPRODUCTIONS)
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name, text in DESCRIPTIONS.items():
        assert f"  {name:<20} {text}" in out


def test_unigen_list_shows_no_rest_markup_for_any_name(capsys):
    """Every name's `unigen list NAME` (summaries, settings, reproductions) reads as plain text in a terminal."""
    from unigen.describe import components
    from unigen.experiments import REPRODUCTIONS

    for name in [*components(), *REPRODUCTIONS]:
        assert main(["list", name]) == 0
        out = capsys.readouterr().out
        for markup in ("``", ":math:", ":class:", ":func:", ":mod:", ":attr:", "\\frac", "\\mathbb"):
            assert markup not in out, (name, markup)
