"""Loading a trained run: :func:`load_run` reads a run directory (``config.yaml`` and ``checkpoint.pt``) or a file
written by ``unigen export`` (``.safetensors``: the weights, with the resolved config and the data's shape in its
metadata, checked against what :func:`unigen.export.metadata` writes), and returns the same :class:`Built` either
way: sampling it with the same seed gives the same samples."""
from __future__ import annotations

import json
import math
import reprlib
from pathlib import Path

import pyro
import torch
from omegaconf import OmegaConf

from unigen import checkpoint
from unigen.augment import augment_critics
from unigen.assemble import Built, build, pick_device, seed_everything
from unigen.config import Resolved, resolve
from unigen.strictyaml import load_yaml
from unigen.data.base import SUPPORTS, TensorData
from unigen.errors import UserError
from unigen.programs import DataInfo, Programs
from unigen.roles import needed_roles
from unigen.rundir import check_names

#: the value of the ``unigen.format`` metadata key of an export (bumped if the layout changes)
FORMAT = "unigen-export-1"


def load_run(path: str | Path, device: str | None = None) -> Built:
    """A trained run, ready to sample: ``load_run("runs/mnist_vae").programs`` (in eval mode) and ``.config``.

    ``path`` is a run directory (:func:`load_run_dir`) or a file written by ``unigen export``
    (``.safetensors``, :func:`load_export`)."""
    if Path(path).suffix == ".safetensors":
        return load_export(path, device)
    return load_run_dir(path, device)


def require_run_dir(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    check_names(run_dir, "RUN")
    if not (run_dir / "config.yaml").is_file():
        raise UserError(f"{run_dir} is not a run directory (no config.yaml); pass the directory `unigen train` wrote")
    return run_dir


def saved_config(run_dir: Path) -> dict:
    """A run directory's ``config.yaml`` as ``unigen train`` wrote it: refused in one line, naming the file, when
    it lacks a section (an empty or cut file would otherwise read as the defaults: "another model")."""
    path = run_dir / "config.yaml"
    data = load_yaml(path)
    missing = [s for s in ("data", "model", "strategy", "train") if not isinstance(data.get(s), dict)]
    if missing:
        raise UserError(f"{path} has no {', '.join(missing)} section{'s' * (len(missing) > 1)}: it is empty or "
                        f"damaged (unigen train writes them all); restore it from a copy")
    return data


def resolve_saved(config, where: Path, device: str | None) -> Resolved:
    """A saved run config, on ``device`` if given; a CUDA run on a machine without CUDA names ``--device cpu``."""
    if device:
        pick_device(device, "--device")
    resolved = resolve(config, [f"train.device={device}"] if device else [])
    if not device and resolved.config.train.device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"run {where} was trained on {resolved.config.train.device} but no CUDA device is "
                        f"available; pass --device cpu")
    return resolved


def check_finite(programs: Programs, where: Path) -> None:
    bad = [k for k, v in programs.state_dict().items() if v.is_floating_point() and not bool(v.isfinite().all())]
    if bad:
        raise UserError(f"the weights in {where} are not finite ({bad[0]}"
                        f"{f' and {len(bad) - 1} more' if len(bad) > 1 else ''}); the run diverged: retrain it "
                        f"with a lower learning rate")


def load_run_dir(run_dir: str | Path, device: str | None = None) -> Built:
    """A trained run from its directory (``config.yaml`` and ``checkpoint.pt``), ready to sample: ``.programs``
    (in eval mode) and ``.config``."""
    run_dir = require_run_dir(run_dir)
    resolved = resolve_saved(saved_config(run_dir), run_dir, device)
    built = build(resolved)
    state = checkpoint.load(run_dir / "checkpoint.pt", map_location=built.device)
    checkpoint.check_matches(state, OmegaConf.to_container(resolved.config), run_dir / "checkpoint.pt",
                             normalise=normalise)
    averaged = resolved.config.train.ema > 0 and "programs_ema" in state  # sample the weight average (unigen.ema)
    try:
        built.programs.load_state_dict(state["programs_ema" if averaged else "programs"])
    except (KeyError, RuntimeError, TypeError, AttributeError) as e:
        raise UserError(f"checkpoint in {run_dir} does not fit model {resolved.config.model.name!r} "
                        f"({str(e).splitlines()[0][:120] if str(e) else type(e).__name__}); use the run's own "
                        f"config") from None
    check_finite(built.programs, run_dir / "checkpoint.pt")
    built.programs.eval()
    built.weights = "ema" if averaged else "trained"  # the commands say so on success (unigen.cli)
    built.step = state["step"] if isinstance(state.get("step"), int) else None  # titles name it (unigen.sampling)
    return built


def normalise(saved: dict) -> dict:
    """A checkpoint's saved config through the current schema (defaults of newer fields filled in)."""
    return OmegaConf.to_container(resolve(saved).config)


def read_metadata(path: Path) -> dict[str, str]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"{path} is not a readable safetensors file ({str(e).splitlines()[0][:100]}); "
                        f"write it with `unigen export RUN -o {path.name}`") from None
    if meta.get("unigen.format") != FORMAT:
        raise UserError(f"{path} was not written by `unigen export` (no {FORMAT!r} metadata); "
                        f"export a run with `unigen export RUN -o FILE.safetensors`")
    return meta


