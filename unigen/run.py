"""Runs on disk: build a configuration's components, train, and sample or evaluate a run directory.

A run directory holds ``config.yaml`` (resolved), ``metrics.jsonl`` (one JSON object per log line),
``checkpoint.pt`` (last), ``best.pt`` (best value of ``train.monitor``, if set), ``samples.png``,
``losses.png`` and ``eval.json``.
"""
from __future__ import annotations

import json
import random
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyro
import torch
from omegaconf import OmegaConf

from unigen import checkpoint, plots
from unigen.config import Resolved, optim_config, resolve
from unigen.config import save as save_config
from unigen.data import TensorData
from unigen.data.stream import fits_on_device
from unigen.distributed import World, from_env, local_device
from unigen.errors import UserError
from unigen.data.mnist import MNIST
from unigen.metrics import (conditional_accuracy, extract_features, fid, has_likelihood, inception_score,
                            likelihood_bounds, mnist_classifier, mode_stats, precision_recall)
from unigen.programs import Programs, generate
from unigen.trainer import NonFiniteError, Trainer


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"train.device={name} but no CUDA device is available; use train.device=cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UserError(f"train.device={name!r} is not a device; use auto, cpu or cuda") from None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    pyro.set_rng_seed(seed)


@dataclass
class Built:
    """The components of a resolved configuration, on their device."""

    resolved: Resolved
    programs: Programs
    train_data: TensorData
    device: torch.device
    world: World = World()

    def trainer(self) -> Trainer:
        cfg = self.resolved.config
        return Trainer(self.programs, self.resolved.strategy, self.train_data, cfg.train.batch_size,
                       optim=lambda player: optim_config(cfg, player), skip_nonfinite=cfg.train.on_nan == "skip",
                       seed=cfg.train.seed, world=self.world, total_steps=cfg.train.steps,
                       compile=cfg.train.compile, device=self.device,
                       stream=cfg.train.data_placement == "host" or None)


def place(data: TensorData, device: torch.device, placement: str) -> TensorData:
    """Move the training data to ``device``, or keep them on the host to be streamed (``train.data_placement``)."""
    if placement not in ("auto", "device", "host"):
        raise UserError(f"unknown train.data_placement={placement!r}; choose auto, device or host")
    if placement == "host" or (placement == "auto" and not fits_on_device(data, device)):
        return data
    return data.to(device)


def build(resolved: Resolved, distributed: bool = False) -> Built:
    """Seed, load the training data onto the device and build the programs.

    With ``distributed``, join the ``torchrun`` process group; every rank builds identical programs
    (same seed), then seeds its own noise with ``seed + rank``.
    """
    cfg = resolved.config
    device = pick_device(cfg.train.device)
    world = World()
    if distributed:
        device = local_device(device)
        world = from_env(device)
    seed_everything(cfg.train.seed)
    # argument validation syncs with the host; data are validated once at load instead
    pyro.enable_validation(False)
    data = place(resolved.data.load("train"), device, cfg.train.data_placement)
    programs = resolved.model.build(data.info).to(device)
    resolved.strategy.check(programs)
    if world.size > 1:
        seed_everything(cfg.train.seed + world.rank)
    return Built(resolved, programs, data, device, world)


class MetricsLog:
    """Appends one JSON object per line to ``metrics.jsonl``."""

    def __init__(self, path: Path, enabled: bool = True):
        self.path, self.enabled = path, enabled

    def truncate_after(self, step: int) -> None:
        """Drop lines logged after ``step`` (a resumed run re-logs them)."""
        if not self.enabled or not self.path.is_file():
            return
        keep = [line for line in self.path.read_text().splitlines()
                if line.strip() and json.loads(line)["step"] <= step and json.loads(line)["kind"] == "train"]
        self.path.write_text("".join(line + "\n" for line in keep))

    def write(self, step: int, values: dict, kind: str = "train") -> None:
        if not self.enabled:
            return
        with self.path.open("a") as f:
            f.write(json.dumps({"step": step, "kind": kind, "time": round(time.time(), 3), **values}) + "\n")


