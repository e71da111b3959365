"""Run configuration: typed dataclasses loaded from YAML and overridden with ``key=value``.

The ``data``, ``model`` and ``strategy`` sections each name a registered component and carry its
settings; each component is itself a dataclass, so its fields *are* the schema of its section
(OmegaConf structured configs validate keys and types). The ``train`` section is :class:`TrainConfig`.
Any wrong key or type becomes a one-line :class:`~unigen.errors.UserError` naming it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from unigen.errors import UserError, first_line
from unigen.registry import DATASETS, MODELS, STRATEGIES, Registry
from unigen.settings import bounded, check_settings, choice, count
from unigen.settings import seed as seed_setting
from unigen.strictyaml import load_yaml, refuse_interpolation, refuse_misread_int

#: version of the run files' layout (config.yaml, checkpoint.pt); a new field with a default keeps it
SCHEMA = 1

SECTIONS: dict[str, Registry] = {"data": DATASETS, "model": MODELS, "strategy": STRATEGIES}

#: the allowed names of the shared settings that name something (``unigen list optim`` / ``train`` shows them)
OPTIMISERS = ("adam", "rmsprop", "sgd")
SCHEDULES = ("constant", "linear", "cosine", "geometric", "ganin")
PLACEMENTS = ("auto", "device", "host")
#: values of ``train.compile``: how updates run (unigen.execution)
COMPILE_MODES = ("none", "cudagraph", "trace", "trace-eager")
#: names in ``train.logger``: logs besides metrics.jsonl and metrics.csv (unigen.loggers, unigen.trackers)
LOGGERS = ("none", "tensorboard", "wandb", "mlflow")


@dataclass
class OptimConfig:
    """One player's optimiser (``train.optim``; ``train.players.NAME`` overrides fields per player)."""

    name: str = choice("adam", OPTIMISERS)
    lr: float = bounded(2e-4, 0)  # 0 is allowed: the weights then stay where they are
    betas: List[float] = bounded(lo=0, hi=1, hi_open=True, default_factory=lambda: [0.5, 0.999])  # adam
    alpha: float = bounded(0.99, 0, 1, hi_open=True)  # rmsprop smoothing
    momentum: float = bounded(0.0, 0)  # sgd / rmsprop
    weight_decay: float = bounded(0.0, 0)
    schedule: str = choice("constant", SCHEDULES)  # linear decays to 0; over train.steps updates
    warmup: int = count(0, lo=0)  # updates of linear warm-up before the schedule
    final: float = bounded(0.01, 0, 1, lo_open=True)  # geometric: the rate's multiplier at the last update
    hold: float = bounded(0.0, 0, 1, hi_open=True)  # geometric: the share of train.steps before the decay starts
    stair: int = count(0, lo=0)  # geometric: 0 decays every update; N moves the rate every N steps, to its value there


