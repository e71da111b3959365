"""Reproductions of published tables (``unigen reproduce NAME``); installed as ``unigen.experiments``.

Each module holds one reproduction; :data:`REPRODUCTIONS` maps the command-line names to them.
Example configs for single runs live in ``experiments/configs/`` and ship with the package (package data):
:func:`config_path` finds one by name. Results are written to ``./experiments/results/``.
"""
import importlib
from pathlib import Path

CONFIGS = Path(__file__).resolve().parent / "configs"


def config_names() -> list[str]:
    """The names of the packaged example configs (``ring_gan``, ``mnist_vae``, …), sorted."""
    return sorted(p.stem for p in CONFIGS.glob("*.yaml"))


def config_path(name: str) -> Path:
    """The packaged example config ``name`` (``ring_gan`` or ``ring_gan.yaml``); a :class:`~unigen.errors.UserError`
    listing the available names for any other."""
    from unigen.errors import UserError

    stem = name[:-len(".yaml")] if name.endswith(".yaml") else name
    path = CONFIGS / f"{stem}.yaml"
    if "/" in stem or "\\" in stem or not path.is_file():
        import difflib

        near = difflib.get_close_matches(stem, config_names(), n=1, cutoff=0.7)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise UserError(f"no example config {name!r}{hint}; choose one of: {', '.join(config_names())}")
    return path

_MODULES = {
    "hu2018-iwgan": "hu2018_iwgan",
    "hu2018-aavae": "hu2018_aavae",
    "monoflow-toy": "monoflow_toy",
    "monoflow-gan": "monoflow_gan",
    "mode-collapse": "mode_collapse",
    "mode-collapse-unrolled": "mode_collapse_unrolled",
    "wgan-disjoint": "wgan_disjoint",
    "gp-stabilises": "gp_stabilises",
    "gan-practice": "gan_practice",
    "gan-practice-ema": "gan_practice_ema",
    "gp-stabilises-grid": "gp_grid",
    "avb-toy": "avb_toy",
    "ali-bigan": "ali_bigan",
    "cyclegan-digits": "cyclegan_digits",
    "ada-digits": "ada_digits",
    "stacked-mnist": "stacked_mnist",
    "unified-zoo": "unified_zoo",
}


#: one line per reproduction for `unigen list` (read without importing the modules)
DESCRIPTIONS = {
    "hu2018-iwgan": "GAN vs IWGAN (IS, FID), CGAN vs IWCGAN (conditional accuracy); Hu et al. 2018, Table 2",
    "hu2018-aavae": "VAE/CVAE/SVAE vs their adversarially activated versions; Hu et al. 2018, Table 3",
    "monoflow-toy": "MonoFlow §4.3 Gaussian: the ratio detached or not, analytic or trained discriminator",
    "monoflow-gan": "MonoFlow: generator losses h(d) on MNIST, and a non-monotone control",
    "mode-collapse": "ring and grid mode coverage: minimax, NS, WGAN-GP, R1, MonoFlow, IWGAN (VEEGAN/PacGAN)",
    "mode-collapse-unrolled": "the ring where the NS-GAN collapses (the Unrolled GAN's setting): NS-GAN vs R1 and "
                              "WGAN-GP (mode-collapse's extra finding)",
    "wgan-disjoint": "parallel lines: JS flat at log 2 where W1 = |θ| (Arjovsky et al. 2017)",
    "gp-stabilises": "Fedus et al. 2018: a line toy, and gradient penalties over a sweep on Fashion-MNIST",
    "gan-practice": "EMA, spectral norm, DiffAugment, LeCam, hinge + SN on one DCGAN, full and 10 % Fashion-MNIST",
    "gan-practice-ema": "a generator EMA (decay 0.99) against its trained weights within one 10,000-step training "
                        "(gan-practice's extra finding; Yazıcı et al. 2019)",
    "gp-stabilises-grid": "λ = 10 penalties on the 25-Gaussian grid at a failing rate (gp-stabilises' first page)",
    "avb-toy": "AVB's implicit posterior vs a Gaussian guide on Mescheder et al.'s 4-point toy; prior vs adaptive "
               "contrast against an exact (conjugate Gaussian) posterior",
    "ali-bigan": "ALI on the 25-Gaussian grid; BiGAN vs AAE vs VAE encoders on MNIST",
    "cyclegan-digits": "CycleGAN (ResNet, PatchGAN) on inverted and thickened digits; the 90° turn as its failure case",
    "ada-digits": "source only vs DANN, MNIST → scikit-learn's 8×8 digits: target accuracy",
    "stacked-mnist": "Stacked MNIST's 1,000 modes (PacGAN Table 2 protocol) for five strategies",
    "unified-zoo": "one model per data set, every registered strategy that applies: ring, grid, MNIST, default vs tuned",
}


class _Lazy(dict):
    """Import a reproduction's module on first use (they pull in plotting and training code)."""

    def __getitem__(self, name):
        if name not in _MODULES:
            from unigen.errors import UserError

            raise UserError(f"unknown reproduction {name!r}; choose one of: {', '.join(_MODULES)}")
        return importlib.import_module(f"{__name__}.{_MODULES[name]}")

    def __iter__(self):
        return iter(_MODULES)

    def __len__(self):
        return len(_MODULES)

    def __contains__(self, name):
        return name in _MODULES


REPRODUCTIONS = _Lazy()