def train(config=None, overrides: list[str] = (), out: str | None = None, resume: str | Path | None = None) -> Path:
    """Train a run from a YAML path or mapping plus ``key=value`` overrides; return its directory.

    ``resume`` continues the run in that directory from its last checkpoint (parameters, optimiser
    states, step and every RNG state), so a run killed at step k and resumed takes the same steps as
    one that was never interrupted. SIGINT/SIGTERM save a checkpoint and end the run cleanly.
    """
    if resume is not None:
        run_dir = Path(resume)
        if not (run_dir / "config.yaml").is_file():
            raise UserError(f"{run_dir} is not a run directory (no config.yaml); pass the directory to resume")
        config, out = run_dir / "config.yaml", str(run_dir)
    resolved = resolve(config, list(overrides) + ([f"out={out}"] if out else []))
    built = build(resolved, distributed=True)
    cfg = resolved.config
    run_dir = Path(cfg.out)
    main = built.world.is_main  # only rank 0 writes run files
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
    log = MetricsLog(run_dir / "metrics.jsonl", enabled=main)
    trainer = built.trainer()
    container = OmegaConf.to_container(cfg)
    if resume is not None:
        state = checkpoint.load(run_dir / "checkpoint.pt", map_location=built.device)
        checkpoint.check_matches(state, container, run_dir / "checkpoint.pt")
        trainer.load_state_dict(state)
        checkpoint.set_rng_state(state["rng"])
        log.truncate_after(trainer.step_count)
    elif main:
        save_config(cfg, run_dir / "config.yaml")
        log.path.write_text("")

    def save_checkpoint(step: int, name: str = "checkpoint.pt") -> None:
        if not main:
            return
        state = trainer.state_dict()
        state["config"] = container
        state["rng"] = checkpoint.rng_state()
        checkpoint.save(state, run_dir / name)

    best = {"value": None}
    sign = 1.0 if cfg.train.monitor_mode == "min" else -1.0

    def on_log(step: int, values: dict) -> None:
        log.write(step, values)
        value = values.get(cfg.train.monitor) if cfg.train.monitor else None
        if value is not None and (best["value"] is None or sign * value < sign * best["value"]):
            best["value"] = value
            save_checkpoint(step, "best.pt")

    start = time.perf_counter()
    with StopOnSignal() as stop:
        try:
            trainer.fit(cfg.train.steps, log_every=cfg.train.log_every, on_log=on_log,
                        on_checkpoint=save_checkpoint, checkpoint_every=cfg.train.checkpoint_every,
                        progress=cfg.train.progress, should_stop=stop.requested,
                        # a per-step read of the non-finite flags would stall a replayed graph
                        check_every=1 if cfg.train.compile == "none" else cfg.train.log_every)
        except NonFiniteError as e:
            kept = run_dir / "checkpoint.pt"
            last = f"the last good checkpoint {kept} is kept" if kept.is_file() else "no checkpoint was written yet"
            raise UserError(f"{e}; {last}; lower the learning rate, or set train.on_nan=skip") from None
    log.write(trainer.step_count, {"wall_s": round(time.perf_counter() - start, 2)}, kind="timing")
    save_checkpoint(trainer.step_count)
    if stop.signal is not None:
        print(f"stopped by {stop.signal} at step {trainer.step_count}; resume with: "
              f"unigen train --resume {run_dir}")
        return run_dir
    if not main:
        return run_dir
    plots.save_curves(log.path, run_dir / "losses.png")
    write_samples(built, run_dir / "samples.png")
    results = evaluate_built(built)
    log.write(trainer.step_count, results, kind="eval")
    (run_dir / "eval.json").write_text(json.dumps(results, indent=2) + "\n")
    return run_dir