@dataclass
class TrainConfig:
    """The schedule, shared by every strategy."""

    steps: int = count(1000)  # strategy steps (each runs every phase once, with its repeats)
    batch_size: int = count(64, hi=10 ** 7)
    seed: int = seed_setting(0)
    device: str = choice("auto", ("auto", "cpu", "cuda", "cuda:N"), checked=False)  # checked by check_device_name
    optim: OptimConfig = field(default_factory=OptimConfig)
    players: Dict[str, Any] = field(default_factory=dict)  # per-player OptimConfig overrides
    log_every: int = count(50)
    checkpoint_every: int = count(500, lo=0)  # 0: only at the end (and on SIGINT/SIGTERM)
    on_nan: str = choice("error", ("error", "skip"))  # error: stop, naming the player and step | skip: drop that update
    # on_nan=skip stops the run when more than this share of the last `skip_window` updates was skipped
    max_skipped: float = bounded(0.5, 0, 1)
    skip_window: int = count(100)
    monitor: str = ""  # a logged series (e.g. "vae") whose best value keeps best.pt; "" keeps only the last
    monitor_mode: str = choice("min", ("min", "max"))
    progress: bool = True  # tqdm bar
    data_placement: str = choice("auto", PLACEMENTS)  # host: streamed to the device each step | auto: device if it fits
    # none: eager | cudagraph: the whole step in one CUDA graph (unigen.cudagraph) | trace: each phase update traced
    # into one graph and compiled by inductor (unigen.traced) | trace-eager: that graph replayed uncompiled
    compile: str = choice("none", COMPILE_MODES)
    # logs besides metrics.jsonl and metrics.csv (unigen.loggers): tensorboard writes RUN_DIR/tensorboard, wandb
    # RUN_DIR/wandb (W&B; WANDB_MODE=offline keeps it there), mlflow RUN_DIR/mlruns (or MLFLOW_TRACKING_URI's store);
    # several joined by commas (tensorboard,wandb), each a name checked by loggers.check_logging
    logger: str = choice("none", LOGGERS, checked=False)
    # every this many steps (a multiple of log_every) write RUN_DIR/samples/step_NNNNNN.png; 0: off
    sample_every: int = count(0, lo=0)
    # every this many steps (a multiple of log_every) evaluate the run (its eval.* metrics) and log them as an
    # "eval" row; train.monitor may then name one of them (best.pt by FID: monitor=fid_..., monitor_mode=min); 0: off
    eval_every: int = count(0, lo=0)
    # generator EMA (Yazıcı et al. 2019): decay of an exponential moving average of the averaged player's weights,
    # used for sampling, evaluation and export; 0: off
    ema: float = bounded(0.0, 0, 1, hi_open=True)
    ema_start: int = count(0, lo=0)  # the step from which the average is kept (before it, it copies the weights)
    ema_player: str = ""  # the player averaged; "": the one that owns the model (a GAN's generator, a VAE)
    # batches of 256 model samples over which the averaged player's batch-norm statistics are recomputed for its
    # averaged weights before they sample, are scored or exported (BigGAN's standing statistics); 0: the trained
    # weights' statistics
    ema_bn: int = count(32, lo=0, hi=10_000)
    # DiffAugment (Zhao et al. 2020): the policy applied to every critic input, real and generated alike, of
    # image data, e.g. "color,translation,cutout"; "": off
    augment: str = ""
    # ADA (Karras et al. 2020): tune the augmentation probability p so that E[sign D(x_real)] stays at this
    # target (0.6 in the paper); 0: p = 1 (plain DiffAugment)
    ada_target: float = bounded(0.0, 0, 1, hi_open=True)
    ada_speed: int = count(500_000)  # ADA: real images over which p can move from 0 to 1
    # float32 | bf16 (autocast, CPU and CUDA) | fp16 (autocast with a gradient scaler, CUDA); penalties and
    # log-densities stay float32
    precision: str = choice("float32", ("float32", "bf16", "fp16"))


@dataclass
class EvalConfig:
    """What ``unigen eval`` and the end-of-training evaluation measure."""

    num_samples: int = count(2500, hi=10 ** 7)  # generated samples for sample-based metrics
    test_batches: int = count(0, lo=0)  # 0: the whole test split for likelihood bounds
    iw_samples: int = count(100, hi=10 ** 5)  # K of the IWAE log-likelihood estimate
    image_metrics: bool = True  # mnist / fashion_mnist runs: IS / FID / KID / precision-recall, own classifier
    num_images: int = count(2000, hi=10 ** 6)  # generated images for those, and test images they are compared with (FID: 10,000)


@dataclass
class RunConfig:
    """A whole run. ``out`` is the run directory."""

    data: Any = field(default_factory=lambda: {"name": "ring"})
    model: Any = field(default_factory=lambda: {"name": "mlp"})
    strategy: Any = field(default_factory=lambda: {"name": "ns_gan"})
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    out: str = "runs/latest"
    schema: int = SCHEMA  # layout version of the run files


