"""What the installed package holds: the example configs by name, and a wheel with nothing generic at its top."""
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from unigen.errors import UserError
from unigen.experiments import config_names, config_path

ROOT = Path(__file__).resolve().parents[2]


def test_config_path_finds_the_packaged_example_configs():
    assert config_path("ring_gan") == config_path("ring_gan.yaml")
    assert config_path("ring_gan").read_text() == (ROOT / "experiments" / "configs" / "ring_gan.yaml").read_text()
    assert set(config_names()) == {p.stem for p in (ROOT / "experiments" / "configs").glob("*.yaml")}


@pytest.mark.parametrize("name", ["ring", "../configs/ring_gan", "common"])
def test_an_unknown_config_name_lists_the_available_ones(name):
    with pytest.raises(UserError, match=r"choose one of: .*mnist_vae.*ring_gan"):
        config_path(name)


@pytest.mark.slow
def test_the_wheel_holds_the_configs_and_no_generic_top_level_module(tmp_path):
    src = tmp_path / "src"  # a copy, so that the build writes no build/ or egg-info into the checkout
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.png")
    for name in ("unigen", "models", "inference", "experiments"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(src)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("unigen-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    configs = {Path(n).stem for n in names if n.startswith("unigen/experiments/configs/") and n.endswith(".yaml")}
    assert configs == set(config_names()) and "ring_gan" in configs
    assert "unigen/models/__init__.py" in names and "unigen/inference/__init__.py" in names
    assert "unigen/experiments/common.py" in names
    top = {n.split("/")[0] for n in names}
    assert top <= {"unigen"} | {t for t in top if t.endswith(".dist-info")}, top
