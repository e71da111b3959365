"""Run configuration: typed dataclasses loaded from YAML and overridden with ``key=value``.

The ``data``, ``model`` and ``strategy`` sections each name a registered component and carry its
settings; each component is itself a dataclass, so its fields *are* the schema of its section
(OmegaConf structured configs validate keys and types). The ``train`` section is :class:`TrainConfig`.
Any wrong key or type becomes a one-line :class:`~unigen.errors.UserError` naming it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from unigen.errors import UserError
from unigen.registry import DATASETS, MODELS, STRATEGIES, Registry

SECTIONS: dict[str, Registry] = {"data": DATASETS, "model": MODELS, "strategy": STRATEGIES}


@dataclass
class OptimConfig:
    """One player's optimiser (``train.optim``; ``train.players.NAME`` overrides fields per player)."""

    name: str = "adam"  # adam | rmsprop | sgd
    lr: float = 2e-4
    betas: List[float] = field(default_factory=lambda: [0.5, 0.999])  # adam
    alpha: float = 0.99  # rmsprop smoothing
    momentum: float = 0.0  # sgd / rmsprop
    weight_decay: float = 0.0
    schedule: str = "constant"  # constant | linear (decay to 0) | cosine, over train.steps updates
    warmup: int = 0  # updates of linear warm-up before the schedule


@dataclass
class TrainConfig:
    """The schedule, shared by every strategy."""

    steps: int = 1000  # strategy steps (each runs every phase once, with its repeats)
    batch_size: int = 64
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    optim: OptimConfig = field(default_factory=OptimConfig)
    players: Dict[str, Any] = field(default_factory=dict)  # per-player OptimConfig overrides
    log_every: int = 50
    checkpoint_every: int = 500  # 0: only at the end (and on SIGINT/SIGTERM)
    on_nan: str = "error"  # error: stop, naming the player and step | skip: drop that update
    monitor: str = ""  # a logged series (e.g. "vae") whose best value keeps best.pt; "" keeps only the last
    monitor_mode: str = "min"  # min | max
    progress: bool = True  # tqdm bar
    data_placement: str = "auto"  # device | host (streamed to the device each step) | auto: device if it fits
    compile: str = "none"  # none: eager | cudagraph: capture the whole step in one CUDA graph (unigen.compiled)


@dataclass
class EvalConfig:
    """What ``unigen eval`` and the end-of-training evaluation measure."""

    num_samples: int = 2500  # generated samples for sample-based metrics
    test_batches: int = 0  # 0: the whole test split for likelihood bounds
    iw_samples: int = 100  # K of the IWAE log-likelihood estimate
    image_metrics: bool = True  # mnist / fashion_mnist runs: IS / FID / KID / precision-recall, own classifier
    num_images: int = 2000  # generated images for those, and test images they are compared with (FID: 10,000)


@dataclass
class RunConfig:
    """A whole run. ``out`` is the run directory."""

    data: Any = field(default_factory=lambda: {"name": "ring"})
    model: Any = field(default_factory=lambda: {"name": "mlp"})
    strategy: Any = field(default_factory=lambda: {"name": "ns_gan"})
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    out: str = "runs/latest"


@dataclass(frozen=True)
class Resolved:
    """A validated configuration and the components it names, ready to build."""

    config: DictConfig  # the whole resolved config, as saved in the run directory
    data: Any  # dataset spec instance
    model: Any  # model spec instance
    strategy: Any  # strategy instance

    def section(self, name: str) -> dict:
        return OmegaConf.to_container(self.config[name], resolve=True)


def _one_line(e: Exception) -> str:
    """First line of an exception, prefixed by the offending key when OmegaConf knows it."""
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    key = getattr(e, "full_key", None)
    return f"{key}: {msg}" if key and str(key) not in msg else msg


def load_yaml(path: str | Path) -> dict:
    """Read a YAML file with the safe loader; errors name the file."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"config file {p} does not exist; pass the path of a YAML file (see experiments/configs/)")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise UserError(f"config file {p} is not valid YAML: {_one_line(e)}") from None
    if not isinstance(data, dict):
        raise UserError(f"config file {p} must hold a mapping of sections (data, model, strategy, train)")
    return data


def parse_overrides(overrides: list[str]) -> DictConfig:
    bad = [o for o in overrides if "=" not in o]
    if bad:
        raise UserError(f"override {bad[0]!r} is not key=value; write e.g. train.steps=500")
    try:
        return OmegaConf.from_dotlist(list(overrides))
    except OmegaConfBaseException as e:
        raise UserError(f"bad override: {_one_line(e)}") from None


def resolve(config: dict | DictConfig | str | Path | None = None, overrides: list[str] = ()) -> Resolved:
    """Merge a YAML file or mapping with ``key=value`` overrides and validate every section."""
    if isinstance(config, (str, Path)):
        config = load_yaml(config)
    try:
        raw = OmegaConf.merge(OmegaConf.create(config or {}), parse_overrides(list(overrides)))
    except OmegaConfBaseException as e:
        raise UserError(f"bad config: {_one_line(e)}") from None
    defaults = OmegaConf.structured(RunConfig)
    components, sections = {}, {}
    for sec, registry in SECTIONS.items():
        given = raw.get(sec, None) or defaults[sec]
        if not isinstance(given, DictConfig):
            raise UserError(f"config section {sec!r} must be a mapping with a 'name' key")
        settings = OmegaConf.to_container(given)
        name = settings.pop("name", None) or defaults[sec].name
        cls = registry.get(str(name))
        try:
            node = OmegaConf.merge(OmegaConf.structured(cls), settings)
        except OmegaConfBaseException as e:
            raise UserError(f"config {sec} ({name}): {_one_line(e)}") from None
        components[sec] = OmegaConf.to_object(node)
        sections[sec] = OmegaConf.merge(OmegaConf.create({"name": name}), node)
    rest = {k: v for k, v in raw.items() if k not in SECTIONS}
    try:
        top = OmegaConf.merge(defaults, rest)
        for sec in SECTIONS:
            top[sec] = sections[sec]
        for player, override in top.train.players.items():
            OmegaConf.merge(OmegaConf.structured(OptimConfig), override)  # validate early
    except OmegaConfBaseException as e:
        raise UserError(f"config: {_one_line(e)}") from None
    if top.train.monitor_mode not in ("min", "max"):
        raise UserError(f"train.monitor_mode={top.train.monitor_mode!r}; choose min or max")
    if top.train.on_nan not in ("error", "skip"):
        raise UserError(f"train.on_nan={top.train.on_nan!r}; choose error or skip")
    unknown = set(top.train.players) - set(components["strategy"].players)
    if unknown:
        raise UserError(f"train.players names {sorted(unknown)} but strategy {top.strategy.name!r} "
                        f"has players {sorted(components['strategy'].players)}")
    return Resolved(top, components["data"], components["model"], components["strategy"])


def optim_config(cfg: DictConfig, player: str) -> OptimConfig:
    """The optimiser settings of one player: ``train.optim`` updated with ``train.players[player]``."""
    node = OmegaConf.merge(OmegaConf.structured(OptimConfig), cfg.train.optim,
                           cfg.train.players.get(player, {}) or {})
    return OmegaConf.to_object(node)


def save(cfg: DictConfig, path: str | Path) -> None:
    Path(path).write_text(OmegaConf.to_yaml(cfg))