@dataclass(frozen=True)
class Resolved:
    """A validated configuration and the components it names, ready to build."""

    config: DictConfig  # the whole resolved config, as saved in the run directory
    data: Any  # dataset spec instance
    model: Any  # model spec instance
    strategy: Any  # strategy instance


def _one_line(e: Exception, prefix: str = "") -> str:
    """First line of an exception, prefixed by the offending key when OmegaConf knows it (under ``prefix``, for
    a section merged on its own); OmegaConf's wording for a scalar given to a list, a value given to a section
    and a float given to a count is put plainly."""
    msg = first_line(e)
    key = getattr(e, "full_key", None)
    key = f"{prefix}{key}" if key and prefix else key
    if "is not a ListConfig" in msg:
        return f"{key or 'the setting'} takes a list, e.g. {key or 'KEY'}=[0.5,0.999]"
    if (m := re.match(r"Merge error: (\w+) is not a subclass of (\w+)", msg)):
        return (f"a single value ({m.group(1)}) was given where a section of settings ({m.group(2)}) goes; set "
                f"the section's keys instead (SECTION.KEY=VALUE)")
    if (m := re.search(r"Value '(-?\d+)\.0' of type 'float' could not be converted to Integer", msg)):
        msg = f"{msg}; write it as a whole number ({m.group(1)})"
    return f"{key}: {msg}" if key and str(key) not in msg else msg


def _elsewhere(e: Exception, sec: str, registry: Registry) -> str:
    """For an unknown key of a component's section: ``name`` if the key is a misspelling of it, else the
    registered components that do have that setting (``strategy.divergence`` on ns_gan: fgan has it)."""
    import difflib
    import dataclasses

    key = str(getattr(e, "key", "") or "")
    if not key or "not in" not in first_line(e):
        return ""
    if difflib.get_close_matches(key, ["name"], n=1, cutoff=0.6):
        return f" (did you mean {sec}.name?)"
    owners = [n for n in registry.names() if key in {f.name for f in dataclasses.fields(registry.get(n))}]
    if not owners:
        return ""
    shown = ", ".join(owners[:4]) + (" and others" if len(owners) > 4 else "")
    return f"; {shown} {'has' if len(owners) == 1 else 'have'} it ({sec}.name={owners[0]})"


def _config_keys(message: str, cls, section: str) -> str:
    """``message`` with each bare field name of ``cls`` written as its config key (``n_critic`` ->
    ``strategy.n_critic``), where it names the setting (followed by ``=``, `` must`` or `` is``)."""
    import dataclasses
    import re

    for f in dataclasses.fields(cls):
        message = re.sub(rf"(?<![\w.]){re.escape(f.name)}(?=(=| must| is| and| to one| has| replaces))",
                         f"{section}.{f.name}", message)
    return message


