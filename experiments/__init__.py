"""Reproductions of published tables (``unigen reproduce NAME``); installed as ``unigen.experiments``.

Each module holds one reproduction; :data:`REPRODUCTIONS` maps the command-line names to them.
Configs for single runs live in ``experiments/configs/``, results in ``experiments/results/``.
"""
import importlib

_MODULES = {
    "hu2018-iwgan": "hu2018_iwgan",
    "hu2018-aavae": "hu2018_aavae",
    "monoflow-toy": "monoflow_toy",
    "monoflow-gan": "monoflow_gan",
    "mode-collapse": "mode_collapse",
    "wgan-disjoint": "wgan_disjoint",
    "gp-stabilises": "gp_stabilises",
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
