"""Fixtures shared by the tests; the toy programs themselves are in ``tests/toys.py``."""
from __future__ import annotations

import os

import pyro
import pytest

from toys import LinearGaussianGuide, LinearGaussianModel
from unigen import Programs


@pytest.fixture(scope="session")
def fashion_root() -> str:
    """Debian's Fashion-MNIST directory. Absent, the test is skipped, except under ``CI=true`` (where
    ``make data`` has installed it), where it fails."""
    from unigen.data.fashion_mnist import DEBIAN_ROOT
    from unigen.data.mnist import has_idx_files

    if not has_idx_files(DEBIAN_ROOT):
        reason = f"Fashion-MNIST IDX files are not in {DEBIAN_ROOT} (`make data` installs them)"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"{reason}, and CI must run the tests that need them", pytrace=False)
        pytest.skip(reason)
    return DEBIAN_ROOT


@pytest.fixture(autouse=True)
def _fresh_pyro():
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    yield


@pytest.fixture
def linear_gaussian():
    return Programs(model=LinearGaussianModel(), guide=LinearGaussianGuide())