class StopOnSignal:
    """While active, SIGINT and SIGTERM set a flag instead of killing the process (restored on exit)."""

    def __init__(self):
        self.signal: str | None = None

    def requested(self) -> bool:
        return self.signal is not None

    def _handle(self, signum, frame) -> None:
        self.signal = signal.Signals(signum).name

    def __enter__(self) -> "StopOnSignal":
        self._old = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def load_run(run_dir: str | Path, device: str | None = None) -> Built:
    """Rebuild a run's programs from its ``config.yaml`` and ``checkpoint.pt``."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise UserError(f"{run_dir} is not a run directory (no config.yaml); pass the directory `unigen train` wrote")
    overrides = [f"train.device={device}"] if device else []
    resolved = resolve(run_dir / "config.yaml", overrides)
    built = build(resolved)
    state = checkpoint.load(run_dir / "checkpoint.pt", map_location=built.device)
    checkpoint.check_matches(state, OmegaConf.to_container(resolved.config), run_dir / "checkpoint.pt")
    try:
        built.programs.load_state_dict(state["programs"])
    except (KeyError, RuntimeError) as e:
        raise UserError(f"checkpoint in {run_dir} does not fit model {resolved.config.model.name!r} "
                        f"({str(e).splitlines()[0][:120]}); use the run's own config") from None
    built.programs.eval()
    return built


@torch.no_grad()
def draw_labelled(built: Built, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``n`` samples from the trained generator and the labels they were drawn with (uniform over the
    classes for labelled data, ``None`` otherwise)."""
    built.programs.eval()
    data, k = built.train_data, built.train_data.info.num_classes
    c = None if data.c is None or not k else torch.randint(k, (n,), device=built.device)
    x, _ = generate(built.programs, n, c)
    return x, c


def draw(built: Built, n: int) -> torch.Tensor:
    """``n`` samples from the trained generator (labels drawn uniformly if conditional)."""
    return draw_labelled(built, n)[0]


def write_samples(built: Built, path: Path, n: int | None = None) -> None:
    info = built.train_data.info
    n = n or (2500 if len(info.shape) == 1 else 64)
    x = draw(built, n)
    ref = built.train_data.x[:n] if len(info.shape) == 1 else None
    title = f"{built.resolved.config.strategy.name} on {built.resolved.config.data.name}"
    plots.save_samples(x, path, support=info.support, reference=ref, title=title)


def evaluate_built(built: Built) -> dict[str, float]:
    """The metrics that apply to this data and these programs."""
    from unigen.metrics import has_feature_classifier

    cfg = built.resolved.config
    out: dict[str, float] = {}
    spec = built.resolved.data
    if hasattr(spec, "centres"):
        x = draw(built, cfg.eval.num_samples)
        out.update(mode_stats(x.cpu(), spec.centres(), spec.std))
    test = None
    if has_likelihood(built.programs, built.train_data):
        test = spec.load("test").to(built.device)
        out.update(likelihood_bounds(built.programs, test, k=cfg.eval.iw_samples,
                                     max_batches=cfg.eval.test_batches))
    if cfg.eval.image_metrics and has_feature_classifier(spec):  # mnist, fashion_mnist: their own classifier
        out.update(image_metrics(built, spec, test if test is not None else spec.load("test").to(built.device)))
    if built.programs.has("classifier"):  # semi-supervised programs: accuracy of q(y|x) on the test split
        from unigen.metrics.classification import classifier_accuracy

        test = test if test is not None else spec.load("test").to(built.device)
        out["test_accuracy"] = classifier_accuracy(built.programs, test)
    return out


def image_metrics(built: Built, spec, test: TensorData) -> dict[str, float]:
    """IS, FID, KID and precision/recall with the data set's own classifier (no Inception weights
    can be downloaded, and the names say so); conditional accuracy for conditional models."""
    from unigen.metrics import feature_classifier, kid

    classifier, _ = feature_classifier(spec, device=built.device)
    n = built.resolved.config.eval.num_images
    fake, labels = draw_labelled(built, n)
    real = test.x[:n]
    out = {}
    out.update(inception_score(fake, classifier, support=spec.support))
    out.update(fid(real, fake, classifier, support=spec.support))
    out.update(kid(real, fake, classifier, support=spec.support))
    out.update(fid_samples=fake.shape[0], fid_reference_size=real.shape[0])  # the sets of FID and KID
    out.update(precision_recall(extract_features(real, classifier, support=spec.support),
                                extract_features(fake, classifier, support=spec.support)))
    if labels is not None and labels.shape[0] == fake.shape[0] and _uses_labels(built):
        out["conditional_accuracy"] = conditional_accuracy(fake, labels, classifier, support=spec.support)
    return out


def _uses_labels(built: Built) -> bool:
    """Whether generation depends on the label (a conditional model)."""
    return bool(built.resolved.strategy.needs_labels) or bool(getattr(built.resolved.model, "conditional", False))


def evaluate(run_dir: str | Path, device: str | None = None) -> dict[str, float]:
    built = load_run(run_dir, device)
    results = evaluate_built(built)
    (Path(run_dir) / "eval.json").write_text(json.dumps(results, indent=2) + "\n")
    return results