#: the most dimensions, and the most values of one example, that an export's data shape may declare
MAX_DIMS, MAX_EXAMPLE = 4, 1 << 26


def _count(v, low: int, high: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def parse_metadata(meta: dict[str, str], path: Path) -> tuple[dict, dict]:
    """The saved config and data description of an export's metadata, checked against what :func:`metadata`
    writes (a mapping; ``shape`` a list of positive sizes, ``num_classes`` null or a positive count, ``support``
    one of the data supports, ``labelled`` true or false), or one line naming the file and the bad value."""
    def damaged(what: str) -> UserError:
        return UserError(f"{path}: damaged unigen metadata ({what}); export the run again with "
                         f"`unigen export RUN -o {path.name}`")

    values = {}
    for key in ("unigen.config", "unigen.data_info"):
        if key not in meta:
            raise damaged(f"no {key}")
        try:
            values[key] = json.loads(meta[key])
        except RecursionError:
            raise damaged(f"{key} nests too deep") from None
        except ValueError as e:
            raise damaged(f"{key} is not JSON: {str(e)[:80]}") from None
        if not isinstance(values[key], dict):
            raise damaged(f"{key} is a {type(values[key]).__name__}, not a mapping")
    config, data = values["unigen.config"], values["unigen.data_info"]
    unknown = sorted(set(data) - {"shape", "num_classes", "support", "labelled"})
    missing = sorted({"shape", "num_classes", "support"} - set(data))
    if unknown or missing:
        what = f"lacks {', '.join(missing)}" if missing else f"has unknown {', '.join(unknown)}"
        raise damaged(f"unigen.data_info {what}")
    shape = data["shape"]
    if not (isinstance(shape, list) and 1 <= len(shape) <= MAX_DIMS and all(_count(d, 1, MAX_EXAMPLE) for d in shape)
            and math.prod(shape) <= MAX_EXAMPLE):
        raise damaged(f"shape {reprlib.repr(shape)}: not a list of 1 to {MAX_DIMS} positive sizes")
    if data["num_classes"] is not None and not _count(data["num_classes"], 1, 10 ** 6):
        raise damaged(f"num_classes {reprlib.repr(data['num_classes'])}: not null or a positive count")
    if not isinstance(data["support"], str) or data["support"] not in SUPPORTS:
        raise damaged(f"support {reprlib.repr(data['support'])}: not one of {', '.join(SUPPORTS)}")
    if not isinstance(data.get("labelled", False), bool):
        raise damaged(f"labelled {reprlib.repr(data['labelled'])}: not true or false")
    return config, data


def load_export(path: str | Path, device: str | None = None):
    """Rebuild the programs of an exported run on ``device`` (default: the run's own) and load its weights."""
    from safetensors.torch import load_model

    path = Path(path)
    check_names(path, "RUN")
    if not path.is_file():
        raise UserError(f"{path} does not exist; pass a run directory or a file written by `unigen export`")
    meta = read_metadata(path)
    config, data = parse_metadata(meta, path)
    info = DataInfo(tuple(data["shape"]), data["num_classes"], data["support"])
    if device:
        pick_device(device, "--device")  # a bad --device is the command's fault, not the file's
    try:
        resolved = resolve_saved(config, path, device)
    except RecursionError:
        raise UserError(f"{path}: damaged unigen metadata (unigen.config nests too deep); export the run "
                        f"again") from None
    except UserError as e:
        if str(path) in str(e):
            raise
        raise UserError(f"{path}: its saved config is refused ({e.for_cli()}); export the run again with "
                        f"`unigen export RUN -o {path.name}`") from None
    dev = pick_device(resolved.config.train.device)
    seed_everything(resolved.config.train.seed)
    pyro.enable_validation(False)
    programs = resolved.model.build(info, roles=needed_roles(resolved.strategy)).to(dev)  # the roles trained
    augment_critics(programs, resolved.strategy, resolved.config.train, info)  # the module tree trained
    resolved.strategy.attach(programs)  # its running statistics (exported with the weights)
    try:
        missing, unexpected = load_model(programs, str(path), strict=False, device=str(dev))
    except (RuntimeError, ValueError) as e:
        raise UserError(f"{path} does not fit model {resolved.config.model.name!r} "
                        f"({str(e).splitlines()[0][:120]}); export the run again") from None
    if missing or unexpected:
        raise UserError(f"{path} does not fit model {resolved.config.model.name!r} "
                        f"({len(missing)} missing, {len(unexpected)} unexpected tensors); export the run again")
    check_finite(programs, path)
    programs.eval()
    empty = torch.empty(0, *info.shape, device=dev)
    c = torch.empty(0, dtype=torch.long, device=dev) if data.get("labelled") else None
    weights = "ema" if resolved.config.train.ema > 0 else "trained"  # what `unigen export` wrote (unigen.ema)
    return Built(resolved, programs, TensorData.trusted(empty, c, info, f"{path.name} (no data)"), dev,
                 weights=weights)