def dotted(config: dict, prefix: str = "") -> dict:
    """A nested config as ``{"train.optim.lr": value}`` (an empty mapping is a value of its own)."""
    out = {}
    for k, v in config.items():
        if isinstance(v, dict) and v:
            out.update(dotted(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def parse_overrides(overrides: list[str]) -> DictConfig:
    """``key=value`` strings as one config (a later value of a key wins, as with any command-line option);
    no interpolations."""
    for o in overrides:
        key, sep, _ = o.partition("=")
        if not sep or not key.strip() or any(ch in key for ch in "[]{}$ "):
            raise UserError(f"override {o!r} is not key=value with a dotted key; write e.g. train.steps=500 "
                            f"or train.optim.betas=[0.5,0.9]")
        refuse_misread_int(o.partition("=")[2], f"{key}=")
    try:
        parsed = OmegaConf.from_dotlist(list(overrides))
    except (OmegaConfBaseException, yaml.YAMLError, ValueError, TypeError) as e:
        raise UserError(f"bad override: {_one_line(e)}") from None
    refuse_interpolation(OmegaConf.to_container(parsed), "")
    return parsed


def eval_overrides(saved: DictConfig, overrides: list[str]) -> DictConfig:
    """A run's ``eval`` section with ``eval.KEY=VALUE`` overrides applied and checked (``unigen eval RUN
    eval.num_images=10000``): only the evaluation's own settings may change after training."""
    parsed = parse_overrides(overrides)
    other = [k for k in parsed if k != "eval"]
    if other:
        raise UserError(f"unigen eval takes eval.* settings only (got {', '.join(sorted(other))}); the trained "
                        f"weights fix everything else; `unigen list eval` shows them")
    try:
        node = OmegaConf.merge(OmegaConf.structured(EvalConfig), saved, parsed.get("eval", {}))
        check_settings(OmegaConf.to_object(node), "eval")
    except (OmegaConfBaseException, ValueError, TypeError) as e:
        raise UserError(f"config: {_one_line(e)}; `unigen list eval` shows the settings") from None
    return node


def check_device_name(name: str, key: str = "train.device"):
    """Refuse, in one line, a device name unigen cannot train on anywhere (``auto``, ``cpu``, ``cuda``, ``cuda:N``
    pass; whether this machine has that GPU is checked when a run starts: :func:`unigen.assemble.pick_device`).
    Returns the ``torch.device``, ``None`` for ``auto``."""
    import torch

    if name == "auto":
        return None
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise UserError(f"{key}={name!r} is not a device; use auto, cpu or cuda") from None
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"{key}={name!r}: unigen trains on cpu or cuda devices only; use auto, cpu or cuda")
    if device.type == "cpu" and device.index not in (None, 0):
        raise UserError(f"{key}={name!r}: the CPU takes no device index (torch runs on every core); use cpu")
    return device


def _section_name(cfg: DictConfig, sec: str):
    """The ``name`` a config (or the overrides) gives section ``sec``, or ``None``."""
    node = cfg.get(sec, None)
    return node.get("name", None) if isinstance(node, DictConfig) else None


def resolve(config: dict | DictConfig | str | Path | None = None, overrides: list[str] = ()) -> Resolved:
    """Merge a YAML file or mapping with ``key=value`` overrides and validate every section.

    Every numeric setting must be finite and inside the range its dataclass declares
    (:mod:`unigen.settings`); each failure is one :class:`~unigen.errors.UserError` naming the key. An
    override that names another component for a section (``model.name=dcgan`` over a file's ``mlp_vae``)
    starts that section from the new component's defaults: the file's settings for the old one are dropped,
    the section's other overrides apply.
    """
    if isinstance(config, (str, Path)):
        config = load_yaml(config)  # (refuses interpolations itself)
    elif config is not None:  # a mapping from Python, a checkpoint or an export: never resolve ${...} in it
        try:
            plain = OmegaConf.to_container(config, resolve=False) if isinstance(config, DictConfig) else config
        except (OmegaConfBaseException, ValueError, TypeError) as e:
            raise UserError(f"bad config: {_one_line(e)}") from None
        refuse_interpolation(plain, "")
    defaults = OmegaConf.structured(RunConfig)
    try:
        base, given = OmegaConf.create(config or {}), parse_overrides(list(overrides))
        OmegaConf.set_readonly(base, False)  # (a copy: the caller's config is not touched)
        for sec in SECTIONS:  # model.name=dcgan over a file's mlp_vae section: dcgan's defaults, not mlp_vae's keys
            new = _section_name(given, sec)
            old = (_section_name(base, sec) or defaults[sec].name) if sec in base else None
            if new is not None and old is not None and new != old:
                base[sec] = {}
        raw = OmegaConf.merge(base, given)
    except (OmegaConfBaseException, ValueError, TypeError) as e:
        raise UserError(f"bad config: {_one_line(e)}") from None
    if "out" in raw and (raw.out is None or not str(raw.out).strip()):
        raise UserError("out='' (--out) names no directory; give a run directory, e.g. --out runs/mine")
    schema = raw.get("schema", SCHEMA)
    if not isinstance(schema, int) or schema > SCHEMA:
        raise UserError(f"schema={schema}: these run files were written by a newer unigen (this one reads up to "
                        f"{SCHEMA}); upgrade unigen")
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
            components[sec] = OmegaConf.to_object(node)
        except (OmegaConfBaseException, ValueError, TypeError) as e:
            raise UserError(f"config {sec} ({name}): {_one_line(e)}{_elsewhere(e, sec, registry)}; `unigen list {name}` "
                            f"shows its settings") from None
        except UserError as e:  # a component's own check names its fields as Python does: add the section
            raise UserError(str(e), cli=_config_keys(e.for_cli(), cls, sec)) from None
        check_settings(components[sec], sec)
        sections[sec] = OmegaConf.merge(OmegaConf.create({"name": name}), node)
    rest = {k: v for k, v in raw.items() if k not in SECTIONS}
    try:
        top = OmegaConf.merge(defaults, rest)
        top.schema = SCHEMA
        for sec in SECTIONS:
            top[sec] = sections[sec]
        check_settings(OmegaConf.to_object(top.train), "train")
        check_settings(OmegaConf.to_object(top.eval), "eval")
        for player, override in top.train.players.items():
            try:
                node = OmegaConf.merge(OmegaConf.structured(OptimConfig), top.train.optim, override)
            except (OmegaConfBaseException, ValueError, TypeError) as e:
                raise UserError(f"config: {_one_line(e, f'train.players.{player}.')}; `unigen list optim` shows "
                                f"the settings") from None
            check_settings(OmegaConf.to_object(node), f"train.players.{player}")
    except (OmegaConfBaseException, ValueError, TypeError) as e:
        hint = (f"; a config holds {', '.join(RunConfig.__dataclass_fields__)}" if "'RunConfig'" in str(e) else
                "; `unigen list train` (or optim, eval) shows the settings")
        raise UserError(f"config: {_one_line(e)}{hint}") from None
    if not str(top.out).strip():
        raise UserError("out='' (--out) names no directory; give a run directory, e.g. --out runs/mine")
    check_shared_choices(top.train)
    if top.train.augment:  # the policy's op names, so that `unigen config` refuses what `train` would
        from unigen.augment import parse_policy  # (torch: only when a policy is given)

        parse_policy(top.train.augment)
    check_device_name(str(top.train.device))
    unknown = set(top.train.players) - set(components["strategy"].players)
    if unknown:
        raise UserError(f"train.players names {sorted(unknown)} but strategy {top.strategy.name!r} "
                        f"has players {sorted(components['strategy'].players)}")
    return Resolved(top, components["data"], components["model"], components["strategy"])


def check_shared_choices(train: DictConfig) -> None:
    """Refuse Adam ``betas`` that are not two numbers, for ``train.optim`` and every ``train.players.NAME`` (the
    names the shared sections take are declared choices, checked with their fields: :func:`~unigen.settings.choice`)."""
    nodes = {"train.optim": train.optim}
    nodes.update({f"train.players.{p}": OmegaConf.merge(train.optim, o) for p, o in train.players.items()})
    for key, node in nodes.items():
        if len(node.betas) != 2:
            raise UserError(f"{key}.betas={list(node.betas)} must hold two numbers (β1, β2), e.g. "
                            f"{key}.betas=[0.5,0.999]")


def optim_config(cfg: DictConfig, player: str) -> OptimConfig:
    """The optimiser settings of one player: ``train.optim`` updated with ``train.players[player]``."""
    node = OmegaConf.merge(OmegaConf.structured(OptimConfig), cfg.train.optim,
                           cfg.train.players.get(player, {}) or {})
    return OmegaConf.to_object(node)


def save(cfg: DictConfig, path: str | Path) -> None:
    from unigen.rundir import write_text  # through a temporary and a rename: never a 0-byte config.yaml

    write_text(path, OmegaConf.to_yaml(cfg))
